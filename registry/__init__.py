"""The trust-list registry service. Not built yet."""
