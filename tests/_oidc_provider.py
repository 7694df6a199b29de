"""The ProConnect stand-in OpenID provider (tests/oidc/proconnect-standin.mjs) as a fixture.

`proconnect_standin` starts the Node script (the certified `oidc-provider`, configured like
ProConnect) on a loopback port, waits for its ready line, yields a `Standin` (issuer URL,
the registered client, the test persons) and kills it at teardown. Node and the npm
packages come from `make node-deps` (a prerequisite of `make test`); without them the
fixture fails with the command to run — never a silent skip.

The port is chosen by the OS (`--port 0`, reported in the ready line), so no other process
can take it between choice and bind; a fixed port that turns out taken (exit 98,
EADDRINUSE) is retried on a fresh one.
"""

from __future__ import annotations

import json
import os
import secrets
import selectors
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from joserfc.jwk import ECKey

OIDC_DIR = Path(__file__).parent / "oidc"
SCRIPT = OIDC_DIR / "proconnect-standin.mjs"
ACCOUNTS = OIDC_DIR / "accounts.json"
READY_TIMEOUT = 20.0
EADDRINUSE_EXIT = 98
#: The issuer path ProConnect serves (reference/proconnect.md §1).
ISSUER_PATH = "/api/v2"


@dataclass(frozen=True)
class Standin:
    """A running stand-in: its issuer and the client registered with it."""

    issuer: str
    client_id: str
    client_secret: str
    redirect_uri: str
    post_logout_redirect_uri: str
    accounts: dict[str, dict[str, Any]]
    process: subprocess.Popen[bytes]
    #: a second client, authenticating with `private_key_jwt` (ES256) instead of a secret.
    key_client_id: str = ""
    #: its private key, as a JWK (the stand-in knows only the public part).
    key_client_jwk: dict[str, Any] | None = None

    def login_as(self, account: str | None) -> None:
        """Who the next login without `login_hint` logs in (browser tests)."""
        import httpx

        response = httpx.post(
            f"{self.issuer}/__test/login-as", json={"account": account}, trust_env=False
        )
        response.raise_for_status()


def _node() -> str:
    node = shutil.which("node")
    if node is None or not (OIDC_DIR / "node_modules" / "oidc-provider").is_dir():
        pytest.fail(
            "the ProConnect stand-in needs Node.js and its npm packages: run `make node-deps`"
        )
    return node


def _read_ready(process: subprocess.Popen[bytes]) -> dict[str, Any]:
    assert process.stdout is not None
    selector = selectors.DefaultSelector()
    selector.register(process.stdout, selectors.EVENT_READ)
    deadline = time.monotonic() + READY_TIMEOUT
    line = b""
    try:
        while not line.endswith(b"\n"):
            left = deadline - time.monotonic()
            if left <= 0 or not selector.select(left):
                raise TimeoutError(f"the stand-in printed no ready line in {READY_TIMEOUT} s")
            chunk = os.read(process.stdout.fileno(), 4096)
            if not chunk:  # exited
                break
            line += chunk
    finally:
        selector.close()
    if not line.endswith(b"\n"):
        return {}
    ready: dict[str, Any] = json.loads(line)
    return ready


@contextmanager
def running_standin(
    tmp: Path,
    *,
    port: int = 0,
    attempts: int = 5,
    redirect_uri: str | None = None,
    accounts_file: Path | None = None,
    post_logout_redirect_uri: str | None = None,
    key_client_public_jwk: dict[str, Any] | None = None,
) -> Iterator[Standin]:
    """Start the stand-in with a fresh client (random secret) and the test persons
    (`accounts_file`, default tests/oidc/accounts.json); `redirect_uri` replaces the
    client's default one (the login bridge's callback), `post_logout_redirect_uri` its
    registered post-logout URI (the bridge's ``/login/logged-out``). The `private_key_jwt`
    client is registered with `key_client_public_jwk` (inline ``jwks``), or else a fresh
    key whose private part the `Standin` carries. Files go to `tmp`: one folder per
    stand-in when several run at once (:func:`running_standins`)."""
    node = _node()
    accounts_path = accounts_file or ACCOUNTS
    client = {
        "client_id": "ancre-login-bridge",
        "client_secret": secrets.token_urlsafe(32),
        # Nothing listens there: tests stop at the redirect and read its query.
        "redirect_uris": [redirect_uri or "http://127.0.0.1:9/login/callback"],
        "post_logout_redirect_uris": [post_logout_redirect_uri or "http://127.0.0.1:9/logged-out"],
        "id_token_signed_response_alg": "ES256",
        "userinfo_signed_response_alg": "ES256",
        "token_endpoint_auth_method": "client_secret_post",
    }
    key = ECKey.generate_key("P-256", parameters={"alg": "ES256", "use": "sig"}, private=True)
    key.ensure_kid()
    key_client = {
        **client,
        "client_id": "ancre-login-bridge-pkjwt",
        "client_secret": None,
        "token_endpoint_auth_method": "private_key_jwt",
        "token_endpoint_auth_signing_alg": "ES256",
        "jwks": {"keys": [key_client_public_jwk or key.as_dict(private=False)]},
    }
    del key_client["client_secret"]
    client_file = tmp / "standin-client.json"
    client_file.write_text(json.dumps({"clients": [client, key_client]}))
    accounts = {a["id"]: a for a in json.loads(accounts_path.read_text())["accounts"]}
    # The provider's stderr goes to a file, quoted when it fails to start.
    log_path = tmp / "standin.log"
    log = log_path.open("ab")
    for _ in range(attempts):
        process = subprocess.Popen(
            [node, str(SCRIPT), "--port", str(port), "--issuer-path", ISSUER_PATH,
             "--client", str(client_file), "--accounts", str(accounts_path)],
            stdout=subprocess.PIPE,
            stderr=log,
            cwd=OIDC_DIR,
        )  # fmt: skip
        try:
            ready = _read_ready(process)
        except BaseException:
            process.kill()
            process.wait()
            if process.stdout is not None:
                process.stdout.close()
            log.close()
            raise
        if ready.get("ready"):
            break
        code = process.wait(timeout=5)
        if process.stdout is not None:
            process.stdout.close()
        if code != EADDRINUSE_EXIT:
            log.close()
            tail = log_path.read_text(errors="replace")[-2000:]
            raise RuntimeError(f"the ProConnect stand-in exited with status {code}:\n{tail}")
        port = 0  # the asked port was taken: let the OS choose
    else:
        log.close()
        raise RuntimeError(f"the ProConnect stand-in found no free port in {attempts} attempts")
    try:
        yield Standin(
            issuer=ready["issuer"],
            client_id=client["client_id"],
            client_secret=client["client_secret"],
            redirect_uri=client["redirect_uris"][0],
            post_logout_redirect_uri=client["post_logout_redirect_uris"][0],
            accounts=accounts,
            process=process,
            key_client_id=key_client["client_id"],
            key_client_jwk=None if key_client_public_jwk else key.as_dict(private=True),
        )
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stdout is not None:
            process.stdout.close()
        log.close()


@contextmanager
def running_standins(tmp: Path, *options: dict[str, Any]) -> Iterator[tuple[Standin, ...]]:
    """Several stand-ins at once, each on its own loopback port (so each its own issuer
    identifier, keys and sessions), each started with its `options`
    (:func:`running_standin`'s keyword arguments) and its own folder under `tmp`."""
    from contextlib import ExitStack

    with ExitStack() as stack:
        started = []
        for index, kwargs in enumerate(options):
            folder = tmp / f"standin-{index}"
            folder.mkdir(exist_ok=True)
            started.append(stack.enter_context(running_standin(folder, **kwargs)))
        yield tuple(started)


@pytest.fixture(scope="module")
def proconnect_standin(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Standin]:
    with running_standin(tmp_path_factory.mktemp("standin")) as standin:
        yield standin
