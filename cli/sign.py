"""`ancre sign`: secure a JSON document with a key file, for trying and scripting.

The issuer service (`ancre issuer …`) is for production: templates, register checks, status
lists, audit. This is the `step crypto jwt sign` of ancre: one document, one key, one
format, the result on stdout — and it goes through the same `issue_*` recipes, so what it
produces verifies with `ancre verify`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, Final

from ancre.trust.errors import ConfigurationError
from ancre.trust.keys.jwk import PrivateKey

__all__ = ["SIGN_FORMATS", "sign_document"]

#: `--format` values: VC-JOSE-COSE `vc+jwt`, `vc+sd-jwt` and `vc+cose` (printed as base64),
#: an SD-JWT VC, a Data Integrity proof.
SIGN_FORMATS: Final = ("vc+jwt", "vc+sd-jwt", "vc+cose", "dc+sd-jwt", "di")


def _stamp(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def _issuer_and_kid(
    document: Mapping[str, Any], key: PrivateKey, kid: str | None, *, field: str
) -> tuple[str, str]:
    """The issuer (the document's, else the key's did:key) and the DID URL naming the key."""
    from ancre.trust.did.key import did_key_from_public_key

    own = did_key_from_public_key(key.public_key)
    declared = document.get(field)
    if isinstance(declared, Mapping):
        declared = declared.get("id")
    issuer = declared if isinstance(declared, str) else own
    if kid is None:
        if issuer != own:
            raise ConfigurationError(
                f"the document's {field} is {issuer}, not the key's {own}: give --kid, the DID "
                "URL naming this key in the issuer's DID document"
            )
        kid = f"{own}#{own.removeprefix('did:key:')}"
    return issuer, kid


def sign_document(
    document: Mapping[str, Any],
    key: PrivateKey,
    fmt: str,
    *,
    now: datetime,
    kid: str | None = None,
    vct: str | None = None,
    disclose: Sequence[str] = (),
    cryptosuite: str | None = None,
    mandatory: Sequence[str] = (),
) -> str:
    """Sign `document` as `fmt` with `key`; return the token (JWT formats) or the JSON text
    (`di`, with `cryptosuite`: eddsa-rdfc-2022, eddsa-jcs-2022, ecdsa-rdfc-2019,
    ecdsa-jcs-2019, or ecdsa-sd-2023 — a *base proof* for the holder to derive from, with
    `mandatory` the JSON Pointers always disclosed; by default the RDFC suite of the key's
    type). A credential without
    `issuer` is issued by the key's did:key, one without `validFrom` is valid from `now`.
    For `dc+sd-jwt` the document is the claims, `vct` is required and `disclose` lists the
    JSON Pointers made selectively disclosable (also for `vc+sd-jwt`, a VCDM credential).
    `vc+cose` returns the COSE_Sign1 as base64, which `ancre verify` reads."""
    if fmt not in SIGN_FORMATS:
        raise ConfigurationError(f"--format must be one of {', '.join(SIGN_FORMATS)}")
    # Rounded *up* to the second: a credential signed just after its issuer was listed must
    # not read as issued before the listing (verifiers allow a minute of clock skew).
    whole = now.replace(microsecond=0)
    issued = whole + timedelta(seconds=1) if whole < now else whole
    if fmt == "dc+sd-jwt":
        from ancre.trust.sd_jwt.vc import issue_sd_jwt_vc

        if not vct:
            raise ConfigurationError("dc+sd-jwt needs --vct, the credential type (a URI)")
        issuer, kid = _issuer_and_kid(document, key, kid, field="iss")
        claims = {k: v for k, v in document.items() if k != "iss"}
        return issue_sd_jwt_vc(
            claims,
            key,
            issuer=issuer,
            vct=vct,
            disclosable=list(disclose),
            kid=kid,
            issued_at=issued,
        ).serialize()
    if vct is not None:
        raise ConfigurationError("--vct is for --format dc+sd-jwt")
    if disclose and fmt != "vc+sd-jwt":
        raise ConfigurationError("--disclose is for --format dc+sd-jwt and vc+sd-jwt")
    if cryptosuite is not None and fmt != "di":
        raise ConfigurationError("--cryptosuite is for --format di")
    if mandatory and cryptosuite != "ecdsa-sd-2023":
        raise ConfigurationError("--mandatory is for --format di --cryptosuite ecdsa-sd-2023")
    issuer, kid = _issuer_and_kid(document, key, kid, field="issuer")
    credential = dict(document)
    credential.setdefault("issuer", issuer)
    credential.setdefault("validFrom", _stamp(issued))
    if fmt == "vc+jwt":
        from ancre.trust.jose.vc_jose import issue_vc_jwt

        return issue_vc_jwt(credential, key, kid)
    if fmt == "vc+sd-jwt":
        from ancre.trust.sd_jwt.vcdm import issue_vc_sd_jwt

        return issue_vc_sd_jwt(
            credential, key, kid=kid, disclosable=list(disclose), issued_at=issued
        ).serialize()
    if fmt == "vc+cose":
        import base64

        from ancre.trust.cose.vc_cose import issue_vc_cose

        return base64.b64encode(issue_vc_cose(credential, key, kid=kid)).decode("ascii")
    import json

    if cryptosuite == "ecdsa-sd-2023":
        from ancre.trust.data_integrity.ecdsa_sd import add_base_proof

        # A pointer the document does not have, or a bad one, is refused here
        # (ConfigurationError, `configuration`): a base proof naming it could never be derived.
        based = add_base_proof(credential, key, kid, created=issued, mandatory_pointers=mandatory)
        return json.dumps(based, indent=2, ensure_ascii=False)
    from ancre.trust.data_integrity.proofs import add_proof
    from ancre.trust.keys.jwk import KeyType

    # Default: the RDFC suite of the key's type (eddsa-rdfc-2022 for Ed25519, else the ECDSA
    # one, whose hash follows the curve).
    default = "eddsa-rdfc-2022" if key.key_type is KeyType.ED25519 else "ecdsa-rdfc-2019"
    return json.dumps(
        add_proof(credential, key, kid, created=issued, cryptosuite=cryptosuite or default),
        indent=2,
        ensure_ascii=False,
    )
