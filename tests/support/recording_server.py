"""A tiny HTTP server on 127.0.0.1 that records every request and answers from a route table.

Used as a client's JWKS endpoint (key rotation: change ``routes`` between calls), as a ``jku`` or
``fhirServer`` that must never be contacted (assert ``requests_to(path)`` is empty), and as a FHIR
server that must receive the access token. Unknown paths get 404 (a FHIR search under a known
prefix can be answered with ``fallback``).
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes = b""


@dataclass
class RecordingServer:
    base_url: str
    routes: dict[str, Any] = field(default_factory=dict)
    fallback: Callable[[str], Any] | None = None
    seen: list[Seen] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def url(self, path: str) -> str:
        return self.base_url + path

    def requests_to(self, prefix: str) -> list[Seen]:
        with self.lock:
            return [s for s in self.seen if s.path.startswith(prefix)]

    def all_text(self) -> str:
        """Everything received (paths, headers, bodies), for 'was this secret sent here?' checks."""
        with self.lock:
            return "\n".join(f"{s.method} {s.path} {json.dumps(s.headers)} {s.body!r}" for s in self.seen)


def _handler(state: RecordingServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:
            return None

        def _record(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            with state.lock:
                state.seen.append(Seen(self.command, self.path, dict(self.headers.items()), body))
            path = self.path.split("?", 1)[0]
            document = state.routes.get(path)
            if document is None and state.fallback is not None:
                document = state.fallback(self.path)
            if document is None:
                self._send(404, b'{"error":"not found"}')
            else:
                self._send(200, json.dumps(document).encode())

        def _send(self, status: int, payload: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_GET = _record  # noqa: N815
        do_POST = _record  # noqa: N815

    return Handler


@contextlib.contextmanager
def recording_server(routes: dict[str, Any] | None = None) -> Iterator[RecordingServer]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), None)  # type: ignore[arg-type]
    state = RecordingServer(f"http://127.0.0.1:{httpd.server_address[1]}", dict(routes or {}))
    httpd.RequestHandlerClass = _handler(state)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        httpd.shutdown()
        httpd.server_close()
