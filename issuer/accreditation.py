"""The accreditation check: an issuer issues only the credential types the registry's
published trust list accredits it for.

The list is fetched and verified by the trust core's :class:`TrustListClient` (signature by
the configured registry DID, rollback memory, last good list kept until its NextUpdate).
An issuer started without a list must say so explicitly (``--no-accreditation-check``):
nothing in the library turns the check off by default without the caller asking.
"""

from __future__ import annotations

import logging
from typing import Any

from ancre.issuer.service import Issuer, IssuerError
from ancre.issuer.templates import Authorization, Holder, template
from ancre.trust.clock import Clock
from ancre.trust.errors import AncreError, Code

__all__ = ["Accreditation", "AccreditedIssuer", "warn_unchecked"]

_LOG = logging.getLogger("ancre.issuer.accreditation")


class Accreditation:
    """Answers "may `did` issue `credential_type` now?" from a trust list.

    `trust_list` is anything with ``current()`` returning a verified ``TrustList``: a
    :class:`ancre.trust.trust_list.TrustListClient` in production."""

    def __init__(self, trust_list: Any, *, did: str, clock: Clock, source: str = "") -> None:
        self._trust_list = trust_list
        self._did = did
        self._clock = clock
        self.source = source

    def require(self, credential_type: str) -> None:
        """Raise ``IssuerError(not_accredited, 403)`` unless the list names this issuer as
        active for `credential_type` now; ``IssuerError(<trust-list code>, 503)`` when no
        verified, current list is available (fail closed: never issue on a guess)."""
        try:
            listed = self._trust_list.current()
        except AncreError as error:
            raise IssuerError(
                error.code,
                f"the accreditation cannot be checked ({error.message}); retry later",
                503,
            ) from None
        now = self._clock.now()
        if not listed.is_trusted(self._did, credential_type, now):
            status = listed.status_at(self._did, credential_type, now)
            why = "is not listed" if status is None else f"is {status}"
            raise IssuerError(
                Code.NOT_ACCREDITED,
                f"{self._did} {why} for {credential_type} in trust list #{listed.sequence}: "
                "this issuer is not accredited for it",
                403,
            )


class AccreditedIssuer(Issuer):
    """An :class:`Issuer` that checks its accreditation before every offer and issuance
    (OpenID4VCI and the library alike). The VC-API checks it too, through the same
    :class:`Accreditation`."""

    accreditation: Accreditation

    def __init__(self, *args: Any, accreditation: Accreditation, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.accreditation = accreditation

    def issue(
        self,
        configuration_id: str,
        claims: Any,
        *,
        holder: Holder,
        authorization: Authorization,
        offer_id: str | None = None,
    ) -> Any:
        self.accreditation.require(template(configuration_id).credential_type)
        return super().issue(
            configuration_id, claims, holder=holder, authorization=authorization, offer_id=offer_id
        )

    def create_offer(
        self,
        configuration_id: str,
        claims: Any,
        *,
        authorization: Authorization,
        tx_code: bool = False,
    ) -> Any:
        # At the offer already: an operator learns now, not from a wallet refused later.
        self.accreditation.require(template(configuration_id).credential_type)
        return super().create_offer(
            configuration_id, claims, authorization=authorization, tx_code=tx_code
        )


def warn_unchecked(did: str) -> None:
    """Log, loudly, that an issuer runs without the accreditation check."""
    _LOG.warning(
        "ACCREDITATION CHECK DISABLED: %s will issue any credential type, accredited in the "
        "registry's trust list or not (--no-accreditation-check). Verifiers checking the "
        "trust list will refuse credentials of types it is not accredited for.",
        did,
    )
