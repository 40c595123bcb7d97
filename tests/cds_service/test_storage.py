"""cds_service.storage on SQLite and on the real PostgreSQL server: schema, audit, idempotent feedback."""

from __future__ import annotations

import dataclasses
import gc
import hashlib
import hmac
import os
import secrets
import sqlite3
import stat
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from cds_service.cards import Card, Coding, Indicator, Source
from cds_service.errors import ConfigError
from cds_service.extensions import CallRecord, IssuedCard
from cds_service.storage import (
    SALT_FILE,
    SCHEMA_VERSION,
    Store,
    feedback,
    issued_cards,
    load_or_create_salt,
    resolve_url,
    schema_version,
)

SALT = b"s" * 64
NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


def fresh_postgres_schema(postgres_server) -> str:  # noqa: ANN001 - session fixture object
    """A new, empty schema in the session's PostgreSQL test database; a URL whose search_path is it."""
    import psycopg

    name = f"t_{secrets.token_hex(6)}"
    with psycopg.connect(postgres_server.conninfo(), autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {name}")
    return f"{postgres_server.url}?options=-csearch_path%3D{name}"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/igcds.db"
    else:
        yield fresh_postgres_schema(request.getfixturevalue("postgres_server"))
    gc.collect()  # close the pooled connections of this test's stores (the server is shared)


def card(rule: str, indicator: Indicator = Indicator.WARNING) -> Card:
    return Card(
        summary=f"{rule} fired",
        indicator=indicator,
        source=Source("test", topic=Coding("https://example.org/rules", rule, rule)),
    )


def call(cards: list[IssuedCard], patient: str | None = "patient-123", at: datetime = NOW) -> CallRecord:
    return CallRecord(
        service_id="svc",
        hook="patient-view",
        hook_instance=secrets.token_hex(8),
        patient_id=patient,
        at=at,
        cards=cards,
    )


def accepted(card_uuid: str, at: str = "2025-03-01T12:05:00Z", *suggestions: str) -> dict:
    return {
        "card": card_uuid,
        "outcome": "accepted",
        "outcomeTimestamp": at,
        "acceptedSuggestions": [{"id": s} for s in (suggestions or ("s1",))],
    }


def overridden(
    card_uuid: str,
    at: str = "2025-03-01T12:05:00Z",
    code: str | None = "no-longer-relevant",
    comment: str | None = None,
) -> dict:
    reason: dict = {}
    if code:
        reason["reason"] = {"system": "https://example.org/reasons", "code": code, "display": code}
    if comment:
        reason["userComment"] = comment
    item = {"card": card_uuid, "outcome": "overridden", "outcomeTimestamp": at}
    if reason:
        item["overrideReason"] = reason
    return item


class TestSchema:
    def test_creates_the_tables_and_records_the_version(self, db_url: str) -> None:
        store = Store(db_url, salt=SALT)
        assert store.schema_version() == SCHEMA_VERSION
        assert store.readiness()["ok"] is True
        names = set(sa.inspect(store.engine).get_table_names())
        assert {"schema_version", "issued_cards", "feedback"} <= names

    def test_migrating_again_is_a_no_op(self, db_url: str) -> None:
        Store(db_url, salt=SALT)
        store = Store(db_url, salt=SALT)
        store.migrate()
        with store.engine.connect() as conn:
            assert (
                conn.execute(sa.select(sa.func.count()).select_from(schema_version)).scalar()
                == SCHEMA_VERSION
            )

    def test_concurrent_start_ups_migrate_once(self, db_url: str) -> None:
        errors: list[BaseException] = []
        barrier = threading.Barrier(8)

        def start() -> None:
            try:
                barrier.wait()
                Store(db_url, salt=SALT)
            except BaseException as exc:  # noqa: BLE001 - reported below
                errors.append(exc)

        threads = [threading.Thread(target=start) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        store = Store(db_url, salt=SALT, migrate=False)
        with store.engine.connect() as conn:
            versions = conn.execute(sa.select(schema_version.c.version)).scalars().all()
        assert versions == list(range(1, SCHEMA_VERSION + 1))

    def test_a_version_1_database_gains_the_client_columns(self, db_url: str) -> None:
        """A database made by the previous igcds (schema 1, cards without issuer or tenant) is
        migrated in place; its cards stay, unbound (they take feedback from any client)."""
        old = Store(db_url, salt=SALT, migrate=False)
        with old.engine.begin() as conn:  # the version 1 tables, as igcds 1 created them
            for table in (issued_cards, feedback):
                columns = [sa.Column(c.name, c.type, primary_key=c.primary_key, nullable=c.nullable)
                           for c in table.columns if c.name not in ("issuer", "tenant")]
                sa.Table(table.name, sa.MetaData(), *columns).create(conn)
            schema_version.create(conn)
            conn.execute(schema_version.insert().values(version=1, description="v1", applied_at=NOW))
            conn.execute(sa.text(
                "INSERT INTO issued_cards (card_uuid, service_id, hook, hook_instance, rule_id, indicator, shown, "
                "issued_at) VALUES ('old-card', 'svc', 'patient-view', 'h', 'r', 'info', true, :at)"), {"at": NOW})
        old.dispose()
        store = Store(db_url, salt=SALT)
        assert store.schema_version() == SCHEMA_VERSION == 2
        for table in ("issued_cards", "feedback"):
            names = {c["name"] for c in sa.inspect(store.engine).get_columns(table)}
            assert {"issuer", "tenant"} <= names, table
        owner = store.card_owners(["old-card"])["old-card"]
        assert (owner.service_id, owner.issuer, owner.tenant) == ("svc", None, None)

    def test_refuses_a_newer_schema(self, db_url: str) -> None:
        store = Store(db_url, salt=SALT)
        with store.engine.begin() as conn:
            conn.execute(
                schema_version.insert().values(
                    version=SCHEMA_VERSION + 1, description="future", applied_at=NOW
                )
            )
        with pytest.raises(ConfigError, match="newer"):
            Store(db_url, salt=SALT)
        assert store.readiness()["ok"] is False


class TestSqlite:
    def test_wal_and_busy_timeout(self, tmp_path: Path) -> None:
        store = Store(f"sqlite:///{tmp_path}/a.db", salt=SALT)
        with store.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 5000

    def test_relative_path_is_under_the_working_directory(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.chdir(tmp_path)
        url = resolve_url("sqlite:///data/igcds.db")
        assert url.database == str(tmp_path / "data" / "igcds.db")
        assert (tmp_path / "data").is_dir()

    @pytest.mark.parametrize("url", ["sqlite://", "sqlite:///:memory:", "mysql://x@y/z", "not a url"])
    def test_refuses_unusable_urls(self, url: str) -> None:
        with pytest.raises(ConfigError):
            resolve_url(url)

    def test_a_forked_child_gets_its_own_engine(self, tmp_path: Path) -> None:
        store = Store(f"sqlite:///{tmp_path}/f.db", salt=SALT)
        parent_engine = store.engine
        store.save_feedback("svc", [accepted("parent")], NOW)
        pid = os.fork()
        if pid == 0:  # child: must not reuse the parent's pooled connection
            code = 1
            try:
                if store.engine is not parent_engine:
                    store.save_feedback("svc", [accepted("child")], NOW)
                    code = 0
            finally:
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        assert store.engine is parent_engine
        assert sorted(r["card_uuid"] for r in store.feedback_rows()) == ["child", "parent"]


class TestAudit:
    def test_records_every_card_with_a_salted_patient_hash(self, db_url: str) -> None:
        store = Store(db_url, salt=SALT)
        shown, silent = card("rule-a"), card("rule-b", Indicator.CRITICAL)
        record = call([IssuedCard(shown, True), IssuedCard(silent, False)], patient="patient-123")
        store.record_call(record)
        store.record_call(record)  # idempotent by card uuid
        rows = {r["card_uuid"]: r for r in store.issued()}
        assert set(rows) == {shown.uuid, silent.uuid}
        expected_hash = hmac.new(SALT, b"patient-123", hashlib.sha256).hexdigest()
        a, b = rows[shown.uuid], rows[silent.uuid]
        assert (a["rule_id"], a["indicator"], a["shown"], a["service_id"], a["hook"]) == (
            "rule-a",
            "warning",
            True,
            "svc",
            "patient-view",
        )
        assert (b["rule_id"], b["indicator"], b["shown"]) == ("rule-b", "critical", False)
        assert a["hook_instance"] == record.hook_instance
        assert a["issued_at"] == NOW
        assert a["patient_hash"] == b["patient_hash"] == expected_hash
        assert "patient-123" not in repr(rows)

    def test_a_batch_of_calls_is_one_transaction(self, db_url: str) -> None:
        store = Store(db_url, salt=SALT)
        commits: list[int] = []
        sa.event.listen(store.engine, "commit", lambda conn: commits.append(1))
        records = [call([IssuedCard(card("a"), True), IssuedCard(card("b"), False)]) for _ in range(30)]
        records.append(call([]))  # a call without cards adds nothing
        store.record_calls(records)
        store.record_calls(records[:10])  # idempotent by card uuid
        store.record_calls([])
        assert len(commits) == 2
        rows = store.issued()
        assert len(rows) == 60 and len({r["card_uuid"] for r in rows}) == 60
        by_instance = {(r["hook_instance"], r["shown"]) for r in rows}
        assert by_instance == {(rec.hook_instance, shown) for rec in records[:30] for shown in (True, False)}

    def test_no_patient_no_hash(self, db_url: str) -> None:
        store = Store(db_url, salt=SALT)
        store.record_call(call([IssuedCard(card("r"), True)], patient=None))
        assert store.issued()[0]["patient_hash"] is None

    def test_a_read_only_store_cannot_record(self, tmp_path: Path) -> None:
        store = Store(f"sqlite:///{tmp_path}/r.db", salt=None)
        with pytest.raises(ConfigError):
            store.record_call(call([IssuedCard(card("r"), True)]))


class TestFeedback:
    def test_the_same_item_twice_is_one_record(self, db_url: str) -> None:
        store = Store(db_url, salt=SALT)
        item = overridden("c1", comment="patient declined")
        assert store.save_feedback("svc", [item], NOW) == (1, 0)
        assert store.save_feedback("svc", [item, item], NOW + timedelta(minutes=1)) == (0, 2)
        rows = store.feedback_rows()
        assert len(rows) == 1
        row = rows[0]
        assert (row["card_uuid"], row["outcome"], row["override_code"], row["override_comment"]) == (
            "c1",
            "overridden",
            "no-longer-relevant",
            "patient declined",
        )
        assert row["outcome_at"] == datetime(2025, 3, 1, 12, 5, tzinfo=UTC)
        assert row["received_at"] == NOW

    @pytest.mark.parametrize(
        "a, b",
        [
            (accepted("c", "2025-03-01T12:05:50.52Z"), accepted("c", "2025-03-01T12:05:50.520+00:00")),
            (accepted("c", "2025-03-01t12:05:50z"), accepted("c", "2025-03-01T12:05:50Z")),
            (
                accepted("c", "2025-03-01T12:05:00Z", "x", "y"),
                accepted("c", "2025-03-01T12:05:00Z", "y", "x", "x"),
            ),
            (
                overridden("c"),
                {
                    **overridden("c"),
                    "overrideReason": {
                        "reason": {"system": "https://example.org/reasons", "code": "no-longer-relevant"}
                    },
                },
            ),
        ],
        ids=["fraction-and-offset", "lowercase", "suggestion-order", "display-is-a-label"],
    )
    def test_equivalent_spellings_are_the_same_feedback(self, db_url: str, a: dict, b: dict) -> None:
        store = Store(db_url, salt=SALT)
        assert store.save_feedback("svc", [a], NOW) == (1, 0)
        assert store.save_feedback("svc", [b], NOW) == (0, 1)

    def test_distinct_feedback_on_one_card_is_kept(self, db_url: str) -> None:
        """FB5: a card may get feedback several times."""
        store = Store(db_url, salt=SALT)
        items = [
            accepted("c", "2025-03-01T12:05:00Z", "s1"),
            accepted("c", "2025-03-01T12:05:00Z", "s2"),
            accepted("c", "2025-03-01T12:06:00Z", "s1"),
            accepted("c", "2025-03-01T12:05:00.000001Z", "s1"),
            overridden("c", "2025-03-01T12:05:00Z"),
            overridden("c", "2025-03-01T12:05:00Z", code="other"),
            overridden("c", "2025-03-01T12:05:00Z", code=None, comment="why"),
            overridden("c", "2025-03-01T12:05:00Z", code=None),
        ]
        assert store.save_feedback("svc", items, NOW) == (len(items), 0)
        assert store.save_feedback("other-svc", items[:1], NOW) == (1, 0)

    def test_concurrent_writers_store_each_item_once(self, db_url: str) -> None:
        stores = [Store(db_url, salt=SALT) for _ in range(4)]
        distinct = [overridden(f"card-{i}") for i in range(200)]
        results: list[tuple[int, int]] = []
        lock = threading.Lock()

        def post(store: Store, offset: int) -> None:
            for start in range(0, 200, 25):
                batch = distinct[(start + offset) % 200 :][:25] or distinct[:25]
                result = store.save_feedback("svc", batch, NOW)
                with lock:
                    results.append(result)

        threads = [threading.Thread(target=post, args=(stores[i % 4], i * 50)) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sum(s for s, _ in results) == 200
        assert sum(s + d for s, d in results) == 8 * 8 * 25
        assert len(stores[0].feedback_rows()) == 200


class TestStatistics:
    def test_counts_per_rule(self, db_url: str) -> None:
        store = Store(db_url, salt=SALT)
        a1, a2, b1, silent = card("rule-a"), card("rule-a"), card("rule-b"), card("rule-a")
        store.record_call(call([IssuedCard(a1, True), IssuedCard(a2, True), IssuedCard(silent, False)]))
        store.record_call(call([IssuedCard(b1, True)], at=NOW - timedelta(days=10)))
        store.save_feedback(
            "svc",
            [
                accepted(a1.uuid),
                accepted(a1.uuid, "2025-03-01T12:07:00Z"),
                overridden(a2.uuid),
                overridden(b1.uuid),
                overridden("unknown"),
            ],
            NOW,
        )
        stats = store.rule_statistics(NOW - timedelta(days=1), NOW + timedelta(days=1))
        assert sorted(stats.cards) == [("rule-a", False, 1), ("rule-a", True, 2)]
        assert sorted(stats.outcomes) == [("rule-a", "accepted", 1, 2), ("rule-a", "overridden", 1, 1)]
        assert stats.unmatched_feedback == 1
        everything = store.rule_statistics(None, None)
        assert ("rule-b", True, 1) in everything.cards


class TestSalt:
    def test_generated_once_private_and_shared(self, tmp_path: Path) -> None:
        salts: list[bytes] = []
        barrier = threading.Barrier(6)

        def load() -> None:
            barrier.wait()
            salts.append(load_or_create_salt(tmp_path))

        threads = [threading.Thread(target=load) for _ in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(set(salts)) == 1 and len(salts[0]) >= 32
        path = tmp_path / SALT_FILE
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert sorted(p.name for p in tmp_path.iterdir()) == [SALT_FILE]
        assert load_or_create_salt(tmp_path) == salts[0]

    def test_configured_salt_wins(self, tmp_path: Path) -> None:
        from cds_service.config import load_config

        salt = "configured-salt-of-32-bytes-or-more"
        config = load_config(
            overrides={
                "server": {"data_dir": str(tmp_path)},
                "storage": {"url": f"sqlite:///{tmp_path}/c.db", "patient_hash_salt": salt},
            },
            environ={},
        )
        store = Store.from_config(config)
        store.record_call(call([IssuedCard(card("r"), True)], patient="p"))
        assert (
            store.issued()[0]["patient_hash"]
            == hmac.new(salt.encode(), b"p", hashlib.sha256).hexdigest()
        )
        assert not (tmp_path / SALT_FILE).exists()
        with sqlite3.connect(tmp_path / "c.db") as raw:  # the raw id is nowhere in the file
            assert not raw.execute("SELECT 1 FROM issued_cards WHERE patient_hash = 'p'").fetchall()

    @pytest.mark.parametrize("salt", ["short", "x" * 31, "é" * 15])
    def test_a_configured_salt_under_32_bytes_stops_start_up_naming_the_key(self, tmp_path: Path, salt: str) -> None:
        from cds_service.config import load_config

        with pytest.raises(ConfigError, match=r"storage\.patient_hash_salt: .* too short; use at least 32"):
            load_config(overrides={"storage": {"patient_hash_salt": salt}}, environ={})
        with pytest.raises(ConfigError, match="patient_hash_salt"):  # from the environment too
            load_config(environ={"IGCDS_STORAGE__PATIENT_HASH_SALT": f'"{salt}"'})

    @pytest.mark.postgres
    def test_postgres_without_a_salt_stops_start_up_naming_the_key(
        self, tmp_path: Path, postgres_url: str
    ) -> None:
        """Two instances sharing one database must hash a patient alike: no per-host salt there."""
        from cds_service.config import load_config

        config = load_config(overrides={"server": {"data_dir": str(tmp_path)}, "storage": {"url": postgres_url}},
                             environ={})
        with pytest.raises(ConfigError, match=r"\[storage\] patient_hash_salt is required with PostgreSQL"):
            Store.from_config(config)
        assert not (tmp_path / SALT_FILE).exists(), "no per-host salt is made"
        shared = config.with_changes(storage=dataclasses.replace(config.storage, patient_hash_salt="s" * 40))
        hashes = set()
        for host in ("a", "b"):  # two instances, two data directories, one database
            other = shared.with_changes(server=dataclasses.replace(shared.server, data_dir=str(tmp_path / host)))
            hashes.add(Store.from_config(other)._hash_patient("patient-1"))  # type: ignore[misc]
        assert len(hashes) == 1
