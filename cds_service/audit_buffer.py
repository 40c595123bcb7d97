"""Card audit off the request path and durable: calls are spooled on local disk, written in batches.

:class:`BufferedAudit` is an :class:`~cds_service.extensions.AuditSink` whose ``record_call`` turns
the call into its ``issued_cards`` rows (the patient id hashed, never kept) and appends them as one
line to this process's spool segment (:mod:`cds_service.audit_spool`): one short lock and one
``write``, never the database. One daemon thread per process writes the spool to the database
(``AuditWriter.write_audit_rows``): everything appended since the last batch goes in one
transaction, ``flush_interval`` seconds after the first of it, or sooner when ``max_batch`` calls are
waiting; a segment is deleted once its rows are committed.

Nothing is lost to a database outage: a failed write leaves the segment on disk (``fsync``-ed) and is
retried after each of ``retry_delays`` and then every last delay, for as long as it takes, while new
calls keep being spooled. The bound is ``queue_max`` calls waiting per process: beyond it new calls
are dropped and counted (``queue_full``), with a warning at most once a minute; the answer to the
EHR is never delayed. The only other loss is a call the disk itself refuses (full, read-only), or
rows the database rejects for good (``write_failed``). Both reach ``on_lost`` (a metrics counter).

Processes: the thread belongs to the process that started it. After ``fork()`` (gunicorn workers)
a child starts with an empty spool of its own and leaves the parent's segments alone. A segment
whose owner died (SIGKILL, OOM killer) or stopped while the database was down is adopted by the
next process of the instance that looks (at its start, then every ``adopt_every_s``), so a hard
kill loses nothing either. :func:`close_all` writes what it can and stops every buffer of the
process (gunicorn's ``worker_exit`` hook, and :mod:`atexit` as a fallback); :func:`start_all` starts
the threads of a new worker at once (``post_worker_init``), so orphans are drained without waiting
for a call.

Feedback can arrive before the card's row is written (a batch is up to ``flush_interval`` late):
:meth:`BufferedAudit.card_owners` answers for the cards still in this process's spool.
"""

from __future__ import annotations

import atexit
import logging
import math
import os
import threading
import time
import weakref
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

import orjson
import sqlalchemy.exc

from .audit_spool import Segment, Spool
from .extensions import CallRecord, CardOwner

log = logging.getLogger("igcds.audit")

#: Queue-full and database-down warnings are logged at most this often, in seconds.
DROP_LOG_INTERVAL_S = 60.0
#: Cards remembered for :meth:`BufferedAudit.card_owners` while their rows are not yet written.
PENDING_INDEX_MAX = 100_000
#: A segment is sealed at this many calls even while the database is down (bounds the file size).
SEGMENT_MAX_CALLS = 10_000

#: After its last failed write, a worker counts as catching up for this long, in seconds.
CATCH_UP_S = 30.0

#: Errors that no retry will cure: the rows themselves are refused (a value too long, a bind error).
_REJECTED = (sqlalchemy.exc.DataError, sqlalchemy.exc.IntegrityError)


class AuditWriter(Protocol):
    def audit_rows(self, record: CallRecord) -> list[dict[str, Any]]:
        """The ``issued_cards`` rows of one call (JSON-serialisable but for ``issued_at``)."""
        ...

    def write_audit_rows(self, rows: Sequence[Mapping[str, Any]]) -> None:
        """Write rows in one transaction, idempotently by card uuid."""
        ...


def encode_rows(rows: Sequence[Mapping[str, Any]]) -> bytes:
    return orjson.dumps(rows)  # datetimes as RFC 3339 with their offset


def decode_rows(line: bytes) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = orjson.loads(line)
    for row in rows:
        row["issued_at"] = datetime.fromisoformat(row["issued_at"])
    return rows


class BufferedAudit:
    """Spools calls for audit on local disk and writes them in batches from a background thread.

    :param writer: where rows come from and go (``cds_service.storage.Store``).
    :param spool_dir: the spool directory, shared by the processes of one instance.
    :param flush_interval: seconds between the first call spooled and the write of its batch.
    :param max_batch: a batch is written as soon as this many calls are waiting; also the most
        calls per transaction.
    :param queue_max: calls waiting at most in this process; a call that finds it full is dropped.
    :param retry_delays: seconds before each new attempt of a failed write; the last one repeats.
    :param on_lost: told ``(reason, calls)`` whenever calls are lost to the audit, with reason
        ``"queue_full"`` or ``"write_failed"`` (a metrics counter, so that an alert can fire).
    :param on_spool: told ``(calls, bytes, ok)`` after every batch and retry: what is spooled, and
        whether the last write reached the database (metrics gauges).

    Counters (this process, since the start or the last fork): ``written``, ``dropped`` (queue
    full), ``failed`` (calls the disk or the database refused for good).
    """

    default_max_batch = 1000
    default_retry_delays = (0.1, 0.5, 1.0, 2.0)
    adopt_every_s = 10.0

    def __init__(
        self,
        writer: AuditWriter,
        *,
        spool_dir: str | os.PathLike[str],
        flush_interval: float = 0.2,
        max_batch: int | None = None,
        queue_max: int = 250_000,
        retry_delays: Sequence[float] | None = None,
        on_lost: Callable[[str, int], None] | None = None,
        on_spool: Callable[[int, int, bool], None] | None = None,
    ) -> None:
        if flush_interval <= 0:
            raise ValueError("flush_interval must be positive (write synchronously with the writer itself)")
        if queue_max < 1:
            raise ValueError("queue_max must be at least 1")
        self.writer = writer
        self.spool_dir = Path(spool_dir)
        self.flush_interval = flush_interval
        self.max_batch = max(1, max_batch or self.default_max_batch)
        self.queue_max = queue_max
        self.retry_delays = tuple(self.default_retry_delays if retry_delays is None else retry_delays) or (1.0,)
        self.on_lost = on_lost
        self.on_spool = on_spool
        self._spool: Spool | None = None
        self._inherited = False
        self._reset()
        _register_process_hooks()
        _LIVE.add(self)

    @classmethod
    def from_config(
        cls,
        writer: AuditWriter,
        config: Any,
        on_lost: Callable[[str, int], None] | None = None,
        on_spool: Callable[[int, int, bool], None] | None = None,
    ) -> BufferedAudit:
        """From a ``cds_service.Config``: ``[storage] audit_flush_ms``, ``audit_queue_max``,
        ``audit_spool_dir`` (empty: ``<data_dir>/audit-spool``)."""
        storage = config.storage
        spool_dir = storage.audit_spool_dir or str(Path(config.server.data_dir) / "audit-spool")
        return cls(writer, spool_dir=spool_dir, flush_interval=storage.audit_flush_ms / 1000,
                   queue_max=storage.audit_queue_max, on_lost=on_lost, on_spool=on_spool)

    def _reset(self) -> None:
        """Per-process state; called at construction and in a forked child (never reuses the parent's)."""
        if self._spool is not None:  # a forked child: close the parent's descriptors (its locks stay the parent's)
            self._spool.release()
            self._inherited = True  # built by a parent process: this one builds its own app
        self._pid = os.getpid()
        self._cond = threading.Condition(threading.Lock())
        self._write_lock = threading.Lock()
        self._spool = Spool(self.spool_dir)
        self._pending: dict[str, CardOwner] = {}
        self._thread: threading.Thread | None = None
        self._closed = False  # close() called: the thread stops, record_call writes synchronously
        self._last_drop_log = -DROP_LOG_INTERVAL_S
        self._failing: str | None = None  # the exception type of the last failed write
        self._failures = 0
        self._last_failure_at = -CATCH_UP_S
        self._retry_at = 0.0
        self._last_fail_log = -DROP_LOG_INTERVAL_S
        self._next_adopt = 0.0
        self.written = 0
        self.dropped = 0
        self.failed = 0

    def _check_process(self) -> None:
        if self._pid != os.getpid():  # forked without the at-fork hook (defensive)
            self._reset()

    @property
    def spool(self) -> Spool:
        assert self._spool is not None
        return self._spool

    # -- AuditSink --

    def record_call(self, record: CallRecord) -> None:
        """Spool ``record`` for the next batch; never waits for the database."""
        self._check_process()
        rows = self.writer.audit_rows(record)
        if not rows:
            return
        line = encode_rows(rows)
        uuids = [row["card_uuid"] for row in rows]
        lost: str | None = None
        error = ""
        warn = write_now = False
        with self._cond:
            spool = self.spool
            if spool.calls >= self.queue_max:
                self.dropped += 1
                lost = "queue_full"
                now = time.monotonic()
                if now - self._last_drop_log >= DROP_LOG_INTERVAL_S:
                    self._last_drop_log = now
                    warn = True
            else:
                indexed = len(self._pending) < PENDING_INDEX_MAX  # a long outage must not grow memory
                try:
                    spool.append(line, uuids if indexed else [])
                except OSError as exc:  # disk full or read-only: the one case the spool cannot help
                    self.failed += 1
                    lost, error = "write_failed", type(exc).__name__
                else:
                    if indexed:
                        owner = CardOwner(record.service_id, record.issuer, record.tenant)
                        for uuid in uuids:
                            self._pending[uuid] = owner
                    if self._closed:
                        write_now = True
                    else:
                        if self._thread is None:
                            self._start_thread()
                        current = spool.current
                        if current is not None and (current.calls == 1 or current.calls >= self.max_batch):
                            self._cond.notify()
        if write_now:  # after close() (shutdown): write in the caller; what fails stays spooled
            self._drain(time.monotonic() + 1.0, force=True)
            self._release()
            return
        if lost is not None:
            self._report_lost(lost, 1)
        if warn:
            log.warning("audit queue full; cards dropped", extra={
                "event": "audit_queue_full", "count": self.dropped})
        if error:
            log.error("audit spool write failed; cards dropped", extra={
                "event": "audit_spool_failed", "error": error})

    # -- feedback's view of cards not yet written --

    def card_owners(self, card_uuids: Iterable[str]) -> dict[str, CardOwner]:
        """Who the given cards were issued to, for those still spooled by this process."""
        self._check_process()
        with self._cond:
            return {uuid: self._pending[uuid] for uuid in card_uuids if uuid in self._pending}

    def catching_up(self) -> bool:
        """True while this instance's card audit lags behind the answers (a database outage being
        made up): this worker failed to write lately, or a spool segment of any worker of the
        instance is older than a batch should ever be. A card not found may then simply not be
        written yet, so feedback on it is answered "retry later" rather than "unknown card"."""
        self._check_process()
        with self._cond:
            if self._failing is not None or time.monotonic() - self._last_failure_at < CATCH_UP_S:
                return True
        return self.spool.oldest_created(default=time.time()) < time.time() - (2 * self.flush_interval + 1.0)

    # -- control --

    def start(self) -> None:
        """Start the writer thread now (it adopts orphaned segments first)."""
        self._check_process()
        with self._cond:
            if self._thread is None and not self._closed and not self._inherited:
                self._start_thread()

    def flush(self, timeout: float | None = 10.0) -> bool:
        """Write everything spooled so far, in the calling thread, retrying failed writes until
        ``timeout`` (seconds). True when all of it is in the database."""
        self._check_process()
        deadline = None if timeout is None else time.monotonic() + timeout
        return self._drain_retrying(deadline)

    def close(self, timeout: float | None = 10.0) -> bool:
        """Flush, then stop the background thread. What the database did not take stays spooled
        for the next process of the instance. Later calls are written synchronously."""
        self._check_process()
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            self._closed = True  # from now on record_call writes synchronously; the thread stops
            self._cond.notify_all()
            thread = self._thread
        done = self._drain_retrying(deadline)
        if thread is not None and thread is not threading.current_thread():
            thread.join(None if deadline is None else max(0.0, deadline - time.monotonic()))
        self._release()
        return done

    def queued(self) -> int:
        return self.spool.calls

    def readiness(self) -> dict[str, Any]:
        """For ``/readyz`` (a degradation check): not ok while writes to the database fail."""
        with self._cond:
            result: dict[str, Any] = {
                "ok": self._failing is None, "queued": self.spool.calls, "spool_bytes": self.spool.size,
                "written": self.written, "dropped": self.dropped, "failed": self.failed,
            }
            if self._failing is not None:
                result["error"] = self._failing
        return result

    # -- background thread --

    def _start_thread(self) -> None:  # with self._cond held
        self._thread = threading.Thread(target=self._run, name="igcds-audit", daemon=True)
        self._thread.start()

    def _write_due_at(self, now: float) -> float:  # with self._cond held
        """When the next batch (or retry) is due."""
        spool = self.spool
        if self._failing is not None:
            return self._retry_at
        if spool.sealed:
            return now
        if spool.current is not None and spool.current.first_at is not None:
            full = spool.current.calls >= self.max_batch
            return now if full else spool.current.first_at + self.flush_interval
        return math.inf

    def _run(self) -> None:
        me = threading.current_thread()
        try:
            while True:
                with self._cond:
                    while not self._closed:
                        now = time.monotonic()
                        write_at = self._write_due_at(now)
                        due = min(write_at, self._next_adopt)
                        if due <= now:
                            break
                        self._cond.wait(None if due == math.inf else due - now)
                    if self._closed:
                        return
                try:
                    if now >= self._next_adopt:
                        self._adopt()
                    with self._cond:
                        write_due = self._write_due_at(time.monotonic()) <= time.monotonic()
                    if write_due:
                        self._drain(deadline=None, force=False)
                except Exception as exc:  # never let the thread die; the next round tries again
                    log.error("audit flush failed", extra={
                        "event": "audit_flush_failed", "error": type(exc).__name__})
                    with self._cond:
                        self._failing = type(exc).__name__
                        self._retry_at = time.monotonic() + self.retry_delays[-1]
        finally:
            with self._cond:
                if self._thread is me:
                    self._thread = None

    def _adopt(self) -> None:
        with self._write_lock, self._cond:
            self._next_adopt = time.monotonic() + self.adopt_every_s
            adopted = self.spool.adopt_orphans()
            self.spool.sweep_temporaries()
        if adopted:
            log.info("audit spool adopted", extra={
                "event": "audit_spool_adopted", "count": sum(s.calls for s in adopted)})

    # -- writing --

    def _drain_retrying(self, deadline: float | None) -> bool:
        attempt = 0
        while True:
            if self._drain(deadline, force=True):
                return True
            delay = self._retry_delay(attempt)
            attempt += 1
            if deadline is not None and time.monotonic() + delay >= deadline:
                return False
            time.sleep(delay)

    def _retry_delay(self, attempt: int) -> float:
        """Seconds before the retry that follows failed attempt ``attempt`` (0-based); the last delay repeats."""
        return self.retry_delays[min(attempt, len(self.retry_delays) - 1)]

    def _drain(self, deadline: float | None, *, force: bool) -> bool:
        """Seal what is spooled and write the sealed segments, oldest first, one writer at a time.
        True when nothing is left waiting (everything spooled is in the database)."""
        timeout = -1 if deadline is None else max(0.0, deadline - time.monotonic())
        if not self._write_lock.acquire(timeout=timeout):
            return False
        try:
            with self._cond:
                spool = self.spool
                if not force and self._failing is not None and time.monotonic() < self._retry_at:
                    return False
                current = spool.current
                # While the database fails, keep appending to one segment rather than making many.
                if current is not None and (force or not spool.sealed or current.calls >= SEGMENT_MAX_CALLS):
                    spool.seal()
                batch = list(spool.sealed)
            for segment in batch:
                if not self._write_segment(segment):
                    return False
            with self._cond:
                recovered, self._failing, self._failures = self._failing, None, 0
                left = self.spool.calls
            if recovered is not None:
                log.warning("audit database available again; spooled cards written", extra={
                    "event": "audit_spool_drained", "count": self.written})
            return left == 0
        finally:
            self._write_lock.release()
            self._report_spool()

    def _write_segment(self, segment: Segment) -> bool:
        """Write one sealed segment in batches of ``max_batch`` calls; delete it when done."""
        lines, torn = self.spool.lines(segment)
        lost = 0
        for start in range(0, len(lines), self.max_batch):
            chunk = lines[start:start + self.max_batch]
            decoded: list[list[dict[str, Any]]] = []
            for line in chunk:
                try:
                    decoded.append(decode_rows(line))
                except (ValueError, KeyError, TypeError):
                    lost += 1
            try:
                self.writer.write_audit_rows([row for rows in decoded for row in rows])
            except _REJECTED:
                lost += self._write_one_by_one(decoded)
            except Exception as exc:  # the database is down or slow: keep the segment, retry later
                self._note_failure(exc)
                return False
            segment.done += len(chunk)
            with self._cond:
                self.written += len(chunk)
        with self._cond:
            for uuid in segment.card_uuids:
                self._pending.pop(uuid, None)
            self.spool.remove(segment)
            if torn:
                lost += 1
            self.failed += lost
        if lost:
            log.error("audit rows lost", extra={"event": "audit_rows_lost", "count": lost})
            self._report_lost("write_failed", lost)
        return True

    def _write_one_by_one(self, calls: list[list[dict[str, Any]]]) -> int:
        """A batch the database refused for its content: write each call alone, count the refused."""
        refused = 0
        for rows in calls:
            try:
                self.writer.write_audit_rows(rows)
            except _REJECTED:
                refused += 1
        return refused

    def _note_failure(self, exc: Exception) -> None:
        now = time.monotonic()
        with self._cond:
            first = self._failing is None
            self._failing = type(exc).__name__
            self._last_failure_at = now
            delay = self._retry_delay(self._failures)
            self._failures += 1
            self._retry_at = now + delay
            for segment in self.spool.sealed:  # a backlog survives a power cut too
                try:
                    self.spool.sync(segment)
                except OSError:
                    pass
            waiting = self.spool.calls
            talk = first or now - self._last_fail_log >= DROP_LOG_INTERVAL_S
            if talk:
                self._last_fail_log = now
        if talk:  # the exception type only: its message could quote row values
            log.warning("audit flush failed; cards stay spooled on disk", extra={
                "event": "audit_flush_failed", "count": waiting, "error": type(exc).__name__,
                "reason": "will retry", "seconds": delay})

    def _release(self) -> None:
        """Let go of the spool (end of this process's use): segments left become orphans."""
        if self._write_lock.acquire(timeout=1.0):
            try:
                with self._cond:
                    self.spool.release()
            finally:
                self._write_lock.release()

    # -- reporting --

    def _report_lost(self, reason: str, calls: int) -> None:
        if self.on_lost is None:
            return
        try:
            self.on_lost(reason, calls)
        except Exception:  # a broken metrics hook must not break the audit or the call
            log.exception("audit loss report failed", extra={"event": "audit_lost_report_failed"})

    def _report_spool(self) -> None:
        if self.on_spool is None:
            return
        try:
            with self._cond:
                calls, size, ok = self.spool.calls, self.spool.size, self._failing is None
            self.on_spool(calls, size, ok)
        except Exception:
            log.exception("audit spool report failed", extra={"event": "audit_spool_report_failed"})


#: Every buffer of this process, for :func:`close_all`, :func:`start_all` and the at-fork reset.
_LIVE: weakref.WeakSet[BufferedAudit] = weakref.WeakSet()


def close_all(timeout: float = 5.0) -> None:
    """Write what every buffer of this process has spooled and stop their threads (at most
    ``timeout`` seconds in all). gunicorn ``worker_exit`` hook and :mod:`atexit` handler."""
    deadline = time.monotonic() + timeout
    for buffer in list(_LIVE):
        if buffer._pid == os.getpid() and not buffer._inherited:
            buffer.close(max(0.0, deadline - time.monotonic()))


def start_all() -> None:
    """Start the writer thread of every buffer this process built (gunicorn ``post_worker_init``)."""
    for buffer in list(_LIVE):
        if buffer._pid == os.getpid() and not buffer._inherited:
            buffer.start()


def _reset_after_fork() -> None:
    for buffer in list(_LIVE):
        buffer._reset()


_hooks_registered = False


def _register_process_hooks() -> None:
    global _hooks_registered
    if not _hooks_registered:
        _hooks_registered = True
        os.register_at_fork(after_in_child=_reset_after_fork)
        atexit.register(close_all)
