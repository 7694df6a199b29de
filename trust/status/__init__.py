"""Revocation and suspension: Bitstring Status List, IETF Token Status List, and the checker
that fetches them.
"""
