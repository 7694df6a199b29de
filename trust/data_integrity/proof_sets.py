"""Proof sets and proof chains (W3C VC Data Integrity v1.0 §2.1.1, §2.1.2, §4.2-4.5).

A *proof set* is a `proof` list whose proofs are independent: each signs the document
without the others. A *proof chain* orders them: a proof with `previousProof` (one id or a
list) signs the document together with the proofs of those ids, so they cannot be dropped or
replaced without breaking it. ancre verifies every proof, each independently (a chained
proof over its own input document), in an order where a proof comes after those it names."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

from ancre.trust.errors import Code, InvalidError

__all__ = ["MAX_PROOFS", "chain_order", "chained_document", "previous_ids"]

#: Each proof costs a canonicalization and a signature check: a handful is what real
#: documents carry (issuer + notary + witness), more is a cost attack.
MAX_PROOFS: Final = 8


def _missing(message: str) -> InvalidError:
    return InvalidError(Code.PREVIOUS_PROOF_MISSING, message)


def previous_ids(value: Any) -> tuple[str, ...]:
    """`previousProof` as a tuple of ids (§2.1.2: a string or a list of strings)."""
    if isinstance(value, str) and value:
        return (value,)
    if (
        isinstance(value, list)
        and value
        and len(value) <= MAX_PROOFS
        and all(isinstance(v, str) and v for v in value)
        and len(set(value)) == len(value)
    ):
        return tuple(value)
    raise InvalidError(
        Code.INVALID_PROOF,
        "proof `previousProof` must be a proof id or a list of distinct proof ids",
    )


def chained_document(
    unsecured: Mapping[str, Any], proofs: Sequence[Mapping[str, Any]], wanted: Sequence[str]
) -> dict[str, Any]:
    """The document a chained proof signs (§4.2 step 4, §4.5): `unsecured` with `proof` the
    proofs named by `wanted`, in that order. A name no proof carries is
    `previous_proof_missing`."""
    by_id = {p.get("id"): p for p in proofs if isinstance(p.get("id"), str)}
    matching = []
    for proof_id in wanted:
        found = by_id.get(proof_id)
        if found is None:
            raise _missing(f"previousProof names {proof_id[:100]!r}, which the document lacks")
        matching.append(found)
    return {**unsecured, "proof": matching}


def chain_order(entries: Sequence[tuple[str | None, tuple[str, ...]]]) -> list[int]:
    """The order to verify proofs in, given each one's (id, previousProof ids): a proof after
    every proof it names, otherwise in document order. Refuses repeated ids (ambiguous),
    names of absent proofs, a proof naming itself and loops (`previous_proof_missing`)."""
    index_of: dict[str, int] = {}
    for n, (proof_id, _) in enumerate(entries):
        if proof_id is not None:
            if proof_id in index_of:
                raise InvalidError(Code.INVALID_PROOF, f"two proofs have the id {proof_id[:100]!r}")
            index_of[proof_id] = n
    for n, (proof_id, previous) in enumerate(entries):
        for name in previous:
            if name not in index_of:
                raise _missing(
                    f"proof {n + 1}'s previousProof names {name[:100]!r}, which the document lacks"
                )
            if name == proof_id:
                raise _missing(f"proof {n + 1} names itself as its previousProof")
    order: list[int] = []
    done: set[int] = set()
    while len(order) < len(entries):
        ready = [
            n
            for n, (_, previous) in enumerate(entries)
            if n not in done and all(index_of[p] in done for p in previous)
        ]
        if not ready:
            raise _missing("the proofs' previousProof references loop: no proof starts the chain")
        order.extend(ready)
        done.update(ready)
    return order
