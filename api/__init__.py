"""ancre: verifiable credentials for data spaces — issue, verify, trust lists.

One door for verifying, whatever the format (`vc+jwt`, `vp+jwt`, `dc+sd-jwt`, Data
Integrity, enveloped JSON)::

    import ancre

    result = ancre.verify(token, trust=["did:web:agency.example"])
    if not result.valid:
        print(result.errors)

    # A connector: the data space's signed trust list, did:web and status lists over HTTP.
    with ancre.Verifier.from_trust_list(
        "https://registry.example/trust-list", registry="did:web:registry.example"
    ) as verifier:
        result = verifier.verify(token, audience="https://connector.example", nonce=nonce)

The building blocks stay where they were: `ancre.trust` (keys, DIDs, formats, status and
trust lists), `ancre.verifier` (the pipeline and the HTTP service), `ancre.registry`,
`ancre.issuer`. See docs/python-api.md.

Imports are lazy (module `__getattr__`): `import ancre` costs nothing, so the `ancre`
command — whose modules all live under this package — starts as fast as before.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ancre._verify import Verifier, verify
    from ancre.trust.policy import VerificationPolicy
    from ancre.trust.result import CheckResult, Status, VerificationResult

__all__ = [
    "CheckResult",
    "Status",
    "VerificationPolicy",
    "VerificationResult",
    "Verifier",
    "__version__",
    "verify",
]

#: Where each public name lives; loaded on first use.
_LAZY = {
    "Verifier": "ancre._verify",
    "verify": "ancre._verify",
    "VerificationPolicy": "ancre.trust.policy",
    "CheckResult": "ancre.trust.result",
    "Status": "ancre.trust.result",
    "VerificationResult": "ancre.trust.result",
}


def __getattr__(name: str) -> Any:
    if name == "__version__":
        from importlib.metadata import version

        return version("ancre")
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'ancre' has no attribute {name!r}")
    from importlib import import_module

    value = getattr(import_module(module), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
