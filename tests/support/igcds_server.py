"""Start the real igcds server (gunicorn, via ``igcds serve``) for tests over real HTTP.

Each server gets its own TOML configuration, data directory and loopback port, and is stopped
(terminate, then kill) when the context exits. It never falls back to an in-process app: a test
that asks for a server gets the production serving stack or fails with the server's log.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

REPO = Path(__file__).resolve().parents[2]
IGCDS = Path(sys.executable).with_name("igcds")

#: Every igcds server log of this test session, scanned for secrets when the session ends
#: (tests/conftest.py ``pytest_sessionfinish``).
SERVER_LOGS: list[Path] = []


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, Mapping):
        return "{ " + ", ".join(f"{k} = {_toml_value(v)}" for k, v in value.items()) + " }"
    raise TypeError(f"cannot write {value!r} as TOML")


def write_toml(config: Mapping[str, Any], path: Path) -> Path:
    """Write a nested mapping as TOML: top-level mappings become tables, lists of mappings arrays of tables."""
    lines: list[str] = []
    for key, value in config.items():
        if not isinstance(value, Mapping) and not (isinstance(value, list) and value and isinstance(value[0], Mapping)):
            lines.append(f"{key} = {_toml_value(value)}")
    for key, value in config.items():
        if isinstance(value, Mapping):
            lines.append(f"\n[{key}]")
            lines.extend(f"{k} = {_toml_value(v)}" for k, v in value.items())
        elif isinstance(value, list) and value and isinstance(value[0], Mapping):
            for item in value:
                lines.append(f"\n[[{key}]]")
                lines.extend(f"{k} = {_toml_value(v)}" for k, v in item.items())
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@dataclass
class RunningServer:
    base_url: str
    port: int
    data_dir: Path
    config_path: Path
    log_path: Path
    process: subprocess.Popen[bytes]

    def url(self, path: str) -> str:
        return self.base_url + path

    def log_text(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace") if self.log_path.exists() else ""


@contextlib.contextmanager
def igcds_server(
    config: Mapping[str, Any] | None = None,
    *,
    dev: bool = True,
    workers: int = 2,
    threads: int = 4,
    env: Mapping[str, str] | None = None,
    startup_timeout: float = 30.0,
) -> Iterator[RunningServer]:
    """Run ``igcds serve`` on a free loopback port with ``config`` (a nested mapping)."""
    port = free_port()
    tmp = Path(tempfile.mkdtemp(prefix="igcds-test-"))
    data_dir = tmp / "data"
    data_dir.mkdir()
    merged: dict[str, Any] = {k: (dict(v) if isinstance(v, Mapping) else v) for k, v in (config or {}).items()}
    server = merged.setdefault("server", {})
    server.setdefault("public_base_url", f"http://127.0.0.1:{port}")
    server.setdefault("data_dir", str(data_dir))
    merged.setdefault("storage", {}).setdefault("url", f"sqlite:///{data_dir}/igcds.db")
    merged.setdefault("logging", {}).setdefault("json", True)
    config_path = write_toml(merged, tmp / "igcds.toml")
    log_path = tmp / "server.log"
    process = spawn_serve(config_path, port, log_path, workers=workers, threads=threads, dev=dev, env=env)
    running = RunningServer(f"http://127.0.0.1:{port}", port, data_dir, config_path, log_path, process)
    try:
        wait_until_healthy(process, running.url("/healthz"), log_path, startup_timeout)
        yield running
    finally:
        stop_process_group(process)


def spawn_serve(config_path: Path, port: int, log_path: Path, *, workers: int, threads: int, dev: bool = False,
                env: Mapping[str, str] | None = None, host: str = "127.0.0.1") -> subprocess.Popen[bytes]:
    """Start ``igcds serve`` on ``host`` (127.0.0.1):``port`` in its own process group, its output appended to
    ``log_path`` (registered for the session's log hygiene scan), the working directory beside the
    configuration. A server stopped (or killed) can be started again with the same arguments."""
    if log_path not in SERVER_LOGS:
        SERVER_LOGS.append(log_path)
    args = [str(IGCDS), "serve", "--host", host, "--port", str(port), "--config", str(config_path),
            "--workers", str(workers), "--threads", str(threads)]
    if dev:
        args.append("--dev")
    run_env = {k: v for k, v in os.environ.items() if not k.startswith("IGCDS_")}
    run_env.update(env or {})
    with open(log_path, "ab") as log:
        return subprocess.Popen(args, cwd=config_path.parent, stdout=log, stderr=subprocess.STDOUT, env=run_env,
                                start_new_session=True)


def wait_until_healthy(process: subprocess.Popen[bytes], health_url: str, log_path: Path, timeout: float,
                       name: str = "igcds") -> None:
    """Poll ``health_url`` until it answers 200; fail with the log tail if the process dies or
    the time runs out."""
    def tail() -> str:
        return log_path.read_text(encoding="utf-8", errors="replace")[-4000:] if log_path.exists() else ""

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{name} exited with {process.returncode}:\n{tail()}")
        try:
            if requests.get(health_url, timeout=1).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{name} did not become healthy in {timeout} s:\n{tail()}")


def stop_process_group(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM the process group we started, then SIGKILL it if it lingers."""
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=5)
