"""cds_service.audit_buffer: card audit spooled on local disk and written in batches, on real databases.

Timing is never asserted precisely: a write that should happen "soon" is waited for with a bounded
poll, and a write that must *not* happen yet is made impossible by a flush interval of minutes. A
database "outage" is a writer that raises the driver's OperationalError before reaching the real
store (tests/integration/test_cluster.py stops a real PostgreSQL for 10 s).
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

from cds_service import audit_spool
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
def spool_dir(tmp_path: Path) -> Path:
    return tmp_path / "audit-spool"


@pytest.fixture
def buffers(spool_dir: Path) -> Iterator[Buffers]:
    """Make buffers (spooling in ``spool_dir`` unless told otherwise) closed when the test ends."""
    made: list[BufferedAudit] = []

    def make(writer: Any, **kwargs: Any) -> BufferedAudit:
        kwargs.setdefault("flush_interval", NEVER)
        kwargs.setdefault("spool_dir", spool_dir)
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


def call(*cards: Card, patient: str | None = "patient-123", issuer: str | None = None) -> CallRecord:
    return CallRecord(
        service_id="svc",
        hook="patient-view",
        hook_instance=secrets.token_hex(8),
        patient_id=patient,
        at=NOW,
        cards=[IssuedCard(c, True) for c in (cards or (card(), card("rule-b")))],
        issuer=issuer,
        tenant="t1" if issuer else None,
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


def spooled_files(directory: Path) -> list[Path]:
    return sorted(directory.glob("*.jsonl"))


class Spy:
    """A writer in front of a real store that counts batches (in calls) and fails on demand, the
    way a database outage does (the driver's OperationalError)."""

    def __init__(self, store: Store, failures: int = 0, message: str = "") -> None:
        self.store = store
        self.failures = failures
        self.message = message
        self.batches: list[int] = []
        self.attempts = 0

    def audit_rows(self, record: CallRecord) -> list[dict[str, Any]]:
        return self.store.audit_rows(record)

    def write_audit_rows(self, rows: Sequence[dict[str, Any]]) -> None:
        self.attempts += 1
        if self.failures:
            self.failures -= 1
            raise sa.exc.OperationalError("INSERT ...", {"patient": self.message}, Exception(self.message))
        self.store.write_audit_rows(rows)
        self.batches.append(len({(r["hook_instance"]) for r in rows}))


class TestBatching:
    def test_spooled_calls_are_one_transaction(self, db_url: str, buffers: Buffers) -> None:
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

    def test_rows_carry_the_salted_patient_hash_and_the_client_not_the_id(
        self, store: Store, buffers: Buffers, spool_dir: Path
    ) -> None:
        buffer = buffers(store)
        buffer.record_call(call(card(), patient="patient-123", issuer="https://ehr.example.org"))
        buffer.record_call(call(card(), patient=None))
        on_disk = b"".join(p.read_bytes() for p in spooled_files(spool_dir))
        assert on_disk.count(b"\n") == 2 and b"patient-123" not in on_disk, "hashed before it is spooled"
        buffer.flush()
        expected = hmac.new(SALT, b"patient-123", hashlib.sha256).hexdigest()
        rows = store.issued()
        assert sorted((r["patient_hash"] or "") for r in rows) == ["", expected]
        assert sorted((r["issuer"] or "", r["tenant"] or "") for r in rows) == [
            ("", ""), ("https://ehr.example.org", "t1")]
        assert "patient-123" not in repr(rows)
        assert spooled_files(spool_dir) == [], "a written segment is deleted"

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

    def test_cards_not_yet_written_are_found_by_owner(self, store: Store, buffers: Buffers) -> None:
        buffer = buffers(store)
        record = call(issuer="https://ehr.example.org")
        buffer.record_call(record)
        owners = buffer.card_owners(uuids(record) | {"made-up"})
        assert set(owners) == uuids(record)
        assert {(o.service_id, o.issuer, o.tenant) for o in owners.values()} == {
            ("svc", "https://ehr.example.org", "t1")}
        buffer.flush()
        assert buffer.card_owners(uuids(record)) == {}, "written cards are the database's to answer"
        assert set(store.card_owners(uuids(record))) == uuids(record)


    def test_the_pending_card_index_is_bounded(
        self, store: Store, buffers: Buffers, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A long outage spools calls on disk, not their card ids in memory: beyond the bound, cards
        are found by the database once written (feedback waits or says "retry later")."""
        from cds_service import audit_buffer

        monkeypatch.setattr(audit_buffer, "PENDING_INDEX_MAX", 2)
        buffer = buffers(store)
        first, second = call(), call()  # two cards each
        buffer.record_call(first)
        buffer.record_call(second)
        assert set(buffer.card_owners(uuids(first, second))) == uuids(first)
        assert buffer.spool.current is not None and set(buffer.spool.current.card_uuids) == uuids(first)
        assert buffer.flush(timeout=WAIT_S) and written(store) == uuids(first, second)


class TestDatabaseOutage:
    def test_calls_during_an_outage_are_spooled_and_written_when_it_ends(
        self, store: Store, buffers: Buffers, spool_dir: Path, audit_log: pytest.LogCaptureFixture
    ) -> None:
        spy = Spy(store, failures=10**6, message="patient-123 in the driver's message")
        lost: list[tuple[str, int]] = []
        spooled: list[tuple[int, int]] = []
        buffer = buffers(spy, flush_interval=0.01, retry_delays=(0.01, 0.05),
                         on_lost=lambda r, n: lost.append((r, n)), on_spool=lambda c, b, ok: spooled.append((c, b)))
        records = [call() for _ in range(300)]
        for record in records[:150]:
            buffer.record_call(record)
        wait_until(lambda: spy.attempts >= 5, "several failed attempts")
        for record in records[150:]:  # the outage goes on: calls keep being answered and spooled
            buffer.record_call(record)
        readiness = buffer.readiness()
        assert readiness["ok"] is False and readiness["error"] == "OperationalError"
        assert readiness["queued"] == 300 and readiness["spool_bytes"] > 0
        assert written(store) == set() and spooled_files(spool_dir)
        assert spooled and spooled[-1][0] > 0, "the spool is metered while it grows"
        spy.failures = 0  # the database is back
        wait_until(lambda: written(store) == uuids(*records), "the spool drained")
        assert lost == [] and (buffer.failed, buffer.dropped) == (0, 0)
        wait_until(lambda: buffer.readiness()["ok"] and spooled_files(spool_dir) == [], "the spool emptied")
        assert spooled[-1] == (0, 0)
        failures = [r for r in audit_log.records if r.message.startswith("audit flush failed")]
        assert len(failures) == 1, "one warning per outage, not one per retry"
        assert failures[0].__dict__["error"] == "OperationalError" and failures[0].exc_info is None
        assert "patient-123" not in audit_log.text
        assert any(r.message.startswith("audit database available again") for r in audit_log.records)

    def test_a_failed_flush_retries_until_its_timeout_and_keeps_the_calls(
        self, store: Store, buffers: Buffers
    ) -> None:
        spy = Spy(store, failures=2)
        buffer = buffers(spy, retry_delays=(0.01,))
        record = call()
        buffer.record_call(record)
        assert buffer.flush(timeout=WAIT_S)
        assert spy.attempts == 3 and written(store) == uuids(record)
        spy.failures = 10**6
        kept = call()
        buffer.record_call(kept)
        assert buffer.flush(timeout=0.2) is False
        assert buffer.queued() == 1 and buffer.failed == 0
        spy.failures = 0
        assert buffer.flush(timeout=WAIT_S) and written(store) == uuids(record, kept)

    def test_close_during_an_outage_leaves_the_spool_for_the_next_process(
        self, store: Store, buffers: Buffers, spool_dir: Path
    ) -> None:
        spy = Spy(store, failures=10**6)
        first = buffers(spy, retry_delays=(0.01,))
        records = [call() for _ in range(5)]
        for record in records:
            first.record_call(record)
        assert first.close(timeout=0.2) is False
        assert len(spooled_files(spool_dir)) == 1 and written(store) == set()
        successor = buffers(store, flush_interval=0.01)  # the next worker, the database back
        successor.start()
        wait_until(lambda: written(store) == uuids(*records), "the successor adopting the spool")
        wait_until(lambda: spooled_files(spool_dir) == [], "the adopted segment deleted")

    def test_rows_the_database_refuses_for_good_are_counted_not_retried_forever(
        self, store: Store, buffers: Buffers
    ) -> None:
        class Picky:
            def audit_rows(self, record: CallRecord) -> list[dict[str, Any]]:
                return store.audit_rows(record)

            def write_audit_rows(self, rows: Sequence[dict[str, Any]]) -> None:
                if any(r["rule_id"] == "poison" for r in rows):
                    raise sa.exc.DataError("INSERT ...", {}, Exception("value too long"))
                store.write_audit_rows(rows)

        lost: list[tuple[str, int]] = []
        buffer = buffers(Picky(), on_lost=lambda r, n: lost.append((r, n)))
        good, bad = call(card("fine")), call(card("poison"))
        buffer.record_call(good)
        buffer.record_call(bad)
        assert buffer.flush(timeout=WAIT_S)
        assert written(store) == uuids(good) and buffer.failed == 1 and lost == [("write_failed", 1)]


class TestLimits:
    def test_a_full_spool_drops_new_calls_and_counts_them(
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
        assert buffer.readiness() == {"ok": True, "queued": 0, "spool_bytes": 0, "written": 3, "dropped": 5,
                                      "failed": 0}

    def test_a_disk_that_refuses_the_spool_loses_the_call_and_says_so(
        self, store: Store, buffers: Buffers, monkeypatch: pytest.MonkeyPatch,
        audit_log: pytest.LogCaptureFixture,
    ) -> None:
        lost: list[tuple[str, int]] = []
        buffer = buffers(store, on_lost=lambda r, n: lost.append((r, n)))
        kept = call()
        buffer.record_call(kept)

        def full_disk(fd: int, data: bytes) -> int:
            raise OSError(28, "No space left on device")

        monkeypatch.setattr(audit_spool.os, "write", full_disk)
        buffer.record_call(call())  # the caller never sees it
        monkeypatch.undo()
        assert lost == [("write_failed", 1)] and buffer.failed == 1
        assert any(r.message.startswith("audit spool write failed") for r in audit_log.records)
        assert buffer.flush(timeout=WAIT_S) and written(store) == uuids(kept)

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
            def audit_rows(self, record: CallRecord) -> list[dict[str, Any]]:
                return store.audit_rows(record)

            def write_audit_rows(self, rows: Sequence[dict[str, Any]]) -> None:
                release.wait(WAIT_S)
                store.write_audit_rows(rows)

        buffer = buffers(Stuck(), max_batch=1)
        buffer.record_call(call())  # the thread takes it and hangs in the write
        wait_until(lambda: buffer.spool.current is None, "the thread taking the batch")
        started = time.monotonic()
        assert buffer.flush(timeout=0.1) is False
        assert time.monotonic() - started < WAIT_S
        release.set()
        buffer.record_call(call())
        assert buffer.flush(timeout=WAIT_S) is True
        assert len(written(store)) == 4


def _record_then_die(store_url: str, spool: str, records: list[CallRecord]) -> None:  # in a child
    buffer = BufferedAudit(Store(store_url, salt=SALT), spool_dir=spool, flush_interval=NEVER)
    for record in records:
        buffer.record_call(record)
    os.kill(os.getpid(), 9)  # SIGKILL: no flush, no atexit, no worker_exit hook


def record_in_a_killed_child(store_url: str, spool_dir: Path, records: list[CallRecord]) -> int | None:
    """Spool ``records`` in a forked child that is then SIGKILLed; return its exit code."""
    import multiprocessing

    child = multiprocessing.get_context("fork").Process(target=_record_then_die, args=(store_url, str(spool_dir), records))
    child.start()
    child.join(timeout=WAIT_S)
    return child.exitcode


class TestLifecycle:
    def test_close_writes_what_is_spooled_and_stops_the_thread(
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

    def test_a_killed_process_loses_nothing_its_successor_writes_its_spool(
        self, tmp_path: Path, spool_dir: Path
    ) -> None:
        url = f"sqlite:///{tmp_path}/killed.db"
        store = Store(url, salt=SALT)
        records = [call() for _ in range(20)]
        assert record_in_a_killed_child(url, spool_dir, records) == -9 and written(store) == set()
        assert len(spooled_files(spool_dir)) == 1
        successor = BufferedAudit(store, spool_dir=spool_dir, flush_interval=0.01)
        try:
            successor.start()  # what gunicorn's post_worker_init does in a new worker
            wait_until(lambda: written(store) == uuids(*records), "the orphaned spool written")
            wait_until(lambda: spooled_files(spool_dir) == [], "the orphan deleted")
        finally:
            successor.close(timeout=5)

    def test_a_live_process_keeps_its_segments(self, store: Store, buffers: Buffers, spool_dir: Path) -> None:
        owner = buffers(store)
        records = [call(), call()]
        for record in records:
            owner.record_call(record)
        other = buffers(store, flush_interval=0.01)
        other.start()
        time.sleep(0.2)
        assert written(store) == set() and other.spool.sealed == [], "a locked segment is never adopted"
        assert owner.flush(timeout=WAIT_S) and written(store) == uuids(*records)

    def test_a_torn_last_line_is_counted_the_rest_is_written(
        self, tmp_path: Path, store: Store, buffers: Buffers, spool_dir: Path
    ) -> None:
        records = [call(), call()]
        record_in_a_killed_child(f"sqlite:///{tmp_path}/igcds.db", spool_dir, records)
        (path,) = spooled_files(spool_dir)
        with open(path, "ab") as handle:  # as if it had died in the middle of writing a third line
            handle.write(b'[{"card_uuid": "half')
        lost: list[tuple[str, int]] = []
        successor = buffers(store, flush_interval=0.01, on_lost=lambda r, n: lost.append((r, n)))
        successor.start()
        wait_until(lambda: written(store) == uuids(*records), "the whole lines written")
        wait_until(lambda: lost == [("write_failed", 1)], "the torn line counted")

    def test_close_all_flushes_every_buffer_of_the_process(self, tmp_path: Path) -> None:
        stores = [Store(f"sqlite:///{tmp_path}/{i}.db", salt=SALT) for i in range(2)]
        buffers = [BufferedAudit(s, spool_dir=tmp_path / f"spool-{i}", flush_interval=NEVER)
                   for i, s in enumerate(stores)]
        records = [call(), call()]
        for buffer, record in zip(buffers, records, strict=True):
            buffer.record_call(record)
        close_all(timeout=WAIT_S)
        assert [written(s) for s in stores] == [uuids(r) for r in records]

    def test_a_forked_child_gets_its_own_spool_and_thread(self, tmp_path: Path) -> None:
        store = Store(f"sqlite:///{tmp_path}/f.db", salt=SALT)
        buffer = BufferedAudit(store, spool_dir=tmp_path / "spool", flush_interval=NEVER)
        in_parent = call(card("parent"))
        buffer.record_call(in_parent)  # spooled in the parent (and its thread started) at fork time
        parent_thread = buffer._thread
        assert buffer.queued() == 1 and parent_thread is not None
        in_child = call(card("child"))
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                inherited = buffer.queued() == 0 and buffer._thread is None and buffer._inherited
                child_buffer = BufferedAudit(store, spool_dir=tmp_path / "spool", flush_interval=0.02)
                child_buffer.record_call(in_child)
                deadline = time.monotonic() + WAIT_S  # written by the child's own thread, no flush()
                while written(store) != uuids(in_child) and time.monotonic() < deadline:
                    time.sleep(0.02)
                if inherited and written(store) == uuids(in_child):
                    code = 0
            finally:
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        assert written(store) == uuids(in_child), "the child never writes (nor adopts) the parent's spool"
        assert buffer._thread is parent_thread and buffer.queued() == 1
        buffer.close(timeout=WAIT_S)
        assert written(store) == uuids(in_parent, in_child)

    def test_rejects_a_zero_interval(self, store: Store, spool_dir: Path) -> None:
        with pytest.raises(ValueError, match="flush_interval"):
            BufferedAudit(store, spool_dir=spool_dir, flush_interval=0)


class TestConfiguration:
    """The keys themselves (defaults, environment, errors naming the key) are in test_config.py."""

    def test_from_config(self, store: Store, tmp_path: Path) -> None:
        storage = {"audit_flush_ms": 50, "audit_queue_max": 7}
        config = load_config(None, environ={}, overrides={"storage": storage, "server": {"data_dir": str(tmp_path)}})
        buffer = BufferedAudit.from_config(store, config)
        assert (buffer.flush_interval, buffer.queue_max) == (0.05, 7)
        assert buffer.spool_dir == tmp_path / "audit-spool"
        elsewhere = load_config(None, environ={}, overrides={"storage": {"audit_spool_dir": str(tmp_path / "s")}})
        assert BufferedAudit.from_config(store, elsewhere).spool_dir == tmp_path / "s"


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

    def test_default_spools_and_reports_the_spool(
        self, tmp_path: Path, cds_request: Callable[[str, str], dict[str, Any]]
    ) -> None:
        app = self.app(tmp_path, audit_flush_ms=600_000)
        audit = app.extensions["cds_service"].runner.audit
        try:
            assert isinstance(audit, BufferedAudit) and audit.flush_interval == 600
            cards = self.post(app, cds_request("ig-patient-view", "higm-xl-adult"))
            assert app.test_client().get("/readyz").get_json()["checks"]["audit"]["queued"] == 1
            assert list((tmp_path / "audit-spool").glob("*.jsonl")), "spooled in <data_dir>/audit-spool"
            assert audit.flush(timeout=WAIT_S)
            assert written(audit.writer) >= cards  # type: ignore[arg-type]
            assert audit.on_lost is not None, "losses must reach the metrics"
            audit.on_lost("queue_full", 2)
            exposition = app.test_client().get("/metrics").get_data(as_text=True)
            assert 'igcds_audit_lost_calls_total{reason="queue_full"} 2.0' in exposition
        finally:
            audit.close(timeout=5)
