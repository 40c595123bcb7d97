"""Prefetch resolution, per CDS Hooks 2.0 "Prefetch Template" (docs/conformance.md §3.2).

For each prefetch key a service declares:

* present with a resource or Bundle: used as is; a searchset with a ``next`` link is paged
  through (bounded by ``[fhir] max_pages``) when the service marked the key ``paged``;
* present as ``null``: the client has no data; definitive, never fetched (P4);
* present as an OperationOutcome (or a Bundle holding only one): "not available" from the
  client; fetched from ``fhirServer`` if we can, otherwise unavailable (P5);
* missing: fetched from ``fhirServer`` with the ``fhirAuthorization`` token (P3, P7), all
  missing keys in parallel under one deadline.

A *required* key that ends up unavailable answers 412 naming the key (P8). An optional key that
ends up unavailable is reported to the handler in ``HookRequest.unavailable`` so rules that
depend on it stay quiet rather than report "missing" data the client never sent.

Fetches run on one *lane* per FHIR origin (a bulkhead): its own threads, at most ``[fhir]
max_parallel_per_origin`` queries in flight. A slow or hostile FHIR server can only fill its own lane, so
the clients of other FHIR servers never wait behind it (issue 15 finding 3); a fetch its lane has no room
for is not queued but refused at once, the key unavailable (412 if required) with a reason saying so.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any

from .errors import PrefetchUnavailable
from .fhir_client import FhirClient, FhirFetchError, Origin
from .registry import TOKEN_PATTERN, USER_TOKENS, Prefetch, ServiceDefinition

log = logging.getLogger("igcds.prefetch")


class _Lane:
    """The fetch threads of one FHIR origin: at most ``limit`` jobs at once, the rest refused, never queued."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._slots = threading.BoundedSemaphore(limit)
        self._executor = ThreadPoolExecutor(max_workers=limit, thread_name_prefix="fhir")

    def submit(self, job: Callable[[], Any]) -> Future[Any] | None:
        """The running job, or None when the lane is full (no thread is waited for)."""
        if not self._slots.acquire(blocking=False):
            return None

        def run() -> Any:
            try:
                return job()
            finally:
                self._slots.release()

        try:
            return self._executor.submit(run)
        except RuntimeError:  # interpreter shutting down
            self._slots.release()
            return None


_lanes_lock = threading.Lock()
_lanes: dict[tuple[Origin, int], _Lane] = {}
_lanes_pid = os.getpid()


def _lane(origin: Origin, limit: int) -> _Lane:
    """This process's lane for ``origin``. Origins are bounded by configuration: only allowlisted
    ``fhirServer`` values get a FhirClient, and every URL it fetches is under that server."""
    global _lanes_pid
    with _lanes_lock:
        if _lanes_pid != os.getpid():  # a forked worker starts with no threads of its parent
            _lanes.clear()
            _lanes_pid = os.getpid()
        lane = _lanes.get((origin, limit))
        if lane is None:
            lane = _lanes[(origin, limit)] = _Lane(limit)
        return lane


class TemplateError(ValueError):
    """A template token that this request cannot fill (e.g. ``userPractitionerId`` for a nurse)."""


def render_template(template: str, context: Mapping[str, Any]) -> str:
    """Fill ``{{context.x}}`` and user tokens from the request context (pure; docs/conformance.md §3.3)."""
    return TOKEN_PATTERN.sub(lambda m: _token_value(m.group(1), context), template)


def _token_value(token: str, context: Mapping[str, Any]) -> str:
    if token.startswith("context."):
        name = token[len("context."):]
        value = context.get(name)
        if not isinstance(value, (str, int)) or isinstance(value, bool) or value == "":
            raise TemplateError(f"context.{name} is not in the request context")
        return str(value)
    if token in USER_TOKENS:
        wanted = token[len("user"):-len("Id")]  # Practitioner, PractitionerRole, Patient, RelatedPerson
        user = context.get("userId")
        if isinstance(user, str) and "/" in user:
            kind, _, ident = user.partition("/")
            if kind == wanted and ident:
                return ident
        raise TemplateError(f"{token} does not apply to this user")
    raise TemplateError(f"unknown token {token}")


def _is_mapping(value: Any) -> bool:
    # ``type() is dict`` first: parsed JSON is made of dicts, and the ABC check costs several times more.
    return type(value) is dict or isinstance(value, Mapping)


def is_operation_outcome(value: Any) -> bool:
    """An OperationOutcome, or a Bundle whose entries (the JSON objects among them) all hold one
    (and at least one does). A searchset of data is told apart at its first entry."""
    if not _is_mapping(value):
        return False
    kind = value.get("resourceType")
    if kind == "OperationOutcome":
        return True
    if kind != "Bundle":
        return False
    seen = False
    for entry in _entries(value):
        if not _is_mapping(entry):
            continue
        resource = entry.get("resource")
        if not _is_mapping(resource) or resource.get("resourceType") != "OperationOutcome":
            return False
        seen = True
    return seen


def _entries(bundle: Mapping[str, Any]) -> list[Any]:
    """``bundle.entry`` when it is a JSON array, else no entries (a client may send anything)."""
    entries = bundle.get("entry")
    return entries if isinstance(entries, list) else []


def next_link(bundle: Mapping[str, Any]) -> str | None:
    links = bundle.get("link")
    if not isinstance(links, list):
        return None
    for link in links:
        if isinstance(link, Mapping) and link.get("relation") == "next":
            url = link.get("url")
            if isinstance(url, str):
                return url
    return None


@dataclass
class Resolution:
    data: dict[str, Any] = field(default_factory=dict)
    unavailable: set[str] = field(default_factory=set)
    #: Key -> short reason (no PHI, no token), for logs and the 412 body.
    reasons: dict[str, str] = field(default_factory=dict)
    fetched: int = 0
    pages_followed: int = 0


def resolve_prefetch(
    service: ServiceDefinition,
    context: Mapping[str, Any],
    supplied: Mapping[str, Any] | None,
    client: FhirClient | None,
    *,
    max_pages: int,
    no_client_reason: str = "no fhirServer in the request",
) -> Resolution:
    """Work out every prefetch key's data; raise :class:`PrefetchUnavailable` for required keys."""
    supplied = supplied or {}
    res = Resolution()
    to_fetch: dict[str, str] = {}
    to_page: dict[str, Mapping[str, Any]] = {}
    for key, spec in service.prefetch.items():
        if key in supplied:
            value = supplied[key]
            if value is None:
                res.data[key] = None
                continue
            if not is_operation_outcome(value):
                if spec.paged and _is_mapping(value) and next_link(value):
                    to_page[key] = value
                else:
                    res.data[key] = value
                continue
            res.reasons[key] = "the client returned an OperationOutcome"
        try:
            to_fetch[key] = render_template(spec.template, context)
        except TemplateError as exc:
            res.reasons[key] = str(exc)
            res.unavailable.add(key)
    if to_fetch or to_page:
        if client is None:
            for key in list(to_fetch) + list(to_page):
                if key in to_page:  # keep the first page we were given
                    res.data[key] = to_page[key]
                    continue
                res.reasons[key] = res.reasons.get(key) or no_client_reason
                res.unavailable.add(key)
        else:
            _fetch_all(service.prefetch, to_fetch, to_page, client, max_pages, res)
    missing_required = sorted(k for k in res.unavailable if service.prefetch[k].required)
    if missing_required:
        raise PrefetchUnavailable(
            "required prefetch data is neither prefetched nor obtainable from fhirServer: "
            + ", ".join(missing_required),
            details={"keys": {k: res.reasons.get(k, "unavailable") for k in missing_required}},
        )
    return res


def _fetch_all(
    specs: Mapping[str, Prefetch],
    to_fetch: Mapping[str, str],
    to_page: Mapping[str, Mapping[str, Any]],
    client: FhirClient,
    max_pages: int,
    res: Resolution,
) -> None:
    jobs: dict[str, Callable[[], Any]] = {}
    for key, query in to_fetch.items():
        jobs[key] = _job_fetch(client, query, specs[key].paged, max_pages)
    for key, first in to_page.items():
        jobs[key] = _job_page(client, first, max_pages)
    lane = _lane(client.origin, client.settings.max_parallel_per_origin)
    futures: dict[str, Future[Any]] = {}
    for key, job in jobs.items():
        future = lane.submit(job)
        if future is None:
            _unavailable(key, f"fhirServer busy: [fhir] max_parallel_per_origin ({lane.limit}) queries "
                              "already in flight to it", to_page, res)
        else:
            futures[key] = future
    if len(futures) < len(jobs):
        log.warning("FHIR fetches refused: this fhirServer's lane is full", extra={
            "event": "fhir_origin_busy", "count": len(jobs) - len(futures),
            "reason": f"[fhir] max_parallel_per_origin = {lane.limit}"})
    wait(list(futures.values()), timeout=client.deadline.remaining() + 0.2)
    for key, future in futures.items():
        if not future.done():
            future.cancel()
            _unavailable(key, "deadline reached", to_page, res)
            continue
        try:
            value, pages = future.result()
        except FhirFetchError as exc:  # partial data beats none: a paged key keeps what the client sent
            _unavailable(key, f"fetch failed: {exc}", to_page, res)
            continue
        except Exception:  # a bug in paging must not become a 500; log and degrade
            log.exception("prefetch fetch crashed", extra={"event": "prefetch_crash", "key": key})
            _unavailable(key, "fetch failed", to_page, res)
            continue
        if is_operation_outcome(value):
            res.reasons[key] = "the FHIR server returned an OperationOutcome"
            res.unavailable.add(key)
            continue
        res.data[key] = value
        res.fetched += key in to_fetch
        res.pages_followed += pages


def _unavailable(key: str, reason: str, to_page: Mapping[str, Mapping[str, Any]], res: Resolution) -> None:
    """A key whose fetch gave nothing: a paged key keeps the first page the client sent, others are gone."""
    res.reasons[key] = reason
    if key in to_page:
        res.data[key] = to_page[key]
    else:
        res.unavailable.add(key)


def _job_fetch(client: FhirClient, query: str, paged: bool, max_pages: int) -> Callable[[], Any]:
    def run() -> tuple[Mapping[str, Any], int]:
        first = client.get_json(query)
        if paged and first.get("resourceType") == "Bundle" and next_link(first):
            return _follow(client, first, max_pages)
        return first, 0

    return run


def _job_page(client: FhirClient, first: Mapping[str, Any], max_pages: int) -> Callable[[], Any]:
    return lambda: _follow(client, first, max_pages)


def _follow(client: FhirClient, first: Mapping[str, Any], max_pages: int) -> tuple[dict[str, Any], int]:
    """Merge a searchset's pages into one Bundle; stop at ``max_pages`` pages in all."""
    merged = dict(first)
    entries = list(_entries(first))
    url = next_link(first)
    pages = 1
    seen: set[str] = set()
    while url and pages < max_pages and url not in seen:
        seen.add(url)
        if not client.same_origin(url):  # another origin, dot segments out of fhirServer, a bad port...
            log.warning("refused a next link outside fhirServer", extra={"event": "next_link_refused"})
            break
        if client.deadline.remaining() < 0.1:
            break
        try:
            page = client.get_json(url)
        except FhirFetchError as exc:
            log.info("paging stopped", extra={"event": "paging_stopped", "reason": str(exc)})
            break
        if page.get("resourceType") != "Bundle":
            break
        entries.extend(_entries(page))
        url = next_link(page)
        pages += 1
    merged["entry"] = entries
    merged["link"] = [link for link in first.get("link") or [] if isinstance(link, Mapping)
                      and link.get("relation") != "next"]
    if not merged["link"]:
        del merged["link"]
    return merged, pages - 1
