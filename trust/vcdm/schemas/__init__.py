"""JSON Schemas (draft 2020-12) of the credentials ancre issues and checks.

One ``*.schema.json`` file per credential type (the ``credentialSubject`` of VCDM credentials,
the processed claims of SD-JWT VCs) plus ``common.schema.json`` with the shared definitions.
Schemas refer to each other by ``urn:ancre:schema:*`` ids that ``ancre.trust.vcdm.credentials``
resolves from this package: nothing is fetched from the network. Each file's ``description``
documents its properties and its ``$comment`` the sources it follows.
"""
