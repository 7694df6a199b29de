"""Key discovery as peers produce credentials: a JWS with no `kid` (RFC 7515 §4.1.4 makes it
optional; did-jwt-vc, jose and @sd-jwt leave it out) uses the signer DID's one key for the
proof's purpose, and is `ambiguous_key` (indeterminate) when the DID has several."""

from __future__ import annotations

import json
import os
import ssl
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from _http_server import LoopbackServer, Route
from _issuer_support import make_tls
from _support import Issuer, StaticResolver, credential
from _x509_pki import make_ca, make_leaf, pem_chain

from ancre.trust.clock import FixedClock
from ancre.trust.codec.b64 import b64url_decode
from ancre.trust.did.document import CompositeResolver
from ancre.trust.did.jwk import did_jwk_from_public_key
from ancre.trust.jose.jws import sign_compact
from ancre.trust.jose.vc_jose import verify_vc_jwt, verify_vp_jwt
from ancre.trust.keys.jwk import PrivateKey
from ancre.trust.net.guard import NetworkPolicy
from ancre.trust.policy import VerificationPolicy
from ancre.trust.result import Status, Step
from ancre.trust.sd_jwt.vc import issue_sd_jwt_vc, verify_sd_jwt_vc
from ancre.verifier.engine import Verifier
from ancre.verifier.factory import build_context

DID_WEB = "did:web:issuer.example"


def _no_kid_vc(key: PrivateKey, issuer: str, **extra: Any) -> str:
    header = {"typ": "vc+jwt", "cty": "vc", **extra}
    return sign_compact(header, json.dumps(credential(issuer)).encode(), key)


def _multikey_doc(did: str, keys: dict[str, PrivateKey], *, auth: bool = True) -> dict[str, Any]:
    methods = [
        {
            "id": f"{did}#{name}",
            "type": "JsonWebKey",
            "controller": did,
            "publicKeyJwk": key.public_key.to_jwk(),
        }
        for name, key in keys.items()
    ]
    ids = [m["id"] for m in methods]
    return {
        "id": did,
        "verificationMethod": methods,
        "assertionMethod": ids,
        "authentication": ids if auth else [],
    }


def _code(result: Any) -> str:
    return str(result.errors[0].code) if result.errors else ""


@pytest.mark.parametrize("method", ["key", "jwk"])
def test_vc_jwt_without_kid_from_did_key_and_did_jwk_is_valid(
    method: str, resolver: CompositeResolver, clock: FixedClock
) -> None:
    if method == "jwk":
        key = PrivateKey.generate("p256")
        did = did_jwk_from_public_key(key.public_key)
    else:
        issuer = Issuer.new("ed25519")
        key, did = issuer.key, issuer.did
    token = _no_kid_vc(key, did)
    assert "kid" not in json.loads(b64url_decode(token.split(".")[0]))
    result = verify_vc_jwt(token, resolver=resolver, clock=clock)
    assert result.status is Status.VALID, result.to_json()
    issuer_check = next(c for c in result.checks if c.step is Step.ISSUER_KEY)
    assert "names no `kid`" in issuer_check.message
    # Twice: the second verification goes through the resolver's key cache path too.
    assert verify_vc_jwt(token, resolver=resolver, clock=clock).status is Status.VALID


def test_vc_jwt_without_kid_signed_by_another_key_is_invalid(
    resolver: CompositeResolver, clock: FixedClock
) -> None:
    issuer, stranger = Issuer.new("ed25519"), PrivateKey.generate("ed25519")
    result = verify_vc_jwt(_no_kid_vc(stranger, issuer.did), resolver=resolver, clock=clock)
    assert result.status is Status.INVALID
    assert _code(result) == "signature_invalid"


def test_vc_jwt_without_kid_and_several_keys_is_ambiguous(clock: FixedClock) -> None:
    one, two = PrivateKey.generate("ed25519"), PrivateKey.generate("ed25519")
    resolver = StaticResolver({DID_WEB: _multikey_doc(DID_WEB, {"k1": one, "k2": two})})
    result = verify_vc_jwt(_no_kid_vc(one, DID_WEB), resolver=resolver, clock=clock)
    assert result.status is Status.INDETERMINATE, result.to_json()
    assert _code(result) == "ambiguous_key"
    assert "2 assertionMethod keys" in result.errors[0].message
    # The same credential with its kid verifies: the ambiguity is all that was missing.
    named = _no_kid_vc(one, DID_WEB, kid=f"{DID_WEB}#k1")
    assert verify_vc_jwt(named, resolver=resolver, clock=clock).status is Status.VALID


def test_vc_jwt_without_kid_uses_the_one_assertion_key_among_several_methods(
    clock: FixedClock,
) -> None:
    signer, auth_only = PrivateKey.generate("p256"), PrivateKey.generate("p256")
    doc = _multikey_doc(DID_WEB, {"sign": signer, "login": auth_only})
    doc["assertionMethod"] = [f"{DID_WEB}#sign"]
    resolver = StaticResolver({DID_WEB: doc})
    assert (
        verify_vc_jwt(_no_kid_vc(signer, DID_WEB), resolver=resolver, clock=clock).status
        is Status.VALID
    )
    # Signed with the authentication-only key: the one assertion key does not verify it.
    wrong = verify_vc_jwt(_no_kid_vc(auth_only, DID_WEB), resolver=resolver, clock=clock)
    assert (wrong.status, _code(wrong)) == (Status.INVALID, "signature_invalid")


def test_vc_jwt_without_kid_and_no_assertion_key_is_invalid(clock: FixedClock) -> None:
    key = PrivateKey.generate("ed25519")
    doc = _multikey_doc(DID_WEB, {"k1": key})
    doc["assertionMethod"] = []
    result = verify_vc_jwt(
        _no_kid_vc(key, DID_WEB), resolver=StaticResolver({DID_WEB: doc}), clock=clock
    )
    assert (result.status, _code(result)) == (Status.INVALID, "verification_method_not_found")


@pytest.mark.parametrize("kid", ["", 7, None])
def test_a_kid_that_is_not_a_non_empty_string_is_still_an_invalid_header(
    kid: Any, resolver: CompositeResolver, clock: FixedClock
) -> None:
    issuer = Issuer.new("ed25519")
    header = {"typ": "vc+jwt", "cty": "vc", "kid": kid}
    token = sign_compact(header, json.dumps(credential(issuer.did)).encode(), issuer.key)
    result = verify_vc_jwt(token, resolver=resolver, clock=clock)
    assert result.status is Status.INVALID
    assert _code(result) == "invalid_header"


def _no_kid_sd_jwt(issued: str, key: PrivateKey) -> str:
    jws, sep, rest = issued.partition("~")
    header = json.loads(b64url_decode(jws.split(".")[0]))
    header.pop("kid")
    payload = b64url_decode(jws.split(".")[1])
    return sign_compact(header, payload, key) + sep + rest


def test_sd_jwt_vc_without_kid(resolver: CompositeResolver, clock: FixedClock) -> None:
    issuer = Issuer.new("p256")
    issued = issue_sd_jwt_vc(
        {"given_name": "Alice"},
        issuer.key,
        issuer=issuer.did,
        vct="https://credentials.example/identity",
        disclosable=["/given_name"],
        kid=issuer.kid,
        issued_at=clock.now(),
    )
    token = _no_kid_sd_jwt(str(issued), issuer.key)
    policy = VerificationPolicy(require_key_binding=False)
    result = verify_sd_jwt_vc(token, resolver=resolver, clock=clock, policy=policy)
    assert result.status is Status.VALID, result.to_json()
    # Several keys and no kid: indeterminate, whatever the key binding.
    other = PrivateKey.generate("p256")
    doc = _multikey_doc(DID_WEB, {"a": issuer.key, "b": other})
    issued_web = issue_sd_jwt_vc(
        {"given_name": "Alice"},
        issuer.key,
        issuer=DID_WEB,
        vct="https://credentials.example/identity",
        disclosable=["/given_name"],
        kid=f"{DID_WEB}#a",
        issued_at=clock.now(),
    )
    ambiguous = verify_sd_jwt_vc(
        _no_kid_sd_jwt(str(issued_web), issuer.key),
        resolver=StaticResolver({DID_WEB: doc}),
        clock=clock,
        policy=policy,
    )
    assert (ambiguous.status, _code(ambiguous)) == (Status.INDETERMINATE, "ambiguous_key")


def test_vp_jwt_without_kid_uses_the_holders_one_authentication_key(
    resolver: CompositeResolver, clock: FixedClock
) -> None:
    holder = Issuer.new("ed25519")
    payload = {
        "@context": ["https://www.w3.org/ns/credentials/v2"],
        "type": ["VerifiablePresentation"],
        "holder": holder.did,
        "verifiableCredential": [],
    }
    claims = {"iss": holder.did, "aud": "https://verifier.example", "nonce": "n-1"}
    token = sign_compact(
        {"typ": "vp+jwt", "cty": "vp"}, json.dumps({**payload, **claims}).encode(), holder.key
    )
    policy = VerificationPolicy(audience="https://verifier.example", nonce="n-1")
    result = verify_vp_jwt(token, resolver=resolver, clock=clock, policy=policy)
    assert result.status is Status.VALID, result.to_json()
    # A holder whose DID lists no authentication key: nothing may sign for it.
    doc = _multikey_doc(DID_WEB, {"k1": holder.key}, auth=False)
    web = sign_compact(
        {"typ": "vp+jwt", "cty": "vp"},
        json.dumps({**payload, **claims, "holder": DID_WEB, "iss": DID_WEB}).encode(),
        holder.key,
    )
    refused = verify_vp_jwt(
        web, resolver=StaticResolver({DID_WEB: doc}), clock=clock, policy=policy
    )
    assert refused.status is Status.INVALID
    assert _code(refused) == "verification_method_not_found"


def _ancre_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ancre.cli.main", *args],
        capture_output=True,
        text=True,
        check=False,
        env=dict(os.environ),
        timeout=60,
    )


def test_cli_trust_anchor_for_x5c_credentials(tmp_path: Path) -> None:
    issuer = "https://issuer.example"
    root = make_ca("Test root")
    leaf = make_leaf(root, uris=[issuer])
    header = {"typ": "vc+jwt", "cty": "vc", "iss": issuer, "x5c": leaf.x5c()}
    token = sign_compact(header, json.dumps(credential(issuer)).encode(), leaf.signer)
    (tmp_path / "vc.jwt").write_text(token)
    (tmp_path / "root.pem").write_text(pem_chain([root.certificate]))
    (tmp_path / "other.pem").write_text(pem_chain([make_ca("Another root").certificate]))
    (tmp_path / "junk.pem").write_text("not a certificate")
    at = "2026-01-15T12:00:00Z"
    vc = str(tmp_path / "vc.jwt")
    anchored = _ancre_cli(
        "verify", vc, "--at", at, "--json", "--trust-anchor", str(tmp_path / "root.pem")
    )
    assert anchored.returncode == 0, anchored.stdout + anchored.stderr
    assert "x5c chain validates" in anchored.stdout
    # Another anchor (given twice: the option repeats): the chain ends nowhere trusted.
    other = str(tmp_path / "other.pem")
    stranger = _ancre_cli(
        "verify", vc, "--at", at, "--json", "--trust-anchor", other, "--trust-anchor", other
    )
    assert stranger.returncode == 1
    assert json.loads(stranger.stdout)["errors"][0]["code"] == "certificate_untrusted"
    # No anchor: an https issuer's key cannot be found, which proves nothing.
    bare = _ancre_cli("verify", vc, "--at", at, "--json")
    assert bare.returncode == 2
    junk = _ancre_cli("verify", vc, "--trust-anchor", str(tmp_path / "junk.pem"))
    assert junk.returncode == 64
    assert "--trust-anchor" in junk.stderr


# ---- SD-JWT VC issuers named by an https URL: JWT VC Issuer Metadata and x5c ------------


@contextmanager
def _https_server(tmp_path: Path) -> Iterator[tuple[LoopbackServer, httpx.Client]]:
    """The loopback test server over TLS (a test CA's certificate for localhost), and a
    client trusting that CA."""
    tls = make_tls(tmp_path / "tls")
    server = LoopbackServer()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(str(tls.cert), str(tls.key))
    server.httpd.socket = context.wrap_socket(server.httpd.socket, server_side=True)
    thread = threading.Thread(target=server.httpd.serve_forever, kwargs={"poll_interval": 0.01})
    thread.start()
    try:
        with httpx.Client(verify=tls.context(), trust_env=False) as client:
            yield server, client
    finally:
        server.stop.set()
        server.httpd.shutdown()
        server.httpd.server_close()
        thread.join()


def _json_route(value: Any) -> Route:
    return Route(body=json.dumps(value).encode(), headers={"Content-Type": "application/json"})


def _sd_jwt(key: Any, issuer: str, *, kid: str | None, clock: FixedClock, **extra: Any) -> str:
    issued = issue_sd_jwt_vc(
        {"given_name": "Alice"},
        key,
        issuer=issuer,
        vct="https://credentials.example/identity",
        disclosable=["/given_name"],
        kid=kid or "placeholder",
        issued_at=clock.now(),
        **extra,
    )
    return str(issued) if kid is not None else _no_kid_sd_jwt(str(issued), key)


def _verifier(client: httpx.Client, clock: FixedClock, anchors: Any = ()) -> Verifier:
    return Verifier(
        build_context(
            clock=clock,
            policy=VerificationPolicy(require_key_binding=False),
            http=client,
            network=NetworkPolicy(allow_loopback=True),
            trust_anchors=anchors,
        )
    )


def _verdict(verifier: Verifier, token: str) -> tuple[Status, str]:
    result = verifier.verify(token.encode())
    return result.status, _code(result)


@pytest.mark.parametrize("by_reference", [False, True])
def test_sd_jwt_vc_https_issuer_key_from_issuer_metadata(
    tmp_path: Path, clock: FixedClock, by_reference: bool
) -> None:
    key = PrivateKey.generate("p256")
    with _https_server(tmp_path) as (server, client):
        issuer = f"https://localhost:{server.port}/tenant/1"
        jwks = {"keys": [{**key.public_key.to_jwk(), "kid": "k1", "use": "sig"}]}
        metadata: dict[str, Any] = {"issuer": issuer}
        if by_reference:
            metadata["jwks_uri"] = f"https://localhost:{server.port}/jwks.json"
            server.routes["/jwks.json"] = _json_route(jwks)
        else:
            metadata["jwks"] = jwks
        server.routes["/.well-known/jwt-vc-issuer/tenant/1"] = _json_route(metadata)
        verifier = _verifier(client, clock)
        # The verdict does not depend on the kid: one key, used either way.
        for kid in ("k1", None):
            token = _sd_jwt(key, issuer, kid=kid, clock=clock)
            assert _verdict(verifier, token) == (Status.VALID, ""), kid
        # Cached: the metadata was fetched once for both verifications.
        assert server.hits["/.well-known/jwt-vc-issuer/tenant/1"] == 1
        forged = _sd_jwt(PrivateKey.generate("p256"), issuer, kid="k1", clock=clock)
        assert _verdict(verifier, forged) == (Status.INVALID, "signature_invalid")
        unknown = _sd_jwt(key, issuer, kid="k9", clock=clock)
        assert _verdict(verifier, unknown) == (Status.INVALID, "verification_method_not_found")


def test_sd_jwt_vc_https_issuer_with_several_keys_needs_a_kid(
    tmp_path: Path, clock: FixedClock
) -> None:
    key, other = PrivateKey.generate("ed25519"), PrivateKey.generate("p256")
    with _https_server(tmp_path) as (server, client):
        issuer = f"https://localhost:{server.port}"
        keys = [{**key.public_key.to_jwk(), "kid": "a"}, {**other.public_key.to_jwk(), "kid": "b"}]
        server.routes["/.well-known/jwt-vc-issuer"] = _json_route(
            {"issuer": issuer, "jwks": {"keys": keys}}
        )
        verifier = _verifier(client, clock)
        assert _verdict(verifier, _sd_jwt(key, issuer, kid="a", clock=clock)) == (Status.VALID, "")
        assert _verdict(verifier, _sd_jwt(key, issuer, kid=None, clock=clock)) == (
            Status.INDETERMINATE,
            "ambiguous_key",
        )


@pytest.mark.parametrize(
    ("route", "expected"),
    [
        (None, (Status.INDETERMINATE, "issuer_metadata_unavailable")),
        (
            {"issuer": "https://elsewhere.example", "jwks": {"keys": []}},
            (Status.INVALID, "invalid_issuer_metadata"),
        ),
        ({"issuer": "SELF"}, (Status.INVALID, "invalid_issuer_metadata")),
        (
            {"issuer": "SELF", "jwks": {"keys": []}, "jwks_uri": "https://x.example/"},
            (Status.INVALID, "invalid_issuer_metadata"),
        ),
        (
            {"issuer": "SELF", "jwks_uri": "http://localhost/jwks"},
            (Status.INVALID, "invalid_issuer_metadata"),
        ),
        ({"issuer": "SELF", "jwks": {"keys": "none"}}, (Status.INVALID, "invalid_issuer_metadata")),
    ],
)
def test_sd_jwt_vc_https_issuer_metadata_refusals(
    tmp_path: Path, clock: FixedClock, route: Any, expected: tuple[Status, str]
) -> None:
    key = PrivateKey.generate("p256")
    with _https_server(tmp_path) as (server, client):
        issuer = f"https://localhost:{server.port}"
        if route is not None:
            body = {k: (issuer if v == "SELF" else v) for k, v in route.items()}
            server.routes["/.well-known/jwt-vc-issuer"] = _json_route(body)
        token = _sd_jwt(key, issuer, kid=None, clock=clock)
        assert _verdict(_verifier(client, clock), token) == expected


def test_sd_jwt_vc_https_issuer_key_from_x5c_bound_to_the_iss_host(
    tmp_path: Path, clock: FixedClock
) -> None:
    root = make_ca("Issuer root")
    with _https_server(tmp_path) as (server, client):
        issuer = f"https://localhost:{server.port}/issuer"
        leaf = make_leaf(root, dns_names=["localhost"])
        verifier = _verifier(client, clock, anchors=[root.certificate])
        for kid in ("k1", None):
            token = _sd_jwt(leaf.signer, issuer, kid=kid, clock=clock, x5c=leaf.x5c())
            assert _verdict(verifier, token) == (Status.VALID, ""), kid
        assert server.hits == {}  # the chain decided: no metadata fetched
        stranger = make_leaf(root, dns_names=["elsewhere.example"])
        token = _sd_jwt(stranger.signer, issuer, kid=None, clock=clock, x5c=stranger.x5c())
        assert _verdict(verifier, token) == (Status.INVALID, "certificate_identity_mismatch")
