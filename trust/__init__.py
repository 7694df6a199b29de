"""ancre's trust core: keys, DIDs, VC-JOSE, credential models, errors and clocks.

Third-party libraries only; nothing here does I/O at import time.
"""
