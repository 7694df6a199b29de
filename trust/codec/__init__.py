"""Strict codecs every part may use: base64url, strict JSON, multibase."""
