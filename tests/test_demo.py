"""`make demo` (README): the whole onboarding story runs on loopback and every verdict is as
expected; `ancre demo --keep` leaves the services up until Ctrl-C, then stops them all."""

from __future__ import annotations

import os
import queue
import re
import signal
import ssl
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

# Well over a second (a browser or a subprocess tour): `make test-fast` skips it.
pytestmark = pytest.mark.slow

VERDICTS = (
    "trust list #1 signed by did:web:localhost",
    "bob, a second administrator, approves it",
    "→ as expected: four credentials, verified by the wallet on receipt",
    "the wallet receives a dc+sd-jwt",  # the mandate
    "→ as expected: the agency's own accreditation check refuses it (not_accredited)",
    "→ as expected: the wallet holds the certification (valid)",
    "→ as expected: the connector accepts the onboarding presentation (valid)",
    "→ as expected: tampering breaks the signature (VC-API) (signature_invalid)",
    "→ as expected: an issuer missing from the trust list (VC-API) (issuer_not_trusted)",
    "The connector's verifier asks for the Gaia-X onboarding presentation",
    "over OpenID4VP, profile gaia-x-onboarding, one query per member",
    "legal_person: gx:LegalPerson is valid",
    "registration_number: gx:LocalRegistrationNumber is valid",
    "terms_and_conditions: gx:Issuer is valid",  # self-signed, accepted in the profile only
    "certification: ancre:Certification is valid",
    # The Mandate (SD-JWT VC), asked for with a DCQL claims list: only what was asked.
    "and the Mandate (urn:eu.europa.ec.eudi:por:1) with only legal_person_identifier, role",
    "mandate: urn:eu.europa.ec.eudi:por:1 is valid",
    "the Mandate discloses: role (selectively)",
    "→ as expected: the connector received only the Mandate claims it asked for (valid",
    "the onboarding bundle of did:jwk:",
    "→ as expected: the verifier accepts the onboarding presentation (valid)",
    "→ as expected: a replayed presentation is refused",
    "certification: ancre:Certification is invalid",
    "certification: revoked: the credential is revoked",
    ": invalid\n",  # the bundle's verdict, after the revocation
    "→ as expected: the verifier refuses the bundle with the revoked certification",
    "→ as expected: the reason given is the revocation (revoked)",
)


def test_demo_runs_the_whole_story() -> None:
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "ancre.cli.main", "demo"],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    elapsed = time.monotonic() - started
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "every verdict was the expected one" in done.stdout
    for line in VERDICTS:
        assert line in done.stdout, line
    assert "NOT as expected" not in done.stdout
    assert "Traceback" not in done.stderr
    # The representative's name stays in the wallet: named as hidden, never disclosed.
    found = re.search(r"the Mandate keeps hidden from the connector: (.*)", done.stdout)
    assert found is not None, done.stdout[-3000:]
    hidden = set(found.group(1).split(", "))
    assert {"given_name", "family_name"} <= hidden, hidden
    assert "role" not in hidden
    # Well under two minutes on a loaded machine (about 12 s alone).
    assert elapsed < 120, elapsed


def _lines(stream: object, into: queue.Queue[str]) -> None:
    for line in stream:  # type: ignore[attr-defined]
        into.put(line)


def _until_ready(server: subprocess.Popen[str], seen: queue.Queue[str]) -> dict[str, str]:
    """The `--keep` listing (label → value), once the demo prints `ready`."""
    listing: dict[str, str] = {}
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        try:
            line = seen.get(timeout=1)
        except queue.Empty:
            assert server.poll() is None, "the demo exited before it was ready"
            continue
        if line.strip() == "ready":
            return listing
        found = re.match(r"  (\S.*?)\s{2,}(\S+)$", line.rstrip("\n"))
        if found:
            listing[found.group(1)] = found.group(2)
    raise AssertionError("the demo never said it was ready")


def test_demo_keep_serves_until_interrupted() -> None:
    server = subprocess.Popen(
        [sys.executable, "-m", "ancre.cli.main", "demo", "--keep"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
    )
    seen: queue.Queue[str] = queue.Queue()
    threading.Thread(target=_lines, args=(server.stdout, seen), daemon=True).start()
    try:
        listing = _until_ready(server, seen)
        ca = listing["CA certificate (trust it)"]
        wallet = Path(listing["wallet"])
        assert wallet.is_dir()
        urls = {
            listing["issuer metadata"]: "credential_issuer",
            listing["registry (trust list)"]: "LoTESequenceNumber",
            listing["verifier (OpenID4VP, VC-API)"] + "/health": "",
            listing["issuer login pages"]: "<form",
            listing["issuer metadata"].split("/.well-known")[0]
            + "/.well-known/did.json": "assertionMethod",
        }
        with httpx.Client(trust_env=False, verify=ssl.create_default_context(cafile=ca)) as http:
            for url, member in urls.items():
                answer = http.get(url)
                assert answer.status_code == 200, (url, answer.text[:300])
                assert member in answer.text, (url, answer.text[:300])
        server.send_signal(signal.SIGINT)
        assert server.wait(30) == 0
        assert not wallet.exists()  # the demo's folder is gone
        with httpx.Client(trust_env=False, verify=False) as http:
            for url in urls:
                with pytest.raises(httpx.ConnectError):
                    http.get(url, timeout=2)
    finally:
        if server.poll() is None:
            server.kill()
            server.wait(10)
        stderr = server.stderr.read() if server.stderr else ""
        for stream in (server.stdout, server.stderr):
            if stream is not None:
                stream.close()
        assert "Traceback" not in stderr, stderr[-3000:]


def test_demo_interactive_waits_for_a_person_at_the_login_pages() -> None:
    """`--interactive` prints each login URL; a person (here the demo's own form-following
    browser, trusting the run's CA) logs in, and the story goes on to its end."""
    from ancre.cli.demo_wallet import Browser

    server = subprocess.Popen(
        [sys.executable, "-m", "ancre.cli.main", "demo", "--interactive"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    seen: queue.Queue[str] = queue.Queue()
    threading.Thread(target=_lines, args=(server.stdout, seen), daemon=True).start()
    output: list[str] = []
    logins = 0
    try:
        deadline = time.monotonic() + 240
        ca: str | None = None
        while server.poll() is None or not seen.empty():
            assert time.monotonic() < deadline, "".join(output)[-3000:]
            try:
                line = seen.get(timeout=1)
            except queue.Empty:
                continue
            output.append(line)
            trusted = re.search(r"certificate authority: (\S+\.pem)\)", line)
            if trusted:
                ca = trusted.group(1)
            if line.strip().startswith("https://") and "/authorize?" in line:
                assert ca is not None
                with httpx.Client(
                    trust_env=False, verify=ssl.create_default_context(cafile=ca), timeout=15
                ) as http:
                    person = Browser(http)
                    person.visit(line.strip())
                    assert person.error is None, person.error
                logins += 1
        assert server.wait(30) == 0, "".join(output)[-3000:]
    finally:
        if server.poll() is None:
            server.kill()
            server.wait(10)
        for stream in (server.stdout, server.stderr):
            if stream is not None:
                stream.close()
    assert logins == 4
    assert "every verdict was the expected one" in "".join(output)
