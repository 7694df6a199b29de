"""`ancre samples DIR`: credentials and presentations to try `ancre verify` on, offline.

Why a separate command rather than `ancre demo --keep DIR`: the demo's issuer is a did:web
served by a loopback web server that lives only as long as the demo, so whatever it left
behind could not be verified afterwards. The samples are signed by did:key / did:jwk
identities, which resolve from the DID itself: every sample verifies (or fails, as it
should) on any machine, without a network, for as long as its validity period lasts.
"""

from __future__ import annotations

import json
import os
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from ancre.issuer.builders import Address, legal_person_credential
from ancre.trust.clock import FixedClock
from ancre.trust.codec.b64 import b64url_decode, b64url_encode
from ancre.trust.data_integrity.proofs import add_proof
from ancre.trust.did.jwk import did_jwk_from_public_key
from ancre.trust.did.key import did_key_from_public_key
from ancre.trust.jose.vc_jose import issue_vc_jwt, issue_vp_jwt
from ancre.trust.keys.jwk import PrivateKey
from ancre.trust.sd_jwt.vc import issue_sd_jwt_vc

__all__ = ["SAMPLE_AUDIENCE", "SAMPLE_NONCE", "write_samples"]

SAMPLE_AUDIENCE = "https://connector.example"
SAMPLE_NONCE = "3f2b9c"
#: What a sample SD-JWT VC is about: no schema ships for it, so only the data model applies.
SAMPLE_VCT = "https://ancre.example/vct/membership"
_COMPANY = "https://danone.example/participant"
_PARIS = Address("FR", "FR-75", "17 boulevard Haussmann", "75009", "Paris")

_README = """\
# ancre samples

Written by `ancre samples` on {created}. Every file verifies offline: the issuer is a
did:key (its public key is the DID itself), the holder a did:jwk. In this folder:

    # a vc+jwt gx:LegalPerson credential: VALID (exit 0)
    ancre verify credential.jwt --trusted-issuer "$(cat issuer.did)"
    # the same, with the trusted issuer in a policy file: VALID (exit 0)
    ancre verify credential.jwt --policy policy.json
    # valid for a day, a year ago: INVALID, expired (exit 1)
    ancre verify expired.jwt --trusted-issuer "$(cat issuer.did)"
    # credential.jwt with another company name: INVALID, signature_invalid (exit 1)
    ancre verify tampered.jwt
    # a dc+sd-jwt SD-JWT VC with one selectively disclosed claim: VALID (exit 0)
    ancre verify credential.sd-jwt --trusted-issuer "$(cat issuer.did)"
    # a Data Integrity (eddsa-rdfc-2022) credential: VALID (exit 0)
    ancre verify credential-di.json --trusted-issuer "$(cat issuer.did)"
    # a vp+jwt presenting credential.jwt, bound to an audience and a nonce: VALID (exit 0)
    ancre verify presentation.jwt --audience {audience} --nonce {nonce} \\
        --trusted-issuer "$(cat issuer.did)"

Without `--trusted-issuer` (or a trust list, or a policy naming trusted issuers) a valid
credential reads "VALID (issuer not checked: no trust source given)".

Keys: `issuer.jwk` (the issuer's private Ed25519 JWK, mode 0600; `issuer.did` its did:key),
`holder.jwk` (the holder's private P-256 JWK; `holder.did` its did:jwk). Sign your own with
`ancre sign CLAIMS.json --key issuer.jwk --format vc+jwt`.
"""


def _write(path: Path, text: str, *, private: bool = False) -> None:
    # Never overwrite: the directory may hold keys someone else relies on.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600 if private else 0o644)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text if text.endswith("\n") else text + "\n")


def _kid(did: str) -> str:
    return f"{did}#{did.removeprefix('did:key:')}"


def _legal_person(issuer: str, valid_from: datetime, valid_until: datetime) -> dict[str, Any]:
    return legal_person_credential(
        issuer=issuer,
        credential_id=f"urn:uuid:{os.urandom(16).hex()}",
        subject_id=f"{_COMPANY}#lp",
        name="DANONE",
        registration_number_id=f"{_COMPANY}#lrn",
        legal_address=_PARIS,
        valid_from=valid_from,
        valid_until=valid_until,
    )


def write_samples(folder: Path, *, now: datetime) -> list[str]:
    """Write the samples into `folder` (created if missing, which must hold none of the
    sample files); return the names written. Raises `FileExistsError` for a name taken."""
    folder.mkdir(parents=True, exist_ok=True)
    issuer_key = PrivateKey.generate("ed25519")
    issuer = did_key_from_public_key(issuer_key.public_key)
    kid = _kid(issuer)
    holder_key = PrivateKey.generate("p256")
    holder = did_jwk_from_public_key(holder_key.public_key)
    now = now.replace(microsecond=0)
    year = timedelta(days=365)

    credential = issue_vc_jwt(_legal_person(issuer, now, now + year), issuer_key, kid)
    expired = issue_vc_jwt(
        _legal_person(issuer, now - year, now - year + timedelta(days=1)), issuer_key, kid
    )
    head, body, signature = credential.split(".")
    forged = json.loads(b64url_decode(body))
    forged["credentialSubject"]["schema:name"] = "DAN0NE HOLDINGS"
    tampered = f"{head}.{b64url_encode(json.dumps(forged).encode())}.{signature}"
    sd_jwt = issue_sd_jwt_vc(
        {"organization": "DANONE", "role": "member"},
        issuer_key,
        issuer=issuer,
        vct=SAMPLE_VCT,
        disclosable=["/role"],
        kid=kid,
        issued_at=now,
        valid_until=now + year,
    ).serialize()
    di = add_proof(_legal_person(issuer, now, now + year), issuer_key, kid, created=now)
    # A presentation normally lives minutes; the sample's lasts a month so the tour works.
    presentation = issue_vp_jwt(
        [credential],
        holder_key,
        holder=holder,
        kid=f"{holder}#0",
        audience=SAMPLE_AUDIENCE,
        nonce=SAMPLE_NONCE,
        clock=FixedClock(now),
        lifetime=timedelta(days=30),
    )
    files: dict[str, tuple[str, bool]] = {
        "issuer.jwk": (json.dumps(issuer_key.export_private_jwk(), indent=2), True),
        "issuer.did": (issuer, False),
        "holder.jwk": (json.dumps(holder_key.export_private_jwk(), indent=2), True),
        "holder.did": (holder, False),
        "credential.jwt": (credential, False),
        "expired.jwt": (expired, False),
        "tampered.jwt": (tampered, False),
        "credential.sd-jwt": (sd_jwt, False),
        "credential-di.json": (json.dumps(di, indent=2, ensure_ascii=False), False),
        "presentation.jwt": (presentation, False),
        "policy.json": (json.dumps({"trusted_issuers": [issuer]}, indent=2), False),
        "README.md": (
            _README.format(
                created=now.isoformat().replace("+00:00", "Z"),
                audience=SAMPLE_AUDIENCE,
                nonce=SAMPLE_NONCE,
            ),
            False,
        ),
    }
    taken = [name for name in files if (folder / name).exists()]
    if taken:
        raise FileExistsError(f"{folder} already holds {', '.join(taken)}")
    for name, (text, private) in files.items():
        _write(folder / name, text, private=private)
    return list(files)
