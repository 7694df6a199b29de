"""Issue 18: one option name for the registry's identity. `ancre issuer init|serve` take
`--registry-key` as `ancre verify` does (a DID, the verification method `registry init`
prints, or a public JWK with a saved list), `--registry-did` kept as the former name."""

from __future__ import annotations

import json
from pathlib import Path

from _issuer_support import LEGAL_PERSON_CLAIMS, ancre_cli
from test_issuer_accreditation import PublishedRegistry

from ancre.registry.db import make_engine as registry_engine
from ancre.registry.db import migrate as registry_migrate
from ancre.registry.service import Registry
from ancre.trust.clock import SystemClock
from ancre.trust.keys.jwk import PrivateKey

ISSUER = "did:web:localhost%3A9"
#: A did:web nothing can resolve here (no network in tests): only a pinned key verifies
#: its list.
REGISTRY = "did:web:registry.example"


class WebRegistry(PublishedRegistry):
    """A registry known by a did:web, its list signed by a key the test pins."""

    def __init__(self, folder: Path) -> None:
        self.key = PrivateKey.generate("ed25519")
        self.did = REGISTRY
        engine = registry_engine(f"sqlite:///{folder / 'registry.db'}")
        registry_migrate(engine)
        self.clock = SystemClock()
        self.registry = Registry(engine, clock=self.clock)
        self.registry.configure(
            registry_did=REGISTRY,
            kid=f"{REGISTRY}#list",
            operator_name="Loire data space",
            scheme_name="Trusted credential issuers",
        )
        change = self.registry.add_anchor(
            "alice", anchor_id="did:web:association.example", name="Association"
        )
        assert change is not None
        self.registry.approve("bob", change.id)
        self.file = folder / "trust-list.jwt"
        self.accredit(ISSUER, "gx:LegalPerson")
        self.publish()


def _offer(folder: Path, claims: Path) -> tuple[int, str]:
    done = ancre_cli(
        "issuer", "offer", "--dir", str(folder), "--type", "LegalPerson", "--claims", str(claims)
    )
    return done.returncode, done.stderr


def _claims(tmp_path: Path) -> Path:
    claims = tmp_path / "lp.json"
    claims.write_text(json.dumps(LEGAL_PERSON_CLAIMS))
    return claims


def test_registry_key_as_a_did_and_the_former_name(tmp_path: Path) -> None:
    registry = PublishedRegistry(tmp_path)
    registry.accredit(ISSUER, "gx:LegalPerson")
    registry.publish()
    for option, name in (("--registry-key", "a"), ("--registry-did", "b")):
        folder = tmp_path / name
        init = ancre_cli(
            "issuer", "init", "--dir", str(folder), "--did", ISSUER,
            "--trust-list", str(registry.file), option, registry.did,
        )  # fmt: skip
        assert init.returncode == 0, init.stderr
        assert json.loads((folder / "issuance.json").read_text())["accreditation"] == {
            "trust_list": str(registry.file),
            "registry": registry.did,
        }
        code, stderr = _offer(folder, _claims(tmp_path))
        assert code == 0, stderr


def test_registry_key_as_the_verification_method_registry_init_prints(tmp_path: Path) -> None:
    registry = WebRegistry(tmp_path)
    method = tmp_path / "registry-method.json"
    method.write_text(
        json.dumps(
            {
                "id": f"{REGISTRY}#list",
                "type": "JsonWebKey",
                "controller": REGISTRY,
                "publicKeyJwk": registry.key.public_key.to_jwk(),
            }
        )
    )
    folder = tmp_path / "agency"
    init = ancre_cli(
        "issuer", "init", "--dir", str(folder), "--did", ISSUER,
        "--trust-list", str(registry.file), "--registry-key", str(method),
    )  # fmt: skip
    assert init.returncode == 0, init.stderr
    saved = json.loads((folder / "issuance.json").read_text())["accreditation"]
    assert saved["registry"] == REGISTRY
    assert saved["registry_key"]["kid"] == f"{REGISTRY}#list"
    assert "d" not in saved["registry_key"]
    code, stderr = _offer(folder, _claims(tmp_path))
    assert code == 0, stderr
    # The same list without the pinned key: did:web:registry.example cannot be resolved
    # here, so the accreditation cannot be checked and the offer is refused.
    unpinned = tmp_path / "unpinned"
    init = ancre_cli(
        "issuer", "init", "--dir", str(unpinned), "--did", ISSUER,
        "--trust-list", str(registry.file), "--registry-key", REGISTRY,
    )  # fmt: skip
    assert init.returncode == 0, init.stderr
    assert _offer(unpinned, _claims(tmp_path))[0] != 0


def test_registry_key_as_a_bare_jwk_with_a_saved_list(tmp_path: Path) -> None:
    registry = WebRegistry(tmp_path)
    jwk = tmp_path / "registry.jwk"
    jwk.write_text(json.dumps(registry.key.public_key.to_jwk()))
    folder = tmp_path / "agency"
    init = ancre_cli(
        "issuer", "init", "--dir", str(folder), "--did", ISSUER,
        "--trust-list", str(registry.file), "--registry-key", str(jwk),
    )  # fmt: skip
    assert init.returncode == 0, init.stderr
    saved = json.loads((folder / "issuance.json").read_text())["accreditation"]
    assert saved["registry"] == REGISTRY  # named by the list's `iss`
    code, stderr = _offer(folder, _claims(tmp_path))
    assert code == 0, stderr
    # Another key pinned: the list's signature does not verify, the offer is refused.
    other = tmp_path / "other.jwk"
    other.write_text(json.dumps(PrivateKey.generate("ed25519").public_key.to_jwk()))
    wrong = tmp_path / "wrong"
    init = ancre_cli(
        "issuer", "init", "--dir", str(wrong), "--did", ISSUER,
        "--trust-list", str(registry.file), "--registry-key", str(other),
    )  # fmt: skip
    assert init.returncode == 0, init.stderr
    assert _offer(wrong, _claims(tmp_path))[0] != 0


def test_registry_key_mistakes_are_usage_errors(tmp_path: Path) -> None:
    registry = WebRegistry(tmp_path)
    jwk = tmp_path / "registry.jwk"
    jwk.write_text(json.dumps(registry.key.public_key.to_jwk()))
    cases = [
        # A bare key does not say which registry a list at a URL is from.
        (["--trust-list", "https://registry.example/trust-list", "--registry-key", str(jwk)],
         "a bare JWK --registry-key does not say which registry it is"),
        (["--trust-list", str(registry.file), "--registry-key", str(registry.file)],
         "--registry-key"),
        (["--registry-key", str(jwk)], "give both the trust list and the registry"),
    ]  # fmt: skip
    for n, (args, message) in enumerate(cases):
        folder = tmp_path / f"bad{n}"
        done = ancre_cli("issuer", "init", "--dir", str(folder), "--did", ISSUER, *args)
        assert done.returncode == 64, (args, done.stderr)
        assert message in done.stderr, done.stderr
        assert "Traceback" not in done.stderr
        assert not (folder / "issuer.json").exists()
    plain = ancre_cli("issuer", "init", "--dir", str(tmp_path / "agency"), "--did", ISSUER)
    assert plain.returncode == 0, plain.stderr
    served = ancre_cli(
        "issuer", "serve", "--dir", str(tmp_path / "agency"), "--port", "9",
        "--trust-list", "https://registry.example/trust-list", "--registry-key", str(jwk),
    )  # fmt: skip
    assert served.returncode == 64
    assert "a bare JWK --registry-key" in served.stderr
