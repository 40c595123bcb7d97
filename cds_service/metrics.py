"""Prometheus metrics (the :class:`~cds_service.extensions.Metrics` protocol), safe under gunicorn.

Series (``<ns>`` is the namespace, ``igcds`` for igcds):

- ``<ns>_http_requests_total{endpoint, service, status}`` and
  ``<ns>_http_request_duration_seconds{endpoint, service}`` (histogram): every answered request;
  ``endpoint`` is the URL rule (``/cds-services/<service_id>``), never the raw path.
- ``<ns>_fhir_request_duration_seconds{status}`` (histogram) and ``<ns>_fhir_request_errors_total{status}``:
  each FHIR query the service made; ``status`` is the HTTP status or ``error`` (timeout, connection).
- ``<ns>_cards_total{service, rule, indicator}``: issued cards, silenced ones included.
- ``<ns>_feedback_total{service, outcome}``: feedback items received in valid bodies.
- ``<ns>_skipped_resources_total{service}``: FHIR resources skipped as unmappable.
- ``<ns>_audit_lost_calls_total{reason}``: calls whose card audit was lost (``queue_full``: the
  spool held ``[storage] audit_queue_max`` calls; ``write_failed``: it could not be spooled or the
  database refused its rows for good).
- ``<ns>_audit_pending_calls`` and ``<ns>_audit_spool_bytes`` (gauges, summed over live workers):
  card audit spooled on local disk, waiting for the database (grows during a database outage).
- ``<ns>_check_ok{check}`` (gauge, newest value): 1/0 per readiness check (``auth``) and degradation
  check (``storage``, ``audit``) at its last run: ``storage`` 0 means "degraded".
- ``<ns>_feedback_refused_items_total{service, reason}``: feedback items refused because their card
  is unknown (``unknown_card``) or was issued to another client (``other_client``).

Label values are bounded: service ids and rule ids come from the registry and the catalog, statuses
are HTTP codes. No patient data, ever.

Multiprocess mode: when ``PROMETHEUS_MULTIPROC_DIR`` is set (``igcds serve`` sets it to a fresh
directory under ``[server] data_dir`` before forking, see :func:`prepare_multiprocess_dir`), each
worker writes its samples to memory-mapped files there and ``/metrics`` (served by any worker)
aggregates all of them; gunicorn's ``child_exit`` hook calls :func:`mark_process_dead`. Without it
(tests, ``igcds evaluate``) the metrics live in a private registry of this process.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
    values,
)

ENV_VAR = "PROMETHEUS_MULTIPROC_DIR"

#: Request latency buckets, in seconds (CDS Hooks clients typically wait 5-10 s at most).
REQUEST_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0)
FHIR_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 4.0)
FEEDBACK_OUTCOMES = ("accepted", "overridden")
#: Why card audit rows were lost (``cds_service.audit_buffer.BufferedAudit`` ``on_lost``).
AUDIT_LOSS_REASONS = ("queue_full", "write_failed")
#: Why feedback items were refused (``cds_service.feedback.FeedbackHandler``).
FEEDBACK_REFUSALS = ("unknown_card", "other_client")


def multiprocess_dir() -> str | None:
    return os.environ.get(ENV_VAR) or None


def prepare_multiprocess_dir(data_dir: str | os.PathLike[str]) -> Path:
    """Create an empty ``<data_dir>/prometheus-multiproc`` and point ``PROMETHEUS_MULTIPROC_DIR`` at it.

    Called by the gunicorn master before it forks: samples of a previous run are discarded (one
    server per data directory), and every worker inherits the variable.
    """
    path = Path(data_dir).resolve() / "prometheus-multiproc"
    if path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True, mode=0o700)
    os.environ[ENV_VAR] = str(path)
    return path


def mark_process_dead(pid: int) -> None:
    """gunicorn ``child_exit``: drop a dead worker's live-gauge files (counters keep counting)."""
    path = multiprocess_dir()
    if path:
        multiprocess.mark_process_dead(pid, path)


class PrometheusMetrics:
    """prometheus-client implementation of the ``Metrics`` protocol.

    :param namespace: metric name prefix (``igcds``).
    :param services: service ids whose ``feedback`` and ``skipped resources`` series are created at
        zero up front, so that rates work from the first scrape.
    """

    def __init__(self, namespace: str = "cds", services: Iterable[str] = ()) -> None:
        self._multiproc_dir = multiprocess_dir()
        # prometheus_client picks its value class when it is first imported, which may have
        # happened before the variable was set (the gunicorn master imports the app first): pick
        # it again, for the metric objects created just below.
        values.ValueClass = values.MultiProcessValue() if self._multiproc_dir else values.MutexValue
        # The metric objects are registered in a private registry: a second app in one process
        # (tests, the master's fail-fast build) must not collide with the first one.
        self._own = CollectorRegistry(auto_describe=True)
        ns, reg = namespace, self._own
        self.requests = Counter(
            "http_requests",
            "HTTP requests answered",
            ["endpoint", "service", "status"],
            namespace=ns,
            registry=reg,
        )
        self.latency = Histogram(
            "http_request_duration_seconds",
            "HTTP request latency",
            ["endpoint", "service"],
            namespace=ns,
            registry=reg,
            buckets=REQUEST_BUCKETS,
        )
        self.fhir_latency = Histogram(
            "fhir_request_duration_seconds",
            "FHIR query latency (each attempt)",
            ["status"],
            namespace=ns,
            registry=reg,
            buckets=FHIR_BUCKETS,
        )
        self.fhir_errors = Counter(
            "fhir_request_errors",
            "FHIR queries that failed (non-200 or no answer)",
            ["status"],
            namespace=ns,
            registry=reg,
        )
        self.cards = Counter(
            "cards",
            "cards issued (silenced cards included)",
            ["service", "rule", "indicator"],
            namespace=ns,
            registry=reg,
        )
        self.feedback = Counter(
            "feedback", "feedback items received", ["service", "outcome"], namespace=ns, registry=reg
        )
        self.skipped = Counter(
            "skipped_resources",
            "FHIR resources skipped as unmappable",
            ["service"],
            namespace=ns,
            registry=reg,
        )
        self.audit_lost = Counter(
            "audit_lost_calls",
            "calls whose card audit rows were lost (queue full, or every write attempt failed)",
            ["reason"],
            namespace=ns,
            registry=reg,
        )
        for reason in AUDIT_LOSS_REASONS:
            self.audit_lost.labels(reason)
        # Gauges: the newest value of any live worker (checks), or the sum over live workers (spool).
        self.check_ok = Gauge(
            "check_ok",
            "1 when the readiness/degradation check passed at its last run, else 0 (auth, storage, audit)",
            ["check"],
            namespace=ns,
            registry=reg,
            multiprocess_mode="livemostrecent",
        )
        self.audit_pending = Gauge(
            "audit_pending_calls",
            "calls whose card audit is spooled on local disk, not yet in the database",
            namespace=ns,
            registry=reg,
            multiprocess_mode="livesum",
        )
        self.audit_spool_bytes = Gauge(
            "audit_spool_bytes",
            "bytes of card audit spooled on local disk, not yet in the database",
            namespace=ns,
            registry=reg,
            multiprocess_mode="livesum",
        )
        self.feedback_refused = Counter(
            "feedback_refused_items",
            "feedback items refused: unknown_card (no such card was issued) or other_client (the card "
            "was issued to another issuer or tenant)",
            ["service", "reason"],
            namespace=ns,
            registry=reg,
        )
        for service in services:
            self.skipped.labels(service)
            for refusal in FEEDBACK_REFUSALS:
                self.feedback_refused.labels(service, refusal)
            for outcome in FEEDBACK_OUTCOMES:
                self.feedback.labels(service, outcome)
        # The labelled children of the per-call series, by label values. ``labels()`` returns the
        # same child every time (prometheus-client keeps them), but finds it under a lock after
        # validating and converting the values; every answered request and every card would pay
        # for that. Label values are bounded (see the module docstring), and so are these maps.
        self._request_children: dict[tuple[str, str, int], tuple[Any, Any]] = {}
        self._card_children: dict[tuple[str, str, str], Any] = {}

    # -- Metrics protocol --

    def observe_request(self, endpoint: str, service: str, status: int, seconds: float) -> None:
        key = (endpoint, service, status)
        children = self._request_children.get(key)
        if children is None:
            children = (self.requests.labels(endpoint, service, str(status)),
                        self.latency.labels(endpoint, service))
            self._request_children[key] = children
        children[0].inc()
        children[1].observe(seconds)

    def observe_fhir(self, seconds: float, status: str) -> None:
        self.fhir_latency.labels(status).observe(seconds)
        if status != "200":
            self.fhir_errors.labels(status).inc()

    def count_card(self, service: str, rule: str, indicator: str) -> None:
        key = (service, rule, indicator)
        child = self._card_children.get(key)
        if child is None:
            child = self._card_children[key] = self.cards.labels(service, rule, indicator)
        child.inc()

    def count_feedback(self, service: str, outcome: str) -> None:
        self.feedback.labels(service, outcome).inc()

    def count_skipped(self, service: str, count: int) -> None:
        if count > 0:
            self.skipped.labels(service).inc(count)

    def count_audit_lost(self, reason: str, calls: int) -> None:
        """``BufferedAudit(on_lost=...)``: calls lost to the audit (an alert should watch this)."""
        if calls > 0 and reason in AUDIT_LOSS_REASONS:
            self.audit_lost.labels(reason).inc(calls)

    def observe_check(self, check: str, ok: bool) -> None:
        self.check_ok.labels(check).set(1 if ok else 0)

    def count_feedback_refused(self, service: str, reason: str, items: int) -> None:
        if items > 0 and reason in FEEDBACK_REFUSALS:
            self.feedback_refused.labels(service, reason).inc(items)

    def observe_audit_spool(self, calls: int, size: int, ok: bool) -> None:
        """``BufferedAudit(on_spool=...)``: what this worker holds on disk for the database, and
        whether its last write reached the database (``check_ok{check="audit"}``)."""
        self.audit_pending.set(calls)
        self.audit_spool_bytes.set(size)
        self.observe_check("audit", ok)

    def exposition(self) -> tuple[bytes, str]:
        if self._multiproc_dir:
            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry, path=self._multiproc_dir)
            return generate_latest(registry), CONTENT_TYPE_LATEST
        return generate_latest(self._own), CONTENT_TYPE_LATEST
