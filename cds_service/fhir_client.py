"""FHIR REST client for the data an EHR did not prefetch.

One urllib3 ``PoolManager`` per process (thread-safe; made again after a fork) keeps connections to
FHIR servers open between queries and calls: a query whose answer was read to the end gives its
connection back for the next one, so an HTTPS server is not asked for a TLS handshake per query.
urllib3 directly rather than through requests: measured against sekmet-fhir, a query cost 2.0 ms of
CPU through requests and 1.2-1.4 ms without it (docs/performance.md).

Every call of one CDS request shares a :class:`Deadline`, so the whole FHIR phase finishes within
``[fhir] deadline_s`` however many queries it needs. Each query has its own timeout (``[fhir]
timeout_s``, shortened to what the deadline leaves) and is retried once on 429/503 if time remains.
Redirects are not followed and no proxy is taken from the environment: the token goes where we say.

Token hygiene: the ``fhirAuthorization`` bearer token is sent only to the origin of the request's
``fhirServer``; any URL on another origin (a ``next`` link, a reference) is refused before a
connection is made. The token is never logged and never part of an error message.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin, urlsplit

import orjson
import urllib3

log = logging.getLogger("igcds.fhir")

ACCEPT = "application/fhir+json, application/json;q=0.9"
_RETRY_STATUSES = (429, 503)


class FhirFetchError(Exception):
    """A FHIR query that gave no usable answer. The message never contains the token."""


class Deadline:
    """A monotonic budget shared by all queries of one CDS call."""

    def __init__(self, seconds: float) -> None:
        self.expires_at = time.monotonic() + seconds

    def remaining(self) -> float:
        return max(0.0, self.expires_at - time.monotonic())

    @property
    def expired(self) -> bool:
        return self.remaining() <= 0.0


def origin_of(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    port = parts.port or {"http": 80, "https": 443}.get(parts.scheme)
    return parts.scheme.lower(), (parts.hostname or "").lower(), port


def normalise_base(url: str) -> str:
    return url.rstrip("/")


_pool_lock = threading.Lock()
_pool: tuple[int, int, urllib3.PoolManager] | None = None  # (pid, size, manager)


def _pool_manager(pool_size: int) -> urllib3.PoolManager:
    """This process's connection pools (a forked worker never reuses its parent's sockets)."""
    global _pool
    current = _pool
    pid = os.getpid()
    if current is not None and current[0] == pid and current[1] == pool_size:
        return current[2]
    with _pool_lock:
        if _pool is None or _pool[0] != pid or _pool[1] != pool_size:
            # block=False: a burst beyond pool_size opens extra connections rather than waiting.
            _pool = (pid, pool_size, urllib3.PoolManager(num_pools=8, maxsize=pool_size, block=False,
                                                         retries=False))
        return _pool[2]


@dataclass(frozen=True)
class FhirClientSettings:
    timeout_s: float = 2.0
    max_response_bytes: int = 8_388_608
    pool_size: int = 16


class FhirClient:
    """Reads from one FHIR server on behalf of one CDS call."""

    def __init__(
        self,
        base_url: str,
        *,
        access_token: str | None,
        deadline: Deadline,
        settings: FhirClientSettings,
        metrics: Any = None,
    ) -> None:
        self.base_url = normalise_base(base_url)
        self._origin = origin_of(self.base_url)
        self._token = access_token
        self.deadline = deadline
        self.settings = settings
        self._metrics = metrics

    def __repr__(self) -> str:  # never show the token
        return f"FhirClient({self.base_url!r})"

    def url_for(self, relative: str) -> str:
        # Only the part before "?" decides: a search such as ``code=http://loinc.org|29463-7``
        # carries "://" in its query string and is still relative.
        if "://" in relative.split("?", 1)[0]:
            return relative
        return urljoin(self.base_url + "/", relative.lstrip("/"))

    def same_origin(self, url: str) -> bool:
        """True only for URLs under this fhirServer (same origin *and* base path)."""
        return origin_of(url) == self._origin and (url == self.base_url or url.startswith(self.base_url + "/"))

    def get_json(self, relative_or_absolute: str) -> Mapping[str, Any]:
        """GET a FHIR URL on this server; returns the parsed resource or raises FhirFetchError."""
        url = self.url_for(relative_or_absolute)
        if not self.same_origin(url):
            raise FhirFetchError("refused a URL on another origin than fhirServer")
        headers = {"Accept": ACCEPT}
        if self._token:
            headers["Authorization"] = f"Bearer {self._token}"
        attempts = 2
        last_error = "no attempt made"
        for attempt in range(attempts):
            remaining = self.deadline.remaining()
            if remaining <= 0.05:
                raise FhirFetchError("deadline reached before the query could be made")
            timeout = min(self.settings.timeout_s, remaining)
            started = time.perf_counter()
            status = "error"
            try:
                response = _pool_manager(self.settings.pool_size).request(
                    "GET", url, headers=headers,
                    timeout=urllib3.Timeout(connect=min(timeout, 1.0 + timeout / 2), read=timeout),
                    preload_content=False, redirect=False, retries=False,
                )
                status = str(response.status)
                reusable = False
                try:
                    if response.status in _RETRY_STATUSES and attempt + 1 < attempts:
                        last_error = f"HTTP {response.status}"
                        wait = _retry_after(response.headers.get("Retry-After"))
                        if wait + 0.1 < self.deadline.remaining():
                            time.sleep(wait)
                            continue
                        raise FhirFetchError(f"{last_error}, no time left to retry")
                    if response.status != 200:
                        raise FhirFetchError(f"HTTP {response.status}")
                    body = _read_limited(response, self.settings.max_response_bytes, self.deadline)
                    reusable = True
                finally:
                    if reusable:  # read to the end: the connection goes back to the pool
                        response.release_conn()
                    else:  # an unread or broken answer: never reuse that connection
                        response.close()
            except urllib3.exceptions.NewConnectionError:  # also a ConnectTimeoutError, for history
                raise FhirFetchError("connection failed (NewConnectionError)") from None
            except urllib3.exceptions.TimeoutError:
                raise FhirFetchError("timed out") from None
            except (urllib3.exceptions.HTTPError, OSError) as exc:
                raise FhirFetchError(f"connection failed ({type(exc).__name__})") from None
            finally:
                if self._metrics is not None:
                    self._metrics.observe_fhir(time.perf_counter() - started, status)
            try:
                parsed = orjson.loads(body)
            except orjson.JSONDecodeError:
                raise FhirFetchError("response is not JSON") from None
            if not isinstance(parsed, dict) or not isinstance(parsed.get("resourceType"), str):
                raise FhirFetchError("response is not a FHIR resource")
            return parsed
        raise FhirFetchError(last_error)

    def read(self, reference: str) -> Mapping[str, Any] | None:
        """Read ``Type/id``; None when it cannot be had (the caller degrades gracefully)."""
        if reference.count("/") != 1 or "://" in reference or "?" in reference:
            return None
        try:
            resource = self.get_json(reference)
        except FhirFetchError as exc:
            log.info("fhir read failed", extra={"event": "fhir_read_failed", "reason": str(exc)})
            return None
        return None if resource.get("resourceType") == "OperationOutcome" else resource


def _retry_after(value: str | None) -> float:
    try:
        return min(max(float(value), 0.0), 1.0) if value else 0.2
    except ValueError:
        return 0.2


def _read_limited(response: urllib3.BaseHTTPResponse, limit: int, deadline: Deadline) -> bytes:
    """The body as it arrives (``read1``), checking the size limit and the call's deadline after every
    read. ``iter_content`` would block until a whole chunk has arrived, so a server dripping a byte now
    and then (each within the read timeout) held the fetch thread long past the deadline and, with a
    few such calls, starved the fetch pool of every other call (tests/integration/test_fault_injection)."""
    chunks: list[bytes] = []
    size = 0
    while True:
        if deadline.expired:
            raise FhirFetchError("deadline reached while reading the response")
        try:
            chunk = response.read1(65536, decode_content=True)
        except urllib3.exceptions.ReadTimeoutError:
            raise FhirFetchError("timed out") from None
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise FhirFetchError(f"connection failed ({type(exc).__name__})") from None
        if not chunk:
            return b"".join(chunks)
        size += len(chunk)
        if size > limit:
            raise FhirFetchError(f"response larger than {limit} bytes")
        chunks.append(chunk)
