"""Feedback (docs/conformance.md §5, FB1-FB9): strict validation, idempotent storage, nothing stored on a 4xx."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest

from cds_service import Registry, ServiceDefinition, create_app
from cds_service.auth import AuthContext
from cds_service.config import load_config
from cds_service.feedback import (
    FeedbackHandler,
    IssuedCards,
    StorageUnavailable,
    UnknownCard,
    canonical_timestamp,
    card_wait_s,
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


def feedback_client(tmp_path: Path, handler: FeedbackHandler) -> Any:
    """A test client of a dev-mode app whose feedback endpoint is ``handler``."""
    config = load_config(overrides={"dev": True, "server": {"data_dir": str(tmp_path)}}, environ={})
    return create_app(config, REGISTRY, feedback=handler).test_client()


class BrokenStore:
    """A store whose every save fails with ``OSError(message)``."""

    def __init__(self, message: str) -> None:
        self.message = message

    def save_feedback(self, *args: Any) -> tuple[int, int]:
        raise OSError(self.message)


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
        handler = FeedbackHandler(REGISTRY, BrokenStore("disk on fire: /secret/path"))  # type: ignore[arg-type]
        response = post(feedback_client(tmp_path, handler), {"feedback": [item()]})
        assert response.status_code == 503
        assert response.get_json()["error"] == "storage-unavailable"
        assert "secret" not in response.get_data(as_text=True)

    def test_storage_failure_says_when_to_retry(self, tmp_path: Path) -> None:
        handler = FeedbackHandler(REGISTRY, BrokenStore("database is restarting"))  # type: ignore[arg-type]
        response = post(feedback_client(tmp_path, handler), {"feedback": [item()]})
        assert response.status_code == 503 and int(response.headers["Retry-After"]) > 0


# Binding: feedback only from the client the card was issued to ------------------------------------

EHR_A = AuthContext(issuer="https://ehr-a.example.org", tenant="hospital-a")
EHR_A_OTHER_TENANT = AuthContext(issuer="https://ehr-a.example.org", tenant="hospital-b")
EHR_B = AuthContext(issuer="https://ehr-b.example.org")
DEV = AuthContext()


def issued_call(auth: AuthContext, *, service: str = "toy") -> Any:
    """The record of a call by which ``service`` issued one card to ``auth``."""
    from cds_service.cards import Card, Coding, Indicator, Source
    from cds_service.extensions import CallRecord, IssuedCard

    card = Card(summary="x", indicator=Indicator.INFO, source=Source("t", topic=Coding("https://r", "r", "r")))
    return CallRecord(service_id=service, hook="patient-view", hook_instance="h", patient_id="p",
                      at=datetime.now(UTC), cards=[IssuedCard(card, True)], issuer=auth.issuer, tenant=auth.tenant)


def issue(writer: Any, auth: AuthContext, *, service: str = "toy") -> str:
    """One card issued to ``auth`` by ``service``, recorded through ``writer`` (a store or a buffer)."""
    record = issued_call(auth, service=service)
    writer.record_call(record)
    return record.cards[0].card.uuid


class TestBinding:
    @pytest.fixture
    def metrics(self) -> Any:
        from cds_service.metrics import PrometheusMetrics

        return PrometheusMetrics("igcds", services=["toy"])

    def handler(self, store: Store, metrics: Any, pending: Any = None, wait_s: float = 0.0) -> FeedbackHandler:
        return FeedbackHandler(REGISTRY, store, metrics, cards=IssuedCards(store, pending, wait_s=wait_s))

    def refused(self, exposition: bytes, reason: str) -> float:
        for line in exposition.decode().splitlines():
            if line.startswith("igcds_feedback_refused_items_total{") and f'reason="{reason}"' in line:
                return float(line.rsplit(" ", 1)[1])
        raise AssertionError(f"no refused-items series for {reason}")

    def test_the_client_that_got_the_card_is_heard_and_recorded(self, store: Store, metrics: Any) -> None:
        card = issue(store, EHR_A)
        answer = self.handler(store, metrics).handle("toy", {"feedback": [item(card=card)]}, EHR_A)
        assert answer == {"stored": 1, "duplicates": 0}
        (row,) = store.feedback_rows()
        assert (row["issuer"], row["tenant"]) == (EHR_A.issuer, EHR_A.tenant)

    @pytest.mark.parametrize("sender", [EHR_B, EHR_A_OTHER_TENANT, DEV], ids=["other-issuer", "other-tenant", "dev"])
    def test_another_client_is_refused_and_counted(self, store: Store, metrics: Any, sender: AuthContext) -> None:
        card = issue(store, EHR_A)
        with pytest.raises(UnknownCard) as info:
            self.handler(store, metrics).handle("toy", {"feedback": [item(card=card)]}, sender)
        assert info.value.status_code == 422 and "feedback[0].card" in info.value.message
        assert store.feedback_rows() == []
        assert self.refused(metrics.exposition()[0], "other_client") == 1.0

    def test_a_made_up_card_is_refused_like_another_clients(self, store: Store, metrics: Any) -> None:
        mine = issue(store, EHR_A)
        body = {"feedback": [item(card=mine), item(card="made-up-card-id")]}
        with pytest.raises(UnknownCard) as info:  # the whole body: nothing stored
            self.handler(store, metrics).handle("toy", body, EHR_A)
        assert "feedback[1].card" in info.value.message and store.feedback_rows() == []
        assert self.refused(metrics.exposition()[0], "unknown_card") == 1.0
        foreign = issue(store, EHR_B)
        with pytest.raises(UnknownCard) as other:
            self.handler(store, metrics).handle("toy", {"feedback": [item(card=foreign)]}, EHR_A)
        assert other.value.message.replace("[0]", "[1]") == info.value.message, "no oracle: the same answer"

    def test_a_card_of_another_service_is_unknown_here(self, store: Store, metrics: Any) -> None:
        card = issue(store, EHR_A, service="other-service")
        with pytest.raises(UnknownCard):
            self.handler(store, metrics).handle("toy", {"feedback": [item(card=card)]}, EHR_A)

    def test_dev_mode_cards_take_dev_mode_feedback(self, store: Store, metrics: Any) -> None:
        card = issue(store, DEV)
        assert self.handler(store, metrics).handle("toy", {"feedback": [item(card=card)]}, DEV)["stored"] == 1

    def test_refused_over_http_with_a_clear_json_error(self, store: Store, metrics: Any, tmp_path: Path) -> None:
        response = post(feedback_client(tmp_path, self.handler(store, metrics)), {"feedback": [item(card="never-issued")]})
        assert response.status_code == 422
        body = response.get_json()
        assert body["error"] == "unknown-card" and "never-issued" not in body["message"] and body["requestId"]

    def test_feedback_before_the_cards_batch_is_written_same_worker(
        self, store: Store, metrics: Any, tmp_path: Path
    ) -> None:
        """The card's row is still in this worker's audit spool (a batch every 10 minutes here)."""
        from cds_service.audit_buffer import BufferedAudit

        buffer = BufferedAudit(store, spool_dir=tmp_path / "spool", flush_interval=600)
        try:
            card = issue(buffer, EHR_A)
            assert store.card_owners([card]) == {}, "not in the database yet"
            handler = self.handler(store, metrics, pending=buffer)
            assert handler.handle("toy", {"feedback": [item(card=card)]}, EHR_A)["stored"] == 1
            with pytest.raises(UnknownCard):  # the spool knows whose card it is too
                handler.handle("toy", {"feedback": [item(card=card, outcomeTimestamp="2025-03-01T12:06:00Z")]},
                               EHR_B)
        finally:
            buffer.close(timeout=5)

    def test_feedback_before_another_workers_batch_is_written_waits_for_it(
        self, store: Store, metrics: Any
    ) -> None:
        """Another worker (a thread here) writes the card 0.3 s after the feedback arrived."""
        import threading
        import time

        record = issued_call(EHR_A)
        card = record.cards[0].card.uuid
        late = threading.Timer(0.3, lambda: store.record_call(record))
        late.start()
        started = time.monotonic()
        answer = self.handler(store, metrics, wait_s=2.0).handle("toy", {"feedback": [item(card=card)]}, EHR_A)
        assert answer["stored"] == 1 and 0.25 < time.monotonic() - started < 2.0
        late.join()
        started = time.monotonic()
        with pytest.raises(UnknownCard):  # a card that never comes: refused once the wait is over
            self.handler(store, metrics, wait_s=0.3).handle("toy", {"feedback": [item(card="never")]}, EHR_A)
        assert 0.3 <= time.monotonic() - started < 1.5

    def test_the_database_down_during_the_lookup_is_503(self, metrics: Any, tmp_path: Path) -> None:
        class Down:
            def card_owners(self, uuids: Any) -> dict[str, Any]:
                raise OSError("connection refused")

        handler = FeedbackHandler(REGISTRY, Store(f"sqlite:///{tmp_path}/x.db", salt=b"x" * 32), metrics,
                                  cards=IssuedCards(Down()))
        with pytest.raises(StorageUnavailable):
            handler.handle("toy", {"feedback": [item()]}, EHR_A)

    def test_wait_follows_the_flush_interval_and_is_bounded(self) -> None:
        assert card_wait_s(200) == pytest.approx(0.9)
        assert card_wait_s(0) == 0.5 and card_wait_s(60_000) == 2.0

    def test_an_unknown_card_while_the_audit_catches_up_is_retry_later(
        self, store: Store, metrics: Any, tmp_path: Path
    ) -> None:
        """After a database outage, the cards spooled meanwhile (by any worker, any instance) reach
        the database a little later: a card not found then is "retry later" (503), not unknown."""
        import time

        import sqlalchemy as sa

        from cds_service.audit_buffer import BufferedAudit

        class DatabaseDown:
            def audit_rows(self, record: Any) -> list[dict[str, Any]]:
                return store.audit_rows(record)

            def write_audit_rows(self, rows: Any) -> None:
                raise sa.exc.OperationalError("INSERT", {}, Exception("connection refused"))

        lagging = BufferedAudit(DatabaseDown(), spool_dir=tmp_path / "spool", flush_interval=0.01, retry_delays=(60,))
        try:
            issue(lagging, EHR_A)
            deadline = time.monotonic() + 10
            while not lagging.catching_up():
                assert time.monotonic() < deadline, "the failed write was never noticed"
                time.sleep(0.01)
            handler = self.handler(store, metrics, pending=lagging)
            with pytest.raises(StorageUnavailable) as info:
                handler.handle("toy", {"feedback": [item(card="written-later-perhaps")]}, EHR_A)
            assert "catching up" in info.value.message and info.value.retry_after_s > 0
        finally:
            lagging.close(timeout=0.1)
        healthy = BufferedAudit(store, spool_dir=tmp_path / "other-spool", flush_interval=0.01)
        try:
            assert not healthy.catching_up()
            with pytest.raises(UnknownCard):
                self.handler(store, metrics, pending=healthy).handle(
                    "toy", {"feedback": [item(card="written-later-perhaps")]}, EHR_A)
        finally:
            healthy.close(timeout=5)
