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
from ancre.trust.keys.jwk import PrivateKey
from ancre.trust.keys.keystore import FileKeyStore
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


def http_row() -> tuple[str, float, float, float]:
    """The whole pre-authorized flow per credential over loopback HTTP (uvicorn, one
    client): offer (library), token, nonce, proof, credential — a vc+jwt, because SD-JWT VC
    status URLs must be https and this server is plain http on loopback."""
    import asyncio
    import socket
    import threading
    import time

    import httpx
    import uvicorn

    from ancre.issuer.api import IssuerSettings, create_app
    from ancre.trust.codec.b64 import b64url_encode
    from ancre.trust.codec.json import dumps_compact

    sock = socket.socket()
    # Accepted sockets inherit it; without it each keep-alive response waits for a delayed
    # ACK (~40 ms): asyncio sets TCP_NODELAY only on sockets made with proto=IPPROTO_TCP.
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp) / "issuer"
        init_issuer(
            directory,
            did=f"did:web:127.0.0.1%3A{port}",
            passphrase=PASSPHRASE,
            clock=SystemClock(),
            public_url=f"http://127.0.0.1:{port}",
            scrypt_n=2**14,
            limits={"status_list_entries": 1_048_576},
        )
        config = load_config(directory)
        issuer = Issuer(
            config,
            engine=make_engine(config.database_url()),
            store=FileKeyStore(directory / KEYSTORE_FILE, PASSPHRASE, scrypt_n=2**14),
            clock=SystemClock(),
        )
        server = uvicorn.Server(
            uvicorn.Config(create_app(IssuerSettings(issuer)), log_level="warning")
        )
        thread = threading.Thread(
            target=lambda: asyncio.run(server.serve(sockets=[sock])), daemon=True
        )
        thread.start()
        while not server.started:
            time.sleep(0.01)
        url = issuer.public_url
        wallet = PrivateKey.generate("p256")
        head = b64url_encode(
            dumps_compact(
                {"typ": "openid4vci-proof+jwt", "alg": "ES256", "jwk": wallet.public_key.to_jwk()}
            ).encode()
        )
        signer = issuer.store.signer(config.current_key.name)
        try:
            with httpx.Client(trust_env=False) as http:

                def flow() -> object:
                    offer = issuer.create_offer(
                        "LegalPerson", LEGAL_PERSON, authorization=AUTHORIZATION
                    )
                    form = {
                        "grant_type": "urn:ietf:params:oauth:grant-type:pre-authorized_code",
                        "pre-authorized_code": offer.pre_authorized_code,
                    }
                    access = http.post(f"{url}/token", data=form).json()["access_token"]
                    nonce = http.post(f"{url}/nonce").json()["c_nonce"]
                    claims = {"aud": url, "iat": int(time.time()), "nonce": nonce}
                    signing_input = f"{head}.{b64url_encode(dumps_compact(claims).encode())}"
                    proof = f"{signing_input}.{b64url_encode(wallet.sign(signing_input.encode()))}"
                    response = http.post(
                        f"{url}/credential",
                        json={
                            "credential_configuration_id": "LegalPerson",
                            "proofs": {"jwt": [proof]},
                        },
                        headers={"Authorization": f"Bearer {access}"},
                    )
                    if response.status_code != 200:
                        raise RuntimeError(response.text)
                    return response

                sample = flow().json()["credentials"][0]["credential"]  # type: ignore[attr-defined]
                data = sample.rsplit(".", 1)[0].encode()
                f, r, ratio = paired(lambda: signer.sign(data), flow, repeats=3, target=0.5)
        finally:
            server.should_exit = True
            thread.join(10)
            sock.close()
            issuer.engine.dispose()
    return ("pre-authorized flow, vc+jwt (HTTP loopback, SQLite)", f, r, ratio)


def main() -> None:
    print("\nissuance: credentials/s through ancre.issuer (SQLite, WAL, synchronous=FULL)")
    print(f"{'row':<52} {'floor/s':>10} {'row/s':>10} {'row/floor':>10}")
    for name, f, r, ratio in [*rows(), http_row()]:
        print(f"{name:<52} {f:>10.0f} {r:>10.0f} {ratio:>10.3f}")
    print("floor: the bare signature of the same signing input with the issuer key")
    print("HTTP row: offer + token + nonce + proof + credential per credential, one client")


if __name__ == "__main__":
    main()
