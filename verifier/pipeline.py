"""One entry point for any credential or presentation ancre can read, with its environment
as keyword arguments: a thin door onto the engine (`ancre.verifier.engine.Verifier`).

| input | adapter |
|---|---|
| compact JWS, `typ` vc+jwt (or Gaia-X spellings) / VCDM 1.1 `vc` JWT | `vc_jose.VcJwtAdapter` |
| compact JWS, `typ` vp+jwt / VCDM 1.1 `vp` JWT | `vc_jose.VpJwtAdapter` |
| `<jws>~<disclosure>~…~[<kb-jwt>]` | `sd_jwt.vc.SdJwtVcAdapter` |
| JSON `EnvelopedVerifiableCredential` / `…Presentation` | the enveloped token's adapter |
| JSON-LD with an embedded `proof` | `data_integrity.proofs.Di{Credential,Presentation}Adapter` |

The table is decided in one place, `ancre.trust.engine.detect_format`. Never raises for bad
input: the result says what is wrong. Many verifications should build a `Verifier` once.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from ancre.trust.clock import Clock
from ancre.trust.did.document import DidResolver
from ancre.trust.engine import VerifyContext
from ancre.trust.policy import VerificationPolicy
from ancre.trust.result import VerificationResult
from ancre.trust.steps import KeySource, StatusChecker, TrustChecker

from .engine import Expect, Verifier

__all__ = ["verify"]

_DEFAULT_POLICY: Final = VerificationPolicy()


def verify(
    data: bytes | str | Mapping[str, Any],
    *,
    resolver: DidResolver | KeySource,
    clock: Clock,
    policy: VerificationPolicy = _DEFAULT_POLICY,
    status: StatusChecker | None = None,
    trust: TrustChecker | None = None,
    expect: Expect | None = None,
) -> VerificationResult:
    """Verify a credential or presentation in any supported form (see `Verifier.verify`).

    `status` checks revocation lists; `trust` (a `TrustList` or `TrustListClient`) decides
    whether the issuer was trusted for each credential type when it was issued."""
    context = VerifyContext(resolver, clock, policy, status, trust)
    return Verifier(context).verify(data, expect=expect)
