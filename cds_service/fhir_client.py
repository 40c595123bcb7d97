"""FHIR REST client for the data an EHR did not prefetch.

One pooled ``requests.Session`` per process; every call of one CDS request shares a
:class:`Deadline`, so the whole FHIR phase finishes within ``[fhir] deadline_s`` however many
queries it needs. Each query has its own timeout (``[fhir] timeout_s``, shortened to what the
deadline leaves) and is retried once on 429/503 if time remains.

Token hygiene: the ``fhirAuthorization`` bearer token is sent only to the origin of the request's
``fhirServer``; any URL on another origin (a ``next`` link, a reference) is refused before a
connection is made. The token is never logged and never part of an error message.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin, urlsplit

import orjson
import requests
import urllib3
from requests.adapters import HTTPAdapter

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


_local = threading.local()


def _session(pool_size: int) -> requests.Session:
    """A per-thread pooled session (requests.Session is not guaranteed thread-safe)."""
    session = getattr(_local, "session", None)
    if session is None:
        session = requests.Session()
        adapter = HTTPAdapter(pool_connections=4, pool_maxsize=pool_size, max_retries=0)
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        session.trust_env = False  # no proxies from the environment: the token goes where we say
        _local.session = session
    return session


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
                response = _session(self.settings.pool_size).get(
                    url, headers=headers, timeout=(min(timeout, 1.0 + timeout / 2), timeout),
                    stream=True, allow_redirects=False,
                )
                status = str(response.status_code)
                try:
                    if response.status_code in _RETRY_STATUSES and attempt + 1 < attempts:
                        last_error = f"HTTP {response.status_code}"
                        wait = _retry_after(response.headers.get("Retry-After"))
                        if wait + 0.1 < self.deadline.remaining():
                            time.sleep(wait)
                            continue
                        raise FhirFetchError(f"{last_error}, no time left to retry")
                    if response.status_code != 200:
                        raise FhirFetchError(f"HTTP {response.status_code}")
                    body = _read_limited(response, self.settings.max_response_bytes, self.deadline)
                finally:
                    response.close()
            except requests.Timeout:
                raise FhirFetchError("timed out") from None
            except requests.RequestException as exc:
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


def _read_limited(response: requests.Response, limit: int, deadline: Deadline) -> bytes:
    """The body as it arrives (``read1``), checking the size limit and the call's deadline after every
    read. ``iter_content`` would block until a whole chunk has arrived, so a server dripping a byte now
    and then (each within the read timeout) held the fetch thread long past the deadline and, with a
    few such calls, starved the fetch pool of every other call (tests/integration/test_fault_injection)."""
    chunks: list[bytes] = []
    size = 0
    raw = response.raw
    while True:
        if deadline.expired:
            raise FhirFetchError("deadline reached while reading the response")
        try:
            chunk = raw.read1(65536, decode_content=True)
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
