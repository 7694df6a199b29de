"""X.509: certificate chains (x5c) validated against configured anchors."""
