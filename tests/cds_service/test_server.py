"""The gunicorn settings of ``igcds serve``: worker model and the per-worker hooks."""

from __future__ import annotations

import subprocess
import sys

from cds_service.config import ServerConfig
from cds_service.server import GC_THRESHOLDS, gunicorn_options


def options(threads: int) -> dict:  # type: ignore[type-arg]
    return gunicorn_options(host="127.0.0.1", port=8080, workers=4, threads=threads)


def test_one_thread_means_sync_workers_more_means_gthread() -> None:
    assert options(1)["worker_class"] == "sync"
    assert options(4)["worker_class"] == "gthread"


def test_the_default_server_runs_sync_workers() -> None:
    defaults = ServerConfig()
    assert (defaults.workers, defaults.threads) == (4, 1)
    assert options(defaults.threads)["worker_class"] == "sync"


def test_ipv6_hosts_are_bracketed() -> None:
    assert gunicorn_options(host="::1", port=8080, workers=1, threads=1)["bind"] == "[::1]:8080"


def test_every_worker_gets_the_audit_and_gc_hooks() -> None:
    hooks = options(1)
    assert {"post_worker_init", "worker_exit", "child_exit"} <= set(hooks)
    assert hooks["keepalive"] == 0 and hooks["preload_app"] is False


def test_the_worker_hook_freezes_the_heap_and_raises_the_young_threshold() -> None:
    # In a fresh interpreter: freezing this test process's heap would change every later test.
    code = (
        "import gc; from cds_service.server import gunicorn_options; "
        "gunicorn_options(host='h', port=1, workers=1, threads=1)['post_worker_init'](None); "
        "print(gc.get_freeze_count() > 1000, gc.get_threshold())"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split(" ", 1) == ["True", f"{GC_THRESHOLDS}\n"]
