"""The pluggable parts of a CDS service, as small protocols with null implementations.

``create_app`` works with the null versions (no audit, no metrics), so the framework can be
tested and embedded without a database; igcds plugs in the real ones (``storage``, ``metrics``,
``auth``). Keeping the seams here means the HTTP views never import a concrete backend.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from .cards import Card


@dataclass(frozen=True, slots=True)
class IssuedCard:
    card: Card
    #: False when the card was withheld (silent mode) but recorded for audit.
    shown: bool


@dataclass(frozen=True, slots=True)
class CallRecord:
    service_id: str
    hook: str
    hook_instance: str
    patient_id: str | None
    at: datetime
    cards: Sequence[IssuedCard]
    #: The authenticated client (JWT ``iss``; None in dev mode) and its tenant: feedback on these
    #: cards is accepted from that client only.
    issuer: str | None = None
    tenant: str | None = None


@dataclass(frozen=True, slots=True)
class CardOwner:
    """The service a card came from and the client it was issued to."""

    service_id: str
    issuer: str | None
    tenant: str | None


class AuditSink(Protocol):
    def record_call(self, record: CallRecord) -> None: ...


class CardDirectory(Protocol):
    def card_owners(self, card_uuids: Iterable[str]) -> Mapping[str, CardOwner]:
        """Who each known card was issued to; unknown cards are absent."""
        ...


class FeedbackStore(Protocol):
    def save_feedback(self, service_id: str, items: Sequence[Mapping[str, Any]], at: datetime,
                      issuer: str | None = None, tenant: str | None = None) -> tuple[int, int]:
        """Store feedback items idempotently, with the client that sent them; return (newly stored,
        already known)."""
        ...


class Metrics(Protocol):
    def observe_request(self, endpoint: str, service: str, status: int, seconds: float) -> None: ...
    def observe_fhir(self, seconds: float, status: str) -> None: ...
    def count_card(self, service: str, rule: str, indicator: str) -> None: ...
    def count_feedback(self, service: str, outcome: str) -> None: ...
    def count_skipped(self, service: str, count: int) -> None: ...
    def observe_check(self, check: str, ok: bool) -> None: ...
    def count_feedback_refused(self, service: str, reason: str, items: int) -> None: ...
    def exposition(self) -> tuple[bytes, str]: ...


class NullAudit:
    def record_call(self, record: CallRecord) -> None:
        return None


class NullFeedbackStore:
    def save_feedback(self, service_id: str, items: Sequence[Mapping[str, Any]], at: datetime,
                      issuer: str | None = None, tenant: str | None = None) -> tuple[int, int]:
        return (0, len(items))


class NullMetrics:
    def observe_request(self, endpoint: str, service: str, status: int, seconds: float) -> None:
        return None

    def observe_fhir(self, seconds: float, status: str) -> None:
        return None

    def count_card(self, service: str, rule: str, indicator: str) -> None:
        return None

    def count_feedback(self, service: str, outcome: str) -> None:
        return None

    def count_skipped(self, service: str, count: int) -> None:
        return None

    def observe_check(self, check: str, ok: bool) -> None:
        return None

    def count_feedback_refused(self, service: str, reason: str, items: int) -> None:
        return None

    def exposition(self) -> tuple[bytes, str]:
        return b"", "text/plain; version=0.0.4"
