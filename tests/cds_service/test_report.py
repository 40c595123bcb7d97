"""``igcds report``: counts per rule from real service calls and feedback, as the CLI prints them."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests

from cds_service.cards import Card, Coding, Indicator, Source
from cds_service.config import load_config
from cds_service.extensions import CallRecord, IssuedCard
from cds_service.report import format_table, summarise
from cds_service.report import run_report as report_command
from cds_service.storage import RuleStatistics, Store
from hooks.app import load
from tests.support.audit import wait_for_cards
from tests.support.igcds_server import igcds_server, write_toml

IGCDS = Path(sys.executable).with_name("igcds")
REASON_SYSTEM = "https://example.org/override-reasons"


def run_report(config_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("IGCDS_")}
    return subprocess.run(
        [str(IGCDS), "report", "--config", str(config_path), *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=config_path.parent,
        timeout=60,
    )


def report_json(config_path: Path, *args: str) -> dict[str, Any]:
    proc = run_report(config_path, "--json", *args)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def override(card_uuid: str, code: str | None, minute: int, comment: str | None = None) -> dict[str, Any]:
    item: dict[str, Any] = {
        "card": card_uuid,
        "outcome": "overridden",
        "outcomeTimestamp": f"2025-03-01T12:{minute:02d}:00Z",
    }
    reason: dict[str, Any] = {}
    if code:
        reason["reason"] = {"system": REASON_SYSTEM, "code": code, "display": code.replace("-", " ")}
    if comment:
        reason["userComment"] = comment
    if reason:
        item["overrideReason"] = reason
    return item


def accept(card: dict[str, Any], minute: int) -> dict[str, Any]:
    suggestions = [s["uuid"] for s in card.get("suggestions", [])] or ["no-suggestion"]
    return {
        "card": card["uuid"],
        "outcome": "accepted",
        "outcomeTimestamp": f"2025-03-01T12:{minute:02d}:00Z",
        "acceptedSuggestions": [{"id": suggestions[0]}],
    }


def test_report_counts_real_calls_and_feedback(
    cds_request: Callable[[str, str], dict[str, Any]], capsys: pytest.CaptureFixture[str]
) -> None:
    calls = [
        ("ig-patient-view", "higm-xl-adult"),
        ("ig-patient-view", "higm-ar-adult"),
        ("ig-order-sign", "gbs-plex"),
        ("ig-patient-view", "higm-xl-adult"),
    ]
    with igcds_server({}, workers=2) as server:
        issued: list[tuple[str, dict[str, Any]]] = []
        for service, scenario in calls:
            response = requests.post(
                server.url(f"/cds-services/{service}"), json=cds_request(service, scenario), timeout=30
            )
            assert response.status_code == 200, response.text
            issued += [(service, card) for card in response.json()["cards"]]
        assert len(issued) >= 6, "the scenarios should produce cards"

        expected: dict[str, Counter[str]] = {}
        reasons: dict[str, Counter[str]] = {}
        by_service: dict[str, list[dict[str, Any]]] = {}
        for i, (service, card) in enumerate(issued):
            rule = card["source"]["topic"]["code"]
            counts = expected.setdefault(rule, Counter())
            counts["shown"] += 1
            items: list[dict[str, Any]] = []
            if i % 3 == 0:  # accepted (sent twice: a duplicate must not count)
                items += [accept(card, 1), accept(card, 1)]
                counts["accepted"] += 1
            elif i % 3 == 1:  # overridden twice for two reasons: one card, two feedback items
                items += [
                    override(card["uuid"], "not-indicated", 2),
                    override(card["uuid"], "patient-declined", 3),
                ]
                counts["overridden"] += 1
                reasons.setdefault(rule, Counter()).update(["not-indicated", "patient-declined"])
            # else: ignored (FB6: no feedback)
            by_service.setdefault(service, []).extend(items)
        for service, items in by_service.items():
            if not items:
                continue
            response = requests.post(
                server.url(f"/cds-services/{service}/feedback"), json={"feedback": items}, timeout=30
            )
            assert response.status_code == 200, response.text
        # feedback on a card this service never issued is refused (the report never sees it)
        unknown = {
            **override("unknown-card", None, 4),
            "outcomeTimestamp": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
        }
        refused = requests.post(
            server.url("/cds-services/ig-patient-view/feedback"), json={"feedback": [unknown]}, timeout=30)
        assert refused.status_code == 422 and refused.json()["error"] == "unknown-card"

        # the cards are recorded in batches after the answers: the report reads them once written
        wait_for_cards(f"sqlite:///{server.data_dir}/igcds.db", {card["uuid"] for _, card in issued})
        today = datetime.now(UTC).date()
        document = report_json(
            server.config_path, "--since", str(today - timedelta(days=1)), "--until", str(today)
        )
        assert report_command(load(str(server.config_path), {}), ["--top", "1"]) == 0
        table = capsys.readouterr().out

    rows = {row["rule"]: row for row in document["rules"]}
    assert set(rows) == set(expected)
    for rule, counts in expected.items():
        row = rows[rule]
        assert (row["shown"], row["silenced"], row["accepted"], row["overridden"]) == (
            counts["shown"],
            0,
            counts["accepted"],
            counts["overridden"],
        ), rule
        assert row["acceptance_rate"] == round(counts["accepted"] / counts["shown"], 4)
        got_reasons = {r["code"]: r["count"] for r in row["top_override_reasons"]}
        assert got_reasons == dict(reasons.get(rule, {}))
    assert document["unmatched_feedback"] == 0
    for rule in expected:
        assert rule in table


@pytest.mark.postgres
def test_report_on_postgres(postgres_server: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import psycopg

    schema = f"t_{secrets.token_hex(6)}"
    with psycopg.connect(postgres_server.conninfo(), autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    url = f"{postgres_server.url}?options=-csearch_path%3D{schema}"
    store = Store(url, salt=b"k" * 32)
    topic = Coding("https://example.org/rules", "rule-x", "rule x")
    cards = [Card(summary="x", indicator=Indicator.INFO, source=Source("t", topic=topic)) for _ in range(4)]
    at = datetime(2025, 3, 1, 12, tzinfo=UTC)
    store.record_call(
        CallRecord("svc", "patient-view", "h1", "p1", at, [IssuedCard(c, i < 3) for i, c in enumerate(cards)])
    )
    store.save_feedback(
        "svc",
        [
            accept({"uuid": cards[0].uuid}, 1),
            override(cards[1].uuid, None, 2, "busy"),
            override(cards[2].uuid, None, 2),
        ],
        at,
    )
    config = write_toml(
        {"server": {"data_dir": str(tmp_path)}, "storage": {"url": url}}, tmp_path / "pg.toml"
    )
    document = report_json(config, "--since", "2025-03-01", "--until", "2025-03-01")
    assert document["rules"] == [
        {
            "rule": "rule-x",
            "shown": 3,
            "silenced": 1,
            "accepted": 1,
            "overridden": 2,
            "feedback_items": 3,
            "acceptance_rate": 0.3333,
            "override_rate": 0.6667,
            "top_override_reasons": [
                {"display": "comment only", "count": 1},
                {"display": "no reason given", "count": 1},
            ],
        }
    ]
    pg_config = load_config(overrides={"storage": {"url": url}}, environ={})
    assert report_command(pg_config, ["--json", "--until", "2025-02-28"]) == 0
    assert json.loads(capsys.readouterr().out)["rules"] == []


def test_summarise_and_table() -> None:
    stats = RuleStatistics(
        cards=[("rule-a", True, 4), ("rule-a", False, 1), ("rule-b", False, 2)],
        outcomes=[("rule-a", "accepted", 1, 1), ("rule-a", "overridden", 2, 3)],
        reasons=[
            ("rule-a", REASON_SYSTEM, "dup", "Duplicate", False, 2),
            ("rule-a", REASON_SYSTEM, "dup", None, True, 1),
            ("rule-a", None, None, None, False, 1),
        ],
        unmatched_feedback=5,
    )
    rows = summarise(stats, top=3)
    assert [r["rule"] for r in rows] == ["rule-a", "rule-b"]
    a, b = rows
    assert (a["shown"], a["silenced"], a["accepted"], a["overridden"], a["feedback_items"]) == (4, 1, 1, 2, 4)
    assert a["acceptance_rate"] == 0.25 and a["override_rate"] == 0.5
    assert a["top_override_reasons"] == [
        {"system": REASON_SYSTEM, "code": "dup", "display": "Duplicate", "count": 3},
        {"display": "no reason given", "count": 1},
    ]
    assert b["acceptance_rate"] is None and b["silenced"] == 2
    text = format_table({"since": None, "until": None, "rules": rows, "unmatched_feedback": 5})
    assert (
        "rule-a" in text and "25%" in text and "Duplicate (3)" in text and "not in the audit log: 5" in text
    )


@pytest.mark.parametrize(
    "args", [["--since", "yesterday"], ["--since", "2025-03-02", "--until", "2025-03-01"]]
)
def test_bad_arguments(tmp_path: Path, args: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    config = load_config(overrides={"storage": {"url": f"sqlite:///{tmp_path}/r.db"}}, environ={})
    with pytest.raises(SystemExit) as exit_info:
        report_command(config, args)
    assert exit_info.value.code == 2 and "usage" in capsys.readouterr().err


def test_in_process_range_filters(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite:///{tmp_path}/r.db"
    store = Store(url, salt=b"k" * 32)
    topic = Coding("https://example.org/rules", "rule-y", "rule y")
    for day in (1, 2, 3):
        card = Card(summary="y", indicator=Indicator.INFO, source=Source("t", topic=topic))
        store.record_call(
            CallRecord(
                "svc",
                "patient-view",
                f"h{day}",
                "p",
                datetime(2025, 3, day, 23, 59, tzinfo=UTC),
                [IssuedCard(card, True)],
            )
        )
    config = load_config(overrides={"storage": {"url": url}}, environ={})

    def shown(*args: str) -> int:
        assert report_command(config, ["--json", *args]) == 0
        rows = json.loads(capsys.readouterr().out)["rules"]
        return rows[0]["shown"] if rows else 0

    assert shown() == 3
    assert shown("--since", "2025-03-02") == 2
    assert shown("--until", "2025-03-02") == 2  # the whole last day is included
    assert shown("--since", "2025-03-02", "--until", "2025-03-02") == 1
    assert shown("--since", "2025-03-02T23:59:00Z", "--until", "2025-03-03T00:00:00") == 1
    assert shown("--since", "2025-03-04") == 0


def test_override_reasons_cannot_drive_the_operators_terminal() -> None:
    """Issue 15, finding 7: a reason ``display`` with ANSI/OSC escapes and a newline reached the
    terminal raw and forged a ``FAKE-RULE`` row. Every cell is shown with its control characters
    escaped: one row per rule, nothing for the terminal to execute."""
    hostile = ("ok\x1b[2J\x1b]8;;https://evil.example\x07click\x1b]8;;\x07\x1b]52;c;ZXZpbA==\x07\r"
               "\nFAKE-RULE                                  9999      0      0      0  100%    0%\u202e\x9b31m")
    stats = RuleStatistics(
        cards=[("rule-a", True, 2), ("rule\x1b[31m-b\n", True, 1)],
        outcomes=[("rule-a", "overridden", 1, 1)],
        reasons=[("rule-a", REASON_SYSTEM, "x\x1b[1m", hostile, False, 1)],
        unmatched_feedback=0,
    )
    table = format_table({"since": None, "until": None, "rules": summarise(stats), "unmatched_feedback": 0})
    lines = table.splitlines()
    assert len(lines) == 5, table  # title, header, rule line, rule-a, rule-b: no forged row
    assert not any(c in table for c in "\x1b\x07\r\x9b\u202e"), repr(table)
    row_a = next(line for line in lines if line.startswith("rule-a "))
    assert "ok\\x1b[2J\\x1b]8;;https://evil.example\\x07click" in row_a and "\\x0aFAKE-RULE" in row_a
    assert any(line.startswith("rule\\x1b[31m-b\\x0a ") for line in lines)
