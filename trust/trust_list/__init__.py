"""The signed trust list, one module per concern.

- `model`: the LoTE-shaped list (ETSI TS 119 602): entities, services, dated status
  histories, and its strict JSON parsing;
- `index`: `TrustList`, a verified list indexed for "was this issuer trusted for this type
  at time T";
- `signed`: the `trust-list+jwt` form: signing, and verification (registry, staleness,
  rollback);
- `client`: `TrustListClient`, the caching client verifiers use (refresh, on-disk cache,
  rollback memory, backoff).
"""
