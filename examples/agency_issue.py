"""A certification agency's back office issuing a certification over the issuer's VC-API.

    ANCRE_API_KEY=ancre_… python agency_issue.py https://agency.example SUBJECT_ID OUT_FILE

The API key comes from `ancre issuer client add NAME --type Certification`; the scheme and
level must be in the agency's `schemes.json`. ANCRE_CA_BUNDLE names a CA file when the
issuer's TLS certificate is not from a public CA (a test). Writes the signed `vc+jwt`.
"""

import os
import ssl
import sys
from pathlib import Path

import httpx

issuer_url, subject, out = sys.argv[1:4]
tls = ssl.create_default_context(cafile=os.environ.get("ANCRE_CA_BUNDLE"))
with httpx.Client(verify=tls, trust_env=False, timeout=30) as http:
    issuer_did = http.get(f"{issuer_url}/.well-known/did.json").json()["id"]
    credential = {
        "@context": ["https://www.w3.org/ns/credentials/v2"],
        "type": ["VerifiableCredential", "ancre:Certification"],
        "issuer": issuer_did,
        "credentialSubject": {
            "id": subject,
            "ancre:scheme": "ISO/IEC 27001:2022",
            "ancre:scope": "Hosting of customer data",
            "ancre:certificateNumber": "FR-2026-0042",
            "ancre:certificateValidFrom": "2026-01-15",
        },
    }
    answer = http.post(
        f"{issuer_url}/credentials/issue",
        json={"credential": credential, "options": {}},
        headers={"Authorization": f"Bearer {os.environ['ANCRE_API_KEY']}"},
    )
if answer.status_code != 201:
    sys.exit(f"refused: {answer.status_code} {answer.text}")
envelope = answer.json()["verifiableCredential"]  # {"id": "data:application/vc+jwt,<jws>"}
Path(out).write_text(envelope["id"].removeprefix("data:application/vc+jwt,") + "\n")
print(f"issued a certification of {subject} by {issuer_did}: {out}")
