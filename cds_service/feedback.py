"""CDS Hooks 2.0 feedback (``POST {baseUrl}/cds-services/{id}/feedback``, reference §5).

The body is validated with JSON Schema (FB2-FB4, invariants cds-fb-1..3): each item names a card
uuid, an outcome (accepted | overridden), ``acceptedSuggestions`` when accepted, an optional
``overrideReason`` (a coded reason and/or a comment) and an RFC 3339 UTC ``outcomeTimestamp``. The
whole body is refused (4xx, nothing stored) if any item is invalid; valid bodies are stored
idempotently by the configured store (the same item twice is one record, FB5).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import best_match

from .errors import InvalidRequest, UnknownService
from .extensions import FeedbackStore, Metrics, NullFeedbackStore, NullMetrics
from .registry import Registry
from .schemas import describe

_RFC3339_UTC = r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]00:00)$"

FEEDBACK_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "CDS Hooks 2.0 feedback request",
    "type": "object",
    "required": ["feedback"],
    "properties": {
        "feedback": {
            "type": "array",
            "minItems": 1,
            "maxItems": 1000,
            "items": {
                "type": "object",
                "required": ["card", "outcome", "outcomeTimestamp"],
                "properties": {
                    "card": {"type": "string", "minLength": 1, "maxLength": 200},
                    "outcome": {"enum": ["accepted", "overridden"]},
                    "acceptedSuggestions": {
                        "type": "array",
                        "minItems": 1,
                        "items": {
                            "type": "object",
                            "required": ["id"],
                            "properties": {"id": {"type": "string", "minLength": 1, "maxLength": 200}},
                        },
                    },
                    "overrideReason": {
                        "type": "object",
                        "properties": {
                            "reason": {
                                "type": "object",
                                "required": ["code", "system"],
                                "properties": {
                                    "code": {"type": "string", "minLength": 1, "maxLength": 200},
                                    "system": {"type": "string", "minLength": 1, "maxLength": 500},
                                    "display": {"type": "string", "maxLength": 500},
                                },
                            },
                            "userComment": {"type": "string", "maxLength": 4000},
                        },
                        "anyOf": [{"required": ["reason"]}, {"required": ["userComment"]}],
                    },
                    "outcomeTimestamp": {"type": "string", "pattern": _RFC3339_UTC},
                },
                "allOf": [
                    {
                        "if": {"properties": {"outcome": {"const": "accepted"}}},
                        "then": {"required": ["acceptedSuggestions"]},
                    }
                ],
            },
        }
    },
}

_VALIDATOR = Draft202012Validator(FEEDBACK_SCHEMA)


def feedback_errors(body: Any) -> str | None:
    error = best_match(_VALIDATOR.iter_errors(body))
    if error is None:
        for index, item in enumerate(body["feedback"]):
            try:
                datetime.fromisoformat(item["outcomeTimestamp"].replace("z", "Z"))
            except ValueError:
                return f"request.feedback[{index}].outcomeTimestamp: not a valid RFC 3339 date-time"
        return None
    return describe(error, "request")


class FeedbackHandler:
    def __init__(
        self,
        registry: Registry,
        store: FeedbackStore | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        self.registry = registry
        self.store = store or NullFeedbackStore()
        self.metrics = metrics or NullMetrics()

    def handle(self, service_id: str, body: Mapping[str, Any]) -> dict[str, Any]:
        if service_id not in self.registry.ids():
            raise UnknownService(f"no CDS service with id {service_id!r}")
        problem = feedback_errors(body)
        if problem:
            raise InvalidRequest(problem)
        items: Sequence[Mapping[str, Any]] = body["feedback"]
        stored, known = self.store.save_feedback(service_id, items, datetime.now(UTC))
        for item in items:
            self.metrics.count_feedback(service_id, item["outcome"])
        return {"stored": stored, "duplicates": known}
