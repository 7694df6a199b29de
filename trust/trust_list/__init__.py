"""The signed trust list: model, verification, and the caching client verifiers use."""
