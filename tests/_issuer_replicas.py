"""Two replicas of one issuer (two apps, two engines and pools, one database), served over
HTTP on loopback, and the wallet's OpenID4VCI calls against either: what the replica tests
(tests/security/test_sec_issuer_oid4vci.py on SQLite, tests/test_faults_replicas.py and
tests/test_issuer_deferred_replicas.py on PostgreSQL) share."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import httpx
from _asgi_server import serve
from _issuer_support import LEGAL_PERSON_CLAIMS, make_issuer, open_issuer

from ancre.issuer.api import IssuerSettings, create_app
from ancre.issuer.service import Issuer
from ancre.issuer.templates import Authorization

PRE_AUTHORIZED = "urn:ietf:params:oauth:grant-type:pre-authorized_code"
OPERATOR = Authorization(method="operator", actor="alice", register_checked=True)


@dataclass
class Replicas:
    a: Issuer
    b: Issuer
    urls: tuple[str, str]
    http: httpx.Client

    @property
    def url_a(self) -> str:
        return self.urls[0]

    @property
    def url_b(self) -> str:
        return self.urls[1]

    def offer(self, tx_code: bool = False) -> tuple[str, str | None]:
        created = self.a.create_offer(
            "LegalPerson", LEGAL_PERSON_CLAIMS, authorization=OPERATOR, tx_code=tx_code
        )
        return created.pre_authorized_code, created.tx_code

    def token(self, url: str, code: str, tx_code: str | None = None) -> httpx.Response:
        form = {"grant_type": PRE_AUTHORIZED, "pre-authorized_code": code}
        if tx_code is not None:
            form["tx_code"] = tx_code
        return self.http.post(f"{url}/token", data=form)

    def access(self, url: str) -> str:
        code, _ = self.offer()
        response = self.token(url, code)
        assert response.status_code == 200, response.text
        return str(response.json()["access_token"])

    def nonce(self, url: str) -> str:
        return str(self.http.post(f"{url}/nonce").json()["c_nonce"])

    def credential(
        self, url: str, access: str, proof: str, configuration: str = "LegalPerson"
    ) -> httpx.Response:
        body = {"credential_configuration_id": configuration, "proofs": {"jwt": [proof]}}
        return self.http.post(
            f"{url}/credential", json=body, headers={"Authorization": f"Bearer {access}"}
        )


R = TypeVar("R", bound=Replicas)


@contextmanager
def served_replicas(
    directory: Path,
    port: int,
    *,
    database: str | None = None,
    timeout: float = 30,
    kind: type[R] = Replicas,  # type: ignore[assignment]
) -> Iterator[R]:
    """Replica A made in `directory` (on `database`, else SQLite), replica B opened from it
    with its own engine and pool; both served until the block ends, then disposed."""
    a = make_issuer(directory, port, database=database)
    b = open_issuer(directory)  # its own engine and pool, on the same database
    assert a.engine is not b.engine
    try:
        with (
            serve(create_app(IssuerSettings(a))) as url_a,
            serve(create_app(IssuerSettings(b))) as url_b,
            httpx.Client(trust_env=False, timeout=timeout) as http,
        ):
            yield kind(a, b, (url_a, url_b), http)
    finally:
        a.engine.dispose()
        b.engine.dispose()
