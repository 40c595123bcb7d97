"""One HTTP GET whose whole exchange ends by a wall-clock deadline: the FHIR client and JWKS fetches.

A socket timeout bounds one *receive*, not an exchange: a peer that sends a byte now and then, each
within the timeout, kept a fetch going for as long as it liked, whether it dripped the response's body
or its status line and headers (issue 15 findings 3 and 5: a FHIR server dripping header bytes held the
fetch threads of every client; a dripping ``jwks_url`` took 30 s with ``jwks_timeout_s = 2``). Here the
socket timeout is re-armed before *every* receive to what the deadline leaves (at most the per-read
timeout), and a receive with nothing left fails at once, so the exchange cannot outlive its deadline:

* connect: urllib3's connect timeout, never more than what the deadline leaves; then the TLS handshake,
  bounded as a whole (CPython's ``ssl`` module) by what the deadline leaves after the connect;
* status line and headers: ``http.client`` reads them through the response's file object, which here
  reads the socket through :class:`_DeadlineReader`;
* body: the same file object, read as it arrives (``read1``), with the size limit checked after every read.

urllib3 is used directly (one ``PoolManager`` per process, kept-alive connections reused; no proxies from
the environment, no redirects). The deadline reaches the connection through a context variable set for
the duration of one :func:`bounded_get`, so connections stay shared between calls with different
deadlines. Error messages name what failed, never the URL's query or any header (tokens).
"""

from __future__ import annotations

import contextvars
import http.client
import io
import os
import socket
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import urllib3
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool


class Deadline:
    """A monotonic budget shared by everything one caller does (all FHIR queries of one CDS call)."""

    def __init__(self, seconds: float) -> None:
        self.expires_at = time.monotonic() + seconds

    def remaining(self) -> float:
        return max(0.0, self.expires_at - time.monotonic())

    @property
    def expired(self) -> bool:
        return self.remaining() <= 0.0


class ExchangeError(Exception):
    """No usable answer (no connection, timed out, too large). The message names no URL and no header."""


@dataclass(frozen=True)
class Answer:
    status: int
    headers: Mapping[str, str]
    #: The body, read in full for a 200; ``b""`` for any other status (not read).
    body: bytes


#: The deadline of the exchange in progress on this thread (set by :func:`bounded_get` only).
_EXCHANGE_DEADLINE: contextvars.ContextVar[Deadline | None] = contextvars.ContextVar("exchange_deadline",
                                                                                     default=None)


class _DeadlineReader(io.RawIOBase):
    """The socket, read with its timeout re-armed to what the deadline leaves before every receive.

    It reads through the socket's own file object (``raw``, the ``SocketIO`` that ``http.client`` made),
    which holds a reference on the socket: when the connection is closed while the answer is still being
    read (a server that says ``Connection: close``, or HTTP/1.0), the descriptor stays open until this
    reader is closed, as with ``http.client``'s own file object.
    """

    def __init__(self, sock: socket.socket, raw: io.RawIOBase, deadline: Deadline,
                 read_timeout: float | None) -> None:
        super().__init__()
        self._sock = sock
        self._raw = raw
        self._deadline = deadline
        self._read_timeout = read_timeout

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        remaining = self._deadline.remaining()
        if remaining <= 0.0:
            raise TimeoutError("deadline reached")
        self._sock.settimeout(remaining if self._read_timeout is None else min(remaining, self._read_timeout))
        read = self._raw.readinto(buffer)
        return 0 if read is None else read

    def close(self) -> None:
        try:
            self._raw.close()
        finally:
            super().close()


class _DeadlineResponse(http.client.HTTPResponse):
    """``http.client``'s response, reading status line, headers and body under the exchange's deadline."""

    def __init__(self, sock: socket.socket, debuglevel: int = 0, method: str | None = None,
                 url: str | None = None) -> None:
        super().__init__(sock, debuglevel, method, url)
        deadline = _EXCHANGE_DEADLINE.get()
        if deadline is not None:  # http.client's buffered socket file, replaced before any read
            raw = self.fp.detach()
            self.fp = io.BufferedReader(_DeadlineReader(sock, raw, deadline, sock.gettimeout()), 65536)


class _DeadlineConnection(HTTPConnection):
    """Reads its responses under the deadline; a new socket gets only what the deadline leaves after the
    TCP connect, so the TLS handshake that follows (bounded as a whole by the socket timeout) cannot
    take a second connect timeout."""

    response_class = _DeadlineResponse

    def _new_conn(self) -> socket.socket:
        sock = super()._new_conn()
        deadline = _EXCHANGE_DEADLINE.get()
        if deadline is not None:
            current = sock.gettimeout()
            left = max(deadline.remaining(), 0.001)  # never 0: that would make the socket non-blocking
            sock.settimeout(left if current is None else min(current, left))
        return sock


class _HTTPConnection(_DeadlineConnection):
    pass


class _HTTPSConnection(_DeadlineConnection, HTTPSConnection):
    pass


class _HTTPPool(HTTPConnectionPool):
    ConnectionCls = _HTTPConnection


class _HTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _HTTPSConnection


_pools_lock = threading.Lock()
_pools: tuple[int, dict[int, urllib3.PoolManager]] = (os.getpid(), {})  # (pid, {pool size: manager})


def pool_manager(pool_size: int) -> urllib3.PoolManager:
    """This process's connection pools, ``pool_size`` connections kept per host (a forked worker never
    reuses its parent's sockets)."""
    global _pools
    pid, managers = _pools
    manager = managers.get(pool_size) if pid == os.getpid() else None
    if manager is not None:
        return manager
    with _pools_lock:
        if _pools[0] != os.getpid():
            _pools = (os.getpid(), {})
        manager = _pools[1].get(pool_size)
        if manager is None:
            # block=False: a burst beyond pool_size opens extra connections rather than waiting.
            manager = urllib3.PoolManager(num_pools=8, maxsize=pool_size, block=False, retries=False)
            manager.pool_classes_by_scheme = {"http": _HTTPPool, "https": _HTTPSPool}
            _pools[1][pool_size] = manager
        return manager


def bounded_get(
    url: str,
    *,
    headers: Mapping[str, str],
    deadline: Deadline,
    timeout_s: float,
    max_bytes: int,
    pool_size: int = 16,
) -> Answer:
    """GET ``url``; everything (connect, headers, body) done by ``deadline``, each receive within ``timeout_s``.

    The body is read (up to ``max_bytes``) only for a 200; otherwise the connection is closed unread.
    A connection whose answer was read to the end goes back to the pool.
    """
    remaining = deadline.remaining()
    if remaining <= 0.0:
        raise ExchangeError("deadline reached before the request could be made")
    timeout = min(timeout_s, remaining)
    context = _EXCHANGE_DEADLINE.set(deadline)
    try:
        try:
            response = pool_manager(pool_size).request(
                "GET", url, headers=dict(headers),
                timeout=urllib3.Timeout(connect=min(timeout, 1.0 + timeout / 2), read=timeout),
                preload_content=False, redirect=False, retries=False,
            )
        except urllib3.exceptions.NewConnectionError:  # also a ConnectTimeoutError, for history
            raise ExchangeError("connection failed (NewConnectionError)") from None
        wanted = response.status == 200
        reusable = False
        try:
            body = _read_limited(response, max_bytes, deadline) if wanted else b""
            reusable = wanted
        finally:
            if reusable:  # read to the end: the connection goes back to the pool
                response.release_conn()
            else:  # an unread or broken answer: never reuse that connection
                response.close()
        return Answer(response.status, response.headers, body)
    except urllib3.exceptions.TimeoutError:
        raise ExchangeError("deadline reached" if deadline.expired else "timed out") from None
    except (urllib3.exceptions.HTTPError, OSError) as exc:
        raise ExchangeError(f"connection failed ({type(exc).__name__})") from None
    finally:
        _EXCHANGE_DEADLINE.reset(context)


def _read_limited(response: urllib3.BaseHTTPResponse, limit: int, deadline: Deadline) -> bytes:
    """The body as it arrives (``read1``), checking the size limit after every read. ``iter_content`` would
    wait for a whole chunk; every receive under it is bounded by the deadline (:class:`_DeadlineReader`)."""
    chunks: list[bytes] = []
    size = 0
    while True:
        if deadline.expired:
            raise ExchangeError("deadline reached while reading the response")
        chunk = response.read1(65536, decode_content=True)
        if not chunk:
            return b"".join(chunks)
        size += len(chunk)
        if size > limit:
            raise ExchangeError(f"response larger than {limit} bytes")
        chunks.append(chunk)
