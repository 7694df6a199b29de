"""The verifier: the engine every interface calls (`engine.Verifier`, built by
`factory.build_context`), the W3C VC-API service (`service.create_app`) and OpenID4VP 1.0
(`openid4vp`, with its transaction store and migrations). `pipeline.verify` is the one-call
form of the engine."""
