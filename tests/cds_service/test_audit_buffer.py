"""cds_service.audit_buffer: card audit queued in memory and written in batches, on real databases.

Timing is never asserted precisely: a write that should happen "soon" is waited for with a bounded
poll, and a write that must *not* happen yet is made impossible by a flush interval of minutes.
"""

from __future__ import annotations

import gc
import hashlib
import hmac
import logging
import os
import secrets
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from cds_service.audit_buffer import BufferedAudit, close_all
from cds_service.cards import Card, Coding, Indicator, Source
from cds_service.config import load_config
from cds_service.extensions import CallRecord, IssuedCard
from cds_service.storage import Store

SALT = b"s" * 64
NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
NEVER = 600.0  # a flush interval no test waits for: only max_batch, flush() or close() write
WAIT_S = 10.0

Buffers = Callable[..., BufferedAudit]


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/igcds.db"
    else:  # a fresh schema in the session's PostgreSQL database (as in test_storage.py)
        import psycopg

        server = request.getfixturevalue("postgres_server")
        name = f"t_{secrets.token_hex(6)}"
        with psycopg.connect(server.conninfo(), autocommit=True) as conn:
            conn.execute(f"CREATE SCHEMA {name}")
        yield f"{request.getfixturevalue('postgres_url')}?options=-csearch_path%3D{name}"
    gc.collect()


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(f"sqlite:///{tmp_path}/igcds.db", salt=SALT)


@pytest.fixture
def buffers() -> Iterator[Buffers]:
    """Make buffers that are closed (thread stopped) when the test ends."""
    made: list[BufferedAudit] = []

    def make(writer: Any, **kwargs: Any) -> BufferedAudit:
        kwargs.setdefault("flush_interval", NEVER)
        buffer = BufferedAudit(writer, **kwargs)
        made.append(buffer)
        return buffer

    yield make
    for buffer in made:
        buffer.close(timeout=5)


@pytest.fixture
def audit_log(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """caplog for ``igcds.audit``, whether or not the ``igcds`` logger propagates to the root
    (it stops once an app has configured production logging)."""
    logger = logging.getLogger("igcds.audit")
    saved = logger.level, logger.propagate
    logger.addHandler(caplog.handler)
    logger.setLevel(logging.WARNING)
    logger.propagate = False  # each record captured once
    try:
        yield caplog
    finally:
        logger.removeHandler(caplog.handler)
        logger.setLevel(saved[0])
        logger.propagate = saved[1]


def card(rule: str = "rule-a") -> Card:
    return Card(
        summary=f"{rule} fired",
        indicator=Indicator.WARNING,
        source=Source("test", topic=Coding("https://example.org/rules", rule, rule)),
    )


def call(*cards: Card, patient: str | None = "patient-123") -> CallRecord:
    return CallRecord(
        service_id="svc",
        hook="patient-view",
        hook_instance=secrets.token_hex(8),
        patient_id=patient,
        at=NOW,
        cards=[IssuedCard(c, True) for c in (cards or (card(), card("rule-b")))],
    )


def uuids(*records: CallRecord) -> set[str]:
    return {issued.card.uuid for record in records for issued in record.cards}


def written(store: Store) -> set[str]:
    return {row["card_uuid"] for row in store.issued()}


def wait_until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while not condition():
        assert time.monotonic() < deadline, f"{what} did not happen within {WAIT_S} s"
        time.sleep(0.02)


class Spy:
    """A writer that counts batches and fails on demand, in front of a real store."""

    def __init__(self, store: Store, failures: int = 0, message: str = "") -> None:
        self.store = store
        self.failures = failures
        self.message = message
        self.batches: list[int] = []
        self.attempts = 0

    def record_calls(self, records: Sequence[CallRecord]) -> None:
        self.attempts += 1
        if self.failures:
            self.failures -= 1
            raise sa.exc.OperationalError("INSERT ...", {"patient": self.message}, Exception(self.message))
        self.store.record_calls(records)
        self.batches.append(len(records))


class TestBatching:
    def test_queued_calls_are_one_transaction(self, db_url: str, buffers: Buffers) -> None:
        store = Store(db_url, salt=SALT)
        spy = Spy(store)
        buffer = buffers(spy)
        commits: list[int] = []
        sa.event.listen(store.engine, "commit", lambda conn: commits.append(1))
        records = [call() for _ in range(50)]
        for record in records:
            buffer.record_call(record)
        assert written(store) == set(), "nothing is written in the call"
        assert buffer.flush(timeout=WAIT_S)
        assert spy.batches == [50] and len(commits) == 1
        assert written(store) == uuids(*records)
        assert (buffer.written, buffer.queued(), buffer.dropped, buffer.failed) == (50, 0, 0, 0)

    def test_the_same_card_twice_is_one_row(self, db_url: str, buffers: Buffers) -> None:
        store = Store(db_url, salt=SALT)
        buffer = buffers(store)
        record = call()
        buffer.record_call(record)
        buffer.record_call(record)  # in one batch
        buffer.flush()
        buffer.record_call(record)  # and again in a later one
        buffer.flush()
        assert sorted(r["card_uuid"] for r in store.issued()) == sorted(uuids(record))

    def test_rows_carry_the_salted_patient_hash_not_the_id(
        self, store: Store, buffers: Buffers
    ) -> None:
        buffer = buffers(store)
        buffer.record_call(call(card(), patient="patient-123"))
        buffer.record_call(call(card(), patient=None))
        buffer.flush()
        expected = hmac.new(SALT, b"patient-123", hashlib.sha256).hexdigest()
        assert sorted((r["patient_hash"] or "") for r in store.issued()) == ["", expected]
        assert "patient-123" not in repr(store.issued())

    def test_written_after_the_interval_without_a_flush(
        self, store: Store, buffers: Buffers
    ) -> None:
        buffer = buffers(store, flush_interval=0.05)
        first = call()
        buffer.record_call(first)
        wait_until(lambda: written(store) == uuids(first), "the timed flush")
        second = call()  # the thread waits for the next call and flushes it too
        buffer.record_call(second)
        wait_until(lambda: written(store) == uuids(first, second), "the second timed flush")

    def test_a_full_batch_is_written_before_the_interval(
        self, store: Store, buffers: Buffers
    ) -> None:
        spy = Spy(store)
        buffer = buffers(spy, max_batch=10)
        records = [call() for _ in range(10)]
        for record in records:
            buffer.record_call(record)
        wait_until(lambda: written(store) == uuids(*records), "the max_batch flush")
        assert spy.batches == [10]


    def test_concurrent_callers_lose_nothing(self, store: Store, buffers: Buffers) -> None:
        spy = Spy(store)
        buffer = buffers(spy, flush_interval=0.005, max_batch=25)
        records = [call(card()) for _ in range(800)]

        def post(share: list[CallRecord]) -> None:
            for record in share:
                buffer.record_call(record)

        threads = [threading.Thread(target=post, args=(records[i::8],)) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert buffer.close(timeout=WAIT_S)
        assert written(store) == uuids(*records)
        assert sum(spy.batches) == buffer.written == 800 and len(spy.batches) > 1


class TestLimits:
    def test_a_full_queue_drops_new_calls_and_counts_them(
        self, store: Store, buffers: Buffers, audit_log: pytest.LogCaptureFixture
    ) -> None:
        buffer = buffers(store, queue_max=3)
        records = [call() for _ in range(8)]
        for record in records:
            buffer.record_call(record)  # never raises, never blocks
        assert (buffer.queued(), buffer.dropped) == (3, 5)
        warnings = [r for r in audit_log.records if r.message == "audit queue full; cards dropped"]
        assert len(warnings) == 1, "rate-limited: one warning, not one per dropped call"
        assert warnings[0].__dict__["count"] == 1
        buffer.flush()
        assert written(store) == uuids(*records[:3]), "the oldest calls are kept, the new ones dropped"
        assert buffer.readiness() == {"ok": True, "queued": 0, "written": 3, "dropped": 5, "failed": 0}

    def test_a_failed_write_is_retried(
        self, store: Store, buffers: Buffers, audit_log: pytest.LogCaptureFixture
    ) -> None:
        spy = Spy(store, failures=2, message="patient-123 in the driver's message")
        buffer = buffers(spy, retry_delays=(0.01, 0.01, 0.01))
        record = call()
        buffer.record_call(record)
        assert buffer.flush(timeout=WAIT_S)
        assert spy.attempts == 3 and written(store) == uuids(record)
        assert (buffer.written, buffer.failed) == (1, 0)
        failures = [r for r in audit_log.records if r.message == "audit flush failed"]
        assert len(failures) == 2 and all(r.levelno == logging.WARNING for r in failures)
        assert failures[0].__dict__["error"] == "OperationalError"
        assert "patient-123" not in audit_log.text and all(r.exc_info is None for r in failures)

    def test_a_batch_that_keeps_failing_is_dropped_and_counted(
        self, store: Store, buffers: Buffers, audit_log: pytest.LogCaptureFixture
    ) -> None:
        spy = Spy(store, failures=100, message="patient-123")
        buffer = buffers(spy, max_batch=2, retry_delays=(0.01, 0.01))
        lost = [call(), call()]
        for record in lost:  # the second one completes a batch: the thread writes it
            buffer.record_call(record)  # the caller never sees the failure
        wait_until(lambda: buffer.failed == 2, "giving up on the batch")
        assert spy.attempts == 3 and written(store) == set()
        levels = [r.levelname for r in audit_log.records if r.message == "audit flush failed"]
        assert levels == ["WARNING", "WARNING", "ERROR"]
        assert "patient-123" not in audit_log.text
        spy.failures = 0  # the database is back: the same thread writes the next batch
        kept = [call(), call()]
        for record in kept:
            buffer.record_call(record)
        wait_until(lambda: written(store) == uuids(*kept), "the next batch")
        assert (buffer.written, buffer.failed) == (2, 2)

    def test_lost_calls_are_reported_with_their_reason(self, store: Store, buffers: Buffers) -> None:
        reports: list[tuple[str, int]] = []
        spy = Spy(store, failures=100)
        full = buffers(store, queue_max=1, on_lost=lambda reason, n: reports.append((reason, n)))
        for _ in range(3):
            full.record_call(call())
        assert reports == [("queue_full", 1), ("queue_full", 1)]
        reports.clear()
        failing = buffers(spy, max_batch=2, retry_delays=(0.01,),
                          on_lost=lambda reason, n: reports.append((reason, n)))
        failing.record_call(call())
        failing.record_call(call())
        wait_until(lambda: failing.failed == 2, "giving up on the batch")
        assert reports == [("write_failed", 2)]

    def test_a_broken_loss_hook_breaks_nothing(
        self, store: Store, buffers: Buffers, audit_log: pytest.LogCaptureFixture
    ) -> None:
        def broken(reason: str, calls: int) -> None:
            raise RuntimeError("metrics backend gone")

        buffer = buffers(store, queue_max=1, on_lost=broken)
        kept, lost = call(), call()
        buffer.record_call(kept)
        buffer.record_call(lost)  # dropped; the hook raises; the caller never sees it
        assert buffer.dropped == 1 and buffer.flush(timeout=WAIT_S)
        assert written(store) == uuids(kept)
        assert any(r.message == "audit loss report failed" for r in audit_log.records)

    def test_a_flush_gives_up_at_its_timeout(self, store: Store, buffers: Buffers) -> None:
        release = threading.Event()

        class Stuck:
            def record_calls(self, records: Sequence[CallRecord]) -> None:
                release.wait(WAIT_S)
                store.record_calls(records)

        buffer = buffers(Stuck(), max_batch=1)
        buffer.record_call(call())  # the thread takes it and hangs in the write
        wait_until(lambda: buffer.queued() == 0, "the thread taking the batch")
        started = time.monotonic()
        assert buffer.flush(timeout=0.1) is False
        assert time.monotonic() - started < WAIT_S
        release.set()
        assert buffer.flush(timeout=WAIT_S) is True
        assert len(written(store)) == 2


class TestLifecycle:
    def test_close_writes_what_is_queued_and_stops_the_thread(
        self, store: Store, buffers: Buffers
    ) -> None:
        buffer = buffers(store)
        queued = call()
        buffer.record_call(queued)
        thread = buffer._thread
        assert thread is not None and thread.is_alive() and thread.daemon
        assert buffer.close(timeout=WAIT_S)
        assert written(store) == uuids(queued)
        assert not thread.is_alive() and buffer._thread is None
        late = call()  # after close (shutdown), a call is written in the caller
        buffer.record_call(late)
        assert written(store) == uuids(queued, late)

    def test_close_all_flushes_every_buffer_of_the_process(self, tmp_path: Path) -> None:
        stores = [Store(f"sqlite:///{tmp_path}/{i}.db", salt=SALT) for i in range(2)]
        buffers = [BufferedAudit(s, flush_interval=NEVER) for s in stores]
        records = [call(), call()]
        for buffer, record in zip(buffers, records, strict=True):
            buffer.record_call(record)
        close_all(timeout=WAIT_S)
        assert [written(s) for s in stores] == [uuids(r) for r in records]

    def test_a_forked_child_gets_its_own_queue_and_thread(self, tmp_path: Path) -> None:
        store = Store(f"sqlite:///{tmp_path}/f.db", salt=SALT)
        buffer = BufferedAudit(store, flush_interval=NEVER)
        in_parent = call(card("parent"))
        buffer.record_call(in_parent)  # queued in the parent (and its thread started) at fork time
        parent_thread = buffer._thread
        assert buffer.queued() == 1 and parent_thread is not None
        in_child = call(card("child"))
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                fresh = buffer.queued() == 0 and buffer._thread is None
                buffer.flush_interval = 0.02
                buffer.record_call(in_child)
                child_thread = buffer._thread
                deadline = time.monotonic() + WAIT_S  # written by the child's own thread, no flush()
                while written(store) != uuids(in_child) and time.monotonic() < deadline:
                    time.sleep(0.02)
                if fresh and child_thread not in (None, parent_thread) and written(store) == uuids(in_child):
                    code = 0
            finally:
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        assert written(store) == uuids(in_child), "the child never writes the parent's queue"
        assert buffer._thread is parent_thread and buffer.queued() == 1
        buffer.close(timeout=WAIT_S)
        assert written(store) == uuids(in_parent, in_child)

    def test_rejects_a_zero_interval(self, store: Store) -> None:
        with pytest.raises(ValueError, match="flush_interval"):
            BufferedAudit(store, flush_interval=0)


class TestConfiguration:
    """The keys themselves (defaults, environment, errors naming the key) are in test_config.py."""

    def test_from_config(self, store: Store) -> None:
        storage = {"audit_flush_ms": 50, "audit_queue_max": 7}
        config = load_config(None, environ={}, overrides={"storage": storage})
        buffer = BufferedAudit.from_config(store, config)
        assert (buffer.flush_interval, buffer.queue_max) == (0.05, 7)


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """``build_app`` configures the ``igcds`` logger for production (own handler, no propagation to
    the root, where caplog listens): put it back as it was for the tests that follow."""
    logger = logging.getLogger("igcds")
    saved = list(logger.handlers), logger.propagate, logger.level, dict(logger.__dict__)
    yield
    logger.handlers[:] = saved[0]
    logger.propagate = saved[1]
    logger.setLevel(saved[2])
    if "_igcds_configured" not in saved[3]:
        logger.__dict__.pop("_igcds_configured", None)


@pytest.mark.usefixtures("restore_logging")
class TestApplication:
    """``hooks.app.build_app`` wires the buffer in front of the store unless ``audit_flush_ms = 0``."""

    def app(self, tmp_path: Path, **storage: Any) -> Any:
        from hooks.app import build_app, load

        config = load(None, {
            "dev": True,
            "server": {"data_dir": str(tmp_path)},
            "storage": {"url": f"sqlite:///{tmp_path}/igcds.db", **storage},
        })
        return build_app(config)

    def post(self, app: Any, body: dict[str, Any]) -> set[str]:
        response = app.test_client().post("/cds-services/ig-patient-view", json=body)
        assert response.status_code == 200, response.get_data(as_text=True)
        cards = {c["uuid"] for c in response.get_json()["cards"]}
        assert cards, "the scenario should produce cards"
        return cards

    def test_zero_flush_ms_writes_in_the_call(
        self, tmp_path: Path, cds_request: Callable[[str, str], dict[str, Any]]
    ) -> None:
        app = self.app(tmp_path, audit_flush_ms=0)
        audit = app.extensions["cds_service"].runner.audit
        assert isinstance(audit, Store)
        cards = self.post(app, cds_request("ig-patient-view", "higm-xl-adult"))
        assert written(audit) >= cards

    def test_default_queues_and_reports_the_queue(
        self, tmp_path: Path, cds_request: Callable[[str, str], dict[str, Any]]
    ) -> None:
        app = self.app(tmp_path, audit_flush_ms=600_000)
        audit = app.extensions["cds_service"].runner.audit
        try:
            assert isinstance(audit, BufferedAudit) and audit.flush_interval == 600
            cards = self.post(app, cds_request("ig-patient-view", "higm-xl-adult"))
            assert app.test_client().get("/readyz").get_json()["checks"]["audit"]["queued"] == 1
            assert audit.flush(timeout=WAIT_S)
            assert written(audit.writer) >= cards  # type: ignore[arg-type]
            assert audit.on_lost is not None, "losses must reach the metrics"
            audit.on_lost("queue_full", 2)
            exposition = app.test_client().get("/metrics").get_data(as_text=True)
            assert 'igcds_audit_lost_calls_total{reason="queue_full"} 2.0' in exposition
        finally:
            audit.close(timeout=5)
