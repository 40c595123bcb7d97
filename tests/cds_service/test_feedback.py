"""Feedback (reference §5, FB1-FB9): strict validation, idempotent storage, nothing stored on a 4xx."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest

from cds_service import Registry, ServiceDefinition, create_app
from cds_service.config import load_config
from cds_service.feedback import (
    FeedbackHandler,
    canonical_timestamp,
    feedback_errors,
    feedback_key,
    parse_timestamp,
)
from cds_service.storage import Store

TS = "2025-03-01T12:05:50.52Z"
REASON = {"system": "https://example.org/reasons", "code": "not-relevant"}


def _noop(request: Any) -> list:
    return []


REGISTRY = Registry([ServiceDefinition("toy", "patient-view", "Toy", "A toy service", _noop)])


def item(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "card": "card-1",
        "outcome": "accepted",
        "outcomeTimestamp": TS,
        "acceptedSuggestions": [{"id": "sug-1"}],
    }
    base.update(changes)
    return {k: v for k, v in base.items() if v is not None}


VALID = [
    item(),
    item(outcome="overridden", acceptedSuggestions=None),  # FB4: overridden without any reason
    item(outcome="overridden", acceptedSuggestions=None, overrideReason={"reason": REASON}),  # no display
    item(
        outcome="overridden",
        acceptedSuggestions=None,
        overrideReason={"reason": {**REASON, "display": "Not relevant"}, "userComment": "seen"},
    ),
    item(outcome="overridden", acceptedSuggestions=None, overrideReason={"userComment": "free text"}),
    item(outcomeTimestamp="2025-03-01T12:05:50+00:00"),
    item(outcomeTimestamp="2025-03-01T12:05:50.123456789Z"),
    item(extension={"org.example": {"x": 1}}),
]

INVALID = {
    "missing card": item(card=None),
    "empty card": item(card=""),
    "card not a string": item(card=42),
    "missing outcome": item(outcome=None),
    "unknown outcome": item(outcome="ignored"),
    "accepted without acceptedSuggestions": item(acceptedSuggestions=None),
    "accepted with empty acceptedSuggestions": item(acceptedSuggestions=[]),
    "suggestion without id": item(acceptedSuggestions=[{}]),
    "suggestion id not a string": item(acceptedSuggestions=[{"id": 7}]),
    "accepted with an override reason": item(overrideReason={"userComment": "x"}),
    "overridden with accepted suggestions": item(outcome="overridden"),
    "empty override reason": item(outcome="overridden", acceptedSuggestions=None, overrideReason={}),
    "reason without system": item(
        outcome="overridden", acceptedSuggestions=None, overrideReason={"reason": {"code": "x"}}
    ),
    "reason not a Coding": item(
        outcome="overridden", acceptedSuggestions=None, overrideReason={"reason": "not-relevant"}
    ),
    "empty user comment": item(
        outcome="overridden", acceptedSuggestions=None, overrideReason={"userComment": ""}
    ),
    "missing timestamp": item(outcomeTimestamp=None),
    "local time": item(outcomeTimestamp="2025-03-01T12:05:50+01:00"),
    "no offset": item(outcomeTimestamp="2025-03-01T12:05:50"),
    "date only": item(outcomeTimestamp="2025-03-01"),
    "impossible date": item(outcomeTimestamp="2025-02-30T12:05:50Z"),
    "impossible hour": item(outcomeTimestamp="2025-03-01T25:05:50Z"),
    "timestamp not a string": item(outcomeTimestamp=1740830750),
    "unknown member": item(color="red"),
}


class TestSchema:
    @pytest.mark.parametrize("body_item", VALID)
    def test_valid_items(self, body_item: dict) -> None:
        assert feedback_errors({"feedback": [body_item]}) is None

    @pytest.mark.parametrize("name", sorted(INVALID))
    def test_invalid_items(self, name: str) -> None:
        problem = feedback_errors({"feedback": [item(), INVALID[name]]})
        assert problem is not None and problem.startswith("request.feedback")

    @pytest.mark.parametrize(
        "body",
        [
            {},
            {"feedback": []},
            {"feedback": {}},
            {"feedback": [item()], "x": 1},
            {"feedback": [item()] * 1001},
            {"feedback": ["card-1"]},
        ],
    )
    def test_invalid_envelopes(self, body: dict) -> None:
        assert feedback_errors(body) is not None


class TestIdentity:
    @pytest.mark.parametrize(
        "text, canonical",
        [
            ("2025-03-01T12:05:50.52Z", "2025-03-01T12:05:50.52Z"),
            ("2025-03-01T12:05:50.520+00:00", "2025-03-01T12:05:50.52Z"),
            ("2025-03-01t12:05:50.000z", "2025-03-01T12:05:50Z"),
            ("2025-03-01T12:05:50-00:00", "2025-03-01T12:05:50Z"),
            ("2025-03-01T12:05:50.123456789Z", "2025-03-01T12:05:50.123456789Z"),
        ],
    )
    def test_canonical_timestamp(self, text: str, canonical: str) -> None:
        assert canonical_timestamp(text) == canonical

    def test_parse_timestamp_is_utc_and_truncates_nanoseconds(self) -> None:
        assert parse_timestamp("2025-03-01T12:05:50.123456789Z") == datetime(
            2025, 3, 1, 12, 5, 50, 123456, tzinfo=UTC
        )

    def test_key_ignores_spelling_but_not_meaning(self) -> None:
        key = feedback_key("toy", item())
        assert feedback_key("toy", item(outcomeTimestamp="2025-03-01T12:05:50.520+00:00")) == key
        assert feedback_key("toy", item(acceptedSuggestions=[{"id": "sug-1"}, {"id": "sug-1"}])) == key
        assert feedback_key("other", item()) != key
        assert feedback_key("toy", item(card="card-2")) != key
        assert feedback_key("toy", item(acceptedSuggestions=[{"id": "sug-2"}])) != key
        assert feedback_key("toy", item(outcomeTimestamp="2025-03-01T12:05:51Z")) != key


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(f"sqlite:///{tmp_path}/feedback.db", salt=b"x" * 32)


@pytest.fixture
def client(store: Store, tmp_path: Path) -> Any:
    config = load_config(
        overrides={"dev": True, "server": {"data_dir": str(tmp_path), "max_body_bytes": 1_048_576}},
        environ={},
    )
    app = create_app(config, REGISTRY, feedback=FeedbackHandler(REGISTRY, store))
    return app.test_client()


def post(client: Any, body: Any, service: str = "toy", content_type: str = "application/json") -> Any:
    data = body if isinstance(body, bytes) else orjson.dumps(body)
    return client.post(f"/cds-services/{service}/feedback", data=data, content_type=content_type)


class TestEndpoint:
    def test_stores_and_reports_duplicates(self, client: Any, store: Store) -> None:
        body = {"feedback": [item(), item(card="card-2"), item()]}
        first = post(client, body)
        assert first.status_code == 200
        assert first.get_json() == {"stored": 2, "duplicates": 1}
        assert post(client, body).get_json() == {"stored": 0, "duplicates": 3}
        assert len(store.feedback_rows()) == 2

    @pytest.mark.parametrize("name", sorted(INVALID))
    def test_an_invalid_item_refuses_the_whole_body(self, client: Any, store: Store, name: str) -> None:
        response = post(client, {"feedback": [item(card="fine"), INVALID[name]]})
        assert response.status_code == 400
        assert response.get_json()["error"] == "invalid-request"
        assert store.feedback_rows() == []

    @pytest.mark.parametrize(
        "data, content_type, status",
        [
            (b"", "application/json", 400),
            (b"{not json", "application/json", 400),
            (b"[]", "application/json", 400),
            (b'{"feedback": "x"}', "application/json", 400),
            (orjson.dumps({"feedback": [item()]}), "text/plain", 415),
            (b'{"feedback": [' + b'"x",' * (5 * 1024 * 1024 // 4) + b'"x"]}', "application/json", 413),
        ],
        ids=["empty", "not-json", "array", "wrong-type", "text-plain", "5MB"],
    )
    def test_bad_bodies(self, client: Any, store: Store, data: bytes, content_type: str, status: int) -> None:
        response = post(client, data, content_type=content_type)
        assert response.status_code == status
        assert store.feedback_rows() == []

    def test_unknown_service(self, client: Any, store: Store) -> None:
        assert post(client, {"feedback": [item()]}, service="nope").status_code == 404
        assert store.feedback_rows() == []

    def test_storage_failure_is_503_and_generic(self, tmp_path: Path) -> None:
        class BrokenStore:
            def save_feedback(self, *args: Any) -> tuple[int, int]:
                raise OSError("disk on fire: /secret/path")

        config = load_config(overrides={"dev": True, "server": {"data_dir": str(tmp_path)}}, environ={})
        app = create_app(config, REGISTRY, feedback=FeedbackHandler(REGISTRY, BrokenStore()))  # type: ignore[arg-type]
        response = post(app.test_client(), {"feedback": [item()]})
        assert response.status_code == 503
        assert response.get_json()["error"] == "storage-unavailable"
        assert "secret" not in response.get_data(as_text=True)
