"""Connections to the small stores several worker processes share: a SQLite file or a Redis server.

The app is built once in the gunicorn master (to fail fast) and again in each worker, and a gthread
worker serves requests on several threads; a SQLite connection must not cross a thread or a fork, nor a
Redis client a fork. These helpers open lazily and again after a fork. Used by the JWT replay store
(``replay``) and by applications' own stores (e.g. a SMART app's sessions).
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal

from .errors import ConfigError

#: How long a store waits for another process's lock at start-up (the stores' own busy_timeout, 5 s).
BUSY_WAIT_S = 5.0

REDIS_SCHEMES = ("redis://", "rediss://", "unix://")


def store_kind(setting: str, key: str) -> Literal["sqlite", "redis"]:
    """``sqlite`` or a Redis URL; anything else stops start-up naming the configuration ``key``."""
    value = setting.strip().lower()
    if value == "sqlite":
        return "sqlite"
    if value.startswith(REDIS_SCHEMES):
        return "redis"
    raise ConfigError(f'{key}: expected "sqlite" or a redis:// / rediss:// / unix:// URL')


def use_wal(cursor: Any, wait_s: float) -> None:
    """Put the database in WAL mode (once: the mode is stored in the file). Switching needs an exclusive
    lock, and SQLite answers "database is locked" at once, without its busy handler, when several
    processes open a new database at the same moment; so the switch is retried for up to ``wait_s``."""
    deadline = time.monotonic() + wait_s
    while True:
        try:
            if str(cursor.execute("PRAGMA journal_mode").fetchone()[0]).lower() != "wal":
                cursor.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.01)


def create_sqlite(path: Path, open_connection: Callable[[], sqlite3.Connection], schema: Sequence[str],
                  key: str) -> None:
    """Make the file (WAL mode) and its tables once at start-up; a failure stops start-up naming ``key``."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        conn = open_connection()
        try:
            use_wal(conn, BUSY_WAIT_S)
            for statement in schema:
                conn.execute(statement)
        finally:
            conn.close()
    except (OSError, sqlite3.Error) as exc:
        raise ConfigError(f"{key}: cannot use {path}: {exc}") from exc


class SqliteConnections:
    """One connection per thread and process, made by ``open_connection`` when first asked for."""

    def __init__(self, open_connection: Callable[[], sqlite3.Connection]) -> None:
        self._open = open_connection
        self._local = threading.local()

    def get(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None or getattr(self._local, "pid", None) != os.getpid():
            conn = self._open()
            self._local.conn = conn
            self._local.pid = os.getpid()
        return conn


class RedisConnection:
    """A ``redis.Redis`` client for ``url``, made again after a fork. The URL is parsed at once, so a
    typo stops start-up (naming ``key``); the connection is made lazily. Never shows the URL (it may
    carry a password)."""

    def __init__(self, url: str, key: str) -> None:
        try:
            import redis
        except ImportError as exc:  # pragma: no cover - redis is a declared dependency
            raise ConfigError(f"{key}: the redis package is not installed") from exc
        self._redis_module = redis
        self._url = url
        self._client: Any = None
        self._pid: int | None = None
        self._lock = threading.Lock()
        try:
            redis.connection.ConnectionPool.from_url(url)
        except ValueError as exc:
            raise ConfigError(f"{key}: not a usable Redis URL ({exc})") from None

    def get(self) -> Any:  # redis.Redis; the module is imported lazily (optional back end)
        with self._lock:
            if self._client is None or self._pid != os.getpid():
                self._client = self._redis_module.Redis.from_url(
                    self._url, socket_timeout=1.0, socket_connect_timeout=1.0)
                self._pid = os.getpid()
            return self._client

    def __repr__(self) -> str:
        return "RedisConnection(<url>)"
