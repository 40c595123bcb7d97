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


def _race(make_store, where: str, jtis: list[str], start, out) -> None:  # runs in a child process
    store = make_store(where)
    start.wait()
    out.put([(jti, store.first_use("iss", jti, time.time() + 60).fresh) for jti in jtis])


def fresh_in_processes(make_store, where: str, jtis: list[str]) -> list[str]:
    """Four forked processes, each with its own ``make_store(where)``, try every jti at once: the
    jtis each one was told were fresh, all together."""
    ctx = multiprocessing.get_context("fork")
    start, out = ctx.Event(), ctx.Queue()
    workers = [ctx.Process(target=_race, args=(make_store, where, jtis, start, out)) for _ in range(4)]
    for w in workers:
        w.start()
    start.set()
    results = [out.get(timeout=30) for _ in workers]
    for w in workers:
        w.join(timeout=10)
    return [jti for result in results for jti, ok in result if ok]


def test_concurrent_processes_get_exactly_one_first_use_per_jti(tmp_path):
    path = str(tmp_path / "r.sqlite3")
    SqliteReplayStore(path)
    jtis = [f"jti-{i}" for i in range(40)]
    fresh = fresh_in_processes(SqliteReplayStore, path, jtis)
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


# Redis: the real server of the test session (tests/support/redis.py), never a fake -------------


@pytest.fixture
def redis_store(redis_server) -> RedisReplayStore:
    return RedisReplayStore(redis_server.url)


def raw_redis(redis_server):
    import redis

    return redis.Redis.from_url(redis_server.url, socket_timeout=2)


def test_redis_store_sets_nx_ex_for_the_tokens_remaining_lifetime(redis_server, redis_store):
    jti = f"j-{os.urandom(6).hex()}"
    assert redis_store.first_use("iss", jti, time.time() + 120).fresh
    verdict = redis_store.first_use("iss", jti, time.time() + 120)
    assert not verdict.fresh and verdict.first_pid == os.getpid()
    assert redis_store.first_use("other-iss", jti, time.time() + 120).fresh  # jti is unique per issuer
    client = raw_redis(redis_server)
    keys = [k.decode() for k in client.keys("igcds:jti:*")]
    assert keys and all(jti not in k for k in keys)  # only digests, no raw claim values
    ttls = {client.ttl(k) for k in keys}
    assert all(118 <= ttl <= 122 for ttl in ttls), ttls


def test_redis_store_forgets_a_jti_when_its_token_expires(redis_store):
    jti = f"short-{os.urandom(6).hex()}"
    assert redis_store.first_use("iss", jti, time.time() + 0.2).fresh  # kept 1 s (the minimum)
    assert not redis_store.first_use("iss", jti, time.time() + 0.2).fresh
    deadline = time.monotonic() + 5
    while not redis_store.first_use("iss", jti, time.time() + 0.2).fresh:
        assert time.monotonic() < deadline, "the key never expired"
        time.sleep(0.2)


def test_redis_store_concurrent_processes_get_exactly_one_first_use_per_jti(redis_server):
    jtis = [f"proc-{os.urandom(4).hex()}-{i}" for i in range(40)]
    fresh = fresh_in_processes(RedisReplayStore, redis_server.url, jtis)
    assert sorted(fresh) == sorted(jtis)


def _use_inherited_redis(store: RedisReplayStore, jti: str, out) -> None:
    verdict = store.first_use("iss", jti, time.time() + 60)
    out.put((verdict.fresh, verdict.first_pid))


def test_redis_store_built_before_fork_reconnects_and_names_the_first_worker(redis_store):
    jti = f"fork-{os.urandom(4).hex()}"
    assert redis_store.first_use("iss", jti, time.time() + 60).fresh  # connects in the parent
    ctx = multiprocessing.get_context("fork")
    out = ctx.Queue()
    child = ctx.Process(target=_use_inherited_redis, args=(redis_store, jti, out))
    child.start()
    assert out.get(timeout=20) == (False, os.getpid())  # the child's own connection, the parent's pid
    child.join(timeout=10)


def test_redis_down_raises_so_the_authenticator_fails_closed_then_recovers(redis_server, redis_store):
    assert redis_store.first_use("iss", f"before-{os.urandom(4).hex()}", time.time() + 60).fresh
    redis_server.stop()
    try:
        with pytest.raises(Exception):  # noqa: B017 - whatever redis raises; the caller refuses the call
            redis_store.first_use("iss", "during", time.time() + 60)
        with pytest.raises(Exception):  # noqa: B017
            redis_store.ping()
    finally:
        redis_server.start()
    redis_store.ping()  # the same store object reconnects by itself
    assert redis_store.first_use("iss", f"after-{os.urandom(4).hex()}", time.time() + 60).fresh
