"""The issuer's and the registry's signing keys in a PKCS#11 token, against SoftHSM2 (Debian
`softhsm2`, installed by .ci/run; missing, the tests fail rather than skip): `init --pkcs11`
makes the key in the token, the DID document / verification method carries the token's
public key, and what the services sign there verifies with ancre's own verifier. A wrong PIN,
a missing token or key is a one-line refusal with its stable code, exit 64."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from _issuer_support import (
    LEGAL_PERSON_CLAIMS,
    Tls,
    bound_socket,
    make_tls,
    wait_until_healthy,
)
from _pkcs11_support import TOKENS, softhsm
from _support import StaticResolver, spawn_server
from _wallet_org_support import verify_presentation
from _wallet_support import new_wallet, offer_and_receive, wallet_cli

from ancre.trust.clock import FixedClock
from ancre.trust.errors import AncreError, Code
from ancre.trust.keys.jwk import PublicKey
from ancre.trust.keys.pkcs11 import Pkcs11KeyStore, Pkcs11Ref, open_or_generate
from ancre.trust.result import Status
from ancre.trust.trust_list.signed import verify_trust_list

TOKEN = "ancre-services"
PIN = TOKENS[TOKEN][0]
REGISTRY = "did:web:registry.example"


@pytest.fixture(scope="module")
def module(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The SoftHSM2 module, its token `TOKEN` fresh for this process (`_pkcs11_support`)."""
    return softhsm(tmp_path_factory)[0]


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> Tls:
    return make_tls(tmp_path_factory.mktemp("tls"))


def _env(**extra: str) -> dict[str, str]:
    """The environment of a command: no key store passphrase (a token key needs none), no
    PIN unless `extra` gives one."""
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("ANCRE_KEYSTORE", "ANCRE_PKCS11"))
    }
    return {**env, **extra}


def _cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ancre.cli.main", *args],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=60,
    )


def _refused(done: subprocess.CompletedProcess[str], code: str) -> None:
    assert done.returncode == 64, done.stdout + done.stderr
    assert code in done.stderr, done.stderr
    assert "Traceback" not in done.stderr


def _token_key(module: str, label: str) -> PublicKey:
    return open_or_generate(Pkcs11Ref(module, TOKEN, label), PIN, generate=False).public_key


@pytest.mark.parametrize("key_type", ["p256", "ed25519"])
def test_issuer_key_in_token_issues_what_ancre_verifies(
    tmp_path: Path, module: str, tls: Tls, key_type: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    issuer_dir, wallet = tmp_path / "issuer", tmp_path / "wallet"
    pin_file = tmp_path / "pin"
    pin_file.write_text(PIN + "\n")
    sock, port = bound_socket()
    sock.close()
    url, did = f"https://localhost:{port}", f"did:web:localhost%3A{port}"
    label = f"agency-{key_type}"
    made = _cli(
        "issuer", "init", "--dir", str(issuer_dir), "--did", did, "--public-url", url,
        "--pkcs11", module, "--token-label", TOKEN, "--key-label", label,
        "--key-type", key_type, "--pin-file", str(pin_file),
        env=_env(),
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    # No key file, no passphrase: the key pair is the token's.
    assert not (issuer_dir / "keys.ancre").exists()
    config = json.loads((issuer_dir / "issuer.json").read_text())
    assert config["pkcs11"] == {"module": module, "token_label": TOKEN}
    assert config["keys"][0]["kid"] == f"{did}#{label}"
    in_token = _token_key(module, label)
    assert in_token.key_type.value == key_type

    log = tmp_path / "serve.log"
    with log.open("w") as err:
        server = subprocess.Popen(
            [
                sys.executable, "-m", "ancre.cli.main", "issuer", "serve",
                "--dir", str(issuer_dir), "--port", str(port),
                "--tls-cert", str(tls.cert), "--tls-key", str(tls.key),
                "--no-accreditation-check",
            ],
            # The PIN file through serve's own variable (cli/settings.py).
            env=_env(ANCRE_ISSUER_PKCS11_PIN_FILE=str(pin_file)),
            stdout=subprocess.DEVNULL,
            stderr=err,
        )  # fmt: skip
    try:
        wait_until_healthy(url, tls, server=server, log=log)
        with httpx.Client(trust_env=False, verify=tls.context(), timeout=10) as http:
            document = http.get(f"{url}/.well-known/did.json").json()
        (method,) = [m for m in document["verificationMethod"] if m["id"] == f"{did}#{label}"]
        assert PublicKey.from_jwk(method["publicKeyJwk"]) == in_token

        # Offers and the wallet's requests: the PIN from the wallet's variable this time.
        monkeypatch.setenv("ANCRE_PKCS11_PIN", PIN)
        new_wallet(wallet, ("jwk", "p256"))
        offer_and_receive(issuer_dir, wallet, tmp_path, "LegalPerson", LEGAL_PERSON_CLAIMS, tls.ca)
        shown = wallet_cli(
            wallet, "present", "--type", "LegalPerson", "--audience",
            "https://connector.example", "--nonce", "n-hsm-issuer", "--json",
        )  # fmt: skip
        assert shown.returncode == 0, shown.stderr
        result = verify_presentation(
            json.loads(shown.stdout)["presentation"], tls.ca,
            audience="https://connector.example", nonce="n-hsm-issuer",
            trusted_issuers=frozenset([did]),
        )  # fmt: skip
        assert result.status is Status.VALID, result.errors
    finally:
        server.terminate()
        server.wait(10)

    # A wrong PIN: serve stops before listening, with the token's code.
    _refused(
        _cli(
            "issuer", "serve", "--dir", str(issuer_dir), "--port", str(port),
            "--no-accreditation-check", env=_env(ANCRE_PKCS11_PIN="0000"),
        ),
        "pkcs11_pin_incorrect",
    )  # fmt: skip
    # The admin commands open the token the same way.
    _refused(
        _cli("issuer", "list", "--dir", str(issuer_dir), env=_env(ANCRE_PKCS11_PIN="0000")),
        "pkcs11_pin_incorrect",
    )
    # No PIN anywhere and no terminal: said, not prompted for.
    none = _cli("issuer", "list", "--dir", str(issuer_dir), env=_env())
    assert none.returncode == 64, none.stderr
    assert "ANCRE_PKCS11_PIN" in none.stderr
    # A module that is not there (the wrong machine): serve names it.
    _refused(
        _cli(
            "issuer", "serve", "--dir", str(issuer_dir), "--port", str(port),
            "--no-accreditation-check",
            env=_env(ANCRE_PKCS11_PIN=PIN, ANCRE_ISSUER_PKCS11_MODULE="/nonexistent/lib.so"),
        ),
        "pkcs11_unavailable",
    )  # fmt: skip


def test_issuer_key_rotation_in_token(tmp_path: Path, module: str) -> None:
    """`keys rotate` makes the new key in the token; the old one stays for verification."""
    issuer_dir = tmp_path / "issuer"
    env = _env(ANCRE_PKCS11_PIN=PIN)
    init = (
        "issuer", "init", "--dir", str(issuer_dir), "--did", "did:web:rotating.example",
        "--pkcs11", module, "--token-label", TOKEN, "--key-label", "rotating-1",
    )  # fmt: skip
    # Refused before anything is written: a wrong PIN, a key type no token key has.
    _refused(_cli(*init, env=_env(ANCRE_PKCS11_PIN="0000")), "pkcs11_pin_incorrect")
    _refused(_cli(*init, "--key-type", "p384", env=env), "p256 or ed25519")
    assert not (issuer_dir / "issuer.json").exists()
    made = _cli(
        "issuer", "init", "--dir", str(issuer_dir), "--did", "did:web:rotating.example",
        "--pkcs11", module, "--token-label", TOKEN, "--key-label", "rotating-1", env=env,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    rotated = _cli("issuer", "keys", "rotate", "--dir", str(issuer_dir), env=env)
    assert rotated.returncode == 0, rotated.stderr
    keys = json.loads((issuer_dir / "issuer.json").read_text())["keys"]
    assert keys[0]["retired_at"] is not None
    assert keys[1]["retired_at"] is None
    store = Pkcs11KeyStore(module, TOKEN, lambda: PIN)
    assert {keys[0]["name"], keys[1]["name"]} <= {info.name for info in store.list()}
    assert store.public_key(keys[1]["name"]) != store.public_key(keys[0]["name"])
    # The token's key never leaves it.
    with pytest.raises(AncreError, match="never leaves") as kept:
        store.export_private_jwk(keys[1]["name"])
    assert kept.value.code is Code.PKCS11_UNAVAILABLE


def test_registry_key_in_token_signs_a_trust_list_that_verifies(
    tmp_path: Path, module: str
) -> None:
    reg = tmp_path / "reg"
    d = ["--dir", str(reg)]
    pin_file = tmp_path / "pin"
    pin_file.write_text(PIN + "\n")

    # A token that is not there: refused before anything is written.
    _refused(
        _cli(
            "registry", "init", "--did", REGISTRY, *d, "--pkcs11", module,
            "--token-label", "no-such-token", "--pin-file", str(pin_file), env=_env(),
        ),
        "pkcs11_unavailable",
    )  # fmt: skip
    assert not (reg / "registry.json").exists()
    # A wrong PIN: the same.
    _refused(
        _cli(
            "registry", "init", "--did", REGISTRY, *d, "--pkcs11", module,
            "--token-label", TOKEN, env=_env(ANCRE_PKCS11_PIN="0000"),
        ),
        "pkcs11_pin_incorrect",
    )  # fmt: skip
    assert not (reg / "registry.json").exists()

    init = _cli(
        "registry", "init", "--did", REGISTRY, *d, "--no-two-person-rule",
        "--pkcs11", module, "--token-label", TOKEN, "--key-label", "registry-root",
        "--pin-file", str(pin_file), env=_env(),
    )  # fmt: skip
    assert init.returncode == 0, init.stderr
    method = json.loads(init.stdout)
    in_token = _token_key(module, "registry-root")
    assert PublicKey.from_jwk(method["publicKeyJwk"]) == in_token
    assert in_token.key_type.value == "p256"
    assert not (reg / "keys.ancre").exists()

    env = _env(ANCRE_PKCS11_PIN=PIN)
    anchor = _cli(
        "registry", "anchor", "add", "did:web:assoc.example", "--name", "Association",
        *d, env=env,
    )  # fmt: skip
    assert anchor.returncode == 0, anchor.stderr
    added = _cli(
        "registry", "issuer", "add", "did:web:agency.example", "--name", "Agence",
        "--accredited-by", "did:web:assoc.example", "--type", "gx:LegalPerson", *d, env=env,
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    out = tmp_path / "list.jwt"
    published = _cli("registry", "publish", *d, "--out", str(out), env=env)
    assert published.returncode == 0, published.stderr
    checkpoint = _cli(
        "registry", "audit", "checkpoint", *d, "--pin-file", str(pin_file), env=_env()
    )
    assert checkpoint.returncode == 0, checkpoint.stderr
    assert _cli("registry", "audit", "verify", *d, env=_env()).returncode == 0

    # The list verifies against the registry's DID document (init wrote it from the token).
    document = json.loads((reg / "did.json").read_text())
    trust_list = verify_trust_list(
        out.read_text().strip(),
        registry=REGISTRY,
        resolver=StaticResolver({REGISTRY: document}),
        clock=FixedClock(datetime.now(UTC) + timedelta(minutes=1)),
    )
    assert trust_list.is_trusted("did:web:agency.example", "gx:LegalPerson", datetime.now(UTC))

    # `serve` opens the token at start (PIN through its own variable) and publishes over
    # HTTP, the token signing.
    minted = _cli(
        "registry", "token", "create", "ci", "--role", "editor", *d, "--as", "operator",
        env=_env(),
    )  # fmt: skip
    assert minted.returncode == 0, minted.stderr
    bearer = minted.stdout.strip().splitlines()[-1]

    def ready(port: int) -> bool:
        try:
            with httpx.Client(trust_env=False, timeout=2) as probe:
                return probe.get(f"http://127.0.0.1:{port}/health").status_code == 200
        except httpx.TransportError:
            return False

    server, port = spawn_server(
        lambda port: [
            sys.executable, "-m", "ancre.cli.main", "registry", "serve", *d,
            "--port", str(port),
        ],
        ready,
        env=_env(ANCRE_REGISTRY_PKCS11_PIN_FILE=str(pin_file)),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", trust_env=False, timeout=10) as http:
            posted = http.post("/admin/publish", headers={"Authorization": f"Bearer {bearer}"})
            assert posted.status_code == 201, posted.text
            served = http.get("/trust-list").text.strip()
    finally:
        server.terminate()
        server.wait(10)
    again = verify_trust_list(
        served,
        registry=REGISTRY,
        resolver=StaticResolver({REGISTRY: document}),
        clock=FixedClock(datetime.now(UTC) + timedelta(minutes=1)),
    )
    assert again.sequence == trust_list.sequence + 1

    # Wrong PIN for publish, and for serve through its own variable: exit 64 with the code.
    _refused(
        _cli("registry", "publish", *d, env=_env(ANCRE_PKCS11_PIN="0000")),
        "pkcs11_pin_incorrect",
    )
    wrong_file = tmp_path / "wrong-pin"
    wrong_file.write_text("0000\n")
    sock, port = bound_socket()
    sock.close()
    _refused(
        _cli(
            "registry", "serve", *d, "--port", str(port),
            env=_env(ANCRE_REGISTRY_PKCS11_PIN_FILE=str(wrong_file)),
        ),
        "pkcs11_pin_incorrect",
    )  # fmt: skip

    # The key gone from under its label (registry.json naming another): nothing signed.
    settings = json.loads((reg / "registry.json").read_text())
    settings["pkcs11"]["key_label"] = "absent"
    (reg / "registry.json").write_text(json.dumps(settings))
    _refused(_cli("registry", "publish", *d, env=env), "pkcs11_unavailable")
    # Another key under the label: refused, the published key is the registry's.
    _token_key_made = open_or_generate(Pkcs11Ref(module, TOKEN, "impostor"), PIN)
    settings["pkcs11"]["key_label"] = "impostor"
    (reg / "registry.json").write_text(json.dumps(settings))
    swapped = _cli("registry", "publish", *d, env=env)
    assert swapped.returncode == 65, swapped.stderr
    assert "invalid_key" in swapped.stderr
    assert _token_key_made.public_key != in_token


def test_token_key_store_makes_keys_in_the_token_only(module: str) -> None:
    store = Pkcs11KeyStore(module, TOKEN, lambda: PIN)
    made = store.generate("store-ed", "ed25519")
    assert made.key_type.value == "ed25519"
    signature = store.signer("store-ed").sign(b"payload")
    assert made.public_key.verify("EdDSA", b"payload", signature)
    # A label already taken is never a second key pair: rotation would sign with another's.
    with pytest.raises(AncreError, match="already holds"):
        store.generate("store-ed", "p256")
    # Keys are made in the token: no private key comes in, none goes out.
    with pytest.raises(AncreError, match="token's own tools"):
        store.import_private_jwk("store-in", {"kty": "OKP"})
    with pytest.raises(AncreError) as absent:
        store.public_key("store-absent")
    assert absent.value.code is Code.PKCS11_UNAVAILABLE
    with pytest.raises(AncreError) as other_type:
        store.generate("store-p384", "p384")
    assert other_type.value.code is Code.UNSUPPORTED_KEY_TYPE


def test_a_platform_whose_issuers_share_a_token_key_is_refused(tmp_path: Path) -> None:
    from ancre.issuer.config import IssuerConfig, KeyEntry, TokenConfig
    from ancre.issuer.platform import check_platform
    from ancre.trust.errors import ConfigurationError

    token = TokenConfig("/usr/lib/softhsm/libsofthsm2.so", TOKEN)

    def config(name: str, label: str) -> IssuerConfig:
        did = f"did:web:agency.example:issuers:{name}"
        return IssuerConfig(
            did=did,
            public_url=f"https://agency.example/issuers/{name}",
            database=f"sqlite:///{tmp_path}/{name}.db",
            key_type="p256",
            keys=(KeyEntry(label, f"{did}#{label}", "2026-01-01T00:00:00Z"),),
            directory=tmp_path / name,
            pkcs11=token,
        )

    check_platform([("a", config("a", "a-1"), None), ("b", config("b", "b-1"), None)])
    with pytest.raises(ConfigurationError, match="share PKCS#11 key pairs"):
        check_platform(
            [("a", config("a", "signing-1"), None), ("b", config("b", "signing-1"), None)]
        )
