"""The verification pipeline and its services. Not built yet: see `ancre.trust.vc_jose`."""
