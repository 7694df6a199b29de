"""Issue 18: a first success, user mistakes as user errors, `ancre sign` and `ancre samples`.

Each user mistake has its message and exit code asserted, and none may say "this is a bug"."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

PASSPHRASE = {"ANCRE_KEYSTORE_PASSPHRASE": "correct horse"}
NOT_CHECKED = "issuer not checked: no trust source given"


def ancre(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [sys.executable, "-m", "ancre.cli.main", *args],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "NO_COLOR": "1", "COLUMNS": "200", **(env or {})},
        cwd=cwd,
        timeout=60,
    )
    assert "this is a bug" not in done.stderr, done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    return done


@pytest.fixture(scope="module")
def samples(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("ux") / "samples"
    done = ancre("samples", str(folder))
    assert done.returncode == 0, done.stderr
    assert done.stderr == f"ancre: wrote 12 files to {folder}; see {folder / 'README.md'}\n"
    return folder


# ---- samples -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "args", "code", "headline", "error"),
    # trust: "checked" when a policy names trusted issuers and the trust step ran.
    [
        ("credential.jwt", ["--policy", "policy.json"], 0, "VALID  vc+jwt", None),
        ("credential.jwt", [], 0, f"VALID ({NOT_CHECKED})  vc+jwt", None),
        ("expired.jwt", ["--policy", "policy.json"], 1, "INVALID  vc+jwt", "expired"),
        ("tampered.jwt", [], 1, "INVALID  vc+jwt", "signature_invalid"),
        ("credential.sd-jwt", ["--policy", "policy.json"], 0, "VALID  dc+sd-jwt", None),
        ("credential-di.json", ["--policy", "policy.json"], 0, "VALID  ldp_vc", None),
        (
            "presentation.jwt",
            ["--policy", "policy.json", "--audience", "https://connector.example", "--nonce",
             "3f2b9c"],
            0,
            "VALID  vp+jwt",
            None,
        ),
    ],
)  # fmt: skip
def test_samples_verify_offline_as_their_readme_says(
    samples: Path, name: str, args: list[str], code: int, headline: str, error: str | None
) -> None:
    done = ancre("verify", name, *args, cwd=samples)
    assert done.returncode == code, done.stdout
    assert done.stdout.splitlines()[0] == headline
    report = json.loads(ancre("verify", name, *args, "--json", cwd=samples).stdout)
    assert [e["code"] for e in report["errors"]] == ([error] if error else [])
    ran_trust = code == 0
    expected = "not_checked" if "--policy" not in args else "checked" if ran_trust else "not_run"
    assert report["trust"] == expected


def test_samples_readme_commands_run_as_written(samples: Path) -> None:
    text = (samples / "README.md").read_text()
    commands = [line.strip() for line in text.splitlines() if line.startswith("    ")]
    script = "\n".join(commands).replace("\\\n", " ")
    assert script.count("ancre verify") == 7
    venv = str(Path(sys.executable).parent)
    for command in script.split("\n"):
        if not command.startswith("ancre"):
            continue
        done = subprocess.run(
            ["bash", "-c", command],
            cwd=samples,
            capture_output=True,
            text=True,
            env={**os.environ, "PATH": f"{venv}:{os.environ['PATH']}"},
            check=False,
        )
        expected = 1 if ("expired" in command or "tampered" in command) else 0
        assert done.returncode == expected, command + done.stdout + done.stderr


def test_samples_never_overwrite(samples: Path) -> None:
    done = ancre("samples", str(samples))
    assert done.returncode == 73
    assert done.stderr.startswith(f"ancre: {samples} already holds issuer.jwk, issuer.did")
    assert done.stderr.endswith("; ancre never overwrites (choose another DIR)\n")


# ---- verify: every step, and what trust rests on ------------------------------------------


def test_verify_lists_the_steps_not_run(samples: Path) -> None:
    lines = ancre("verify", "tampered.jwt", cwd=samples).stdout.splitlines()
    # Every format runs every step of the engine's one order (ancre.trust.engine.ORDER).
    later = ("data_model", "time", "schema", "status", "trust", "holder_binding", "credentials")
    assert lines[-9:] == [
        "  ✗ signature      signature_invalid the signature does not verify with the issuer's key",
        *(f"  – {step:<14} not run: signature failed" for step in (*later, "policy")),
    ]


def test_verify_human_timestamps_are_to_the_second(samples: Path) -> None:
    out = ancre("verify", "credential.jwt", cwd=samples).stdout
    time_line = next(line for line in out.splitlines() if "✓ time" in line)
    assert time_line.endswith("Z")
    assert "." not in time_line.rsplit("T", 1)[1]


def test_trust_message_tells_when_the_issuer_was_listed() -> None:
    from datetime import UTC, datetime, timedelta

    from ancre.trust.errors import InvalidError
    from ancre.trust.trust_list.index import TrustList
    from ancre.trust.trust_list.model import (
        EntryStatus,
        StatusPeriod,
        TrustedEntity,
        TrustedService,
        TrustListDocument,
    )

    since = datetime(2026, 3, 1, tzinfo=UTC)
    issuer = "did:web:agency.example"
    service = TrustedService("gx:LegalPerson", (StatusPeriod(EntryStatus.ACTIVE, since),))
    listed = TrustList(
        TrustListDocument(
            sequence=1,
            issued_at=since,
            next_update=since + timedelta(days=1),
            operator_name="Loire data space",
            scheme_name="Trusted credential issuers",
            entities=(TrustedEntity(id=issuer, name="Agence", services=(service,)),),
        )
    )
    with pytest.raises(InvalidError) as caught:
        listed.check(issuer, ["gx:LegalPerson"], issued_at=since - timedelta(days=1), now=since)
    assert caught.value.message == (
        f"{issuer} is not listed for gx:LegalPerson at issuance time 2026-02-28T00:00:00Z "
        "(listed from 2026-03-01T00:00:00Z)"
    )
    with pytest.raises(InvalidError) as caught:
        listed.check(issuer, ["gx:VatID"], issued_at=since, now=since)
    assert caught.value.message == f"{issuer} is not listed for gx:VatID"


# ---- sign --------------------------------------------------------------------------------

CREDENTIAL = {
    "@context": ["https://www.w3.org/ns/credentials/v2"],
    "type": ["VerifiableCredential", "ExampleMembership"],
    "credentialSubject": {"id": "https://danone.example/participant"},
}


@pytest.mark.parametrize(
    ("fmt", "extra", "headline"),
    [
        ("vc+jwt", [], "VALID  vc+jwt"),
        ("di", [], "VALID  ldp_vc"),
        ("di", ["--cryptosuite", "eddsa-jcs-2022"], "VALID  ldp_vc"),
        ("dc+sd-jwt", ["--vct", "https://x.example/member", "--disclose", "/role"],
         "VALID  dc+sd-jwt"),
    ],
)  # fmt: skip
def test_sign_then_verify(
    samples: Path, tmp_path: Path, fmt: str, extra: list[str], headline: str
) -> None:
    # Data Integrity canonicalizes JSON-LD: every type must be defined by the @context.
    plain = {**CREDENTIAL, "type": ["VerifiableCredential"]}
    document = {"role": "member"} if fmt == "dc+sd-jwt" else plain if fmt == "di" else CREDENTIAL
    (tmp_path / "in.json").write_text(json.dumps(document))
    key = str(samples / "issuer.jwk")
    signed = ancre("sign", str(tmp_path / "in.json"), "--key", key, "--format", fmt, *extra)
    assert signed.returncode == 0, signed.stderr
    (tmp_path / "out").write_text(signed.stdout)
    done = ancre("verify", str(tmp_path / "out"), "--policy", str(samples / "policy.json"))
    assert done.returncode == 0, done.stdout
    assert done.stdout.splitlines()[0] == headline


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--format", "jwt"],
         "ancre: --format must be one of vc+jwt, vc+sd-jwt, vc+cose, dc+sd-jwt, di\n"),
        (["--format", "dc+sd-jwt"], "ancre: dc+sd-jwt needs --vct, the credential type (a URI)\n"),
        (["--vct", "https://x.example/t"],
         "ancre: --vct is for --format dc+sd-jwt\n"),
        (["--key-is-holder"], None),
        (["--cryptosuite", "eddsa-jcs-2022"], "ancre: --cryptosuite is for --format di\n"),
        (["--format", "di", "--cryptosuite", "ecdsa-rdfc-2019"],
         "ancre: cryptosuite ecdsa-rdfc-2019 signs with P-256 or P-384 keys, the key is Ed25519\n"),
        (["--format", "di", "--cryptosuite", "bbs-2023"], None),
        (["--format", "di", "--mandatory", "/issuer"],
         "ancre: --mandatory is for --format di --cryptosuite ecdsa-sd-2023\n"),
        (["--format", "di", "--cryptosuite", "ecdsa-sd-2023"],
         "ancre: ecdsa-sd-2023 signs with a P-256 key\n"),
    ],
)  # fmt: skip
def test_sign_usage_errors(
    samples: Path, tmp_path: Path, args: list[str], message: str | None
) -> None:
    (tmp_path / "in.json").write_text(json.dumps(CREDENTIAL))
    done = ancre("sign", str(tmp_path / "in.json"), "--key", str(samples / "issuer.jwk"), *args)
    assert done.returncode == 64
    if message is not None:
        assert done.stderr == message


def _gaia_x_subject(samples: Path) -> dict[str, object]:
    """The sample Data Integrity credential, unsigned, as a plain VerifiableCredential (no
    gx:LegalPerson schema to satisfy once the addresses are withheld)."""
    document = json.loads((samples / "credential-di.json").read_text())
    for field in ("proof", "issuer", "validFrom", "validUntil", "id"):
        document.pop(field)
    document["type"] = ["VerifiableCredential"]
    document["credentialSubject"].pop("type")
    return dict(document)


def test_sign_an_ecdsa_sd_2023_base_proof_a_holder_derives_from(
    samples: Path, tmp_path: Path
) -> None:
    from ancre.trust.data_integrity.ecdsa_sd import derive_proof

    key = tmp_path / "p256.jwk"
    assert ancre("keys", "generate", "--type", "p256", "--out", str(key)).returncode == 0
    (tmp_path / "in.json").write_text(json.dumps(_gaia_x_subject(samples)))
    signed = ancre(
        "sign", str(tmp_path / "in.json"), "--key", str(key), "--format", "di",
        "--cryptosuite", "ecdsa-sd-2023", "--mandatory", "/issuer",
        "--mandatory", "/credentialSubject/id",
    )  # fmt: skip
    assert signed.returncode == 0, signed.stderr
    base = json.loads(signed.stdout)
    assert base["proof"]["cryptosuite"] == "ecdsa-sd-2023"
    # The base proof is for the holder: a verifier refuses it (it would disclose the HMAC key).
    (tmp_path / "base.json").write_text(signed.stdout)
    refused = ancre("verify", str(tmp_path / "base.json"))
    assert refused.returncode == 1
    assert "derived_proof_mismatch" in refused.stdout
    # The holder reveals the name only; the mandatory issuer and subject id come along.
    derived = derive_proof(base, ["/credentialSubject/schema:name"])
    assert set(derived["credentialSubject"]) == {"id", "schema:name"}
    assert derived["issuer"] == base["issuer"]
    (tmp_path / "derived.json").write_text(json.dumps(derived))
    done = ancre("verify", str(tmp_path / "derived.json"))
    assert done.returncode == 0, done.stdout
    assert done.stdout.splitlines()[0] == f"VALID ({NOT_CHECKED})  ldp_vc"
    assert "1 disclosed and 3 mandatory statements" in done.stdout
    # A revealed value changed after derivation does not verify.
    derived["credentialSubject"]["schema:name"] = "NOT DANONE"
    (tmp_path / "derived.json").write_text(json.dumps(derived))
    tampered = ancre("verify", str(tmp_path / "derived.json"))
    assert tampered.returncode == 1
    assert "✗ signature" in tampered.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--mandatory", "/credentialSubject/nope"],
         "ancre: JSON Pointer '/credentialSubject/nope' does not match the document\n"),
        (["--mandatory", "issuer"], "ancre: 'issuer' is not a JSON Pointer (RFC 6901)\n"),
        (["--mandatory", "/credentialSubject/id~2"],
         "ancre: JSON Pointer '/credentialSubject/id~2' has a bad ~ escape\n"),
    ],
)  # fmt: skip
def test_sign_ecdsa_sd_2023_refuses_a_bad_mandatory_pointer(
    samples: Path, tmp_path: Path, args: list[str], message: str
) -> None:
    key = tmp_path / "p256.jwk"
    assert ancre("keys", "generate", "--type", "p256", "--out", str(key)).returncode == 0
    (tmp_path / "in.json").write_text(json.dumps(_gaia_x_subject(samples)))
    done = ancre(
        "sign", str(tmp_path / "in.json"), "--key", str(key), "--format", "di",
        "--cryptosuite", "ecdsa-sd-2023", *args,
    )  # fmt: skip
    assert (done.returncode, done.stderr, done.stdout) == (64, message, "")


def test_sign_ecdsa_sd_2023_pointer_error_has_a_stable_code(samples: Path) -> None:
    from datetime import UTC, datetime

    from ancre.cli.sign import sign_document
    from ancre.trust.errors import Code, ConfigurationError
    from ancre.trust.keys.jwk import KeyType, PrivateKey

    with pytest.raises(ConfigurationError) as caught:
        sign_document(
            _gaia_x_subject(samples), PrivateKey.generate(KeyType.P256), "di",
            now=datetime(2026, 1, 1, tzinfo=UTC), cryptosuite="ecdsa-sd-2023",
            mandatory=["/credentialSubject/nope"],
        )  # fmt: skip
    assert caught.value.code is Code.CONFIGURATION


def test_sign_refuses_a_key_that_is_not_the_issuers(samples: Path, tmp_path: Path) -> None:
    issuer = (samples / "issuer.did").read_text().strip()
    (tmp_path / "in.json").write_text(json.dumps({**CREDENTIAL, "issuer": issuer}))
    done = ancre("sign", str(tmp_path / "in.json"), "--key", str(samples / "holder.jwk"))
    assert done.returncode == 64
    assert done.stderr.startswith(f"ancre: the document's issuer is {issuer}, not the key's ")
    assert done.stderr.endswith(
        ": give --kid, the DID URL naming this key in the issuer's DID document\n"
    )


# ---- user mistakes -----------------------------------------------------------------------


def test_keys_generate_into_a_missing_folder(tmp_path: Path) -> None:
    done = ancre("keys", "generate", "--out", "/nonexistent/dir/k.jwk")
    assert done.returncode == 73
    assert done.stderr == (
        "ancre: cannot write /nonexistent/dir/k.jwk: no folder /nonexistent/dir (create it first)\n"
    )


def test_keys_generate_never_prints_a_private_key_unasked() -> None:
    for args in ((), ("--json",)):
        done = ancre("keys", "generate", *args)
        assert done.returncode == 64
        assert done.stdout == ""
        assert done.stderr == (
            "ancre: give --out FILE or --keystore FILE to keep the private key, or "
            "--print-private to print it on stdout\n"
        )
    printed = ancre("keys", "generate", "--print-private")
    assert printed.returncode == 0
    assert "d" in json.loads(printed.stdout)


def test_registry_init_validates_before_writing(tmp_path: Path) -> None:
    folder = tmp_path / "reg"
    done = ancre(
        "registry", "init", "--did", "did:web:r.example", "--dir", str(folder),
        "--key-type", "rsa", env=PASSPHRASE,
    )  # fmt: skip
    assert done.returncode == 64
    assert done.stderr == "ancre: --key-type must be one of ed25519|p256|p384, not 'rsa'\n"
    assert not folder.exists()
    done = ancre("registry", "init", "--did", "notadid", "--dir", str(folder), env=PASSPHRASE)
    assert done.returncode == 64
    assert done.stderr == (
        "ancre: --did 'notadid' is not a DID (did:METHOD:ID, e.g. did:web:registry.example)\n"
    )
    assert not folder.exists()
    # The corrected retry works: nothing was left behind.
    done = ancre("registry", "init", "--did", "did:web:r.example", "--dir", str(folder),
                 env=PASSPHRASE)  # fmt: skip
    assert done.returncode == 0, done.stderr


def test_verify_a_file_that_is_not_a_credential() -> None:
    readme = Path(__file__).resolve().parent.parent / "README.md"
    done = ancre("verify", str(readme))
    assert done.returncode == 65
    # The verdict itself says what the input is, not one parser's complaint ("an SD-JWT is
    # ASCII").
    assert done.stdout.splitlines()[1].split() == [
        "✗", "parse", "malformed_token", "not", "a", "credential", "or", "presentation",
    ]  # fmt: skip
    assert "ASCII" not in done.stdout
    assert done.stderr == (
        f"ancre: {readme} is not a credential or presentation: expected a JWT (eyJ…), an "
        "SD-JWT (…~…~), a COSE_Sign1 (CBOR) or a JSON document with a proof\n"
    )


def test_key_not_found_names_the_keys_there(tmp_path: Path) -> None:
    store = tmp_path / "keys.ancre"
    for name in ("issuer", "backup"):
        made = ancre("keys", "generate", "--keystore", str(store), "--name", name, env=PASSPHRASE)
        assert made.returncode == 0, made.stderr
    done = ancre("keys", "show", "--keystore", str(store), "--name", "isuer", env=PASSPHRASE)
    assert done.returncode == 65
    assert done.stderr == (
        f"ancre: {store} has no key named 'isuer'; it holds: backup, issuer (--name NAME)\n"
    )
    listed = ancre("keys", "list", "--keystore", str(store), env=PASSPHRASE)
    assert listed.returncode == 0
    assert [line.split()[:2] for line in listed.stdout.splitlines()] == [
        ["backup", "ed25519"],
        ["issuer", "ed25519"],
    ]
    as_json = json.loads(ancre("keys", "list", "--keystore", str(store), "--json",
                               env=PASSPHRASE).stdout)  # fmt: skip
    assert [row["name"] for row in as_json] == ["backup", "issuer"]


@pytest.mark.parametrize(
    "command",
    [
        ["verifier", "serve", "--no-trust-check"],
        ["registry", "serve", "--dir", "REG"],
    ],
)
def test_serve_on_a_port_in_use(tmp_path: Path, command: list[str]) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        if "REG" in command:
            made = ancre("registry", "init", "--did", "did:web:r.example", "--dir",
                         str(tmp_path / "reg"), env=PASSPHRASE)  # fmt: skip
            assert made.returncode == 0, made.stderr
        args = [a.replace("REG", str(tmp_path / "reg")) for a in command]
        done = ancre(*args, "--port", str(port), env=PASSPHRASE)
    assert done.returncode == 69
    assert done.stderr.endswith(
        f"ancre: port {port} is in use on 127.0.0.1: stop what listens there, or --port\n"
    )


def test_trust_state_and_headline_when_a_cached_list_decided(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from ancre.cli.output import render_result, trust_state
    from ancre.trust.result import CheckResult, Status, Step, VerificationResult

    ran = VerificationResult(
        status=Status.VALID,
        checks=(CheckResult(Step.TRUST, True, None, "did:web:a.example is trusted"),),
        format="vc+jwt",
    )
    skipped = VerificationResult(
        status=Status.VALID,
        checks=(CheckResult(Step.TRUST, True, None, "not evaluated", skipped=True),),
        format="vc+jwt",
    )
    assert trust_state(ran, source_given=True, cached=True) == "cached_list"
    assert trust_state(ran, source_given=True) == "checked"
    assert trust_state(skipped, source_given=False) == "not_checked"
    assert trust_state(skipped, source_given=True) == "not_run"
    monkeypatch.setenv("NO_COLOR", "1")
    render_result(ran, trust="cached_list")
    first = capsys.readouterr().out.splitlines()[0]
    assert first == "VALID (trust decided on the cached trust list: registry unreachable)  vc+jwt"
