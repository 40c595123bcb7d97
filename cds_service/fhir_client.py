"""FHIR REST client for the data an EHR did not prefetch.

One urllib3 ``PoolManager`` per process (thread-safe; made again after a fork) keeps connections to
FHIR servers open between queries and calls: a query whose answer was read to the end gives its
connection back for the next one, so an HTTPS server is not asked for a TLS handshake per query.
urllib3 directly rather than through requests: measured against sekmet-fhir, a query cost 2.0 ms of
CPU through requests and 1.2-1.4 ms without it (docs/performance.md).

Every call of one CDS request shares a :class:`Deadline`, so the whole FHIR phase finishes within
``[fhir] deadline_s`` however many queries it needs: each query's whole exchange (connect, status line,
headers, body) ends by it, a peer dripping bytes included (:mod:`cds_service.bounded_http`). Each receive
also has its own timeout (``[fhir] timeout_s``), and a query is retried once on 429/503 if time remains.
Redirects are not followed and no proxy is taken from the environment: the token goes where we say.

Token hygiene: the ``fhirAuthorization`` bearer token is sent only under the request's ``fhirServer``
(same origin *and* base path). Every URL (a ``next`` link, a reference) is checked before a connection is
made, after its dot segments are resolved (RFC 3986 §5.2.4, percent-encoded dots included): a URL on
another origin, one that climbs out of the base path (``<fhirServer>/../secret``), one with credentials,
an encoded slash or backslash, or a port that is not a port is refused. The URL asked for is the one
checked. The token is never logged and never part of an error message.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import SplitResult, urlsplit

import orjson

from .bounded_http import Deadline, ExchangeError, bounded_get

if TYPE_CHECKING:
    from .config import FhirConfig

__all__ = ["ACCEPT", "Deadline", "FhirClient", "FhirClientSettings", "FhirFetchError", "normalise_base"]

log = logging.getLogger("igcds.fhir")

ACCEPT = "application/fhir+json, application/json;q=0.9"
_RETRY_STATUSES = (429, 503)
_DEFAULT_PORTS = {"http": 80, "https": 443}
#: Path text that some servers read as a separator: refused rather than guessed at.
_SEPARATOR_LOOKALIKES = ("\\", "%2f", "%5c")


class FhirFetchError(Exception):
    """A FHIR query that gave no usable answer. The message never contains the token."""


def normalise_base(url: str) -> str:
    return url.rstrip("/")


Origin = tuple[str, str, int | None]


def _split(url: str) -> tuple[SplitResult, Origin] | None:
    """The URL's parts and origin, or None when it has no usable origin (a port that is not a port,
    credentials, no host)."""
    try:
        parts = urlsplit(url)
        port = parts.port or _DEFAULT_PORTS.get(parts.scheme.lower())
    except ValueError:
        return None
    if "@" in parts.netloc or not parts.hostname:
        return None
    return parts, (parts.scheme.lower(), parts.hostname.lower(), port)


def remove_dot_segments(path: str) -> str | None:
    """RFC 3986 §5.2.4 over whole segments, a segment counting as ``.`` or ``..`` once its percent-encoded
    dots are decoded (``%2e%2E`` is ``..``: servers decode it). None when the path climbs above the root."""
    segments = path.split("/")[1:] if path.startswith("/") else path.split("/")
    kept: list[str] = []
    for index, segment in enumerate(segments):
        dots = segment.lower().replace("%2e", ".")
        if dots in (".", ".."):
            if dots == "..":
                if not kept:
                    return None
                kept.pop()
            if index == len(segments) - 1:
                kept.append("")  # "a/b/.." is the directory "a/"
            continue
        kept.append(segment)
    return "/" + "/".join(kept)


@dataclass(frozen=True)
class FhirClientSettings:
    timeout_s: float = 2.0
    max_response_bytes: int = 8_388_608
    pool_size: int = 16
    #: Queries in flight at once to one FHIR origin in this process (``[fhir] max_parallel_per_origin``).
    max_parallel_per_origin: int = 32

    @classmethod
    def from_config(cls, fhir: FhirConfig) -> FhirClientSettings:
        """The ``[fhir]`` section as client settings: every reader of a FHIR server (the CDS calls, an
        application's own pages) keeps to the same limits."""
        return cls(
            timeout_s=fhir.timeout_s,
            max_response_bytes=fhir.max_response_bytes,
            pool_size=max(4, fhir.max_parallel * 2),
            max_parallel_per_origin=fhir.max_parallel_per_origin,
        )


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
        split = _split(self.base_url)
        #: (scheme, host, port) of fhirServer: the fetches of every call to it share one lane (prefetch).
        self.origin: Origin = split[1] if split else ("", "", None)
        self._base_path = normalise_base(split[0].path) if split else ""
        self._token = access_token
        self.deadline = deadline
        self.settings = settings
        self._metrics = metrics

    def __repr__(self) -> str:  # never show the token
        return f"FhirClient({self.base_url!r})"

    def checked_url(self, relative_or_absolute: str) -> str | None:
        """The absolute URL to ask for, its dot segments resolved, or None when it is not under this
        fhirServer (see the module docstring for what is refused)."""
        # Only the part before "?" decides: a search such as ``code=http://loinc.org|29463-7``
        # carries "://" in its query string and is still relative.
        if "://" in relative_or_absolute.split("?", 1)[0]:
            url = relative_or_absolute
        else:
            url = self.base_url + "/" + relative_or_absolute.lstrip("/")
        split = _split(url)
        if split is None or split[1] != self.origin:
            return None
        parts = split[0]
        if any(lookalike in parts.path.lower() for lookalike in _SEPARATOR_LOOKALIKES):
            return None
        path = remove_dot_segments(parts.path)
        if path is None or not (path == self._base_path or path.startswith(self._base_path + "/")):
            return None
        return f"{parts.scheme}://{parts.netloc}{path}" + (f"?{parts.query}" if parts.query else "")

    def same_origin(self, url: str) -> bool:
        """True only for URLs under this fhirServer (same origin *and* base path, dot segments resolved)."""
        return self.checked_url(url) is not None

    def get_json(self, relative_or_absolute: str) -> Mapping[str, Any]:
        """GET a FHIR URL on this server; returns the parsed resource or raises FhirFetchError."""
        url = self.checked_url(relative_or_absolute)
        if url is None:
            raise FhirFetchError("refused a URL on another origin than fhirServer or outside its base path")
        headers = {"Accept": ACCEPT}
        if self._token:
            headers["Authorization"] = f"Bearer {self._token}"
        attempts = 2
        for attempt in range(attempts):
            if self.deadline.remaining() <= 0.05:
                raise FhirFetchError("deadline reached before the query could be made")
            started = time.perf_counter()
            status = "error"
            try:
                answer = bounded_get(url, headers=headers, deadline=self.deadline, timeout_s=self.settings.timeout_s,
                                     max_bytes=self.settings.max_response_bytes, pool_size=self.settings.pool_size)
                status = str(answer.status)
            except ExchangeError as exc:
                raise FhirFetchError(str(exc)) from None
            finally:
                if self._metrics is not None:
                    self._metrics.observe_fhir(time.perf_counter() - started, status)
            if answer.status in _RETRY_STATUSES and attempt + 1 < attempts:
                wait = _retry_after(answer.headers.get("Retry-After"))
                if wait + 0.1 < self.deadline.remaining():
                    time.sleep(wait)
                    continue
                raise FhirFetchError(f"HTTP {answer.status}, no time left to retry")
            if answer.status != 200:
                raise FhirFetchError(f"HTTP {answer.status}")
            try:
                parsed = orjson.loads(answer.body)
            except orjson.JSONDecodeError:
                raise FhirFetchError("response is not JSON") from None
            if not isinstance(parsed, dict) or not isinstance(parsed.get("resourceType"), str):
                raise FhirFetchError("response is not a FHIR resource")
            return parsed
        raise FhirFetchError("no attempt made")  # pragma: no cover - the loop returns or raises

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
