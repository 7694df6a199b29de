"""A connector verifying a peer's credential against the data space's trust list.

    python connector_verify.py TRUST_LIST REGISTRY_METHOD CREDENTIAL

TRUST_LIST is the registry's https URL or a saved `trust-list.jwt`; REGISTRY_METHOD the
verification method `ancre registry init` printed (the registry's pinned key); CREDENTIAL
any format ancre reads. Exits 0 when the credential is valid and its issuer trusted for it.
"""

import json
import sys
from pathlib import Path

import ancre

trust_list, method_file, credential_file = sys.argv[1:4]
method = json.loads(Path(method_file).read_text())  # {"controller": DID, "publicKeyJwk": …}
with ancre.Verifier.from_trust_list(
    trust_list, registry=method["controller"], registry_key=method["publicKeyJwk"]
) as verifier:
    result = verifier.verify(Path(credential_file).read_text().strip())
print(result.status, result.issuer, [f"{error.code}: {error.message}" for error in result.errors])
sys.exit(0 if result.valid else 1)
