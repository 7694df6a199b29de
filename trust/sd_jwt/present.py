"""Presenting an SD-JWT, RFC 9901 §4.3 and §5 (the holder's side): keep only the disclosures
a presentation needs, with the parents of nested ones (§4.2.6), and append a Key Binding JWT
(§4.3) whose ``sd_hash`` (§4.3.1) covers exactly what is sent.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from ancre.trust.clock import Clock
from ancre.trust.codec.json import DEFAULT_MAX_DEPTH, dumps_compact
from ancre.trust.errors import ConfigurationError
from ancre.trust.jose.jws import sign_compact
from ancre.trust.keys.jwk import Signer
from ancre.trust.sd_jwt.disclosure import KB_JWT_TYP, _digest
from ancre.trust.sd_jwt.issue import SdJwt
from ancre.trust.sd_jwt.paths import (
    _WILDCARD,
    _compile_paths,
    _path_covers,
    _pattern_covers,
    _pointer,
)
from ancre.trust.sd_jwt.processing import _digest_alg_of, _Processor

__all__ = ["present"]


def present(
    sd_jwt: SdJwt | str,
    disclose: Iterable[str],
    *,
    holder_key: Signer | None = None,
    audience: str | None = None,
    nonce: str | None = None,
    clock: Clock | None = None,
) -> str:
    """Present an SD-JWT with only the disclosures `disclose` needs.

    `disclose` are JSON Pointers into the claims (``*`` for every element/member). Naming a
    claim discloses it with everything inside it and the parents it sits in (nested
    disclosures, §4.2.6); claims that are always in the clear need not be named. With
    `holder_key`, `audience`, `nonce` and `clock`, a Key Binding JWT is appended (§4.3): an
    SD-JWT+KB. Without them, the result ends with ``~`` (§4).

    The holder's own copy is not verified here; check it once on receipt with
    :func:`verify_sd_jwt` (or the SD-JWT VC verifier).
    """
    issued = SdJwt.parse(sd_jwt) if isinstance(sd_jwt, str) else sd_jwt
    binding = (holder_key, audience, nonce, clock)
    if any(v is not None for v in binding) and any(v is None for v in binding):
        raise ConfigurationError("key binding needs holder_key, audience, nonce and clock together")
    payload = issued.unverified_payload()
    alg = _digest_alg_of(payload, None)
    processor = _Processor(issued.disclosures, alg, DEFAULT_MAX_DEPTH, record_paths=True)
    claims = processor.run(payload)
    wanted = _compile_paths(disclose)
    for pattern in wanted:
        if not _exists(claims, pattern):
            raise ConfigurationError(f"the credential has no claim at {_pointer(pattern)}")
    chosen = []
    for disclosure in issued.disclosures:
        path = processor.paths[_digest(alg, disclosure.encoded)]
        if any(_path_covers(path, pattern) or _pattern_covers(pattern, path) for pattern in wanted):
            chosen.append(disclosure.encoded)
    presented = "".join((issued.jwt, "~", *(d + "~" for d in chosen)))
    if holder_key is None or audience is None or nonce is None or clock is None:
        return presented
    kb_payload = {
        "iat": int(clock.now().timestamp()),
        "aud": audience,
        "nonce": nonce,
        "sd_hash": _digest(alg, presented),
    }
    kb_jwt = sign_compact(
        {"typ": KB_JWT_TYP}, dumps_compact(kb_payload).encode("utf-8"), holder_key
    )
    return presented + kb_jwt


def _exists(node: Any, pattern: Sequence[str]) -> bool:
    if not pattern:
        return True
    token, rest = pattern[0], pattern[1:]
    # A wildcard over an empty array or object selects nothing, and that is no error: "every
    # nationality" of a credential that lists none.
    if isinstance(node, dict):
        if token == _WILDCARD:
            return all(_exists(v, rest) for v in node.values())
        return token in node and _exists(node[token], rest)
    if isinstance(node, list):
        if token == _WILDCARD:
            return all(_exists(v, rest) for v in node)
        if token.isdigit() and str(int(token)) == token and int(token) < len(node):
            return _exists(node[int(token)], rest)
    return False
