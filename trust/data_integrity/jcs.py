"""RFC 8785 JSON Canonicalization Scheme (JCS), the transformation of the `*-jcs-*` Data
Integrity cryptosuites (eddsa-jcs-2022, ecdsa-jcs-2019).

The serialization itself is the `rfc8785` package (PyPI, maintained by Trail of Bits); this
module only translates its refusals (non-string keys, numbers outside IEEE 754 double range,
lone surrogates) into ancre's stable codes."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import rfc8785

from ancre.trust.errors import Code, InvalidError

__all__ = ["jcs_canonicalize"]


def jcs_canonicalize(value: Mapping[str, Any]) -> bytes:
    """The JCS form of a JSON object: UTF-8 bytes, members sorted by UTF-16 code units, numbers
    in ECMAScript form, no whitespace (RFC 8785 §3.2)."""
    try:
        return rfc8785.dumps(value)
    except (rfc8785.CanonicalizationError, TypeError, ValueError, RecursionError) as exc:
        raise InvalidError(
            Code.CANONICALIZATION_FAILED, f"the document has no JCS form (RFC 8785): {exc}"
        ) from None
