"""A fault-injecting HTTP proxy in front of the local archive (SeaweedFS), for fault tests and benchmarks.

Every request is forwarded to the real S3 server; on the way back a fault may be injected, either by a
rule (the first N requests whose path ends with a suffix) or at random from a seeded mix:

- ``slowdown`` 503 SlowDown and ``error500`` 500 InternalError (S3 XML bodies), ``notfound`` 404 NoSuchKey;
- ``reset``: the connection is reset (RST) without an answer;
- ``truncate``: the full Content-Length is announced and half the body sent, then the connection closes;
- ``flip``: one byte in the middle of the body is changed;
- ``stall``: nothing is sent for ``stall_seconds``, then the answer;
- ``damage``: a ``.CHECKSUM`` answer names another file (``<hex>  ETHUSDT-1mM-R2024-02-01.zip``);
- ``html``: every answer is ``200 text/html`` (a captive portal, a web server instead of S3);
- ``deny``: every answer is ``403 AccessDenied`` (a private bucket).

Listings (``?list-type``/``?prefix``) are forwarded untouched unless ``html`` is on. Loopback only.
"""

from __future__ import annotations

import contextlib
import http.client
import random
import socket
import struct
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

FAULTS = ("slowdown", "error500", "notfound", "reset", "truncate", "flip", "stall", "damage")
_XML = '<?xml version="1.0" encoding="UTF-8"?><Error><Code>{code}</Code><Message>{msg}</Message></Error>'


@dataclass
class Rule:
    """Inject ``fault`` into the first ``times`` requests whose path ends with ``suffix``."""

    suffix: str
    fault: str
    times: int = 1
    method: str | None = None  # None: any method (s5cmd sends HEAD before GET)
    hits: int = 0


@dataclass
class Mix:
    """Probabilities per request (object requests only; sidecar faults only on ``.CHECKSUM`` GETs)."""

    slowdown: float = 0.0
    error500: float = 0.0
    reset: float = 0.0
    truncate: float = 0.0
    flip: float = 0.0
    stall: float = 0.0
    sidecar_404: float = 0.0
    sidecar_damaged: float = 0.0


@dataclass
class FaultProxy:
    upstream: str
    rules: list[Rule] = field(default_factory=list)
    mix: Mix = field(default_factory=Mix)
    seed: int = 7
    stall_seconds: float = 25.0
    html: bool = False
    deny: bool = False
    injected: Counter[str] = field(default_factory=Counter)
    requests: int = 0

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        up = urlsplit(self.upstream)
        self._up_host, self._up_port = up.hostname or "127.0.0.1", up.port or 80

    @property
    def endpoint_url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> FaultProxy:
        proxy = self

        class Handler(_Handler):
            owner = proxy

        self._server = _Server(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.1},
                                        daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def choose(self, method: str, path: str) -> str | None:
        """The fault for this request, or None."""
        with self._lock:
            self.requests += 1
            if "?" in path:  # listings and other API calls stay clean
                return None
            for rule in self.rules:
                if path.endswith(rule.suffix) and rule.hits < rule.times and rule.method in (None, method):
                    rule.hits += 1
                    self.injected[rule.fault] += 1
                    return rule.fault
            m = self.mix
            sidecar = path.endswith(".CHECKSUM") and method == "GET"
            table = [("slowdown", m.slowdown), ("error500", m.error500), ("reset", m.reset)]
            if method == "GET":
                table += [("truncate", m.truncate), ("flip", m.flip), ("stall", m.stall)]
            if sidecar:
                table += [("notfound", m.sidecar_404), ("damage", m.sidecar_damaged)]
            x = self._rng.random()
            for fault, p in table:
                if x < p:
                    self.injected[fault] += 1
                    return fault
                x -= p
            return None


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # resets and stalls break connections on purpose


class _Handler(BaseHTTPRequestHandler):
    owner: FaultProxy
    protocol_version = "HTTP/1.1"
    _local = threading.local()

    def log_message(self, format: str, *args: object) -> None:
        pass

    def finish(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            super().finish()

    def do_GET(self) -> None:
        self._serve("GET")

    def do_HEAD(self) -> None:
        self._serve("HEAD")

    def do_PUT(self) -> None:
        self._serve("PUT")

    def do_DELETE(self) -> None:
        self._serve("DELETE")

    def do_POST(self) -> None:
        self._serve("POST")

    def _serve(self, method: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body_in = self.rfile.read(length) if length else None
        owner = self.owner
        if owner.html:
            self._answer(200, b"<html><body><h1>Welcome</h1></body></html>", {"Content-Type": "text/html"}, method)
            return
        if owner.deny:
            self._answer(403, _XML.format(code="AccessDenied", msg="Access Denied").encode(),
                         {"Content-Type": "application/xml"}, method)
            return
        fault = owner.choose(method, self.path)
        if fault == "reset":
            self._reset()
            return
        if fault == "stall":
            time.sleep(owner.stall_seconds)
        if fault in ("slowdown", "error500", "notfound"):
            status, code = {"slowdown": (503, "SlowDown"), "error500": (500, "InternalError"),
                            "notfound": (404, "NoSuchKey")}[fault]
            self._answer(status, _XML.format(code=code, msg=fault).encode(), {"Content-Type": "application/xml"},
                         method)
            return
        try:
            status, headers, body = self._forward(method, body_in)
        except OSError:
            self._reset()
            return
        if status in (200, 206) and method == "GET" and body:  # s5cmd asks for ranges (206)
            if fault == "flip":
                i = len(body) // 2
                body = body[:i] + bytes([body[i] ^ 0xFF]) + body[i + 1:]
            elif fault == "damage":
                digest = body.split(b" ", 1)[0]
                body = digest + b"  ETHUSDT-1mM-R2024-02-01.zip"
                headers = {k: v for k, v in headers.items() if k.lower() not in ("etag", "content-md5")}
                if any(k.lower() == "content-range" for k in headers):  # a ranged answer stays self-consistent
                    headers = {k: v for k, v in headers.items() if k.lower() != "content-range"}
                    headers["Content-Range"] = f"bytes 0-{len(body) - 1}/{len(body)}"
            elif fault == "truncate":
                self._answer(status, body, headers, method, send=len(body) // 2)
                self.close_connection = True
                return
        self._answer(status, body, headers, method)

    def _forward(self, method: str, body: bytes | None) -> tuple[int, dict[str, str], bytes]:
        owner = self.owner
        conn = getattr(self._local, "conn", None)
        for attempt in range(2):
            if conn is None:
                conn = http.client.HTTPConnection(owner._up_host, owner._up_port, timeout=60)
                self._local.conn = conn
            try:
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("connection", "keep-alive")}
                conn.request(method, self.path, body=body, headers=headers)
                resp = conn.getresponse()
                data = resp.read()
                out = {k: v for k, v in resp.getheaders()
                       if k.lower() not in ("connection", "keep-alive", "transfer-encoding", "content-length")}
                return resp.status, out, data
            except (OSError, http.client.HTTPException):
                conn.close()
                conn = self._local.conn = None
                if attempt:
                    raise
        raise OSError("unreachable")

    def _answer(self, status: int, body: bytes, headers: dict[str, str], method: str, *,
                send: int | None = None) -> None:
        self.send_response(status)
        for k, v in headers.items():
            if k.lower() not in ("content-length", "date", "server"):
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if method != "HEAD":
            self.wfile.write(body if send is None else body[:send])
        self.wfile.flush()

    def _reset(self) -> None:
        with contextlib.suppress(OSError):
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
        self.close_connection = True
