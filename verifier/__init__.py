"""The verification pipeline (`pipeline.verify`, every format) and the W3C VC-API service
(`service.create_app`). OpenID4VP endpoints come next (see the issues)."""
