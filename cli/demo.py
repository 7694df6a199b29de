"""`ancre demo`: the whole onboarding story of a data space, for real, on loopback.

1. The registry's administrators add a trust anchor (two people) and accredit a
   certification agency; the trust list is signed and served.
2. LA POSTE's legal representative logs in through the agency's login bridge (a stand-in
   for ProConnect); the company register and VIES are checked (recorded answers, replayed);
   LegalPerson, registration number, VAT ID and mandate credentials reach the
   organization's wallet over OpenID4VCI.
3. The agency issues a certification to the same wallet.
4. The wallet builds the Gaia-X onboarding presentation; the connector verifies it.
5. The connector's verifier asks for the LegalPerson and the certification over OpenID4VP
   and accepts the wallet's answer.
6. The agency revokes the certification: the verifier now refuses it, and says why.

`--keep` leaves every service running (URLs printed) until Ctrl-C.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape

from ancre.cli.demo_story import LOGIN_TYPES, PASSPHRASE, Narrator, Scene, running_services
from ancre.cli.demo_wallet import Browser, OrgWallet, open_wallet
from ancre.trust.clock import SystemClock
from ancre.trust.errors import AncreError

__all__ = ["run_demo"]


def run_demo(*, keep: bool = False, interactive: bool = False) -> int:
    """Run the story; 0 if every verdict was the expected one."""
    console = Console(highlight=False, emoji=False, soft_wrap=True)
    story = Narrator(console)
    started = time.monotonic()
    try:
        with tempfile.TemporaryDirectory(prefix="ancre-demo-") as tmp:
            with running_services(story, Path(tmp), interactive=interactive) as scene:
                _story(scene)
                elapsed = time.monotonic() - started
                if keep:
                    _keep(scene, console)
    except KeyboardInterrupt:
        console.print("\n[bold]Interrupted: every service stopped, the demo folder removed.[/]")
        return 0 if keep and not story.surprises else 130
    console.print(f"The story took {elapsed:.1f} s.")
    if story.surprises:
        console.print("[bold red]Demo finished with unexpected verdicts:[/]")
        for line in story.surprises:
            console.print(f"  - {escape(line)}")
        return 1
    console.print("[bold green]Demo finished: every verdict was the expected one.[/]")
    return 0


def _story(scene: Scene) -> None:
    import httpx

    wallet = open_wallet(scene)
    with httpx.Client(trust_env=False, verify=scene.ca.context(), timeout=15) as http:
        _login(scene, wallet, Browser(http))
        record = _certify(scene, wallet)
        _onboard(scene, wallet)
        scene.story.title("5. The connector's verifier asks for the credentials over OpenID4VP")
        _present(scene, wallet, http, "the verifier accepts the presentation", "valid")
        _revoke(scene, wallet, http, record)


def _login(scene: Scene, wallet: OrgWallet, browser: Browser) -> None:
    """2. The legal representative logs in; the register is checked; credentials issued."""
    story = scene.story
    story.title("2. LA POSTE's legal representative logs in; the register is checked")
    story.say(f"the organization's wallet: {scene.wallet_path} (identity {wallet.identity.did})")
    for configuration in LOGIN_TYPES:
        held = wallet.receive_by_login(configuration, browser)
        story.say(
            f"{configuration}: logged in as John Dupont at {scene.urls['op']} (ProConnect "
            f"stand-in), register checked, {held.format} {', '.join(held.types)} received"
        )
    checked = "Recherche d'entreprises (SIRET 35600000000048, active) and VIES (FR39356000000)"
    story.say(f"registers consulted (recorded answers replayed locally): {checked}")
    story.expect("four credentials from the agency are in the wallet", True, f"issuer {scene.did('issuer')}")


def _certify(scene: Scene, wallet: OrgWallet) -> str:
    """3. The agency certifies the organization; the wallet receives it."""
    scene.story.title("3. The agency issues a certification")
    held, record = wallet.receive_certification()
    scene.story.say(f"{', '.join(held.types)} ({held.id}), by the agency, for {held.subject}")
    scene.story.say("offered with a pre-authorized code and a transaction code, sent separately\n")
    return record


def _onboard(scene: Scene, wallet: OrgWallet) -> None:
    """4. The wallet builds the Gaia-X onboarding presentation; the connector verifies it."""
    from ancre.trust.policy import VerificationPolicy
    from ancre.trust.result import Status
    from ancre.verifier.engine import Verifier
    from ancre.verifier.factory import build_context
    from ancre.wallet.onboard import build_onboarding_bundle

    story = scene.story
    story.title("4. The wallet builds the Gaia-X onboarding presentation")
    audience = scene.urls["verifier"]
    bundle = build_onboarding_bundle(wallet.store, audience=audience, clock=SystemClock())
    for item in bundle.credentials:
        story.say(f"+ {', '.join(item['types'])} from {item['issuer']}")
    story.say(f"one vp+jwt signed by {bundle.holder}, for {audience}")
    # The terms-and-conditions credential is the participant's own signature: the
    # connector trusts the agency for the rest, and the participant for that one.
    policy = VerificationPolicy(
        audience=audience, nonce=bundle.nonce,
        trusted_issuers=frozenset([scene.did("issuer"), bundle.holder]),
    )  # fmt: skip
    from ancre.trust.net.guard import NetworkPolicy

    context = build_context(
        clock=SystemClock(), policy=policy, http=wallet.http.client,
        network=NetworkPolicy(allow_loopback=True, max_bytes=4 * 1024 * 1024),
    )  # fmt: skip
    result = Verifier(context).verify(bundle.token, expect="presentation")
    got = result.status.value + (f" {result.errors[0].code}" if result.errors else "")
    story.expect("the connector verifies the onboarding presentation", result.status is Status.VALID, got)


def _dcql() -> dict[str, Any]:
    def query(name: str, kind: str) -> dict[str, Any]:
        return {"id": name, "format": "jwt_vc_json",
                "meta": {"type_values": [["VerifiableCredential", kind]]}}  # fmt: skip

    return {"credentials": [query("legal_person", "gx:LegalPerson"),
                            query("certification", "ancre:Certification")]}  # fmt: skip


def _present(scene: Scene, wallet: OrgWallet, http: Any, what: str, expected: str) -> dict[str, Any]:
    """The connector's verifier asks over OpenID4VP; the wallet answers; the verdict."""
    from ancre.wallet.oid4vp import build_answer, fetch_request, send_answer

    story, base = scene.story, scene.urls["verifier"]
    created = http.post(f"{base}/openid4vp/requests", json={"dcql_query": _dcql()})
    created.raise_for_status()
    tx = created.json()
    story.say(f"the verifier asks for gx:LegalPerson and ancre:Certification ({tx['client_id'][:60]}…)")
    request = fetch_request(tx["authorization_request"], http=wallet.http, clock=SystemClock())
    answer = build_answer(wallet.store, request)
    story.say("the wallet checks the signed request, picks the credentials and answers")
    try:
        send_answer(answer, wallet.store, http=wallet.http, clock=SystemClock())
    except AncreError as refused:  # the verifier's refusal, as the wallet reports it
        story.say(f"the wallet is told: {refused.message}")
    verdict: dict[str, Any] = http.get(f"{base}/openid4vp/requests/{tx['transaction_id']}/result").json()
    for query, entries in verdict.get("credentials", {}).items():
        for entry in entries:
            for inner in entry.get("credentials", []):
                story.say(f"{query}: {', '.join(inner.get('types', []))} is {inner.get('status')}")
    codes = sorted({str(e.get("code")) for e in verdict.get("errors", [])})
    got = str(verdict.get("status", "?")) + (f" ({', '.join(codes)})" if codes else "")
    story.expect(what, verdict.get("status") == expected, got)
    return verdict


def _revoke(scene: Scene, wallet: OrgWallet, http: Any, record: str) -> None:
    """6. The agency revokes the certification; the verifier now refuses it, with the reason."""
    story = scene.story
    story.title("6. The agency revokes the certification")
    assert scene.issuer is not None
    state = scene.issuer.set_status(record, "revoke", actor="auditor")
    story.say(f"{record}: {state}; the status list is re-signed (cached for 1 s in this demo)")
    time.sleep(1.5)
    verdict = _present(scene, wallet, http, "the verifier refuses the revoked certification", "invalid")
    reasons = _inner_reasons(verdict)
    for query, code, message in reasons:
        story.say(f"{query}: {code}: {message}")
    codes = sorted({code for _, code, _ in reasons})
    story.expect("the reason given is the revocation", "revoked" in codes, ", ".join(codes))


def _inner_reasons(verdict: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(credential query, code, message) of every failed check of a presented credential."""
    found = []
    for query, entries in verdict.get("credentials", {}).items():
        for entry in entries:
            for inner in entry.get("credentials", []):
                for error in inner.get("errors", []):
                    found.append((query, str(error.get("code")), str(error.get("message"))))
    return found


def _keep(scene: Scene, console: Console) -> None:
    """Leave every service running until Ctrl-C, with what a person needs to use them."""
    console.rule("[bold]The services keep running (Ctrl-C stops them)")
    issuer = scene.urls["issuer"]
    for label, url in (
        ("issuer (login pages: /login)", issuer), ("issuer metadata",
         f"{issuer}/.well-known/openid-credential-issuer"),
        ("verifier", scene.urls["verifier"]), ("registry (trust list)",
         f"{scene.urls['registry']}/trust-list.json"),
        ("ProConnect stand-in", scene.urls["op"]), ("registers (replayed)", scene.urls["registers"]),
    ):  # fmt: skip
        console.print(f"  {label:<30} {url}")
    console.print(f"  {'CA certificate (trust it)':<30} {scene.ca.ca}")
    console.print(f"  {'wallet':<30} {scene.wallet_path}")
    console.print(f"  {'wallet passphrase':<30} {PASSPHRASE}")
    console.print(
        f"  e.g.  ANCRE_WALLET_PASSPHRASE='{PASSPHRASE}' ancre wallet list --wallet {scene.wallet_path}"
    )
    console.print("ready", highlight=False)
    while True:
        time.sleep(3600)
