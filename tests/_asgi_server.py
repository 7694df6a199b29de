"""Serve an ASGI app with uvicorn on a random 127.0.0.1 port, in a thread, for tests."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


@contextmanager
def serve(app: Any) -> Iterator[str]:
    import uvicorn

    # IPPROTO_TCP said explicitly: asyncio sets TCP_NODELAY only on sockets whose `proto` is
    # IPPROTO_TCP, and `socket.socket()` gives 0, so every response written in two parts
    # waited for a delayed ACK (~40 ms per request), as uvicorn's own sockets never do.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=lambda: asyncio.run(server.serve(sockets=[sock])), daemon=True)
    thread.start()
    started = threading.Event()
    for _ in range(500):  # bounded wait for start-up (the server flips `started` itself)
        if server.started:
            started.set()
            break
        thread.join(0.01)
    if not started.is_set():
        raise RuntimeError("uvicorn did not start")
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()
