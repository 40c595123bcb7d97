"""A throw-away PostgreSQL 15 cluster for tests, on 127.0.0.1 and a free port.

Uses Debian's server binaries in ``/usr/lib/postgresql/15/bin`` (``scripts/postgres-bin.sh`` /
``make postgres-bin`` installs them when missing). PostgreSQL refuses to run as root, so when the
tests run as root, ``initdb`` and ``pg_ctl`` run as the ``postgres`` OS user (``runuser``) on a
temporary directory owned by that user. Authentication is ``trust`` (loopback and the private
socket directory only), ``fsync`` and friends are off: the data is disposable.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

PG_BIN = Path(os.environ.get("IGCDS_PG_BIN", "/usr/lib/postgresql/15/bin"))
DATABASE = "igcds_test"
START_TIMEOUT_S = 30


class PostgresError(RuntimeError):
    """The cluster could not be created or started."""


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class PostgresServer:
    port: int
    root: Path
    data_dir: Path
    socket_dir: Path
    log_path: Path
    run_as: str | None
    _stopped: bool = False

    @property
    def url(self) -> str:
        """SQLAlchemy URL of the test database ``igcds_test``."""
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{DATABASE}"

    @property
    def admin_url(self) -> str:
        """SQLAlchemy URL of the maintenance database ``postgres``."""
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def conninfo(self, dbname: str = DATABASE) -> str:
        """A libpq connection string for :func:`psycopg.connect`."""
        return f"host=127.0.0.1 port={self.port} user=postgres dbname={dbname}"

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    @property
    def _options(self) -> str:
        return (f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.socket_dir} "
                "-c fsync=off -c synchronous_commit=off -c full_page_writes=off")

    def start_server(self) -> None:
        """``pg_ctl start`` on the cluster's data directory and port (first start, or after
        :meth:`stop_server`)."""
        proc = _run(self.run_as, [str(PG_BIN / "pg_ctl"), "-D", str(self.data_dir), "-l", str(self.log_path),
                                  "-o", self._options, "-w", "-t", str(START_TIMEOUT_S), "start"], check=False)
        if proc.returncode != 0:
            raise PostgresError(f"pg_ctl start failed ({proc.returncode}): {proc.stdout}{proc.stderr}\n"
                                f"log tail:\n{self.log_tail()}")

    def stop_server(self) -> None:
        """``pg_ctl stop -m fast``, keeping the data: a database outage that :meth:`start_server` ends."""
        _run(self.run_as, [str(PG_BIN / "pg_ctl"), "-D", str(self.data_dir), "-m", "fast", "-w", "stop"])

    def stop(self) -> None:
        """``pg_ctl stop -m fast`` and remove the temporary directory. Idempotent."""
        if self._stopped:
            return
        self._stopped = True
        if (self.data_dir / "postmaster.pid").exists():
            with contextlib.suppress(PostgresError):
                self.stop_server()
        shutil.rmtree(self.root, ignore_errors=True)


def _run(run_as: str | None, argv: list[str], check: bool = True) -> subprocess.CompletedProcess[str]:
    if run_as:
        argv = ["runuser", "-u", run_as, "--", *argv]
    proc = subprocess.run(argv, capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=120)
    if check and proc.returncode != 0:
        raise PostgresError(f"{' '.join(argv)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc


def start_postgres() -> PostgresServer:
    """initdb a temporary cluster, start it, create the ``igcds_test`` database."""
    for tool in ("initdb", "pg_ctl", "postgres"):
        if not os.access(PG_BIN / tool, os.X_OK):
            raise PostgresError(
                f"{PG_BIN / tool} is missing: run make postgres-bin (scripts/postgres-bin.sh)")
    run_as = None
    root = Path(tempfile.mkdtemp(prefix="igcds-pg-"))
    if os.geteuid() == 0:
        try:
            user = pwd.getpwnam("postgres")
        except KeyError:
            raise PostgresError("running as root needs the postgres OS user: run make postgres-bin") from None
        run_as = "postgres"
        os.chown(root, user.pw_uid, user.pw_gid)
    root.chmod(0o700)
    server = PostgresServer(port=_free_port(), root=root, data_dir=root / "data", socket_dir=root,
                            log_path=root / "postgres.log", run_as=run_as)
    atexit.register(server.stop)
    try:
        _run(run_as, [str(PG_BIN / "initdb"), "-D", str(server.data_dir), "-U", "postgres", "-A", "trust",
                      "-E", "UTF8", "--locale=C", "--no-sync", "--no-instructions"])
        server.start_server()
        try:
            _create_database(server)
        except Exception as exc:
            raise PostgresError(f"cannot create {DATABASE}: {exc}\nlog tail:\n{server.log_tail()}") from exc
    except BaseException:
        server.stop()
        raise
    return server


def _create_database(server: PostgresServer) -> None:
    import psycopg

    with psycopg.connect(server.conninfo("postgres"), autocommit=True, connect_timeout=10) as conn:
        conn.execute(f"CREATE DATABASE {DATABASE}")
