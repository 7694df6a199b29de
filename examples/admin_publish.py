"""Trust-list administrators listing an agency and publishing the signed trust list, over
the registry's HTTP API.

    ALICE_TOKEN=… BOB_TOKEN=… python admin_publish.py http://127.0.0.1:8600 AGENCY_DID OUT

Two administrators, each with their own approver token (`ancre registry init --admin alice
--admin bob`): under the two-person rule Alice files the new trust anchor and Bob approves
it. Then the agency is accredited for `ancre:Certification` and the next list is published.
"""

import os
import sys
from pathlib import Path

import httpx

registry_url, agency_did, out = sys.argv[1:4]
alice = {"Authorization": f"Bearer {os.environ['ALICE_TOKEN']}"}
bob = {"Authorization": f"Bearer {os.environ['BOB_TOKEN']}"}
anchor = "did:web:association.example"
with httpx.Client(base_url=registry_url, trust_env=False, timeout=30) as http:
    filed = http.post("/admin/anchors", json={"id": anchor, "name": "Association"}, headers=alice)
    filed.raise_for_status()
    change = filed.json()["pending_change"]  # Alice cannot approve her own change
    http.post(f"/admin/changes/{change}/approve", headers=bob).raise_for_status()
    http.post(
        "/admin/issuers",
        json={
            "did": agency_did,
            "legal_name": "Agence de certification",
            "accredited_by": anchor,
            "credential_types": {"ancre:Certification": []},
        },
        headers=alice,
    ).raise_for_status()
    http.post("/admin/publish", headers=alice).raise_for_status()
    trust_list = http.get("/trust-list")
    trust_list.raise_for_status()
Path(out).write_text(trust_list.text.strip() + "\n")
print(f"published: {agency_did} may issue ancre:Certification ({out})")
