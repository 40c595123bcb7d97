"""Server-side sessions: opaque cookies, encrypted documents, expiry, one-time launches."""

from __future__ import annotations

import os
import stat

import pytest
from cryptography.fernet import Fernet

from cds_service.errors import ConfigError
from hooks.companion.errors import NotSignedIn, SessionExpired
from hooks.companion.sessions import KEY_FILE, Sessions, SqliteSessionStore, build_session_store, session_key


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def sessions(tmp_path, clock):
    return Sessions(SqliteSessionStore(tmp_path / "s.sqlite3", clock=clock), Fernet.generate_key(), clock=clock)


def test_a_session_is_read_back_by_its_cookie_and_stored_encrypted_under_a_hash(sessions, tmp_path):
    cookie = sessions.create({"access_token": "secret-token-value"}, 60)
    assert sessions.read(cookie)["access_token"] == "secret-token-value"
    raw = (tmp_path / "s.sqlite3").read_bytes() + b"".join(
        p.read_bytes() for p in tmp_path.glob("s.sqlite3*") if p.is_file())
    assert b"secret-token-value" not in raw and cookie.encode() not in raw


def test_an_expired_session_says_so_and_an_unknown_cookie_says_not_signed_in(sessions, clock):
    cookie = sessions.create({"x": 1}, 60)
    clock.now += 61
    with pytest.raises(SessionExpired):
        sessions.read(cookie)
    with pytest.raises(NotSignedIn):
        sessions.read("made-up")
    with pytest.raises(NotSignedIn):
        sessions.read(None)


def test_a_pending_launch_can_be_taken_once(sessions):
    cookie = sessions.create({"state": "s"}, 60)
    assert sessions.take(cookie)["state"] == "s"
    with pytest.raises(NotSignedIn):
        sessions.take(cookie)


def test_a_session_written_with_another_key_cannot_be_read(tmp_path, clock):
    store = SqliteSessionStore(tmp_path / "s.sqlite3", clock=clock)
    cookie = Sessions(store, Fernet.generate_key(), clock=clock).create({"x": 1}, 60)
    with pytest.raises(NotSignedIn, match="session key changed"):
        Sessions(store, Fernet.generate_key(), clock=clock).read(cookie)


def test_the_generated_key_is_made_once_private_and_reused(tmp_path):
    first = session_key("", tmp_path)
    assert session_key("", tmp_path) == first
    assert stat.S_IMODE(os.stat(tmp_path / KEY_FILE).st_mode) == 0o600
    configured = Fernet.generate_key().decode()
    assert session_key(configured, tmp_path) == configured.encode()
    with pytest.raises(ConfigError, match="session_key"):
        session_key("not-a-key", tmp_path)


def test_the_store_setting_is_sqlite_or_a_redis_url(tmp_path):
    assert isinstance(build_session_store("sqlite", tmp_path), SqliteSessionStore)
    assert repr(build_session_store("redis://:pw@127.0.0.1:1/0", tmp_path)) == "RedisSessionStore(<url>)"
    with pytest.raises(ConfigError, match="session_store"):
        build_session_store("memcached://x", tmp_path)
