"""Card audit off the request path: calls are queued in memory and written in batches.

:class:`BufferedAudit` is an :class:`~cds_service.extensions.AuditSink` whose ``record_call`` only
appends the call to an in-memory queue (O(1), one short lock, never the database). One daemon
thread per process writes the queue to a :class:`BatchWriter` (``Store.record_calls``): all calls
queued when a batch starts go in one transaction, ``flush_interval`` seconds after the first of them
was queued, or sooner when ``max_batch`` calls are waiting.

Failure behaviour:

- The queue is bounded (``queue_max`` calls). When it is full the *new* call is dropped and counted
  (``dropped``), with a warning at most once a minute; the answer to the EHR is never delayed.
- A failed write is logged (``audit flush failed``: the number of calls and the exception type,
  never its message, which could quote row values) and retried after each of ``retry_delays``;
  then the batch is dropped and counted (``failed``). The thread survives every error.

Processes: the thread is started on the first record and belongs to the process that started it.
After ``fork()`` (gunicorn workers) the child gets a fresh queue, fresh locks and no thread; the
parent's queued calls stay the parent's to write. :func:`close_all` writes what is queued and stops
every buffer of the process: ``cds_service.server`` calls it from gunicorn's ``worker_exit`` hook,
and it is registered with :mod:`atexit` as a fallback, so a graceful stop (SIGTERM) loses nothing.
A hard kill (SIGKILL, OOM killer, power loss) loses at most the calls of the last flush interval.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import time
import weakref
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from .extensions import CallRecord

log = logging.getLogger("igcds.audit")

#: Queue-full warnings are logged at most this often, in seconds.
DROP_LOG_INTERVAL_S = 60.0


class BatchWriter(Protocol):
    def record_calls(self, records: Sequence[CallRecord]) -> None:
        """Write the cards of all ``records`` in one transaction, idempotently by card uuid."""
        ...


class BufferedAudit:
    """Queues calls for audit and writes them in batches from a background thread.

    :param writer: where batches go (``cds_service.storage.Store``).
    :param flush_interval: seconds between the first call queued and the write of its batch.
    :param max_batch: a batch is written as soon as this many calls are queued.
    :param queue_max: calls waiting at most; a call that finds the queue full is dropped.
    :param retry_delays: seconds to wait before each new attempt of a failed write; after the
        last one the batch is dropped.
    :param on_lost: told ``(reason, calls)`` whenever calls are lost to the audit, with reason
        ``"queue_full"`` or ``"write_failed"`` (e.g. a metrics counter, so that an alert can fire).

    Counters (this process, since the start or the last fork): ``written``, ``dropped`` (queue
    full), ``failed`` (calls of batches given up after failed writes).
    """

    default_max_batch = 1000
    default_retry_delays = (0.1, 0.5, 2.0)

    def __init__(
        self,
        writer: BatchWriter,
        *,
        flush_interval: float = 0.2,
        max_batch: int | None = None,
        queue_max: int = 10_000,
        retry_delays: Sequence[float] | None = None,
        on_lost: Callable[[str, int], None] | None = None,
    ) -> None:
        if flush_interval <= 0:
            raise ValueError("flush_interval must be positive (write synchronously with the writer itself)")
        if queue_max < 1:
            raise ValueError("queue_max must be at least 1")
        self.writer = writer
        self.flush_interval = flush_interval
        self.max_batch = max(1, max_batch or self.default_max_batch)
        self.queue_max = queue_max
        self.retry_delays = tuple(self.default_retry_delays if retry_delays is None else retry_delays)
        self.on_lost = on_lost
        self._reset()
        _register_process_hooks()
        _LIVE.add(self)

    @classmethod
    def from_config(
        cls, writer: BatchWriter, config: Any, on_lost: Callable[[str, int], None] | None = None
    ) -> BufferedAudit:
        """Build from a ``cds_service.Config`` (``[storage] audit_flush_ms``, ``audit_queue_max``)."""
        storage = config.storage
        return cls(writer, flush_interval=storage.audit_flush_ms / 1000, queue_max=storage.audit_queue_max,
                   on_lost=on_lost)

    def _reset(self) -> None:
        """Per-process state; called at construction and in a forked child (never reuses the parent's)."""
        self._pid = os.getpid()
        self._cond = threading.Condition(threading.Lock())
        self._write_lock = threading.Lock()
        self._queue: list[CallRecord] = []
        self._thread: threading.Thread | None = None
        self._stopping = False
        self._closed = False
        self._last_drop_log = -DROP_LOG_INTERVAL_S
        self.written = 0
        self.dropped = 0
        self.failed = 0

    def _check_process(self) -> None:
        if self._pid != os.getpid():  # forked without the at-fork hook (defensive)
            self._reset()

    # -- AuditSink --

    def record_call(self, record: CallRecord) -> None:
        """Queue ``record`` for the next batch; never blocks on the database."""
        self._check_process()
        warn = lost = False
        with self._cond:
            if self._closed:
                closed = True
            else:
                closed = False
                queued = len(self._queue)
                if queued >= self.queue_max:
                    self.dropped += 1
                    lost = True
                    now = time.monotonic()
                    if now - self._last_drop_log >= DROP_LOG_INTERVAL_S:
                        self._last_drop_log = now
                        warn = True
                else:
                    self._queue.append(record)
                    if self._thread is None:
                        self._start_thread()
                    if queued == 0 or queued + 1 >= self.max_batch:
                        self._cond.notify()
        if closed:  # after close() (shutdown): write in the caller rather than lose the call
            self._write([record], deadline=None)
            return
        if lost:
            self._report_lost("queue_full", 1)
        if warn:
            log.warning("audit queue full; cards dropped", extra={
                "event": "audit_queue_full", "count": self.dropped})

    # -- control --

    def flush(self, timeout: float | None = 10.0) -> bool:
        """Write everything queued so far, in the calling thread, and wait for a batch in flight.

        Returns False when ``timeout`` (seconds) ran out first; a batch whose writes all fail is
        dropped (``failed``) and still counts as flushed.
        """
        self._check_process()
        deadline = None if timeout is None else time.monotonic() + timeout
        return self._drain(deadline)

    def close(self, timeout: float | None = 10.0) -> bool:
        """Flush, then stop the background thread. Later calls are written synchronously."""
        self._check_process()
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            self._stopping = self._closed = True  # from now on record_call writes synchronously
            self._cond.notify_all()
            thread = self._thread
        done = self._drain(deadline)
        if thread is not None and thread is not threading.current_thread():
            thread.join(None if deadline is None else max(0.0, deadline - time.monotonic()))
        return done

    def queued(self) -> int:
        return len(self._queue)

    def readiness(self) -> dict[str, Any]:
        """For ``/readyz``: the queue depth and counters. Audit trouble never makes igcds not-ready."""
        return {"ok": True, "queued": self.queued(), "written": self.written,
                "dropped": self.dropped, "failed": self.failed}

    def _report_lost(self, reason: str, calls: int) -> None:
        if self.on_lost is None:
            return
        try:
            self.on_lost(reason, calls)
        except Exception:  # a broken metrics hook must not break the audit or the call
            log.exception("audit loss report failed", extra={"event": "audit_lost_report_failed"})

    # -- background thread --

    def _start_thread(self) -> None:  # with self._cond held
        self._thread = threading.Thread(target=self._run, name="igcds-audit", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        me = threading.current_thread()
        try:
            while True:
                with self._cond:
                    while not self._queue and not self._stopping:
                        self._cond.wait()
                    if not self._queue:
                        return  # stopping, nothing left
                    deadline = time.monotonic() + self.flush_interval
                    while len(self._queue) < self.max_batch and not self._stopping:
                        remaining = deadline - time.monotonic()
                        if remaining <= 0:
                            break
                        self._cond.wait(remaining)
                try:
                    self._drain(deadline=None)
                except Exception as exc:  # never let the thread die; the next batch tries again
                    log.error("audit flush failed", extra={
                        "event": "audit_flush_failed", "error": type(exc).__name__})
        finally:
            with self._cond:
                if self._thread is me:
                    self._thread = None

    def _drain(self, deadline: float | None) -> bool:
        """Take the whole queue and write it as one batch, one writer at a time."""
        timeout = -1 if deadline is None else max(0.0, deadline - time.monotonic())
        if not self._write_lock.acquire(timeout=timeout):
            return False
        try:
            with self._cond:
                batch, self._queue = self._queue, []
            if batch:
                self._write(batch, deadline)
        finally:
            self._write_lock.release()
        return True

    def _write(self, batch: list[CallRecord], deadline: float | None) -> None:
        delays = iter(self.retry_delays)
        while True:
            try:
                self.writer.record_calls(batch)
            except Exception as exc:
                delay = next(delays, None)
                if delay is not None and (deadline is None or time.monotonic() + delay < deadline):
                    log.warning("audit flush failed", extra={
                        "event": "audit_flush_failed", "count": len(batch), "error": type(exc).__name__,
                        "reason": "will retry", "seconds": delay})
                    time.sleep(delay)
                    continue
                with self._cond:
                    self.failed += len(batch)
                log.error("audit flush failed", extra={
                    "event": "audit_flush_failed", "count": len(batch), "error": type(exc).__name__,
                    "reason": "batch dropped"})
                self._report_lost("write_failed", len(batch))
                return
            with self._cond:
                self.written += len(batch)
            return


#: Every buffer of this process, for :func:`close_all` and the at-fork reset.
_LIVE: weakref.WeakSet[BufferedAudit] = weakref.WeakSet()


def close_all(timeout: float = 5.0) -> None:
    """Write what every buffer of this process has queued and stop their threads (at most
    ``timeout`` seconds in all). gunicorn ``worker_exit`` hook and :mod:`atexit` handler."""
    deadline = time.monotonic() + timeout
    for buffer in list(_LIVE):
        if buffer._pid == os.getpid():
            buffer.close(max(0.0, deadline - time.monotonic()))


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
