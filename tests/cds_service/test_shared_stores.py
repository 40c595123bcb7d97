"""The SQLite side of the stores every worker shares (JWT replay, companion sessions, the audit database).

Switching a new database to WAL needs an exclusive lock, and SQLite answers "database is locked" at once,
without its busy handler, when several processes open the new file at the same moment. The audit store
retried; the replay and session stores failed start-up. Both go through ``use_wal`` now.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from cds_service.errors import ConfigError
from cds_service.shared_stores import create_sqlite, use_wal


class LockedAtFirst:
    """A connection whose first ``locked_times`` journal-mode statements meet another process's lock."""

    def __init__(self, path: Path, locked_times: int, error: str = "database is locked") -> None:
        self.conn = sqlite3.connect(path)
        self.locked_times, self.error = locked_times, error
        self.statements: list[str] = []

    def execute(self, statement: str) -> Any:
        self.statements.append(statement)
        if "journal_mode" in statement and self.locked_times:
            self.locked_times -= 1
            raise sqlite3.OperationalError(self.error)
        return self.conn.execute(statement)

    def close(self) -> None:
        self.conn.close()


def test_a_new_store_waits_out_another_process_switching_it_to_wal(tmp_path: Path) -> None:
    path = tmp_path / "replay.sqlite3"
    conn = LockedAtFirst(path, locked_times=3)
    create_sqlite(path, lambda: conn, ["CREATE TABLE IF NOT EXISTS jti (key TEXT PRIMARY KEY)"],
                  "[security] replay_store")
    with sqlite3.connect(path) as check:
        assert check.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert check.execute("SELECT count(*) FROM jti").fetchone()[0] == 0
    assert conn.statements.count("PRAGMA journal_mode") == 4  # three locked attempts, then the switch


def test_another_error_is_not_retried_and_names_the_key(tmp_path: Path) -> None:
    path = tmp_path / "replay.sqlite3"
    conn = LockedAtFirst(path, locked_times=1, error="disk I/O error")
    with pytest.raises(ConfigError, match=r"\[security\] replay_store: cannot use .*disk I/O error"):
        create_sqlite(path, lambda: conn, [], "[security] replay_store")
    assert conn.statements == ["PRAGMA journal_mode"]


def test_a_lock_held_past_the_wait_gives_up(tmp_path: Path) -> None:
    conn = LockedAtFirst(tmp_path / "a.sqlite3", locked_times=10**6)
    with pytest.raises(sqlite3.OperationalError, match="locked"):
        use_wal(conn, 0.05)
    assert 2 <= len(conn.statements) < 10**6
    conn.close()
