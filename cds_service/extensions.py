"""The pluggable parts of a CDS service, as small protocols with null implementations.

``create_app`` works with the null versions (no audit, no metrics), so the framework can be
tested and embedded without a database; igcds plugs in the real ones (``storage``, ``metrics``,
``auth``). Keeping the seams here means the HTTP views never import a concrete backend.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
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


class AuditSink(Protocol):
    def record_call(self, record: CallRecord) -> None: ...


class FeedbackStore(Protocol):
    def save_feedback(self, service_id: str, items: Sequence[Mapping[str, Any]], at: datetime) -> tuple[int, int]:
        """Store feedback items idempotently; return (newly stored, already known)."""
        ...


class Metrics(Protocol):
    def observe_request(self, endpoint: str, service: str, status: int, seconds: float) -> None: ...
    def observe_fhir(self, seconds: float, status: str) -> None: ...
    def count_card(self, service: str, rule: str, indicator: str) -> None: ...
    def count_feedback(self, service: str, outcome: str) -> None: ...
    def count_skipped(self, service: str, count: int) -> None: ...
    def exposition(self) -> tuple[bytes, str]: ...


class NullAudit:
    def record_call(self, record: CallRecord) -> None:
        return None


class NullFeedbackStore:
    def save_feedback(self, service_id: str, items: Sequence[Mapping[str, Any]], at: datetime) -> tuple[int, int]:
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

    def exposition(self) -> tuple[bytes, str]:
        return b"", "text/plain; version=0.0.4"
