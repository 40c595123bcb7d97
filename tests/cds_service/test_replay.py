"""The jti replay store: one first use per (iss, jti) within its lifetime, across threads and processes."""

from __future__ import annotations

import multiprocessing
import os
import sqlite3
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from cds_service import ConfigError
from cds_service.replay import RedisReplayStore, SqliteReplayStore, build_replay_store


class Clock:
    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_first_use_then_replay_with_the_first_workers_pid(tmp_path):
    store = SqliteReplayStore(tmp_path / "r.sqlite3")
    exp = time.time() + 300
    assert store.first_use("iss", "j1", exp).fresh
    verdict = store.first_use("iss", "j1", exp)
    assert not verdict.fresh and verdict.first_pid == os.getpid()
    assert store.first_use("iss", "j2", exp).fresh
    assert store.first_use("other-iss", "j1", exp).fresh  # jti is unique per issuer


def test_file_is_wal_and_holds_no_raw_claim_values(tmp_path):
    path = tmp_path / "r.sqlite3"
    store = SqliteReplayStore(path)
    store.first_use("https://ehr.example.org", "jti-visible?", time.time() + 60)
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    rows = conn.execute("SELECT key FROM jti").fetchall()
    assert len(rows) == 1 and "jti-visible" not in rows[0][0] and len(rows[0][0]) == 64


def test_expired_rows_can_be_reused_and_are_purged(tmp_path):
    clock = Clock()
    store = SqliteReplayStore(tmp_path / "r.sqlite3", clock=clock)
    assert store.first_use("iss", "j", clock.now + 10).fresh
    assert not store.first_use("iss", "j", clock.now + 10).fresh
    clock.now += 11  # the token (and the row) have expired
    assert store.first_use("iss", "j", clock.now + 10).fresh
    for i in range(5):
        store.first_use("iss", f"old-{i}", clock.now + 1)
    clock.now += 5
    assert store.purge() == 5
    assert not store.first_use("iss", "j", clock.now + 10).fresh  # live row survived the purge


def test_automatic_purge_runs_at_most_every_minute(tmp_path):
    clock = Clock()
    path = tmp_path / "r.sqlite3"
    store = SqliteReplayStore(path, clock=clock)
    for i in range(10):
        store.first_use("iss", f"j{i}", clock.now + 1)
    clock.now += 120
    store.first_use("iss", "trigger", clock.now + 300)
    assert sqlite3.connect(path).execute("SELECT count(*) FROM jti").fetchone()[0] == 1


def test_two_store_objects_on_one_file_share_state(tmp_path):
    a, b = SqliteReplayStore(tmp_path / "r.sqlite3"), SqliteReplayStore(tmp_path / "r.sqlite3")
    assert a.first_use("iss", "shared", time.time() + 60).fresh
    assert not b.first_use("iss", "shared", time.time() + 60).fresh


def test_concurrent_threads_get_exactly_one_first_use(tmp_path):
    store = SqliteReplayStore(tmp_path / "r.sqlite3")
    barrier = threading.Barrier(16)

    def attempt(_: int) -> bool:
        barrier.wait()
        return store.first_use("iss", "race", time.time() + 60).fresh

    with ThreadPoolExecutor(16) as pool:
        results = list(pool.map(attempt, range(16)))
    assert results.count(True) == 1


def _race(path: str, jtis: list[str], start, out) -> None:  # runs in a child process
    store = SqliteReplayStore(path)
    start.wait()
    out.put([(jti, store.first_use("iss", jti, time.time() + 60).fresh) for jti in jtis])


def test_concurrent_processes_get_exactly_one_first_use_per_jti(tmp_path):
    ctx = multiprocessing.get_context("fork")
    path = str(tmp_path / "r.sqlite3")
    SqliteReplayStore(path)
    jtis = [f"jti-{i}" for i in range(40)]
    start, out = ctx.Event(), ctx.Queue()
    workers = [ctx.Process(target=_race, args=(path, jtis, start, out)) for _ in range(4)]
    for w in workers:
        w.start()
    start.set()
    results = [out.get(timeout=30) for _ in workers]
    for w in workers:
        w.join(timeout=10)
    fresh = [jti for result in results for jti, ok in result if ok]
    assert sorted(fresh) == sorted(jtis)  # each jti accepted exactly once, whoever got there first


def _use_inherited(store: SqliteReplayStore, out) -> None:
    out.put((store.first_use("iss", "forked", time.time() + 60).fresh, store.first_use("iss", "parent", 0).fresh))


def test_store_built_before_fork_reconnects_in_the_child(tmp_path):
    store = SqliteReplayStore(tmp_path / "r.sqlite3")
    assert store.first_use("iss", "parent", time.time() + 60).fresh
    ctx = multiprocessing.get_context("fork")
    out = ctx.Queue()
    child = ctx.Process(target=_use_inherited, args=(store, out))
    child.start()
    assert out.get(timeout=20) == (True, False)
    child.join(timeout=10)
    assert not store.first_use("iss", "forked", time.time() + 60).fresh


def test_unusable_location_is_a_config_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(ConfigError, match="replay_store"):
        SqliteReplayStore(blocker / "sub" / "r.sqlite3")


def test_build_replay_store(tmp_path):
    store = build_replay_store("sqlite", tmp_path / "data")
    assert isinstance(store, SqliteReplayStore) and store.path == tmp_path / "data" / "replay.sqlite3"
    assert isinstance(build_replay_store("redis://:secret@127.0.0.1:6399/0", tmp_path), RedisReplayStore)
    with pytest.raises(ConfigError) as info:
        build_replay_store("memcached://x", tmp_path)
    assert "secret" not in str(info.value)
    assert "secret" not in repr(build_replay_store("redis://:secret@127.0.0.1:6399/0", tmp_path))


class FakeRedis:
    """The two commands the store uses, with SET NX EX semantics."""

    def __init__(self, clock: Clock) -> None:
        self.clock, self.data, self.calls = clock, {}, []

    def set(self, key, value, nx=False, ex=None):
        self.calls.append(("set", key, nx, ex))
        current = self.data.get(key)
        if nx and current is not None and current[1] > self.clock.now:
            return None
        self.data[key] = (str(value).encode(), self.clock.now + ex)
        return True

    def get(self, key):
        current = self.data.get(key)
        return current[0] if current and current[1] > self.clock.now else None

    def ping(self):
        return True


def test_redis_store_uses_set_nx_ex_for_the_tokens_remaining_lifetime(tmp_path):
    clock = Clock()
    store = RedisReplayStore("redis://127.0.0.1:6399/0", clock=clock)
    fake = FakeRedis(clock)
    store._redis = lambda: fake  # type: ignore[method-assign]
    assert store.first_use("iss", "j", clock.now + 120).fresh
    verdict = store.first_use("iss", "j", clock.now + 120)
    assert not verdict.fresh and verdict.first_pid == os.getpid()
    _, key, nx, ex = fake.calls[0]
    assert nx is True and 120 <= ex <= 122 and key.startswith("igcds:jti:") and "j" not in key[len("igcds:jti:"):]
    clock.now += 200
    assert store.first_use("iss", "j", clock.now + 120).fresh


def test_redis_store_unreachable_raises_so_the_authenticator_fails_closed(tmp_path):
    store = RedisReplayStore("redis://127.0.0.1:1/0")
    with pytest.raises(Exception):  # noqa: B017 - whatever redis raises; the caller refuses the call
        store.first_use("iss", "j", time.time() + 60)
    with pytest.raises(Exception):  # noqa: B017
        store.ping()
