"""ancre.trust.vcdm.jsonld: the static context loader and RDFC-1.0 canonicalization."""

from __future__ import annotations

import hashlib
import json
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
from _http_server import Route, running_server
from _support import vectors
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import ancre.trust.vcdm.contexts
from ancre.trust.errors import (
    AncreError,
    Code,
    ConfigurationError,
    IndeterminateError,
    InvalidError,
    MalformedError,
)
from ancre.trust.vcdm.jsonld import (
    CanonicalizationLimits,
    ContextStore,
    canonize,
    default_context_store,
)

VECTOR = vectors("vc-di-eddsa.json")
EXAMPLES = VECTOR["examples_context"]
GX_DEV = "https://w3id.org/gaia-x/development#"
TAGUS = (
    "https://registry.lab.gaia-x.eu/development/api/trusted-shape-registry/v1/shapes/jsonld/"
    "trustframework#"
)
#: What DESIGN.md "Formats" says ancre ships.
REQUIRED_CONTEXTS = {
    "https://www.w3.org/2018/credentials/v1",
    "https://www.w3.org/ns/credentials/v2",
    "https://www.w3.org/ns/did/v1",
    "https://w3id.org/security/v1",
    "https://w3id.org/security/v2",
    "https://w3id.org/security/suites/ed25519-2018/v1",
    "https://w3id.org/security/suites/ed25519-2020/v1",
    "https://w3id.org/security/suites/jws-2020/v1",
    "https://w3id.org/security/data-integrity/v1",
    "https://w3id.org/security/data-integrity/v2",
    "https://w3id.org/gaia-x/development",
    TAGUS.rstrip("#"),
}


def examples_store() -> ContextStore:
    store = ContextStore()
    store.add(EXAMPLES["url"], EXAMPLES["document"].encode(), EXAMPLES["sha256"])
    return store


def v1_credential(**subject: Any) -> dict[str, Any]:
    return {
        "@context": ["https://www.w3.org/2018/credentials/v1"],
        "type": ["VerifiableCredential"],
        "issuer": "did:example:issuer",
        "issuanceDate": "2026-01-01T00:00:00Z",
        "credentialSubject": {"id": "did:example:subject", **subject},
    }


# ---- shipped contexts -----------------------------------------------------------------------


def _context_files() -> Any:
    root = resources.files("ancre.trust.vcdm.contexts")
    if root.joinpath("manifest.json").is_file():
        return root
    # A strict editable install links files one by one at install time; until it is re-run
    # a new context file exists only in the source folder.
    return Path(ancre.trust.vcdm.contexts.__file__).resolve().parent


def test_manifest_pins_every_shipped_file_by_sha256() -> None:
    root = _context_files()
    manifest = json.loads(root.joinpath("manifest.json").read_text(encoding="utf-8"))
    shipped = {p.name for p in root.iterdir() if p.name.endswith(".jsonld")}
    assert {entry["file"] for entry in manifest.values()} == shipped
    for url, entry in manifest.items():
        data = root.joinpath(entry["file"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == entry["sha256"], url
        assert entry["source"], url
        assert "@context" in json.loads(data)


def test_required_contexts_are_shipped() -> None:
    assert ContextStore().urls >= REQUIRED_CONTEXTS
    assert ContextStore(bundled=False).urls == frozenset()


def test_installed_package_sees_the_context_files() -> None:
    # The package data must be visible through importlib.resources, as in a wheel.
    assert resources.files("ancre.trust.vcdm.contexts").joinpath("manifest.json").is_file()


def test_gaiax_development_context_is_the_50438_byte_gaia_x_go_copy() -> None:
    data = _context_files().joinpath("gaia-x-development.jsonld").read_bytes()
    assert len(data) == 50438
    context = json.loads(data)["@context"]
    assert context["@vocab"] == GX_DEV
    assert context["headquartersAddress"] == {"@type": "gx:Address", "@id": "headquartersAddress"}


# ---- canonicalization: spec vectors ---------------------------------------------------------


def test_canonical_credential_matches_vc_di_eddsa_example_9() -> None:
    nquads = canonize(VECTOR["unsecured_credential"], contexts=examples_store())
    assert nquads == VECTOR["canonical_credential"]
    assert hashlib.sha256(nquads.encode()).hexdigest() == VECTOR["credential_hash_hex"]


@pytest.mark.parametrize("suite", ["eddsa_rdfc_2022", "ed25519_signature_2020"])
def test_canonical_proof_options_match_the_spec(suite: str) -> None:
    case = VECTOR[suite]
    nquads = canonize(case["proof_options"], contexts=examples_store())
    assert nquads == case["canonical_proof_options"]
    assert hashlib.sha256(nquads.encode()).hexdigest() == case["proof_options_hash_hex"]


def test_canonize_does_not_modify_its_input() -> None:
    document = json.loads(json.dumps(VECTOR["unsecured_credential"]))
    canonize(document, contexts=examples_store())
    assert document == VECTOR["unsecured_credential"]


def test_gaiax_legal_person_canonicalizes_with_the_development_context() -> None:
    document = {
        "@context": ["https://www.w3.org/ns/credentials/v2", GX_DEV],
        "id": "https://issuer.example/vc/lp",
        "type": ["VerifiableCredential", "gx:LegalPerson"],
        "issuer": "did:web:issuer.example",
        "validFrom": "2026-01-01T00:00:00Z",
        "credentialSubject": {
            "id": "https://issuer.example/lp#cs",
            "type": "gx:LegalPerson",
            "schema:name": "ACME SAS",
            "gx:registrationNumber": {"id": "https://issuer.example/lrn#cs"},
            "gx:legalAddress": {"type": "gx:Address", "gx:countryCode": "FR"},
        },
    }
    nquads = canonize(document)
    assert '<https://w3id.org/gaia-x/development#countryCode> "FR" .' in nquads
    assert "<https://w3id.org/gaia-x/development#LegalPerson>" in nquads


def test_tagus_trustframework_context_defines_the_gx_prefix() -> None:
    document = {
        "@context": ["https://www.w3.org/2018/credentials/v1", TAGUS],
        "type": ["VerifiableCredential"],
        "issuer": "did:web:notary.example",
        "issuanceDate": "2023-03-31T13:32:07.979Z",
        "credentialSubject": {"id": "did:web:example.org", "gx:vatID": "FR79537407926"},
    }
    expected = (
        "<did:web:example.org> <https://registry.lab.gaia-x.eu/development/api/"
        'trusted-shape-registry/v1/shapes/jsonld/trustframework#vatID> "FR79537407926" .'
    )
    assert expected in canonize(document)


# ---- the static loader ----------------------------------------------------------------------


def test_unknown_context_is_an_error_naming_it_and_nothing_is_fetched() -> None:
    context = json.dumps({"@context": {"@vocab": "https://example.org/#"}}).encode()
    with running_server() as server:
        server.routes["/ctx"] = Route(body=context, headers={"Content-Type": "application/ld+json"})
        url = f"{server.base}/ctx"
        document = v1_credential()
        document["@context"] = [*document["@context"], url]
        with pytest.raises(IndeterminateError) as caught:
            canonize(document)
        assert server.hits == {}
    assert caught.value.code is Code.UNKNOWN_CONTEXT
    assert url in caught.value.message


def test_context_fragment_is_ignored() -> None:
    store = default_context_store()
    assert GX_DEV in store
    assert GX_DEV.rstrip("#") in store
    assert store.document(GX_DEV) == store.document(GX_DEV.rstrip("#"))


def test_an_added_context_needs_its_pinned_hash() -> None:
    store = ContextStore()
    data = EXAMPLES["document"].encode()
    with pytest.raises(ConfigurationError, match="hashes to"):
        store.add(EXAMPLES["url"], data, "0" * 64)
    with pytest.raises(ConfigurationError, match="64 hexadecimal"):
        store.add(EXAMPLES["url"], data, "abc")
    with pytest.raises(ConfigurationError, match="absolute URL"):
        store.add("examples/v2", data, EXAMPLES["sha256"])
    assert EXAMPLES["url"] not in store
    store.add(EXAMPLES["url"], data, EXAMPLES["sha256"].upper())
    store.add(EXAMPLES["url"], data, EXAMPLES["sha256"])  # same bytes again: a no-op
    assert EXAMPLES["url"] in store


def test_a_context_cannot_be_redefined() -> None:
    store = examples_store()
    other = b'{"@context": {"@vocab": "https://attacker.example/#"}}'
    with pytest.raises(ConfigurationError, match="already defined"):
        store.add(EXAMPLES["url"], other, hashlib.sha256(other).hexdigest())
    with pytest.raises(ConfigurationError, match="already defined"):
        store.add(
            "https://www.w3.org/2018/credentials/v1", other, hashlib.sha256(other).hexdigest()
        )


@pytest.mark.parametrize(
    "document",
    [b"[1, 2]", b'{"no": "context"}', b"not json", b'{"@context": 1, "@context": 2}'],
)
def test_an_added_context_must_be_a_context_document(document: bytes) -> None:
    with pytest.raises(ConfigurationError):
        ContextStore().add(
            "https://example.org/ctx", document, hashlib.sha256(document).hexdigest()
        )


def test_contexts_added_to_one_store_do_not_leak_into_another() -> None:
    # pyld keeps a process-wide cache of processed contexts by URL; if ancre used it, a
    # context resolved through one store would be served to every other one.
    canonize(VECTOR["unsecured_credential"], contexts=examples_store())
    with pytest.raises(IndeterminateError) as caught:
        canonize(VECTOR["unsecured_credential"])
    assert caught.value.code is Code.UNKNOWN_CONTEXT


def test_pyld_process_wide_cache_is_not_used() -> None:
    from pyld import jsonld

    jsonld._resolved_context_cache.clear()  # other tests call pyld directly
    canonize(VECTOR["unsecured_credential"], contexts=examples_store())
    assert not any("credentials" in str(key) for key in jsonld._resolved_context_cache)


# ---- safe mode ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("document", "fragment"),
    [
        # An undefined term: without safe mode it would silently not be signed.
        (v1_credential(undefinedTerm="pay Mallory"), "'undefinedTerm' is not defined"),
        # A relative id: pyld 3.3 would resolve it against a made-up http://example.org/base/.
        ({**v1_credential(), "credentialSubject": {"id": "not-a-url"}}, "'not-a-url'"),
        # An undefined type would let anyone add types a policy looks for.
        ({**v1_credential(), "type": ["VerifiableCredential", "LegalPerson"]}, "'LegalPerson'"),
    ],
)
def test_safe_mode_refuses_data_that_would_not_be_signed(
    document: dict[str, Any], fragment: str
) -> None:
    with pytest.raises(InvalidError) as caught:
        canonize(document)
    assert caught.value.code is Code.CANONICALIZATION_FAILED
    assert fragment in caught.value.message


def test_vcdm2_context_has_no_vocab_so_undefined_terms_are_refused_too() -> None:
    # The Recommendation's credentials/v2 context dropped the issuer-dependent @vocab of the
    # drafts: a claim needs a context defining it (Gaia-X's, the examples context...).
    document = {
        "@context": ["https://www.w3.org/ns/credentials/v2"],
        "type": ["VerifiableCredential"],
        "issuer": "did:example:issuer",
        "credentialSubject": {"id": "did:example:subject", "memberOf": "Loire"},
    }
    with pytest.raises(InvalidError) as caught:
        canonize(document)
    assert caught.value.code is Code.CANONICALIZATION_FAILED
    document["@context"].append(EXAMPLES["url"])
    expected = '<https://www.w3.org/ns/credentials/examples#memberOf> "Loire"'
    assert expected in canonize(document, contexts=examples_store())


# ---- limits and hostile input -----------------------------------------------------------------


def _clique(n: int) -> dict[str, Any]:
    # n blank nodes each linked to all others: indistinguishable until RDFC-1.0's Hash
    # N-Degree Quads tries permutations of them (RDFC-1.0 §4.4 "dataset poisoning").
    nodes = [
        {"@id": f"_:b{i}", "p": [{"@id": f"_:b{j}"} for j in range(n) if j != i]} for i in range(n)
    ]
    return {"@context": {"@vocab": "https://example.org/#"}, "@graph": nodes}


def test_poisoned_blank_node_graph_hits_the_work_limit() -> None:
    with pytest.raises(InvalidError) as caught:
        canonize(_clique(8), limits=CanonicalizationLimits(time_budget=60.0))
    assert caught.value.code is Code.CANONICALIZATION_FAILED
    assert "work limit" in caught.value.message


def test_small_blank_node_cliques_still_canonicalize() -> None:
    assert canonize(_clique(4)).count("_:c14n3") == 6


def test_time_budget_overrun_is_undecided() -> None:
    """Out of time proves nothing about the document: indeterminate, not invalid."""
    with pytest.raises(IndeterminateError) as caught:
        canonize(
            VECTOR["unsecured_credential"],
            contexts=examples_store(),
            limits=CanonicalizationLimits(time_budget=0.0),
        )
    assert caught.value.code is Code.CANONICALIZATION_TIMEOUT
    assert "time budget" in caught.value.message


@pytest.mark.parametrize(
    ("limits", "fragment"),
    [
        (CanonicalizationLimits(max_quads=5), "RDF statements"),
        (CanonicalizationLimits(max_blank_nodes=3), "blank nodes"),
    ],
)
def test_dataset_size_limits(limits: CanonicalizationLimits, fragment: str) -> None:
    with pytest.raises(InvalidError) as caught:
        canonize(_clique(4), limits=limits)
    assert caught.value.code is Code.CANONICALIZATION_FAILED
    assert fragment in caught.value.message


def test_document_size_and_depth_limits() -> None:
    big = v1_credential()
    big["credentialSubject"]["id"] = "did:example:" + "a" * 300_000
    with pytest.raises(MalformedError) as caught:
        canonize(big)
    assert caught.value.code is Code.INPUT_TOO_LARGE
    deep: dict[str, Any] = {"@context": {"@vocab": "https://example.org/#"}}
    node = deep
    for _ in range(70):
        node["n"] = {}
        node = node["n"]
    with pytest.raises(MalformedError) as caught:
        canonize(deep)
    assert caught.value.code is Code.JSON_TOO_DEEP


@pytest.mark.parametrize(
    "document",
    [
        {"@context": 5},
        {"@context": {"@version": 2.0}},
        {"@context": {"x": {"@id": 5}}, "x": 1},
        {"@context": {"@vocab": "https://e.org/#"}, "@type": 7},
        {"@context": {"@vocab": "https://e.org/#"}, "a": {"@value": 1, "@language": "en"}},
        {"@context": {"@vocab": "https://e.org/#"}, "@id": {"nested": 1}},
        {"@context": [None, {"@import": "https://example.org/elsewhere"}]},
    ],
)
def test_invalid_json_ld_is_a_stable_error_not_a_traceback(document: dict[str, Any]) -> None:
    with pytest.raises((InvalidError, IndeterminateError)) as caught:
        canonize(document)
    assert caught.value.code in {Code.CANONICALIZATION_FAILED, Code.UNKNOWN_CONTEXT}


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(
            st.sampled_from(
                ["@id", "@type", "@value", "@list", "@graph", "id", "type", "x", "@context"]
            ),
            inner,
            max_size=3,
        )
    ),
    max_leaves=12,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=st.dictionaries(st.sampled_from(["@id", "@type", "id", "type", "x", "@graph"]), _JSON))
def test_arbitrary_json_either_canonicalizes_or_fails_with_a_code(body: dict[str, Any]) -> None:
    document = {"@context": {"@vocab": "https://example.org/#", "id": "@id", "type": "@type"}}
    document.update(body)
    outcome: str | Code
    try:
        outcome = canonize(document)
    except AncreError as error:
        outcome = error.code
    if isinstance(outcome, Code):
        assert outcome in {Code.CANONICALIZATION_FAILED, Code.UNKNOWN_CONTEXT}
    else:
        assert all(line.endswith(" .") for line in outcome.splitlines())
