"""SD-JWT (RFC 9901) and SD-JWT VC, one module per concern of the RFC.

An SD-JWT is ``<issuer-signed JWT>~<disclosure>~…~<disclosure>~`` (§4, the *issuance* form
the holder keeps) and, presented with key binding, ``…~<KB-JWT>`` (an *SD-JWT+KB*). The
signed payload carries only the disclosures' digests, in ``_sd`` arrays and
``{"...": digest}`` array placeholders (§4.2.4).

- `disclosure`: digest algorithms, salts and disclosures (§4.1.1, §4.2), shared constants;
- `paths`: the JSON Pointers (RFC 6901, ``*`` wildcard) that name claims to issuance and
  presentation;
- `processing`: splitting the serialization and replacing digests by disclosed claims
  (§4, §7.1), shared by the holder and the verifier;
- `issue`: the issuance form `SdJwt` and `issue_sd_jwt` (§4, §5);
- `present`: the holder's presentation with a Key Binding JWT (§4.3);
- `verify`: the verifier's checks (§7.1, §7.3), as a pipeline and as reusable steps;
- `vc`: SD-JWT VC (``dc+sd-jwt``, draft-ietf-oauth-sd-jwt-vc) on top of them.
"""
