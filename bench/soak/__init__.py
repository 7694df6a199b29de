"""`make soak`: the three services under load and faults, on loopback (issue 17).

Real processes (`ancre registry serve`, `ancre issuer serve`, and the verifier service under
uvicorn) on a throw-away PostgreSQL cluster; load from an async httpx pool; SIGKILL of each
service mid-load then restart; a PostgreSQL restart under load. The summary says what was
served, what failed, what was injected, and whether the invariants held (docs/security.md,
"Load and fault campaign"). Not shipped in the wheel."""
