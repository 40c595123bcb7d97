"""The bounded GET below the FHIR client and the JWKS fetch: the deadline holds from the first byte.

Dripping status lines, headers and bodies are proven in test_fhir_client.py and test_jwks.py; here the
TLS handshake, which happens before any HTTP is read: a server that accepts the connection and then
sends a TLS record a byte at a time must not hold the fetch past its deadline either.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from cds_service.bounded_http import Deadline, ExchangeError, bounded_get


@contextlib.contextmanager
def loopback_server(answer: Callable[[socket.socket, threading.Event], None]) -> Iterator[int]:
    """A raw TCP server on 127.0.0.1 answering each connection with ``answer(conn, stop)`` in its own thread."""
    stop = threading.Event()
    listener = socket.create_server(("127.0.0.1", 0))

    def serve(conn: socket.socket) -> None:
        with conn, contextlib.suppress(OSError):
            answer(conn, stop)

    def accept() -> None:
        with contextlib.suppress(OSError):
            while not stop.is_set():
                conn, _ = listener.accept()
                threading.Thread(target=serve, args=(conn,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    try:
        yield listener.getsockname()[1]
    finally:
        stop.set()
        listener.close()


def handshake_dripping_server() -> contextlib.AbstractContextManager[int]:
    """Accepts, reads the ClientHello, then sends the start of a (huge) TLS record a byte every 0.1 s."""

    def drip(conn: socket.socket, stop: threading.Event) -> None:
        conn.recv(4096)
        for byte in b"\x16\x03\x03\x40\x00" + b"\x02" * 300:
            if stop.wait(0.1):
                return
            conn.sendall(bytes([byte]))

    return loopback_server(drip)


@pytest.mark.parametrize("deadline_s, timeout_s", [(1.0, 0.6), (1.0, 5.0)])
def test_a_dripped_tls_handshake_ends_by_the_deadline(deadline_s: float, timeout_s: float) -> None:
    with handshake_dripping_server() as port:
        started = time.monotonic()
        with pytest.raises(ExchangeError):
            bounded_get(f"https://127.0.0.1:{port}/fhir/Patient/p1", headers={}, deadline=Deadline(deadline_s),
                        timeout_s=timeout_s, max_bytes=1000)
        elapsed = time.monotonic() - started
    assert elapsed <= deadline_s + 0.3, f"the handshake took {elapsed:.2f} s"


def closing_server(pause_s: float, body: bytes) -> contextlib.AbstractContextManager[int]:
    """Answers every GET with ``Connection: close``, sends the headers, pauses, then sends the body and closes:
    what a server that keeps no connection alive (werkzeug's, many proxies) does with a slow body."""

    def answer(conn: socket.socket, stop: threading.Event) -> None:
        conn.recv(65536)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/fhir+json\r\nConnection: close\r\n"
                     b"Content-Length: %d\r\n\r\n" % len(body))
        time.sleep(pause_s)
        conn.sendall(body)

    return loopback_server(answer)


def test_a_body_sent_after_the_headers_of_a_connection_close_answer_is_read_whole() -> None:
    """The connection closes its socket once it sees ``Connection: close``; the response must still read the body
    that had not arrived yet (it used to fail half-read as a ProtocolError, now and then, against such servers)."""
    body = b'{"resourceType":"Patient","id":"p1"}' * 100
    with closing_server(0.05, body) as port:
        for _ in range(3):
            answer = bounded_get(f"http://127.0.0.1:{port}/fhir/Patient/p1", headers={}, deadline=Deadline(5.0),
                                 timeout_s=2.0, max_bytes=1_000_000)
            assert answer.status == 200 and answer.body == body
