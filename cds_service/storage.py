"""Durable storage of issued cards (audit) and feedback, on SQLite or PostgreSQL.

One :class:`Store` implements both seams of :mod:`cds_service.extensions`: ``AuditSink.record_call``
and ``FeedbackStore.save_feedback``; ``record_calls`` writes a batch of calls in one transaction (what
:class:`cds_service.audit_buffer.BufferedAudit` uses to keep audit writes off the request path). It
uses SQLAlchemy Core only; the URL picks the backend:

- ``sqlite:///data/igcds.db`` (default): a file (relative paths are resolved against the working
  directory; the parent directory is created). WAL journal, ``busy_timeout``, and every write
  transaction opened with ``BEGIN IMMEDIATE`` so that several gunicorn workers serialise their
  writes instead of failing with "database is locked".
- ``postgresql+psycopg://user:password@host:port/db``: for several instances behind a balancer.

Engines are per process: an engine inherited through ``fork()`` is dropped (without closing the
parent's connections) and rebuilt on first use, so gunicorn workers never share a connection.

Schema: a ``schema_version`` table and an ordered list of migrations, applied at start-up inside one
transaction that holds a lock (``pg_advisory_xact_lock`` on PostgreSQL, ``BEGIN IMMEDIATE`` on SQLite):
workers starting at the same moment apply each migration exactly once.

Privacy: the patient id is never stored. Cards carry ``patient_hash`` = HMAC-SHA256(salt, patient id),
enough to count distinct patients or to find one patient's cards given the id and the salt. The salt is
``[storage] patient_hash_salt`` (at least 32 bytes; required with PostgreSQL, which several instances
share: :func:`configured_salt`) or, on SQLite when it is empty, a random 32-byte salt generated once
into ``<data_dir>/patient-hash.salt`` (mode 0600) and shared by all workers of the host.

Client binding (schema v2): each card row carries the ``issuer`` and ``tenant`` of the client it was
issued to, each feedback row those of its sender; :meth:`Store.card_owners` is what
:mod:`cds_service.feedback` checks feedback against.

"The same feedback" (FB5: a card may get several distinct feedback items; a client may also resend
one): two items are the same when they agree on service id, card uuid, outcome, the instant of
``outcomeTimestamp`` (``...:50.52Z`` = ``...:50.520+00:00``), the *set* of accepted suggestion ids, and
the override reason's system, code and userComment (the reason's ``display`` is a label, not identity).
Their SHA-256 over a canonical JSON form is the ``feedback_key``, unique in the table; inserts use
``ON CONFLICT DO NOTHING``, so a duplicate, however concurrent, is stored once.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import secrets
import threading
import weakref
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import URL, Connection, Engine, make_url
from sqlalchemy.types import TypeDecorator

from .errors import ConfigError
from .extensions import CallRecord, CardOwner
from .feedback import canonical_feedback, feedback_key, parse_timestamp
from .shared_stores import use_wal

log = logging.getLogger("igcds.storage")

SALT_FILE = "patient-hash.salt"
_PG_MIGRATION_LOCK = 0x1C0D5F_EED  # arbitrary constant: "igcds feedback" advisory lock id
_SQLITE_BUSY_TIMEOUT_MS = 30_000
#: Seconds to wait for a PostgreSQL connection (libpq ``connect_timeout``).
PG_CONNECT_TIMEOUT_S = 3


class UtcDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on both dialects (naive UTC in SQLite, ``timestamptz`` in PG)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: storage needs timezone-aware UTC times")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


metadata = sa.MetaData()

schema_version = sa.Table(
    "schema_version",
    metadata,
    sa.Column("version", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("description", sa.String(200), nullable=False),
    sa.Column("applied_at", UtcDateTime, nullable=False),
)

issued_cards = sa.Table(
    "issued_cards",
    metadata,
    sa.Column("card_uuid", sa.String(200), primary_key=True),
    sa.Column("service_id", sa.String(200), nullable=False),
    sa.Column("hook", sa.String(200), nullable=False),
    sa.Column("hook_instance", sa.String(200), nullable=False),
    #: ``source.topic.code`` of the card: the rule id.
    sa.Column("rule_id", sa.String(200), nullable=False),
    sa.Column("indicator", sa.String(20), nullable=False),
    #: False when the card was silenced (silent mode): recorded, not returned.
    sa.Column("shown", sa.Boolean, nullable=False),
    #: HMAC-SHA256(salt, patient id), hex; NULL when the call had no patient.
    sa.Column("patient_hash", sa.String(64), nullable=True),
    sa.Column("issued_at", UtcDateTime, nullable=False),
    #: The client the card was issued to: its JWT ``iss`` (NULL in dev mode) and tenant (v2).
    sa.Column("issuer", sa.Text, nullable=True),
    sa.Column("tenant", sa.Text, nullable=True),
)
sa.Index("ix_issued_cards_issued_at", issued_cards.c.issued_at)
sa.Index("ix_issued_cards_rule", issued_cards.c.rule_id, issued_cards.c.issued_at)

feedback = sa.Table(
    "feedback",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True),
    #: SHA-256 (hex) of the canonical item: the idempotency key (module docstring).
    sa.Column("feedback_key", sa.String(64), nullable=False, unique=True),
    sa.Column("service_id", sa.String(200), nullable=False),
    sa.Column("card_uuid", sa.String(200), nullable=False),
    sa.Column("outcome", sa.String(20), nullable=False),
    sa.Column("outcome_at", UtcDateTime, nullable=False),
    #: JSON array of the accepted suggestion ids, sorted, unique (NULL when none).
    sa.Column("accepted_suggestions", sa.Text, nullable=True),
    sa.Column("override_system", sa.String(500), nullable=True),
    sa.Column("override_code", sa.String(200), nullable=True),
    sa.Column("override_display", sa.String(500), nullable=True),
    sa.Column("override_comment", sa.Text, nullable=True),
    sa.Column("received_at", UtcDateTime, nullable=False),
    #: The client that sent the item (v2): the same as the card's, or it was refused.
    sa.Column("issuer", sa.Text, nullable=True),
    sa.Column("tenant", sa.Text, nullable=True),
)
sa.Index("ix_feedback_card", feedback.c.card_uuid)


# --- migrations -------------------------------------------------------------------------------


def _v1_initial(conn: Connection) -> None:
    for table in (issued_cards, feedback):
        table.create(conn, checkfirst=True)


def _v2_client_binding(conn: Connection) -> None:
    """``issuer`` and ``tenant`` on both tables (feedback is bound to the client that got the card).

    A database created by this version already has them (v1 creates the current tables), so only
    the missing columns are added."""
    inspector = sa.inspect(conn)
    for table in (issued_cards, feedback):
        present = {column["name"] for column in inspector.get_columns(table.name)}
        for name in ("issuer", "tenant"):
            if name not in present:
                column = table.c[name]
                kind = column.type.compile(dialect=conn.dialect)
                conn.execute(sa.text(f"ALTER TABLE {table.name} ADD COLUMN {name} {kind}"))


#: Ordered (version, description, step). Append only; never edit a released step.
MIGRATIONS: tuple[tuple[int, str, Callable[[Connection], None]], ...] = (
    (1, "issued_cards and feedback", _v1_initial),
    (2, "issuer and tenant on issued cards and feedback", _v2_client_binding),
)
SCHEMA_VERSION = MIGRATIONS[-1][0]


# --- feedback rows ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FeedbackRow:
    key: str
    values: dict[str, Any]


def feedback_row(service_id: str, item: Mapping[str, Any], received_at: datetime,
                 issuer: str | None = None, tenant: str | None = None) -> FeedbackRow:
    canonical = canonical_feedback(service_id, item)
    reason = item.get("overrideReason") or {}
    coding = reason.get("reason") or {}
    return FeedbackRow(
        feedback_key(service_id, item),
        {
            "service_id": service_id,
            "card_uuid": item["card"],
            "outcome": item["outcome"],
            "outcome_at": parse_timestamp(item["outcomeTimestamp"]),
            "accepted_suggestions": json.dumps(canonical["accepted"]) if canonical["accepted"] else None,
            "override_system": coding.get("system"),
            "override_code": coding.get("code"),
            "override_display": coding.get("display"),
            "override_comment": reason.get("userComment"),
            "received_at": received_at,
            "issuer": issuer,
            "tenant": tenant,
        },
    )


# --- patient hashing --------------------------------------------------------------------------


def load_or_create_salt(data_dir: str | os.PathLike[str]) -> bytes:
    """The random salt in ``<data_dir>/patient-hash.salt``, created (0600) on first use.

    Creation is atomic and race-free between processes: the salt is written to a private temporary
    file which is then hard-linked to the final name; the loser of a race reads the winner's salt.
    """
    directory = Path(data_dir)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / SALT_FILE
    if not path.exists():
        tmp = directory / f".{SALT_FILE}.{os.getpid()}.{secrets.token_hex(4)}"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, secrets.token_hex(32).encode("ascii"))
            os.fsync(fd)
        finally:
            os.close(fd)
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass
        finally:
            tmp.unlink(missing_ok=True)
    salt = path.read_bytes().strip()
    if len(salt) < 32:
        raise ConfigError(
            f"{path}: the patient hash salt is too short or empty; remove the file to regenerate"
        )
    return salt


def configured_salt(config: Any) -> bytes | None:
    """``[storage] patient_hash_salt`` as bytes, or None when it is empty.

    Refused (ConfigError naming the key): no salt with PostgreSQL. A database that several instances
    share needs one salt for all of them, or one patient gets one hash per host and the report
    splits them; a salt generated per host cannot give that, and keeping the salt in the database
    itself would hand it to whoever reads the hashes beside it (docs/security.md "Patient hash salt").
    """
    storage = config.storage
    salt = storage.patient_hash_salt.encode("utf-8")  # its length is checked by StorageConfig
    if not salt and resolve_url(storage.url).get_backend_name() == "postgresql":
        raise ConfigError(
            "[storage] patient_hash_salt is required with PostgreSQL: every instance that shares the "
            "database must hash patient ids with the same salt (at least 32 random bytes, e.g. openssl "
            "rand -hex 32; a single host upgrading can reuse the content of <data_dir>/patient-hash.salt)")
    return salt or None


class PatientHasher:
    def __init__(self, salt: bytes) -> None:
        if not salt:
            raise ConfigError("patient hash salt must not be empty")
        self._salt = salt

    def __call__(self, patient_id: str | None) -> str | None:
        if patient_id is None:
            return None
        return hmac.new(self._salt, patient_id.encode("utf-8"), hashlib.sha256).hexdigest()


# --- engine -----------------------------------------------------------------------------------


def resolve_url(url: str) -> URL:
    """Parse the storage URL; make a relative SQLite path absolute (cwd) and create its directory."""
    try:
        parsed = make_url(url)
    except Exception as exc:  # sqlalchemy.exc.ArgumentError and friends
        raise ConfigError(f"[storage] url: not a database URL: {type(exc).__name__}") from None
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        database = parsed.database or ""
        if database in ("", ":memory:") or database.startswith("file:"):
            raise ConfigError(
                "[storage] url: an in-memory SQLite database is not shared by workers; use a file"
            )
        path = Path(database).expanduser()
        if not path.is_absolute():
            path = Path.cwd() / path
        path.parent.mkdir(parents=True, exist_ok=True)
        return parsed.set(database=str(path))
    if backend == "postgresql":
        if parsed.get_driver_name() not in ("psycopg", "psycopg2"):
            parsed = parsed.set(drivername="postgresql+psycopg")
        return parsed
    raise ConfigError(f"[storage] url: unsupported database {backend!r} (use sqlite or postgresql)")


def _create_engine(url: URL) -> Engine:
    if url.get_backend_name() == "sqlite":
        engine = sa.create_engine(
            url,
            connect_args={"timeout": _SQLITE_BUSY_TIMEOUT_MS / 1000, "check_same_thread": False},
            pool_size=8,
            max_overflow=8,
            pool_timeout=30,
        )

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_connection: Any, _record: Any) -> None:
            # Let SQLAlchemy's "begin" event (below) issue BEGIN itself.
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            cursor.execute(f"PRAGMA busy_timeout = {_SQLITE_BUSY_TIMEOUT_MS}")
            use_wal(cursor, _SQLITE_BUSY_TIMEOUT_MS / 1000)
            cursor.execute("PRAGMA synchronous = NORMAL")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _on_begin(conn: Connection) -> None:
            mode = conn.get_execution_options().get("sqlite_begin", "IMMEDIATE")
            conn.exec_driver_sql(f"BEGIN {mode}")

        return engine
    # A bounded connect: an unreachable database fails feedback with a 503 in seconds, rather than
    # holding a worker for the operating system's TCP timeout (unless the URL sets its own).
    connect_args = {} if "connect_timeout" in url.query else {"connect_timeout": PG_CONNECT_TIMEOUT_S}
    return sa.create_engine(url, pool_size=5, max_overflow=5, pool_pre_ping=True, pool_recycle=1800,
                            connect_args=connect_args)


class Store:
    """Audit and feedback storage (``AuditSink`` + ``FeedbackStore``) over one database URL."""

    def __init__(self, url: str, *, salt: bytes | None, migrate: bool = True) -> None:
        """``salt=None``: a read-only use (reports) that never records cards."""
        self.url = resolve_url(url)
        self.backend = self.url.get_backend_name()
        self._hash_patient = PatientHasher(salt) if salt is not None else None
        self._engine: Engine | None = None
        self._pid = os.getpid()
        self._lock = threading.Lock()
        this = weakref.ref(self)  # the at-fork hook must not keep the store alive

        def forget_engine_in_child() -> None:
            store = this()
            if store is not None:
                store._forget_engine()

        os.register_at_fork(after_in_child=forget_engine_in_child)
        if migrate:
            self.migrate()

    @classmethod
    def from_config(cls, config: Any, *, migrate: bool = True) -> Store:
        """Build from a ``cds_service.Config`` (``[storage]`` and ``[server] data_dir``)."""
        salt = configured_salt(config)
        return cls(config.storage.url, salt=salt or load_or_create_salt(config.server.data_dir), migrate=migrate)

    # -- engine per process --

    def _forget_engine(self) -> None:
        if self._engine is not None:
            self._engine.dispose(close=False)  # the parent keeps using its connections
        self._engine = None
        self._pid = os.getpid()
        self._lock = threading.Lock()

    @property
    def engine(self) -> Engine:
        if self._pid != os.getpid():  # forked without the at-fork hook (defensive)
            self._forget_engine()
        if self._engine is None:
            with self._lock:
                if self._engine is None:
                    self._engine = _create_engine(self.url)
        return self._engine

    def dispose(self) -> None:
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None

    # -- schema --

    def migrate(self) -> int:
        """Apply pending migrations under a lock; return the schema version."""
        with self.engine.begin() as conn:
            if self.backend == "postgresql":
                conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_MIGRATION_LOCK})
            schema_version.create(conn, checkfirst=True)
            current = conn.execute(sa.select(sa.func.max(schema_version.c.version))).scalar() or 0
            if current > SCHEMA_VERSION:
                raise ConfigError(
                    f"database schema version {current} is newer than this igcds "
                    f"({SCHEMA_VERSION}); upgrade igcds"
                )
            for version, description, step in MIGRATIONS:
                if version <= current:
                    continue
                step(conn)
                conn.execute(
                    schema_version.insert().values(
                        version=version, description=description, applied_at=datetime.now(UTC)
                    )
                )
                log.info("schema migrated", extra={"event": "schema_migrated", "count": version})
        return SCHEMA_VERSION

    def schema_version(self) -> int:
        with self._read() as conn:
            return conn.execute(sa.select(sa.func.max(schema_version.c.version))).scalar() or 0

    def readiness(self) -> dict[str, Any]:
        version = self.schema_version()
        return {"ok": version == SCHEMA_VERSION, "backend": self.backend, "schema_version": version}

    def _read(self) -> Any:
        conn = self.engine.connect()
        if self.backend == "sqlite":
            conn = conn.execution_options(sqlite_begin="DEFERRED")
        return conn

    def _insert(self, table: sa.Table) -> Any:
        dialect = postgresql if self.backend == "postgresql" else sqlite
        return dialect.insert(table)

    # -- AuditSink --

    def record_call(self, record: CallRecord) -> None:
        """Record one call's cards now, in its own transaction (see :meth:`record_calls`)."""
        self.record_calls((record,))

    def record_calls(self, records: Sequence[CallRecord]) -> None:
        """Record the cards of several calls in one transaction (one multi-row insert)."""
        self.write_audit_rows([row for record in records for row in self.audit_rows(record)])

    def audit_rows(self, record: CallRecord) -> list[dict[str, Any]]:
        """The ``issued_cards`` rows of one call: the patient id is hashed here, never kept."""
        if self._hash_patient is None:
            raise ConfigError("this store was opened without a patient hash salt; it cannot record cards")
        patient_hash = self._hash_patient(record.patient_id)
        return [
            {
                "card_uuid": issued.card.uuid,
                "service_id": record.service_id,
                "hook": record.hook,
                "hook_instance": record.hook_instance,
                "rule_id": issued.card.topic_code or "none",
                "indicator": str(issued.card.indicator),
                "shown": issued.shown,
                "patient_hash": patient_hash,
                "issued_at": record.at,
                "issuer": record.issuer,
                "tenant": record.tenant,
            }
            for issued in record.cards
        ]

    def write_audit_rows(self, rows: Sequence[Mapping[str, Any]]) -> None:
        """Insert ``issued_cards`` rows (from :meth:`audit_rows`) in one transaction.

        Idempotent by card uuid (``ON CONFLICT DO NOTHING``): a batch written twice (a spool segment
        replayed after a crash), or a card recorded by two calls, is one row. Rows are inserted in
        card-uuid order, so concurrent batches take the primary-key locks in the same order (no
        PostgreSQL deadlock). :class:`cds_service.audit_buffer.BufferedAudit` calls this from its
        background thread.
        """
        if not rows:
            return
        ordered = sorted(rows, key=lambda row: row["card_uuid"])  # same lock order in every transaction
        statement = self._insert(issued_cards).on_conflict_do_nothing(index_elements=["card_uuid"])
        with self.engine.begin() as conn:
            conn.execute(statement, ordered)

    def card_owners(self, card_uuids: Iterable[str]) -> dict[str, CardOwner]:
        """Who each recorded card was issued to (cards not recorded are absent)."""
        wanted = sorted(set(card_uuids))
        c = issued_cards.c
        owners: dict[str, CardOwner] = {}
        with self._read() as conn:
            for start in range(0, len(wanted), 500):
                chunk = wanted[start:start + 500]
                query = sa.select(c.card_uuid, c.service_id, c.issuer, c.tenant).where(c.card_uuid.in_(chunk))
                for uuid, service_id, issuer, tenant in conn.execute(query):
                    owners[uuid] = CardOwner(service_id, issuer, tenant)
        return owners

    # -- FeedbackStore --

    def save_feedback(
        self, service_id: str, items: Sequence[Mapping[str, Any]], at: datetime,
        issuer: str | None = None, tenant: str | None = None,
    ) -> tuple[int, int]:
        """Store items idempotently; return (newly stored, already known or repeated in this batch)."""
        unique: dict[str, dict[str, Any]] = {}
        for item in items:
            row = feedback_row(service_id, item, at, issuer, tenant)
            unique.setdefault(row.key, {"feedback_key": row.key, **row.values})
        if not unique:
            return 0, 0
        statement = (
            self._insert(feedback)
            .on_conflict_do_nothing(index_elements=["feedback_key"])
            .returning(feedback.c.feedback_key)
        )
        # Sorted by key: concurrent batches with overlapping items take the unique-index locks in
        # the same order, so PostgreSQL never has two of them deadlock on each other.
        rows = [unique[key] for key in sorted(unique)]
        with self.engine.begin() as conn:
            stored = len(conn.execute(statement, rows).all())
        return stored, len(items) - stored

    # -- queries (reports, tests) --

    def issued(self) -> list[dict[str, Any]]:
        with self._read() as conn:
            return [
                dict(r._mapping)
                for r in conn.execute(sa.select(issued_cards).order_by(issued_cards.c.issued_at))
            ]

    def feedback_rows(self) -> list[dict[str, Any]]:
        with self._read() as conn:
            return [dict(r._mapping) for r in conn.execute(sa.select(feedback).order_by(feedback.c.id))]

    def rule_statistics(self, since: datetime | None, until: datetime | None) -> RuleStatistics:
        """Counts per rule for cards issued in ``[since, until)`` and the feedback on those cards."""
        card_filter = []
        if since is not None:
            card_filter.append(issued_cards.c.issued_at >= since)
        if until is not None:
            card_filter.append(issued_cards.c.issued_at < until)
        c, f = issued_cards, feedback
        cards_q = (
            sa.select(c.c.rule_id, c.c.shown, sa.func.count().label("n"))
            .where(*card_filter)
            .group_by(c.c.rule_id, c.c.shown)
        )
        joined = c.join(f, sa.and_(f.c.card_uuid == c.c.card_uuid, f.c.service_id == c.c.service_id))
        outcomes_q = (
            sa.select(
                c.c.rule_id,
                f.c.outcome,
                sa.func.count(sa.distinct(c.c.card_uuid)).label("cards"),
                sa.func.count().label("items"),
            )
            .select_from(joined)
            .where(*card_filter)
            .group_by(c.c.rule_id, f.c.outcome)
        )
        reasons_q = (
            sa.select(
                c.c.rule_id,
                f.c.override_system,
                f.c.override_code,
                sa.func.max(f.c.override_display).label("display"),
                (f.c.override_comment.is_not(None)).label("commented"),
                sa.func.count().label("n"),
            )
            .select_from(joined)
            .where(*card_filter, f.c.outcome == "overridden")
            .group_by(c.c.rule_id, f.c.override_system, f.c.override_code, f.c.override_comment.is_not(None))
        )
        unmatched_filter: list[sa.ColumnElement[bool]] = [f.c.card_uuid.not_in(sa.select(c.c.card_uuid))]
        if since is not None:
            unmatched_filter.append(f.c.outcome_at >= since)
        if until is not None:
            unmatched_filter.append(f.c.outcome_at < until)
        unmatched_q = sa.select(sa.func.count()).select_from(f).where(*unmatched_filter)
        with self._read() as conn:
            return RuleStatistics(
                cards=[tuple(r) for r in conn.execute(cards_q)],
                outcomes=[tuple(r) for r in conn.execute(outcomes_q)],
                reasons=[tuple(r) for r in conn.execute(reasons_q)],
                unmatched_feedback=int(conn.execute(unmatched_q).scalar() or 0),
            )


@dataclass(frozen=True)
class RuleStatistics:
    """Raw grouped counts behind ``igcds report`` (see :mod:`cds_service.report`)."""

    #: (rule_id, shown, count)
    cards: list[tuple[Any, ...]]
    #: (rule_id, outcome, distinct cards, feedback items)
    outcomes: list[tuple[Any, ...]]
    #: (rule_id, system, code, display, has comment, count) for overridden items
    reasons: list[tuple[Any, ...]]
    #: feedback items (in range by outcome time) about cards that were never recorded
    unmatched_feedback: int
