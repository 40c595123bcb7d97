"""JWT ``jti`` replay store, shared by every worker process.

A ``jti`` is remembered, per issuer, until the token it came with can no longer be accepted
(its ``exp`` plus the clock leeway). :meth:`ReplayStore.first_use` records a ``(iss, jti)`` pair
and answers True exactly once for it within that time, whichever process or thread asks:

- :class:`SqliteReplayStore` (default): a SQLite file in ``[server] data_dir`` in WAL mode; the pair
  is the primary key, so the insert itself is the atomic check ("insert or fail"). A row whose time
  is past may be taken over by a new use (``ON CONFLICT ... DO UPDATE WHERE expired``); expired rows
  are purged every minute or so. Shared by all gunicorn workers of one host.
- :class:`RedisReplayStore`: ``SET key NX EX ttl``; for several hosts behind one load balancer.

Both record the process id of the worker that first accepted the ``jti``, so a refusal can say
which worker saw it first (useful when checking that the store really is shared). Connections are
opened lazily and re-opened after a fork: the app is built once in the gunicorn master (to fail
fast) and again in each worker.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from .shared_stores import RedisConnection, SqliteConnections, create_sqlite, store_kind

#: Longest ``jti`` accepted (longer ones are refused before they reach a store).
MAX_JTI_LENGTH = 256

_PURGE_EVERY_S = 60.0


@dataclass(frozen=True, slots=True)
class ReplayVerdict:
    """``fresh``: first use of the jti. Otherwise ``first_pid`` is the worker that accepted it first."""

    fresh: bool
    first_pid: int | None = None


class ReplayStore(Protocol):
    kind: str

    def first_use(self, issuer: str, jti: str, expires_at: float) -> ReplayVerdict: ...

    def ping(self) -> None: ...


def _digest(issuer: str, jti: str) -> str:
    return hashlib.sha256(issuer.encode("utf-8") + b"\x00" + jti.encode("utf-8")).hexdigest()


class SqliteReplayStore:
    """``(iss, jti)`` rows with an expiry, in one SQLite file shared by all worker processes."""

    kind = "sqlite"

    def __init__(self, path: str | os.PathLike[str], *, clock: Callable[[], float] = time.time) -> None:
        self.path = Path(path)
        self.clock = clock
        self._connections = SqliteConnections(self._open)
        self._purge_lock = threading.Lock()
        self._next_purge = 0.0
        create_sqlite(self.path, self._open, (
            "CREATE TABLE IF NOT EXISTS jti ("
            " key TEXT PRIMARY KEY,"  # sha256(iss NUL jti): bounded size, no raw claim values
            " expires_at REAL NOT NULL,"
            " pid INTEGER NOT NULL"
            ") WITHOUT ROWID",
            "CREATE INDEX IF NOT EXISTS jti_expires ON jti (expires_at)",
        ), "[auth] replay_store")

    def _open(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=5.0, isolation_level=None, check_same_thread=True)
        conn.execute("PRAGMA busy_timeout=5000")
        conn.execute("PRAGMA synchronous=NORMAL")
        return conn

    def _conn(self) -> sqlite3.Connection:
        """One connection per thread and process (a connection must not cross a fork)."""
        return self._connections.get()

    def first_use(self, issuer: str, jti: str, expires_at: float) -> ReplayVerdict:
        now = self.clock()
        conn = self._conn()
        key = _digest(issuer, jti)
        pid = os.getpid()
        cursor = conn.execute(
            "INSERT INTO jti (key, expires_at, pid) VALUES (?, ?, ?) "
            "ON CONFLICT (key) DO UPDATE SET expires_at = excluded.expires_at, pid = excluded.pid "
            "WHERE jti.expires_at < ?",
            (key, float(expires_at), pid, now),
        )
        fresh = cursor.rowcount == 1
        self._maybe_purge(conn, now)
        if fresh:
            return ReplayVerdict(True)
        row = conn.execute("SELECT pid FROM jti WHERE key = ?", (key,)).fetchone()
        return ReplayVerdict(False, int(row[0]) if row else None)

    def _maybe_purge(self, conn: sqlite3.Connection, now: float) -> None:
        if now < self._next_purge or not self._purge_lock.acquire(blocking=False):
            return
        try:
            self._next_purge = now + _PURGE_EVERY_S
            conn.execute("DELETE FROM jti WHERE expires_at < ?", (now,))
        finally:
            self._purge_lock.release()

    def purge(self) -> int:
        """Delete expired rows now; returns how many were deleted."""
        return self._conn().execute("DELETE FROM jti WHERE expires_at < ?", (self.clock(),)).rowcount

    def ping(self) -> None:
        self._conn().execute("SELECT 1 FROM jti LIMIT 1").fetchall()

    def __repr__(self) -> str:
        return f"SqliteReplayStore({str(self.path)!r})"


class RedisReplayStore:
    """``SET igcds:jti:<sha256(iss, jti)> <pid> NX EX <ttl>``: shared by every host using the server."""

    kind = "redis"

    def __init__(self, url: str, *, prefix: str = "igcds:jti:", clock: Callable[[], float] = time.time) -> None:
        self._connection = RedisConnection(url, "[auth] replay_store")
        self.prefix = prefix
        self.clock = clock

    def _redis(self) -> Any:  # redis.Redis, made again after a fork
        return self._connection.get()

    def first_use(self, issuer: str, jti: str, expires_at: float) -> ReplayVerdict:
        ttl = max(1, int(expires_at - self.clock()) + 1)
        client = self._redis()
        key = self.prefix + _digest(issuer, jti)
        if client.set(key, os.getpid(), nx=True, ex=ttl):
            return ReplayVerdict(True)
        first = client.get(key)
        try:
            return ReplayVerdict(False, int(first) if first is not None else None)
        except ValueError:
            return ReplayVerdict(False)

    def ping(self) -> None:
        self._redis().ping()

    def __repr__(self) -> str:  # the URL may carry a password
        return "RedisReplayStore(<url>)"


def build_replay_store(setting: str, data_dir: str | os.PathLike[str]) -> ReplayStore:
    """``sqlite`` → ``{data_dir}/replay.sqlite3``; ``redis://``, ``rediss://``, ``unix://`` → Redis."""
    if store_kind(setting, "[auth] replay_store") == "sqlite":
        return SqliteReplayStore(Path(data_dir) / "replay.sqlite3")
    return RedisReplayStore(setting.strip())
