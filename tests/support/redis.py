"""A throw-away Redis server for tests, on 127.0.0.1 and a free port.

Uses Debian's ``/usr/bin/redis-server`` (``scripts/redis-bin.sh`` / ``make redis-bin`` installs it).
Nothing is persisted (no RDB snapshot, no AOF), no password, loopback only. :meth:`RedisServer.stop`
and :meth:`RedisServer.start` stop and restart it on the same port, so a test can take the replay
store away from a running igcds and give it back.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from tests.support.igcds_server import free_port

REDIS_SERVER = Path(os.environ.get("IGCDS_REDIS_SERVER", "/usr/bin/redis-server"))
START_TIMEOUT_S = 10.0


class RedisError(RuntimeError):
    """The server could not be started."""


@dataclass
class RedisServer:
    port: int
    root: Path
    process: subprocess.Popen[bytes] | None = None
    _removed: bool = field(default=False, repr=False)

    @property
    def url(self) -> str:
        """The ``[auth] replay_store`` value for this server (database 0)."""
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def log_path(self) -> Path:
        return self.root / "redis.log"

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self) -> None:
        """Start (or restart) the server on its port; return once it answers PING."""
        if self.running:
            return
        args = [str(REDIS_SERVER), "--bind", "127.0.0.1", "--port", str(self.port), "--save", "",
                "--appendonly", "no", "--dir", str(self.root), "--logfile", str(self.log_path),
                "--protected-mode", "yes", "--daemonize", "no"]
        self.process = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RedisError(f"redis-server exited with {self.process.returncode}:\n{self.log_tail()}")
            if self.ping():
                return
            time.sleep(0.05)
        raise RedisError(f"redis-server did not answer within {START_TIMEOUT_S} s:\n{self.log_tail()}")

    def ping(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as conn:
                conn.sendall(b"PING\r\n")
                return conn.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL); the port stays this server's for :meth:`start`."""
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)

    def remove(self) -> None:
        """Stop and delete the working directory. Idempotent."""
        if self._removed:
            return
        self._removed = True
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)


def start_redis() -> RedisServer:
    if not os.access(REDIS_SERVER, os.X_OK):
        raise RedisError(f"{REDIS_SERVER} is missing: run make redis-bin (scripts/redis-bin.sh)")
    server = RedisServer(port=free_port(), root=Path(tempfile.mkdtemp(prefix="igcds-redis-")))
    atexit.register(server.remove)
    try:
        server.start()
    except BaseException:
        server.remove()
        raise
    return server
