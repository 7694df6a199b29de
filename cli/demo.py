"""`ancre demo`: the whole onboarding story of a data space, for real, on loopback.

1. The registry's administrators add a trust anchor (two people) and accredit a
   certification agency; the trust list is signed and served.
2. LA POSTE's legal representative logs in through the agency's login bridge (a stand-in
   for ProConnect); the company register and VIES are checked (recorded answers, replayed);
   LegalPerson, registration number, VAT ID and mandate credentials reach the
   organization's wallet over OpenID4VCI.
3. The agency issues a certification to the same wallet.
4. The wallet builds the Gaia-X onboarding presentation; the connector verifies it, and
   refuses a tampered copy and a self-issued LegalPerson.
5. The connector's verifier asks for the Gaia-X onboarding presentation over OpenID4VP
   (profile `gaia-x-onboarding`: one DCQL query per member — LegalPerson, registration
   number, VAT ID, the terms and conditions the wallet signs itself, the certification —
   and the legal representative's Mandate, an SD-JWT VC asked for with a DCQL `claims` list
   of only the company identifier, the role and `full_powers`), checks each presentation and
   then the set as one bundle (the Mandate's `cnf.jwk` is the same holder's key), accepts the
   wallet's answer, and refuses the same answer replayed. Selective disclosure, shown: the
   Mandate claims the wallet disclosed (as the verifier's verdict lists them) and those it
   kept hidden (the person's name: names only), checked never to reach the connector.
6. The agency revokes the certification: the verifier now refuses the bundle, and says why
   (`revoked`).

`--keep` leaves every service running (URLs printed) until Ctrl-C.
"""

from __future__ import annotations

import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape

from ancre.cli.demo_net import SIRET, VAT
from ancre.cli.demo_story import (
    LOGIN_TYPES,
    PASSPHRASE,
    SCHEME,
    Narrator,
    Scene,
    running_services,
)
from ancre.cli.demo_wallet import Browser, OrgWallet, open_wallet
from ancre.trust.clock import SystemClock
from ancre.trust.errors import AncreError
from ancre.trust.vcdm.credentials import MANDATE_VCT

__all__ = ["run_demo"]


def run_demo(*, keep: bool = False, interactive: bool = False) -> int:
    """Run the story; 0 if every verdict was the expected one."""
    console = Console(highlight=False, emoji=False, soft_wrap=True)
    story = Narrator(console)
    _interrupt_on_signals()
    started = time.monotonic()
    try:
        with (
            tempfile.TemporaryDirectory(prefix="ancre-demo-") as tmp,
            running_services(story, Path(tmp), interactive=interactive) as scene,
        ):
            _story(scene)
            elapsed = time.monotonic() - started
            console.print(f"The story took {elapsed:.1f} s.")
            if keep:
                _keep(scene, console)
    except KeyboardInterrupt:
        console.print("\n[bold]Interrupted: every service stopped, the demo folder removed.[/]")
        return 0 if keep and not story.surprises else 130
    if story.surprises:
        console.print("[bold red]Demo finished with unexpected verdicts:[/]")
        for line in story.surprises:
            console.print(f"  - {escape(line)}")
        return 1
    console.print("[bold green]Demo finished: every verdict was the expected one.[/]")
    return 0


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def _interrupt_on_signals() -> None:
    """Ctrl-C and SIGTERM stop the story the same way: every service is shut down and the
    demo's folder removed. Said explicitly: a process started in the background by a shell
    inherits SIGINT ignored, and Python then never raises KeyboardInterrupt."""
    import signal

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, _interrupt)
        signal.signal(signal.SIGTERM, _interrupt)


def _story(scene: Scene) -> None:
    import httpx

    wallet = open_wallet(scene)
    with (
        wallet.http.client,
        httpx.Client(trust_env=False, verify=scene.ca.context(), timeout=15) as http,
    ):
        _login(scene, wallet, Browser(http))
        record = _certify(scene, wallet)
        _onboard(scene, wallet)
        _forgeries(scene, wallet, http)
        scene.story.title("5. The connector's verifier asks for the Gaia-X onboarding presentation")
        answer = _present(
            scene, wallet, http, "the verifier accepts the onboarding presentation", "valid"
        )
        _replay(scene, wallet, answer)
        _revoke(scene, wallet, http, record)


def _login(scene: Scene, wallet: OrgWallet, browser: Browser) -> None:
    """2. The legal representative logs in; the register is checked; credentials issued."""
    story = scene.story
    story.title("2. LA POSTE's legal representative logs in; the register is checked")
    story.say(f"the organization's wallet: {scene.wallet_path}")
    story.say(f"its identity: {story.short(wallet.identity.did)} (P-256)")
    how = "driving the login pages" if not scene.interactive else "waiting for you to log in"
    story.say(f"for each credential, the wallet asks the agency; the demo is {how}:")
    if scene.interactive:
        story.say(f"(your browser must trust this run's certificate authority: {scene.ca.ca})")
    received = []
    for configuration in LOGIN_TYPES:
        held = wallet.receive_by_login(configuration, browser)
        received.append(held)
        story.say(
            f"  {configuration}: John Dupont logs in at the ProConnect stand-in "
            f"(acr eidas1), consents; the wallet receives a {held.format} {held.types[-1]}"
        )
    story.say(
        "registers consulted (recorded answers, replayed locally): Recherche d'entreprises "
        f"(SIRET {SIRET}, LA POSTE, active, John Dupont its director) and VIES ({VAT}, valid)"
    )
    ok = all(h.issuer == scene.did("issuer") and h.status == "valid" for h in received)
    story.expect(
        "four credentials, verified by the wallet on receipt", ok, f"issuer {scene.did('issuer')}"
    )


def _certify(scene: Scene, wallet: OrgWallet) -> str:
    """3. The agency certifies the organization; the wallet receives it."""
    story = scene.story
    story.title("3. The agency issues a certification")
    _not_accredited(scene)
    held, record = wallet.receive_certification()
    story.say(f"{held.types[-1]} ({SCHEME}) for {story.short(held.subject or '?')}")
    story.say("offered with a pre-authorized code and a transaction code sent separately")
    story.expect("the wallet holds the certification", held.status == "valid", held.status)
    return record


def _not_accredited(scene: Scene) -> None:
    """The agency checks the trust list before it offers: a type it is not accredited for
    is refused."""
    from ancre.issuer.templates import Authorization

    scene.story.say("the agency tries to offer a gx:EUID credential, a type it is not listed for:")
    try:
        scene.agency.create_offer(
            "EUID", {"gx:euid": "FRRCS.356000000"},
            authorization=Authorization("operator", "auditor", register_checked=True),
        )  # fmt: skip
        got = "offered"
    except AncreError as refused:
        got = refused.code.value
    scene.story.expect(
        "the agency's own accreditation check refuses it", got == "not_accredited", got
    )


def _connector(scene: Scene, wallet: OrgWallet, trusted: frozenset[str], **bound: Any) -> Any:
    """The connector's verification engine, as `ancre verify` runs it (loopback TLS)."""
    from ancre.trust.net.guard import NetworkPolicy
    from ancre.trust.policy import VerificationPolicy
    from ancre.verifier.engine import Verifier
    from ancre.verifier.factory import build_context

    context = build_context(
        clock=SystemClock(),
        policy=VerificationPolicy(trusted_issuers=trusted, **bound),
        http=wallet.http.client,
        network=NetworkPolicy(allow_loopback=True, max_bytes=4 * 1024 * 1024),
    )
    return Verifier(context)


def _verdict(result: Any) -> str:
    return str(result.status.value) + (f" {result.errors[0].code}" if result.errors else "")


def _onboard(scene: Scene, wallet: OrgWallet) -> None:
    """4. The wallet builds the Gaia-X onboarding presentation; the connector verifies it."""
    from ancre.trust.result import Status
    from ancre.wallet.onboard import build_onboarding_bundle

    story = scene.story
    story.title("4. The wallet builds the Gaia-X onboarding presentation")
    audience = scene.urls["verifier"]
    bundle = build_onboarding_bundle(wallet.store, audience=audience, clock=SystemClock())
    for item in bundle.credentials:
        story.say(f"+ {item['types'][-1]} from {story.short(item['issuer'])}")
    story.say(f"one vp+jwt signed by {story.short(bundle.holder)}, for {audience}")
    # The terms-and-conditions credential is the participant's own signature: the
    # connector trusts the agency for the rest, and accepts that one type self-issued by
    # the presentation's holder (as the OpenID4VP gaia-x-onboarding profile does).
    connector = _connector(
        scene, wallet, frozenset([scene.did("issuer")]), audience=audience,
        nonce=bundle.nonce, self_issued_types=frozenset(["gx:Issuer"]),
    )  # fmt: skip
    result = connector.verify(bundle.token, expect="presentation")
    story.expect(
        "the connector accepts the onboarding presentation",
        result.status is Status.VALID,
        _verdict(result),
    )


def _forgeries(scene: Scene, wallet: OrgWallet, http: Any) -> None:
    """A tampered copy and a self-issued LegalPerson, sent to the verifier service."""
    import json

    from ancre.trust.codec.b64 import b64url_decode, b64url_encode
    from ancre.trust.jose.vc_jose import issue_vc_jwt
    from ancre.wallet.credentials import list_credentials

    story = scene.story
    legal = next(c for c in list_credentials(wallet.store)[0] if "gx:LegalPerson" in c.types)
    head, body, signature = legal.token.split(".")
    claims = json.loads(b64url_decode(body))
    claims["credentialSubject"]["schema:name"] = "LA P0STE HOLDINGS"
    tampered = f"{head}.{b64url_encode(json.dumps(claims).encode())}.{signature}"
    story.say("a copy of the LegalPerson credential with another company name:")
    _vc_api(scene, http, tampered, "tampering breaks the signature", "signature_invalid")
    del claims["credentialStatus"]
    claims["issuer"] = wallet.identity.did
    own = issue_vc_jwt(claims, wallet.identity.key, wallet.identity.kid)
    story.say("the company signs a LegalPerson credential about itself:")
    _vc_api(scene, http, own, "an issuer missing from the trust list", "issuer_not_trusted")


def _vc_api(scene: Scene, http: Any, token: str, what: str, code: str) -> None:
    from ancre.trust.jose.vc_jose import envelope_credential

    answer = http.post(
        f"{scene.urls['verifier']}/credentials/verify",
        json={"verifiableCredential": envelope_credential(token)},
    ).json()
    codes = sorted(_codes(answer))
    scene.story.expect(f"{what} (VC-API)", code in codes, ", ".join(codes) or "no error")


def _codes(document: Any) -> set[str]:
    """Every error `code` anywhere in a verifier's JSON answer."""
    if isinstance(document, list):
        return set().union(*(_codes(item) for item in document)) if document else set()
    if not isinstance(document, dict):
        return set()
    found = {document["code"]} if isinstance(document.get("code"), str) else set()
    return found.union(*(_codes(value) for value in document.values()))


#: The Gaia-X onboarding presentation, one DCQL Credential Query per member (what `ancre
#: wallet onboard` puts in its vp+jwt); the profile checks them as one bundle.
ONBOARDING_MEMBERS = (
    ("legal_person", "gx:LegalPerson"),
    ("registration_number", "gx:LocalRegistrationNumber"),
    ("vat_id", "gx:VatID"),
    ("terms_and_conditions", "gx:Issuer"),
    ("certification", "ancre:Certification"),
)
#: The legal representative's Mandate (an SD-JWT VC): the connector asks only for what it
#: needs to know who may act for the company — the company, the role, the scope of the
#: powers —, never for the person's name or birth date.
MANDATE_QUERY = "mandate"
MANDATE_CLAIMS = ("legal_person_identifier", "role", "full_powers")


def _dcql() -> dict[str, Any]:
    def query(name: str, kind: str) -> dict[str, Any]:
        return {"id": name, "format": "jwt_vc_json",
                "meta": {"type_values": [["VerifiableCredential", kind]]}}  # fmt: skip

    mandate = {
        "id": MANDATE_QUERY, "format": "dc+sd-jwt", "meta": {"vct_values": [MANDATE_VCT]},
        "claims": [{"path": [name]} for name in MANDATE_CLAIMS],
    }  # fmt: skip
    members = [query(name, kind) for name, kind in ONBOARDING_MEMBERS]
    return {"credentials": [*members, mandate]}


def _present(scene: Scene, wallet: OrgWallet, http: Any, what: str, expected: str) -> Any:
    """The connector's verifier asks over OpenID4VP; the wallet answers; the verdict is
    read from the verifier. Returns what the wallet sent (an `Answer`)."""
    from ancre.wallet.oid4vp import build_answer, fetch_request

    story, base = scene.story, scene.urls["verifier"]
    body = {"dcql_query": _dcql(), "profile": "gaia-x-onboarding"}
    created = http.post(f"{base}/openid4vp/requests", json=body)
    created.raise_for_status()
    tx = created.json()
    story.say(
        "over OpenID4VP, profile gaia-x-onboarding, one query per member: "
        + ", ".join(kind for _, kind in ONBOARDING_MEMBERS)
        + f", and the Mandate ({MANDATE_VCT}) with only {', '.join(MANDATE_CLAIMS)}"
    )
    request = fetch_request(tx["authorization_request"], http=wallet.http, clock=SystemClock())
    answer = build_answer(wallet.store, request, clock=SystemClock())
    story.say(
        "the wallet checks the signed request, picks the credentials, signs the terms and "
        "conditions itself, and answers: one presentation per member, same nonce and holder"
    )
    _send(scene, wallet, answer)
    verdict = http.get(f"{base}/openid4vp/requests/{tx['transaction_id']}/result").json()
    scene.last_verdict = verdict
    for query, entries in verdict.get("credentials", {}).items():
        for entry in entries:
            # A vp+jwt carries its credential; an SD-JWT+KB is the credential itself.
            for inner in entry.get("credentials", [entry]):
                story.say(
                    f"{query}: {inner.get('types', ['?'])[-1]} is {inner.get('status')} "
                    f"(issued by {story.short(str(inner.get('issuer')))})"
                )
    if expected == "valid":
        _disclosure(scene, answer, verdict)
    for query, code, message in _inner_reasons(verdict):
        story.say(f"{query}: {code}: {message}")  # why, whenever a credential fails
    bundle = verdict.get("onboarding", {})
    holder = story.short(str(bundle.get("holder")))
    story.say(f"the onboarding bundle of {holder}: {bundle.get('status', '?')}")
    for error in verdict.get("errors", []):
        if "credential_query" not in error:  # the bundle's own cross-checks
            story.say(f"bundle: {error.get('code')}: {error.get('message')}")
    codes = sorted({str(e.get("code")) for e in verdict.get("errors", [])})
    got = str(verdict.get("status", "?")) + (f" ({', '.join(codes)})" if codes else "")
    ok = verdict.get("status") == expected and bundle.get("status") == expected
    story.expect(what, ok, got)
    return answer


def _disclosure(scene: Scene, answer: Any, verdict: dict[str, Any]) -> None:
    """Selective disclosure, as the connector saw it: the Mandate's claims it received and
    the ones the wallet kept (names only: the verifier sees only their digests)."""
    from ancre.trust.sd_jwt.issue import SdJwt

    story = scene.story
    choice = next((c for c in answer.choices if c.query_id == MANDATE_QUERY), None)
    entries = verdict.get("credentials", {}).get(MANDATE_QUERY, [])
    if choice is None or len(entries) != 1:
        story.expect("the Mandate is presented", False, "not in the answer")
        return
    held = {d.name for d in SdJwt.parse(choice.credential.token).disclosures if d.name}
    seen = entries[0].get("claims", {})
    disclosed = sorted(entries[0].get("disclosed", []))
    hidden = sorted(held - set(disclosed))
    plain = sorted(n for n in MANDATE_CLAIMS if n in seen and n not in disclosed)
    story.say(
        f"the Mandate discloses: {', '.join(disclosed) or 'nothing'} (selectively); "
        f"{', '.join(plain)} are in the clear in every copy"
    )
    story.say(f"the Mandate keeps hidden from the connector: {', '.join(hidden) or 'nothing'}")
    leaked = sorted(set(hidden) & set(seen))
    ok = entries[0].get("status") == "valid" and bool(hidden) and not leaked
    story.expect(
        "the connector received only the Mandate claims it asked for",
        ok,
        f"{entries[0].get('status')}, hidden: {', '.join(hidden)}"
        + (f", leaked: {', '.join(leaked)}" if leaked else ""),
    )


def _send(scene: Scene, wallet: OrgWallet, answer: Any) -> bool:
    """Post the answer; False (and what the wallet is told) when the verifier refuses."""
    from ancre.wallet.oid4vp import send_answer

    try:
        send_answer(answer, wallet.store, http=wallet.http, clock=SystemClock())
    except AncreError as refused:  # the verifier's refusal, as the wallet reports it
        scene.story.say(f"the wallet is told: {refused.message}")
        return False
    return True


def _replay(scene: Scene, wallet: OrgWallet, answer: Any) -> None:
    """The same answer, sent again: the transaction is over, the verifier refuses it."""
    scene.story.say("someone sends the same answer to the verifier again:")
    accepted = _send(scene, wallet, answer)
    scene.story.expect("a replayed presentation is refused", not accepted, "refused")


def _revoke(scene: Scene, wallet: OrgWallet, http: Any, record: str) -> None:
    """6. The agency revokes the certification; the verifier now refuses it, with the reason."""
    story = scene.story
    story.title("6. The agency revokes the certification")
    state = scene.agency.set_status(record, "revoke", actor="auditor")
    story.say(f"{record}: {state}; the status list is re-signed (cached 1 s in this demo)")
    time.sleep(1.5)  # the status list's cache time, as any verifier honours it
    _present(
        scene, wallet, http, "the verifier refuses the bundle with the revoked certification",
        "invalid",
    )  # fmt: skip
    codes = sorted({code for _, code, _ in _inner_reasons(scene.last_verdict)})
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
    issuer, registry = scene.urls["issuer"], scene.urls["registry"]
    for label, url in (
        ("issuer login pages", f"{issuer}/login"),
        ("issuer metadata", f"{issuer}/.well-known/openid-credential-issuer"),
        ("verifier (OpenID4VP, VC-API)", scene.urls["verifier"]),
        ("registry (trust list)", f"{registry}/trust-list.json"),
        ("ProConnect stand-in", scene.urls["op"]),
        ("registers (replayed)", scene.urls["registers"]),
        ("CA certificate (trust it)", str(scene.ca.ca)),
        ("wallet", str(scene.wallet_path)),
        ("wallet passphrase", PASSPHRASE),
    ):
        console.print(f"  {label:<30} {url}")
    console.print(
        f"  e.g. ANCRE_WALLET_PASSPHRASE='{PASSPHRASE}' "
        f"ancre wallet list --wallet {scene.wallet_path}"
    )
    console.print("ready")
    sys.stdout.flush()
    while True:
        time.sleep(3600)
