"""Production serving with gunicorn: sync workers by default, gthread when ``threads > 1``.

The WSGI app is built in each worker after the fork (no preload), so per-process resources —
database engines, HTTP pools, the replay store connection — are never shared across processes.
Prometheus multiprocess mode: the caller sets ``PROMETHEUS_MULTIPROC_DIR`` before calling
:func:`run_gunicorn` (``cds_service.metrics.prepare_multiprocess_dir``); the ``child_exit`` hook
tells prometheus-client that a worker is gone. The ``worker_exit`` hook writes the card audit still
queued in the exiting worker (:func:`cds_service.audit_buffer.close_all`) before it goes: a worker
stopped with SIGTERM (or SIGINT/SIGQUIT) loses no audit row.

Garbage collection: once the app is built, the ``post_worker_init`` hook freezes what the worker holds
(modules, app, compiled schemas: ~85,000 objects) out of the collector's sight and raises the youngest
generation's threshold. A call allocates thousands of short-lived containers that reference counting
frees, and hardly any cycle (8 objects a call, measured), so the default threshold of 700 ran a
collection on nearly every call, and every few seconds a full one walked the whole heap for 60-70 ms,
stalling the call in progress (docs/performance.md, "Garbage collection").
"""

from __future__ import annotations

import gc
from collections.abc import Callable
from typing import Any

from gunicorn.app.base import BaseApplication

from .audit_buffer import close_all as close_audit_buffers
from .audit_buffer import start_all as start_audit_buffers
from .metrics import mark_process_dead

#: Time a stopping worker gives its audit queue to reach the database, in seconds (well within
#: ``graceful_timeout``, after which the master kills the worker).
AUDIT_EXIT_TIMEOUT_S = 5.0


class _Gunicorn(BaseApplication):  # type: ignore[misc]
    def __init__(self, factory: Callable[[], Any], options: dict[str, Any]) -> None:
        self._factory = factory
        self._options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self._options.items():
            if key in self.cfg.settings and value is not None:
                self.cfg.set(key, value)

    def load(self) -> Any:
        return self._factory()


def _child_exit(server: Any, worker: Any) -> None:
    mark_process_dead(worker.pid)


#: ``gc.set_threshold`` in each worker after the freeze: youngest generation 10,000 allocations
#: instead of 700; the older generations keep their defaults.
GC_THRESHOLDS = (10_000, 10, 10)


def _post_worker_init(worker: Any) -> None:
    """In each worker, the app built: freeze what startup made, collect the young generation less
    often; start the audit writer, which first takes over any audit spool a dead worker left."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)
    start_audit_buffers()


def _worker_exit(server: Any, worker: Any) -> None:
    """In the exiting worker: write its queued card audit (``atexit`` is only the fallback)."""
    close_audit_buffers(AUDIT_EXIT_TIMEOUT_S)


def gunicorn_options(*, host: str, port: int, workers: int, threads: int,
                     extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """The gunicorn settings ``igcds serve`` (and the benchmark's baseline) run with."""
    return {
        "bind": f"[{host}]:{port}" if ":" in host else f"{host}:{port}",
        "workers": workers,
        "threads": threads,
        "worker_class": "gthread" if threads > 1 else "sync",
        "timeout": 30,
        "graceful_timeout": 10,
        # No HTTP keep-alive (sync workers never keep a connection; this is for gthread): each call is
        # its own connection, so the kernel hands calls to whichever worker is free. With keep-alive a
        # client's connections stay on the worker that accepted them; measured (docs/performance.md):
        # 8 kept-alive connections often landed 6-8 on one worker, which the GIL then limits to one
        # core (c8: 130-160 req/s, p99 0.5-1 s, one worker idle) while without keep-alive both workers
        # stay busy (175-200 req/s, p99 135-220 ms). A TLS-terminating proxy in front keeps its own
        # client connections alive; the loopback/LAN connect costs ~0.1 ms.
        "keepalive": 0,
        "accesslog": None,
        "errorlog": "-",
        "loglevel": "warning",
        "preload_app": False,
        "proc_name": "igcds",
        "child_exit": _child_exit,
        "post_worker_init": _post_worker_init,
        "worker_exit": _worker_exit,
        **(extra or {}),
    }


def run_gunicorn(factory: Callable[[], Any], *, host: str, port: int, workers: int, threads: int,
                 extra: dict[str, Any] | None = None) -> None:
    options = gunicorn_options(host=host, port=port, workers=workers, threads=threads, extra=extra)
    _Gunicorn(factory, options).run()
