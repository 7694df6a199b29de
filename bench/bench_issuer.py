"""Issuance throughput through the library: `Issuer.issue` (template checks, random status
index allocated under the database's uniqueness constraint, signature, credential metadata
and a hash-chained audit event) on SQLite in WAL mode with full synchronous commits, as
`ancre issuer init` configures it.

Each row is paired with a bare-signature floor in the same run (the issuer key signing the
same number of bytes as the credential's JWS signing input): the ratio says what everything
but the signature costs. Figures are credentials per second from one run; compare ratios.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from ancre.issuer.config import KEYSTORE_FILE, init_issuer, load_config
from ancre.issuer.db import make_engine
from ancre.issuer.service import Issuer, holder_from_key
from ancre.issuer.templates import Authorization
from ancre.trust.clock import SystemClock
from ancre.trust.keys import PrivateKey
from ancre.trust.keystore import FileKeyStore
from bench._harness import paired

PASSPHRASE = "bench"
AUTHORIZATION = Authorization("operator", "bench", register_checked=True)
LEGAL_PERSON = {
    "schema:name": "DANONE",
    "gx:registrationNumber": {"id": "https://danone.example/participant#lrn"},
    "gx:legalAddress": {"type": "gx:Address", "gx:countryCode": "FR"},
    "gx:headquartersAddress": {"type": "gx:Address", "gx:countryCode": "FR"},
}
DIRECTOR = {
    "siren": "552032534",
    "legal_name": "DANONE",
    "given_name": "Antoine",
    "family_name": "de Saint-Affrique",
    "role": "Directeur général",
}


def _issuer(directory: Path, key_type: str) -> Issuer:
    init_issuer(
        directory,
        did="did:web:issuer.example",
        passphrase=PASSPHRASE,
        clock=SystemClock(),
        key_type=key_type,
        scrypt_n=2**14,
        limits={"status_list_entries": 1_048_576},
    )
    config = load_config(directory)
    return Issuer(
        config,
        engine=make_engine(config.database_url()),
        store=FileKeyStore(directory / KEYSTORE_FILE, PASSPHRASE, scrypt_n=2**14),
        clock=SystemClock(),
    )


def rows(key_type: str = "ed25519") -> list[tuple[str, float, float, float]]:
    """(name, floor ops/s, row ops/s, ratio) for vc+jwt and dc+sd-jwt issuance."""
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        issuer = _issuer(Path(tmp) / "issuer", key_type)
        holder = holder_from_key(PrivateKey.generate("p256").public_key)
        signer = issuer.store.signer(issuer.config.current_key.name)
        for name, configuration, claims in (
            ("issue vc+jwt (library, SQLite)", "LegalPerson", LEGAL_PERSON),
            ("issue dc+sd-jwt (library, SQLite)", "DirectorCertification", DIRECTOR),
        ):
            sample = issuer.issue(
                configuration, claims, holder=holder, authorization=AUTHORIZATION
            ).credential
            signing_input = sample.split("~")[0].rsplit(".", 1)[0].encode()

            def floor(data: bytes = signing_input) -> object:
                return signer.sign(data)

            def row(
                configuration: str = configuration, claims: dict[str, object] = claims
            ) -> object:
                return issuer.issue(
                    configuration, claims, holder=holder, authorization=AUTHORIZATION
                )

            f, r, ratio = paired(floor, row, repeats=5, target=0.3)
            out.append((f"{name} [{key_type}]", f, r, ratio))
        issuer.engine.dispose()
    return out


def main() -> None:
    print("\nissuance: credentials/s through ancre.issuer (SQLite, WAL, synchronous=FULL)")
    print(f"{'row':<48} {'floor/s':>10} {'row/s':>10} {'row/floor':>10}")
    for name, f, r, ratio in rows():
        print(f"{name:<48} {f:>10.0f} {r:>10.0f} {ratio:>10.3f}")
    print("floor: the bare signature of the same signing input with the issuer key")


if __name__ == "__main__":
    main()
