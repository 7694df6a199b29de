"""Wallet keys in a PKCS#11 token, against SoftHSM2 (Debian `softhsm2`, installed by .ci/run):
the private key is generated in the token and never leaves it; the wallet keeps only the
reference; key proofs, presentations and key-binding JWTs are signed by the token (ECDSA raw
r||s → JOSE ES256) and verify."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from _issuer_support import (
    DIRECTOR_CLAIMS,
    LEGAL_PERSON_CLAIMS,
    Tls,
    ancre_cli,
    cli_issuer,
    make_tls,
)
from _pkcs11_support import TOKENS, softhsm
from _wallet_org_support import verify_presentation
from _wallet_support import WALLET_PASSPHRASE, new_wallet, wallet_cli, wallet_env

from ancre.trust.errors import AncreError, Code
from ancre.trust.keys.jwk import PublicKey
from ancre.trust.keys.pkcs11 import Pkcs11Ref, Pkcs11Signer, open_or_generate
from ancre.trust.result import Status
from ancre.wallet.store import WalletStore

TOKEN = "ancre-test"
PIN = TOKENS[TOKEN][0]


@dataclass(frozen=True)
class Token:
    module: str
    conf: Path

    def env(self, **extra: str) -> dict[str, str]:
        return wallet_env(SOFTHSM2_CONF=str(self.conf), **extra)


@pytest.fixture(scope="module")
def token(tmp_path_factory: pytest.TempPathFactory) -> Token:
    """A fresh SoftHSM2 token (its own SOFTHSM2_CONF and token directory), one for the
    process (`_pkcs11_support`: SoftHSM2 reads its configuration once per process, so every
    test file's tokens are made there together; each test uses its own key labels)."""
    module, conf = softhsm(tmp_path_factory)
    return Token(module, conf)


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> Tls:
    return make_tls(tmp_path_factory.mktemp("tls"))


def test_token_signer_signs_es256_and_keeps_its_key(token: Token) -> None:
    ref = Pkcs11Ref(token.module, TOKEN, "holder-1")
    signer = open_or_generate(ref, PIN)
    assert signer.alg == "ES256"
    message = b"header.payload"
    signature = signer.sign(message)
    assert len(signature) == 64  # JOSE's r || s, not DER
    assert signer.public_key.verify("ES256", message, signature)
    assert not signer.public_key.verify("ES256", b"other", signature)
    # Opening the same label again finds the same key (no second key generated).
    assert open_or_generate(ref, PIN, generate=False).public_key == signer.public_key

    # The private key is sensitive and not extractable.
    import pkcs11

    lib = pkcs11.lib(token.module)
    with lib.get_token(token_label=TOKEN).open(user_pin=PIN) as session:
        private = session.get_key(object_class=pkcs11.ObjectClass.PRIVATE_KEY, label="holder-1")
        assert private[pkcs11.Attribute.SENSITIVE] is True
        assert private[pkcs11.Attribute.EXTRACTABLE] is False


def test_token_refusals(token: Token) -> None:
    ref = Pkcs11Ref(token.module, TOKEN, "holder-3")
    signer = open_or_generate(ref, PIN)

    with pytest.raises(AncreError) as wrong_pin:
        Pkcs11Signer(ref, signer.public_key, lambda: "0000").sign(b"x")
    assert wrong_pin.value.code is Code.PKCS11_PIN_INCORRECT

    with pytest.raises(AncreError) as no_token:
        open_or_generate(Pkcs11Ref(token.module, "no-such-token", "k"), PIN)
    assert no_token.value.code is Code.PKCS11_UNAVAILABLE

    with pytest.raises(AncreError) as no_key:
        open_or_generate(Pkcs11Ref(token.module, TOKEN, "absent"), PIN, generate=False)
    assert no_key.value.code is Code.PKCS11_UNAVAILABLE

    with pytest.raises(AncreError) as no_module:
        open_or_generate(Pkcs11Ref("/nonexistent/libnothing.so", TOKEN, "k"), PIN)
    assert no_module.value.code is Code.PKCS11_UNAVAILABLE

    # A reference whose recorded public key is not the token's: nothing is signed.
    other = open_or_generate(Pkcs11Ref(token.module, TOKEN, "holder-4"), PIN).public_key
    with pytest.raises(AncreError) as swapped:
        Pkcs11Signer(ref, other, lambda: PIN).sign(b"x")
    assert swapped.value.code is Code.INVALID_KEY


def _receive(
    issuer_dir: Path,
    wallet: Path,
    tmp_path: Path,
    configuration: str,
    claims: dict[str, Any],
    tls: Tls,
    env: dict[str, str],
) -> dict[str, Any]:
    """`ancre issuer offer`, then `ancre wallet receive` with `env` (the token's PIN)."""
    claims_file = tmp_path / f"{configuration}.json"
    claims_file.write_text(json.dumps(claims))
    made = ancre_cli(
        "issuer", "offer", "--dir", str(issuer_dir), "--type", configuration,
        "--claims", str(claims_file), "--tx-code", "--register-checked", "--json",
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    offer = json.loads(made.stdout)
    got = wallet_cli(
        wallet, "receive", offer["offer_uri"], "--tx-code", offer["tx_code"],
        "--insecure-loopback", "--ca-file", str(tls.ca), "--json", env=env,
    )  # fmt: skip
    assert got.returncode == 0, got.stderr
    receipt: dict[str, Any] = json.loads(got.stdout)
    return receipt


def test_wallet_identity_in_token_receives_presents_verifies(
    tmp_path: Path, token: Token, tls: Tls
) -> None:
    wallet, issuer_dir = tmp_path / "wallet", tmp_path / "issuer"
    new_wallet(wallet)
    pin_file = tmp_path / "pin"
    pin_file.write_text(PIN + "\n")
    made = wallet_cli(
        wallet, "did", "create", "--method", "jwk", "--pkcs11", token.module,
        "--token-label", TOKEN, "--key-label", "acme-holder", "--pin-file", str(pin_file),
        "--name", "hsm", "--json",
        env=token.env(),
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    holder = json.loads(made.stdout)
    assert holder["key_type"] == "p256"
    assert holder["did"].startswith("did:jwk:")
    assert holder["pkcs11"] == {
        "module": token.module, "token_label": TOKEN, "key_label": "acme-holder",
    }  # fmt: skip

    # The wallet holds the reference and the public key only: no private key member.
    store = WalletStore.open(wallet, WALLET_PASSPHRASE)
    (record,) = [e.data for e in store.entries("id") if e.data is not None]
    assert "private_jwk" not in record
    assert "d" not in record["public_jwk"]
    signer = open_or_generate(Pkcs11Ref(token.module, TOKEN, "acme-holder"), PIN, generate=False)
    assert PublicKey.from_jwk(record["public_jwk"]) == signer.public_key

    with cli_issuer(issuer_dir, tls) as issuer_url:
        issuer_did = "did:web:localhost%3A" + issuer_url.rsplit(":", 1)[1]
        env = token.env(ANCRE_PKCS11_PIN=PIN)
        legal = _receive(issuer_dir, wallet, tmp_path, "LegalPerson", LEGAL_PERSON_CLAIMS, tls, env)
        director = _receive(
            issuer_dir, wallet, tmp_path, "DirectorCertification", DIRECTOR_CLAIMS, tls, env
        )
        assert legal["subject"] == holder["did"]
        assert legal["identity"] == director["identity"] == holder["id"]

        # A vp+jwt signed by the token, verified by ancre's engine.
        shown = wallet_cli(
            wallet, "present", "--type", "LegalPerson", "--audience", "https://connector.example",
            "--nonce", "n-hsm-1", "--json", env=env,
        )  # fmt: skip
        assert shown.returncode == 0, shown.stderr
        presentation = json.loads(shown.stdout)
        result = verify_presentation(
            presentation["presentation"], tls.ca,
            audience="https://connector.example", nonce="n-hsm-1",
            trusted_issuers=frozenset([issuer_did]),
        )  # fmt: skip
        assert result.status is Status.VALID, result.errors
        assert result.holder == holder["did"]

        # An SD-JWT presentation whose key-binding JWT the token signs.
        kb = wallet_cli(
            wallet, "present", "--type", "urn:ancre:director-certification:1", "--audience",
            "https://connector.example", "--nonce", "n-hsm-2", "--disclose", "role", "--json",
            env=env,
        )  # fmt: skip
        assert kb.returncode == 0, kb.stderr
        sd = json.loads(kb.stdout)["presentation"]
        assert not sd.endswith("~")  # a key-binding JWT closes it
        sd_result = verify_presentation(
            sd, tls.ca, audience="https://connector.example", nonce="n-hsm-2",
            trusted_issuers=frozenset([issuer_did]),
        )  # fmt: skip
        assert sd_result.status is Status.VALID, sd_result.errors

        # No PIN and no terminal: refused with a clear message, nothing signed.
        refused = wallet_cli(
            wallet, "present", "--type", "LegalPerson", "--audience", "https://connector.example",
            "--nonce", "n-hsm-3", "--json", env=token.env(),
        )  # fmt: skip
        assert refused.returncode == 64, refused.stdout + refused.stderr
        assert "ANCRE_PKCS11_PIN" in refused.stderr
        assert "Traceback" not in refused.stderr

        # A wrong PIN: the token's refusal, with its stable code.
        wrong = wallet_cli(
            wallet, "present", "--type", "LegalPerson", "--audience", "https://connector.example",
            "--nonce", "n-hsm-4", "--json", env=token.env(ANCRE_PKCS11_PIN="0000"),
        )  # fmt: skip
        assert wrong.returncode != 0
        assert "pkcs11_pin_incorrect" in wrong.stdout + wrong.stderr, wrong.stderr
        assert "Traceback" not in wrong.stderr
