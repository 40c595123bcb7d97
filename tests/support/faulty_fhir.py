"""A FHIR server that misbehaves on purpose, on a loopback port: for deadline and fault tests.

Modes: ``hang`` (accepts, never answers), ``reset`` (closes the connection at once), ``500``,
``429``, ``garbage`` (200 with non-JSON), ``slow-drip`` (a byte of the body every 0.2 s), ``header-drip``
(the status line, then a byte of a header every 0.2 s: the headers never end), ``page-forever``
(every searchset has a next link to another page), ``ok`` (a fixed Patient and empty searchsets),
``scripted`` (the answers a test queued with :meth:`FaultyServer.reply`, in order, per path; 404 once
a path's queue is empty). Every request is recorded (method, path, headers) so tests can assert what
was — or was not — sent.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    #: The client's source port: the same port means the same (kept-alive) connection.
    client_port: int = 0


@dataclass(frozen=True)
class Reply:
    status: int
    body: bytes
    headers: Mapping[str, str]
    delay: float


@dataclass
class FaultyServer:
    base_url: str
    mode: str
    requests: list[Recorded] = field(default_factory=list)
    script: dict[str, list[Reply]] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)

    def reply(self, path: str, *, json_body: Any = None, status: int = 200, body: bytes | None = None,
              headers: Mapping[str, str] | None = None, delay: float = 0.0) -> None:
        """Queue one answer for ``path`` (relative to ``base_url``, query string included)."""
        data = body if body is not None else json.dumps(json_body).encode() if json_body is not None else b""
        self.script.setdefault(path, []).append(Reply(status, data, dict(headers or {}), delay))

    def relative(self, path: str) -> str:
        """A request path (``/fhir/Patient/p1?x=1``) relative to ``base_url`` (``Patient/p1?x=1``)."""
        return path.removeprefix("/" + self.base_url.split("/", 3)[3] + "/")

    def paths(self) -> list[str]:
        """The paths asked for, relative to ``base_url`` (query string included)."""
        return [self.relative(r.path) for r in self.requests]


def _handler(state: FaultyServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:
            return None

        def do_GET(self) -> None:  # noqa: N802
            port = self.client_address[1]
            state.requests.append(Recorded("GET", self.path, dict(self.headers.items()), port))
            mode = state.mode
            if mode == "scripted":
                self._scripted()
                return
            if mode == "hang":
                state._stop.wait(30)
                return
            if mode == "reset":
                with contextlib.suppress(OSError):
                    self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
                self.connection.close()
                return
            if mode in ("500", "429", "503"):
                self._send(int(mode), b'{"resourceType":"OperationOutcome"}')
                return
            if mode == "garbage":
                self._send(200, b"\x00\xff this is not json")
                return
            if mode == "header-drip":
                self._drip(b"HTTP/1.1 200 OK\r\nContent-Type: application/fhir+json\r\nX-Drip: ", b"x")
                return
            if mode == "slow-drip":
                self._drip(b"HTTP/1.1 200 OK\r\nContent-Type: application/fhir+json\r\nContent-Length: 100000\r\n\r\n",
                           b" ", seconds=40.0)
                return
            if mode == "close":  # a healthy server that closes each connection after its answer (HTTP/1.0 style)
                self.close_connection = True
            if self.path.split("?")[0].rstrip("/").split("/")[-2:-1] == ["Patient"]:
                pid = self.path.split("?")[0].rstrip("/").split("/")[-1]
                self._send(200, json.dumps({"resourceType": "Patient", "id": pid, "gender": "female",
                                            "birthDate": "1980-01-01"}).encode())
                return
            bundle = {"resourceType": "Bundle", "type": "searchset", "entry": []}
            if mode == "page-forever":
                n = len(state.requests)
                bundle["link"] = [{"relation": "next", "url": f"{state.base_url}/page/{n}"}]
            self._send(200, json.dumps(bundle).encode())

        def _drip(self, head: bytes, byte: bytes, seconds: float = 30.0) -> None:
            """Send ``head``, then ``byte`` every 0.2 s for ``seconds`` (or until the server stops)."""
            try:
                self.wfile.write(head)
                self.wfile.flush()
                for _ in range(int(seconds / 0.2)):
                    if state._stop.wait(0.2):
                        return
                    self.wfile.write(byte)
                    self.wfile.flush()
            except OSError:
                return
            self.close_connection = True

        def _scripted(self) -> None:
            path = state.relative(self.path)
            queue = state.script.get(path)
            if not queue:
                self._send(404, b'{"resourceType":"OperationOutcome","issue":[{"code":"not-found"}]}')
                return
            reply = queue.pop(0)
            if reply.delay and state._stop.wait(reply.delay):
                return
            self._send(reply.status, reply.body, reply.headers)

        def _send(self, status: int, body: bytes, headers: Mapping[str, str] | None = None) -> None:
            self.send_response(status)
            self.send_header("Content-Type", "application/fhir+json")
            self.send_header("Content-Length", str(len(body)))
            if status == 429 and headers is None:
                self.send_header("Retry-After", "0")
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            if self.close_connection:
                self.send_header("Connection", "close")
            self.end_headers()
            with contextlib.suppress(OSError):
                self.wfile.write(body)

    return Handler


@contextlib.contextmanager
def faulty_fhir_server(mode: str) -> Iterator[FaultyServer]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    httpd.daemon_threads = True
    port = httpd.server_address[1]
    state = FaultyServer(f"http://127.0.0.1:{port}/fhir", mode)
    httpd.RequestHandlerClass = _handler(state)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        state._stop.set()
        httpd.shutdown()
        httpd.server_close()
