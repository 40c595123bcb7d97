"""Server-side sessions of the companion app: the browser holds an opaque cookie, never a token.

A session is a small JSON document (the pending launch's ``state`` and PKCE verifier, then the access
token and the launch context) encrypted with Fernet (AES-128-CBC + HMAC-SHA256, ``cryptography``) and
stored under the SHA-256 of the cookie value: neither a copy of the store nor a log line can be turned
back into a usable cookie, and what is stored cannot be read without the key.

Back ends, as for the JWT replay store: a SQLite file in ``[server] data_dir`` (WAL; shared by the
gunicorn workers of one host) or Redis (``redis://``; shared by several hosts, which then need the same
``[app] session_key``). Every session carries its own expiry inside the encrypted document; the store
keeps a row a little longer (``KEEP_AFTER_EXPIRY_S``) so that a late request is told its session
*expired* rather than that it has none, then forgets it.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import orjson
from cryptography.fernet import Fernet, InvalidToken

from cds_service.errors import ConfigError
from cds_service.shared_stores import RedisConnection, SqliteConnections, create_sqlite, store_kind

from .errors import NotSignedIn, SessionExpired

#: How long an expired session is kept (and its cookie lives) so that a late request hears "expired".
KEEP_AFTER_EXPIRY_S = 3600
_PURGE_EVERY_S = 60.0
KEY_FILE = "companion-session.key"


class SessionStore(Protocol):
    def put(self, key: str, payload: bytes, keep_until: float) -> None: ...

    def get(self, key: str) -> bytes | None: ...

    def take(self, key: str) -> bytes | None:
        """Get and delete in one step (a pending launch is used once)."""
        ...

    def delete(self, key: str) -> None: ...


class SqliteSessionStore:
    def __init__(self, path: str | os.PathLike[str], *, clock: Callable[[], float] = time.time) -> None:
        self.path = Path(path)
        self.clock = clock
        self._connections = SqliteConnections(self._open)
        self._next_purge = 0.0
        create_sqlite(self.path, self._open, (
            "CREATE TABLE IF NOT EXISTS session (key TEXT PRIMARY KEY, payload BLOB NOT NULL,"
            " keep_until REAL NOT NULL) WITHOUT ROWID",
        ), "[app] session_store")

    def _open(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=5.0, isolation_level=None)
        conn.execute("PRAGMA busy_timeout=5000")
        return conn

    def put(self, key: str, payload: bytes, keep_until: float) -> None:
        conn = self._connections.get()
        conn.execute(
            "INSERT INTO session (key, payload, keep_until) VALUES (?, ?, ?) ON CONFLICT (key) DO UPDATE"
            " SET payload = excluded.payload, keep_until = excluded.keep_until",
            (key, payload, keep_until),
        )
        now = self.clock()
        if now >= self._next_purge:
            self._next_purge = now + _PURGE_EVERY_S
            conn.execute("DELETE FROM session WHERE keep_until < ?", (now,))

    def get(self, key: str) -> bytes | None:
        row = self._connections.get().execute(
            "SELECT payload FROM session WHERE key = ? AND keep_until >= ?", (key, self.clock())
        ).fetchone()
        return bytes(row[0]) if row else None

    def take(self, key: str) -> bytes | None:
        row = self._connections.get().execute(
            "DELETE FROM session WHERE key = ? RETURNING payload, keep_until", (key,)
        ).fetchone()
        return bytes(row[0]) if row and row[1] >= self.clock() else None

    def delete(self, key: str) -> None:
        self._connections.get().execute("DELETE FROM session WHERE key = ?", (key,))


class RedisSessionStore:
    """``SET <prefix><sha256(cookie)> <encrypted document> EX <ttl>``; ``GETDEL`` for one-time reads."""

    def __init__(self, url: str, *, prefix: str = "igcds:app-session:", clock: Callable[[], float] = time.time):
        self._connection = RedisConnection(url, "[app] session_store")
        self.prefix, self.clock = prefix, clock

    def put(self, key: str, payload: bytes, keep_until: float) -> None:
        self._connection.get().set(self.prefix + key, payload, ex=max(1, int(keep_until - self.clock()) + 1))

    def get(self, key: str) -> bytes | None:
        value = self._connection.get().get(self.prefix + key)
        return bytes(value) if value is not None else None

    def take(self, key: str) -> bytes | None:
        value = self._connection.get().getdel(self.prefix + key)
        return bytes(value) if value is not None else None

    def delete(self, key: str) -> None:
        self._connection.get().delete(self.prefix + key)

    def __repr__(self) -> str:  # the URL may carry a password
        return "RedisSessionStore(<url>)"


def build_session_store(setting: str, data_dir: str | os.PathLike[str]) -> SessionStore:
    if store_kind(setting, "[app] session_store") == "sqlite":
        return SqliteSessionStore(Path(data_dir) / "companion-sessions.sqlite3")
    return RedisSessionStore(setting.strip())


def session_key(configured: str, data_dir: str | os.PathLike[str]) -> bytes:
    """The Fernet key: the configured one, else one generated once in ``data_dir`` (mode 0600).

    Every worker of a host reads the same file; the first to start creates it (``O_EXCL``), and a worker
    that loses that race reads the winner's key.
    """
    if configured:
        key = configured.encode()
        try:
            Fernet(key)
        except ValueError:
            raise ConfigError(
                "[app] session_key: expected url-safe base64 of 32 bytes (Fernet.generate_key())") from None
        return key
    path = Path(data_dir) / KEY_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        for _ in range(50):  # the creator writes 44 bytes right after creating the file
            key = path.read_bytes().strip()
            if key:
                return key
            time.sleep(0.01)
        raise ConfigError(f"[app] session_key: {path} is empty") from None
    key = Fernet.generate_key()
    with os.fdopen(fd, "wb") as out:
        out.write(key)
    return key


def _key_of(cookie: str) -> str:
    return hashlib.sha256(cookie.encode("utf-8")).hexdigest()


class Sessions:
    """Encrypted, expiring session documents behind opaque cookie values."""

    def __init__(self, store: SessionStore, key: bytes, *, clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self._fernet = Fernet(key)
        self.clock = clock

    def create(self, data: dict[str, Any], lifetime_s: float) -> str:
        """Store ``data`` for ``lifetime_s`` seconds; returns the new cookie value."""
        cookie = secrets.token_urlsafe(32)
        expires_at = self.clock() + lifetime_s
        document = {**data, "expires_at": expires_at}
        payload = self._fernet.encrypt(orjson.dumps(document))
        self.store.put(_key_of(cookie), payload, expires_at + KEEP_AFTER_EXPIRY_S)
        return cookie

    def _open(self, payload: bytes | None) -> dict[str, Any]:
        if payload is None:
            raise NotSignedIn("There is no igcds companion session in this browser: open the app from the EHR again.")
        try:
            document: dict[str, Any] = orjson.loads(self._fernet.decrypt(payload))
        except (InvalidToken, orjson.JSONDecodeError):
            raise NotSignedIn("The session could not be read (the server's session key changed): "
                              "open the app from the EHR again.") from None
        if float(document.get("expires_at", 0)) <= self.clock():
            raise SessionExpired("Your igcds companion session has expired: open the app from the EHR again.")
        return document

    def read(self, cookie: str | None) -> dict[str, Any]:
        """The session of ``cookie``; :class:`NotSignedIn` or :class:`SessionExpired` otherwise."""
        return self._open(self.store.get(_key_of(cookie)) if cookie else None)

    def take(self, cookie: str | None) -> dict[str, Any]:
        """Like :meth:`read`, and the session is deleted: it can be used this once."""
        return self._open(self.store.take(_key_of(cookie)) if cookie else None)

    def drop(self, cookie: str | None) -> None:
        if cookie:
            self.store.delete(_key_of(cookie))
