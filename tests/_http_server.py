"""A real HTTP server on 127.0.0.1 for network tests, scriptable per path.

Used by tests/test_net.py and tests/test_did_web.py. It binds a random free port on the
loopback interface only, records every request it receives (so tests can prove what was,
and was not, sent) and can misbehave on purpose: oversized bodies, slow-drip headers or
bodies, redirects, ETag revalidation.
"""

from __future__ import annotations

import atexit
import ipaddress
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx

#: How long a dripping handler keeps going at most (the client should give up far sooner).
DRIP_FOR = 3.0
DRIP_EVERY = 0.05


@dataclass
class Route:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    #: answer 304 when the request's If-None-Match equals this ETag (and send it as ETag).
    etag: str | None = None
    #: "body": announce Content-Length then send one byte per tick (with a `body`: its first
    #: half at once, then the rest one byte per tick); "headers": send header bytes one per
    #: tick, never finishing the header block.
    drip: str | None = None
    #: how long a drip goes on at most (seconds) unless the client hangs up first.
    drip_for: float = DRIP_FOR
    #: send the body without Content-Length, ending it by closing the connection.
    no_length: bool = False
    #: answer only once this event is set (or the server stops): a request held in flight.
    hold: threading.Event | None = None


@dataclass
class Seen:
    path: str
    headers: dict[str, str]


class _Server(ThreadingHTTPServer):
    # socketserver's default listen backlog is 5: concurrent tests would overflow it and
    # the kernel's SYN retry (1 s) would look like a timeout.
    request_queue_size = 128
    daemon_threads = True


class LoopbackServer:
    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.hits: Counter[str] = Counter()
        #: Per path: answers the client hung up on (broken pipe/reset) before they ended,
        #: and drips that ran their full course.
        self.hung_up: Counter[str] = Counter()
        self.drips_finished: Counter[str] = Counter()
        self.seen: list[Seen] = []
        self.stop = threading.Event()
        self._lock = threading.Lock()
        self._arrived = threading.Condition(self._lock)
        self.httpd = _Server(("127.0.0.1", 0), _handler_for(self))
        self.port: int = self.httpd.server_address[1]
        self.base = f"http://127.0.0.1:{self.port}"
        self.authority = f"127.0.0.1:{self.port}"

    def record(self, path: str, headers: dict[str, str]) -> None:
        with self._lock:
            self.hits[path] += 1
            self.seen.append(Seen(path, headers))
            self._arrived.notify_all()

    def record_hang_up(self, path: str) -> None:
        with self._lock:
            self.hung_up[path] += 1
            self._arrived.notify_all()

    def wait_for_hang_up(self, path: str, timeout: float = 10.0) -> None:
        """Block until the client hung up on an answer to `path` (its write failed)."""
        with self._lock:
            if not self._arrived.wait_for(lambda: self.hung_up[path] >= 1, timeout):
                raise TimeoutError(f"the client never hung up on {path}")

    def wait_for_hits(self, path: str, count: int, timeout: float = 10.0) -> None:
        """Block until `path` was requested `count` times (synchronisation without sleeps)."""
        with self._lock:
            if not self._arrived.wait_for(lambda: self.hits[path] >= count, timeout):
                raise TimeoutError(f"{path} requested {self.hits[path]} times, not {count}")


def _handler_for(server: LoopbackServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass  # keep pytest output clean

        def do_GET(self) -> None:
            server.record(self.path, {k.lower(): v for k, v in self.headers.items()})
            route = server.routes.get(self.path)
            self.close_connection = True
            try:
                if route is None:
                    self._send(404, b"not found", {})
                    return
                if route.hold is not None:
                    for _ in range(1000):  # bounded: 10 s at most, or until the test ends
                        if route.hold.wait(0.01) or server.stop.is_set():
                            break
                if route.drip == "headers":
                    self._drip_headers(route)
                    return
                headers = dict(route.headers)
                if route.etag is not None:
                    headers["ETag"] = route.etag
                    if self.headers.get("If-None-Match") == route.etag:
                        self._send(304, b"", headers, body_allowed=False)
                        return
                if route.drip == "body":
                    self._drip_body(route, headers)
                    return
                self._send(route.status, route.body, headers, no_length=route.no_length)
            except (BrokenPipeError, ConnectionResetError):
                # The client hung up on purpose (size or time limit).
                server.record_hang_up(self.path)

        def _send(
            self,
            status: int,
            body: bytes,
            headers: dict[str, str],
            *,
            body_allowed: bool = True,
            no_length: bool = False,
        ) -> None:
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            if body_allowed and not no_length:
                self.send_header("Content-Length", str(len(body)))
            self.send_header("Connection", "close")
            self.end_headers()
            if body_allowed:
                self.wfile.write(body)

        def _drip_body(self, route: Route, headers: dict[str, str]) -> None:
            self.send_response(200)
            for name, value in headers.items():
                self.send_header(name, value)
            body = route.body
            if not route.no_length:
                self.send_header("Content-Length", str(len(body)) if body else "1000")
            self.end_headers()
            if not body:
                self._drip(b"x", route.drip_for)
                return
            # Most of a real document at once, then a slow tail: a client that takes what it
            # has at its deadline for the whole body parses a truncated document.
            half = len(body) // 2
            self.wfile.write(body[:half])
            self.wfile.flush()
            self._drip(body[half:], route.drip_for)

        def _drip_headers(self, route: Route) -> None:
            self.wfile.write(b"HTTP/1.1 200 OK\r\nX-Slow: ")
            self._drip(b"a", route.drip_for)

        def _drip(self, data: bytes, seconds: float) -> None:
            # Bounded: at most `seconds`, and it stops at once when the test ends. A single
            # byte is sent again and again; longer data one byte per tick, once.
            for i in range(int(seconds / DRIP_EVERY)):
                if server.stop.wait(DRIP_EVERY):
                    return
                if len(data) > 1 and i >= len(data):
                    return
                self.wfile.write(data if len(data) == 1 else data[i : i + 1])
                self.wfile.flush()
            server.drips_finished[self.path] += 1

    return Handler


@contextmanager
def running_server() -> Iterator[LoopbackServer]:
    server = LoopbackServer()
    thread = threading.Thread(target=server.httpd.serve_forever, kwargs={"poll_interval": 0.01})
    thread.start()
    try:
        yield server
    finally:
        server.stop.set()
        server.httpd.shutdown()
        server.httpd.server_close()
        thread.join()


class LoopbackOnlyTransport(httpx.BaseTransport):
    """Safety net around a real transport: records every request and refuses, without
    touching the network, any request whose host is not a loopback IP literal — so even a
    broken guard could never send a packet off this machine during the tests."""

    def __init__(self) -> None:
        self.inner = httpx.HTTPTransport()
        self.requests: list[httpx.Request] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        host = request.url.host
        try:
            loopback = ipaddress.ip_address(host).is_loopback
        except ValueError:
            loopback = False
        if not loopback:
            raise RuntimeError(f"test safety net: refusing to contact {host!r}")
        return self.inner.handle_request(request)

    def close(self) -> None:
        self.inner.close()


@contextmanager
def loopback_client() -> Iterator[tuple[httpx.Client, LoopbackOnlyTransport]]:
    transport = LoopbackOnlyTransport()
    with httpx.Client(transport=transport, trust_env=False) as client:
        yield client, transport


_RESERVED: list[Any] = []


@atexit.register
def _release() -> None:
    for sock in _RESERVED:
        sock.close()


def free_port() -> int:
    """A loopback port where nothing listens, and nothing can: the port stays bound (never
    listening) by this process until it exits, so a connection is refused at once and no
    other test or process can start a server there between this call and its use (a port
    merely bound and released could be handed to someone else)."""
    import socket

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.bind(("127.0.0.1", 0))
    _RESERVED.append(sock)
    port: int = sock.getsockname()[1]
    return port
