"""Debian's haproxy, run with the shipped configuration (``deploy/haproxy/haproxy.cfg``) in front of
igcds instances on 127.0.0.1: the deployment the docs recommend, for real.

``scripts/haproxy-bin.sh`` (``make haproxy-bin``) installs it. The only file the harness writes is the
backend (the instances' loopback addresses), which is what differs from one deployment to the next;
everything else (timeouts, request buffering, health and readiness checks, retries) is the file
operators run.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import requests

from tests.support.igcds_server import free_port, stop_process_group

REPO = Path(__file__).resolve().parents[2]
HAPROXY = Path(os.environ.get("IGCDS_HAPROXY", "/usr/sbin/haproxy"))
CONFIG = REPO / "deploy" / "haproxy" / "haproxy.cfg"


@dataclass
class RunningProxy:
    base_url: str
    port: int
    log_path: Path
    process: subprocess.Popen[bytes]

    def url(self, path: str) -> str:
        return self.base_url + path

    def log_text(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace") if self.log_path.exists() else ""


def backend_file(servers: Sequence[tuple[str, int]], path: Path) -> Path:
    lines = ["backend igcds from igcds"]
    lines += [f"    server igcds-{i} {host}:{port}" for i, (host, port) in enumerate(servers, start=1)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@contextlib.contextmanager
def haproxy(servers: Sequence[tuple[str, int]], *, maxconn_per_server: int = 4, port: int | None = None,
            wait_ready: bool = True, timeout: float = 20.0) -> Iterator[RunningProxy]:
    """haproxy on loopback (``port``, or a free one), balancing over ``servers`` ((host, port) pairs)."""
    if not os.access(HAPROXY, os.X_OK):
        raise RuntimeError(f"{HAPROXY} is missing: run make haproxy-bin (scripts/haproxy-bin.sh)")
    tmp = Path(tempfile.mkdtemp(prefix="igcds-haproxy-"))
    port = port or free_port()
    backend = backend_file(servers, tmp / "backend.cfg")
    log_path = tmp / "haproxy.log"
    env = {**os.environ, "IGCDS_LB_BIND": f"127.0.0.1:{port}", "IGCDS_LB_SERVER_MAXCONN": str(maxconn_per_server)}
    check = subprocess.run([str(HAPROXY), "-c", "-q", "-f", str(CONFIG), "-f", str(backend)], env=env,
                           capture_output=True, text=True, timeout=30)
    if check.returncode != 0:
        raise RuntimeError(f"haproxy -c refused the configuration:\n{check.stdout}{check.stderr}")
    with open(log_path, "wb") as log:
        process = subprocess.Popen([str(HAPROXY), "-db", "-f", str(CONFIG), "-f", str(backend)], env=env,
                                   stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                   start_new_session=True)
    proxy = RunningProxy(f"http://127.0.0.1:{port}", port, log_path, process)
    try:
        _wait_listening(proxy, timeout)
        if wait_ready:
            wait_until_in_rotation(proxy, timeout)
        yield proxy
    finally:
        stop_process_group(process)
        shutil.rmtree(tmp, ignore_errors=True)


def _wait_listening(proxy: RunningProxy, timeout: float) -> None:
    import socket

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proxy.process.poll() is not None:
            raise RuntimeError(f"haproxy exited with {proxy.process.returncode}:\n{proxy.log_text()[-3000:]}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", proxy.port), timeout=0.5):
            return
        time.sleep(0.05)
    raise RuntimeError(f"haproxy did not listen within {timeout} s:\n{proxy.log_text()[-3000:]}")


def wait_until_in_rotation(proxy: RunningProxy, timeout: float = 20.0) -> None:
    """Until haproxy's checks have put an instance in rotation (``/healthz`` answers through it)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(requests.RequestException):
            if requests.get(proxy.url("/healthz"), timeout=2).status_code == 200:
                return
        time.sleep(0.1)
    raise RuntimeError(f"no igcds instance came into rotation within {timeout} s:\n{proxy.log_text()[-3000:]}")
