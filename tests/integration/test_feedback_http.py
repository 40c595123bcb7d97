"""Feedback and card audit through the real server (``igcds serve``, gunicorn, 4 workers).

- 8 concurrent clients post 2,000 feedback items (40 % duplicates) in batches: every distinct item is
  stored exactly once, on SQLite and on PostgreSQL. Feedback is only taken on cards the server
  issued, so the 600 cards are recorded first, straight into the server's database.
- Bad bodies get a 4xx and store nothing.
- Silent mode returns no cards and records them (``shown = false``); normal mode returns them.
- Cards are recorded after the answer, in batches (``[storage] audit_flush_ms``): tests wait for the
  rows (``tests.support.audit``) or stop the server first; a server stopped with SIGTERM has written
  every card it issued, and one killed with SIGKILL writes them when it starts again (audit spool).
"""

from __future__ import annotations

import os
import random
import secrets
import signal
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import requests

from cds_service.feedback import feedback_key
from cds_service.storage import Store
from tests.support.audit import wait_for_cards
from tests.support.igcds_server import RunningServer, igcds_server, stop_process_group

SERVICE = "ig-patient-view"
CARD_SCENARIO = "higm-xl-adult"  # a patient-view request that produces several cards
DISTINCT = 1200
TOTAL = 2000
CLIENTS = 8
BATCH = 50


def fresh_postgres_schema(postgres_server: Any) -> str:
    import psycopg

    name = f"t_{secrets.token_hex(6)}"
    with psycopg.connect(postgres_server.conninfo(), autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {name}")
    return f"{postgres_server.url}?options=-csearch_path%3D{name}"


def make_items(rng: random.Random) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    for i in range(DISTINCT):
        at = f"2025-03-01T12:{i // 60 % 60:02d}:{i % 60:02d}.{i % 7}Z"
        if i % 3 == 0:
            items.append(
                {
                    "card": f"card-{i // 2}",
                    "outcome": "accepted",
                    "outcomeTimestamp": at,
                    "acceptedSuggestions": [{"id": f"s-{i % 4}"}],
                }
            )
        elif i % 3 == 1:  # same card as the previous item sometimes: distinct feedback on one card (FB5)
            items.append(
                {
                    "card": f"card-{i // 2}",
                    "outcome": "overridden",
                    "outcomeTimestamp": at,
                    "overrideReason": {
                        "reason": {"system": "https://example.org/r", "code": f"r{i % 5}"},
                        "userComment": "n/a",
                    },
                }
            )
        else:
            items.append({"card": f"card-{i // 2}", "outcome": "overridden", "outcomeTimestamp": at})
    duplicates = [dict(rng.choice(items)) for _ in range(TOTAL - DISTINCT)]
    for dup in duplicates[::2]:  # half the duplicates are spelled differently (same instant)
        dup["outcomeTimestamp"] = dup["outcomeTimestamp"].replace("Z", "00+00:00")
    everything = items + duplicates
    rng.shuffle(everything)
    return everything


def record_cards(url: str, card_uuids: set[str]) -> None:
    """Record cards as issued by ``SERVICE`` in dev mode (no issuer), as if the server had issued them."""
    from datetime import UTC, datetime

    from cds_service.cards import Card, Indicator, Source
    from cds_service.extensions import CallRecord, IssuedCard

    store = Store(url, salt=b"s" * 32)
    try:
        cards = [IssuedCard(Card(summary="x", indicator=Indicator.INFO, source=Source("t"), uuid=uuid), True)
                 for uuid in sorted(card_uuids)]
        store.record_calls([CallRecord(SERVICE, "patient-view", "h", None, datetime.now(UTC), cards)])
    finally:
        store.dispose()


def post_feedback(server: RunningServer, items: list[dict[str, Any]]) -> dict[str, int]:
    with requests.Session() as session:
        stored = duplicates = 0
        for start in range(0, len(items), BATCH):
            response = session.post(
                server.url(f"/cds-services/{SERVICE}/feedback"),
                json={"feedback": items[start : start + BATCH]},
                timeout=30,
            )
            assert response.status_code == 200, (response.text, server.log_text()[-3000:])
            body = response.json()
            stored += body["stored"]
            duplicates += body["duplicates"]
    return {"stored": stored, "duplicates": duplicates}


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def backend_config(request: pytest.FixtureRequest) -> dict[str, Any]:
    if request.param == "sqlite":
        return {}  # the harness puts a SQLite file in the server's data dir
    return {"storage": {"url": fresh_postgres_schema(request.getfixturevalue("postgres_server")),
                        "patient_hash_salt": "p" * 40}}


class store_of:  # noqa: N801 - used like a function
    """Read the server's database: ``store_of(server, config).feedback_rows()``; disposes the engine."""

    def __init__(self, server: RunningServer, config: dict[str, Any]) -> None:
        self.url = config.get("storage", {}).get("url") or f"sqlite:///{server.data_dir}/igcds.db"

    def _read(self, what: str) -> list[dict[str, Any]]:
        store = Store(self.url, salt=None, migrate=False)
        try:
            return getattr(store, what)()
        finally:
            store.dispose()

    def feedback_rows(self) -> list[dict[str, Any]]:
        return self._read("feedback_rows")

    def issued(self) -> list[dict[str, Any]]:
        return self._read("issued")


def test_concurrent_clients_store_each_distinct_item_once(backend_config: dict[str, Any]) -> None:
    items = make_items(random.Random(7))
    distinct_keys = {feedback_key(SERVICE, item) for item in items}
    assert len(distinct_keys) == DISTINCT and len(items) == TOTAL
    shares = [items[i::CLIENTS] for i in range(CLIENTS)]
    with igcds_server(backend_config, workers=4, threads=4) as server:
        record_cards(store_of(server, backend_config).url, {item["card"] for item in items})
        with ThreadPoolExecutor(CLIENTS) as pool:
            results = list(pool.map(lambda share: post_feedback(server, share), shares))
        store = store_of(server, backend_config)
        rows = store.feedback_rows()
    assert sum(r["stored"] for r in results) == DISTINCT
    assert sum(r["duplicates"] for r in results) == TOTAL - DISTINCT
    assert len(rows) == DISTINCT
    assert {r["feedback_key"] for r in rows} == distinct_keys


@pytest.fixture(scope="module")
def server() -> Iterator[RunningServer]:
    with igcds_server({}, workers=2) as running:
        yield running


BAD_BODIES: dict[str, tuple[bytes, str]] = {
    "missing card": (
        b'{"feedback":[{"outcome":"overridden","outcomeTimestamp":"2025-03-01T12:00:00Z"}]}',
        "application/json",
    ),
    "unknown outcome": (
        b'{"feedback":[{"card":"c","outcome":"ignored","outcomeTimestamp":"2025-03-01T12:00:00Z"}]}',
        "application/json",
    ),
    "accepted without acceptedSuggestions": (
        b'{"feedback":[{"card":"c","outcome":"accepted","outcomeTimestamp":"2025-03-01T12:00:00Z"}]}',
        "application/json",
    ),
    "wrong types": (
        b'{"feedback":[{"card":1,"outcome":"overridden","outcomeTimestamp":20250301}]}',
        "application/json",
    ),
    "not UTC": (
        b'{"feedback":[{"card":"c","outcome":"overridden","outcomeTimestamp":"2025-03-01T12:00:00+02:00"}]}',
        "application/json",
    ),
    "not json": (b'{"feedback": [', "application/json"),
    "form post": (b"card=c&outcome=overridden", "application/x-www-form-urlencoded"),
    "5 MB": (
        b'{"feedback":[{"card":"' + b"x" * (5 * 1024 * 1024) + b'","outcome":"overridden",'
        b'"outcomeTimestamp":"2025-03-01T12:00:00Z"}]}',
        "application/json",
    ),
}


@pytest.mark.parametrize("name", sorted(BAD_BODIES))
def test_bad_bodies_are_4xx_and_store_nothing(server: RunningServer, name: str) -> None:
    data, content_type = BAD_BODIES[name]
    before = len(store_of(server, {}).feedback_rows())
    response = requests.post(
        server.url(f"/cds-services/{SERVICE}/feedback"),
        data=data,
        headers={"Content-Type": content_type},
        timeout=30,
    )
    assert 400 <= response.status_code < 500, (response.status_code, response.text[:200])
    assert response.json()["error"]
    assert len(store_of(server, {}).feedback_rows()) == before


def call(server: RunningServer, body: dict[str, Any]) -> dict[str, Any]:
    response = requests.post(server.url(f"/cds-services/{SERVICE}"), json=body, timeout=30)
    assert response.status_code == 200, response.text
    return response.json()


def test_normal_mode_returns_and_records_cards(
    server: RunningServer, cds_request: Callable[[str, str], dict[str, Any]]
) -> None:
    body = cds_request(SERVICE, CARD_SCENARIO)
    cards = call(server, body)["cards"]
    assert cards, "the fixture should produce cards"
    wait_for_cards(store_of(server, {}).url, {c["uuid"] for c in cards})
    recorded = {
        r["card_uuid"]: r for r in store_of(server, {}).issued() if r["hook_instance"] == body["hookInstance"]
    }
    assert set(recorded) == {c["uuid"] for c in cards}
    for c in cards:
        row = recorded[c["uuid"]]
        assert row["shown"] is True
        assert row["rule_id"] == c["source"]["topic"]["code"]
        assert row["indicator"] == c["indicator"]
        assert row["patient_hash"] and body["context"]["patientId"] not in row["patient_hash"]


def test_silent_mode_returns_nothing_and_records_everything(
    server: RunningServer, cds_request: Callable[[str, str], dict[str, Any]]
) -> None:
    normal = call(server, cds_request(SERVICE, CARD_SCENARIO))["cards"]
    expected_rules = sorted(c["source"]["topic"]["code"] for c in normal)
    with igcds_server({"policy": {"mode": "silent"}}, workers=2) as silent_server:
        body = cds_request(SERVICE, CARD_SCENARIO)
        assert call(silent_server, body)["cards"] == []
    # read once the server has stopped (SIGTERM): its workers wrote their queued audit on the way out
    rows = [r for r in store_of(silent_server, {}).issued() if r["hook_instance"] == body["hookInstance"]]
    assert sorted(r["rule_id"] for r in rows) == expected_rules
    assert all(r["shown"] is False for r in rows)


def test_a_server_stopped_with_sigterm_has_written_every_card(
    cds_request: Callable[[str, str], dict[str, Any]]
) -> None:
    """Graceful shutdown loses no audit row: with a flush interval far beyond the test, every card is
    still queued when SIGTERM arrives, and the workers write them all before they exit."""
    with igcds_server({"storage": {"audit_flush_ms": 600_000}}, workers=2, threads=2) as server:
        issued: set[str] = set()
        for _ in range(12):  # no keep-alive: the calls are spread over both workers
            issued |= {c["uuid"] for c in call(server, cds_request(SERVICE, CARD_SCENARIO))["cards"]}
        assert len(issued) >= 12
        assert store_of(server, {}).issued() == [], "queued, not written yet"
        stop_process_group(server.process)  # SIGTERM to the process group, as the harness does
        assert server.process.returncode == 0, server.log_text()[-3000:]
    written = {r["card_uuid"] for r in store_of(server, {}).issued()}
    assert issued == written
    assert "audit flush failed" not in server.log_text()


def test_a_server_killed_with_sigkill_writes_its_cards_when_it_starts_again(
    tmp_path: Path, cds_request: Callable[[str, str], dict[str, Any]]
) -> None:
    """A hard kill loses no audit row: the cards wait in the audit spool on local disk, and the next
    server on the same data directory writes them before any new call."""
    data_dir = tmp_path / "data"
    config = {"server": {"data_dir": str(data_dir)}, "storage": {"url": f"sqlite:///{data_dir}/igcds.db",
                                                                 "audit_flush_ms": 600_000}}
    with igcds_server(config, workers=2, threads=2) as server:
        issued: set[str] = set()
        for _ in range(8):
            issued |= {c["uuid"] for c in call(server, cds_request(SERVICE, CARD_SCENARIO))["cards"]}
        os.killpg(server.process.pid, signal.SIGKILL)  # master and workers: no hook runs
        server.process.wait(timeout=10)
    assert store_of(server, config).issued() == [], "nothing was written before the kill"
    assert list((data_dir / "audit-spool").glob("*.jsonl")), "the cards wait on disk"
    with igcds_server(config, workers=2) as again:
        rows = wait_for_cards(store_of(again, config).url, issued)
        assert {r["card_uuid"] for r in rows} == issued
        assert "audit_spool_adopted" in again.log_text()
