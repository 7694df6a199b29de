"""Outbound network: the SSRF-guarded fetch (guard) and running blocking work off the event
loop (blocking).
"""
