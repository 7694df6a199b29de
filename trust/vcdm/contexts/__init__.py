"""JSON-LD contexts shipped with ancre (served by a static loader, never fetched)."""
