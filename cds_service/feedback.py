"""CDS Hooks 2.0 feedback (``POST {baseUrl}/cds-services/{id}/feedback``, reference §5).

The body is validated with JSON Schema (FB2-FB4, invariants cds-fb-1..3): each item names a card
uuid, an outcome (accepted | overridden), ``acceptedSuggestions`` when accepted, an optional
``overrideReason`` (a coded reason and/or a comment) and an RFC 3339 UTC ``outcomeTimestamp``. The
whole body is refused (4xx, nothing stored) if any item is invalid; valid bodies are stored
idempotently by the configured store (the same item twice is one record, FB5).

Strictness beyond the spec's letter, each tied to its text: unknown members are refused (only
``extension`` may be added, as everywhere in CDS Hooks); an ``accepted`` item must not carry an
``overrideReason`` and an ``overridden`` item must not carry ``acceptedSuggestions``; a
``userComment`` must not be empty (no empty strings, G2). ``outcomeTimestamp`` must be UTC: ``Z``
or ``+00:00`` (``-00:00`` is accepted as RFC 3339's "UTC, local offset unknown").

"The same feedback" is defined by :func:`canonical_feedback`: service id, card uuid, outcome,
the instant of ``outcomeTimestamp`` (``.52Z`` = ``.520+00:00``), the *set* of accepted suggestion ids,
and the override reason's system, code and userComment (``display`` is a label, not identity). FB5
allows several distinct items for one card (e.g. accepted, then later overridden); each is kept.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from jsonschema.exceptions import best_match

from .errors import CdsError, InvalidRequest, UnknownService
from .extensions import FeedbackStore, Metrics, NullFeedbackStore, NullMetrics
from .registry import Registry
from .schemas import SchemaValidator, describe

log = logging.getLogger("igcds.feedback")

_RFC3339_UTC = r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]00:00)$"
_EXTENSION = {"type": "object"}

#: Most feedback items in one POST (a client batching a session's outcomes).
MAX_ITEMS = 1000

_CODING = {
    "type": "object",
    "required": ["system", "code"],
    "properties": {
        "system": {"type": "string", "minLength": 1, "maxLength": 500},
        "code": {"type": "string", "minLength": 1, "maxLength": 200},
        # FB4: the reason Coding may arrive without display (the spec's own example has none).
        "display": {"type": "string", "maxLength": 500},
    },
    "additionalProperties": False,
}

FEEDBACK_ITEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["card", "outcome", "outcomeTimestamp"],
    "properties": {
        "card": {"type": "string", "minLength": 1, "maxLength": 200},
        "outcome": {"enum": ["accepted", "overridden"]},
        "acceptedSuggestions": {
            "type": "array",
            "minItems": 1,
            "maxItems": 100,
            "items": {
                "type": "object",
                "required": ["id"],
                "properties": {"id": {"type": "string", "minLength": 1, "maxLength": 200},
                               "extension": _EXTENSION},
                "additionalProperties": False,
            },
        },
        "overrideReason": {
            "type": "object",
            "properties": {
                "reason": _CODING,
                "userComment": {"type": "string", "minLength": 1, "maxLength": 4000},
                "extension": _EXTENSION,
            },
            "additionalProperties": False,
            # invariant cds-fb-3: an overrideReason has a reason or a userComment
            "anyOf": [{"required": ["reason"]}, {"required": ["userComment"]}],
        },
        "outcomeTimestamp": {"type": "string", "maxLength": 40, "pattern": _RFC3339_UTC},
        "extension": _EXTENSION,
    },
    "additionalProperties": False,
    "allOf": [
        {   # FB3 / cds-fb-2: accepted needs acceptedSuggestions; an acceptance has no override reason
            "if": {"properties": {"outcome": {"const": "accepted"}}, "required": ["outcome"]},
            "then": {"required": ["acceptedSuggestions"], "not": {"required": ["overrideReason"]}},
        },
        {   # overridden: no suggestion was accepted
            "if": {"properties": {"outcome": {"const": "overridden"}}, "required": ["outcome"]},
            "then": {"not": {"required": ["acceptedSuggestions"]}},
        },
    ],
}

FEEDBACK_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "CDS Hooks 2.0 feedback request",
    "type": "object",
    "required": ["feedback"],
    "properties": {
        "feedback": {"type": "array", "minItems": 1, "maxItems": MAX_ITEMS, "items": FEEDBACK_ITEM_SCHEMA},
        "extension": _EXTENSION,
    },
    "additionalProperties": False,
}

FEEDBACK_RESPONSE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["stored", "duplicates"],
    "properties": {
        "stored": {"type": "integer", "minimum": 0, "description": "items recorded by this request"},
        "duplicates": {"type": "integer", "minimum": 0,
                       "description": "items already recorded (resent) or repeated within this request"},
    },
    "additionalProperties": False,
}

_VALIDATOR = SchemaValidator(FEEDBACK_SCHEMA)  # ECMA-262 anchors: no trailing newline


def canonical_timestamp(text: str) -> str:
    """RFC 3339 UTC timestamp -> one spelling per instant: ``YYYY-MM-DDTHH:MM:SS[.fff]Z``.

    The fraction keeps every significant digit (up to nanoseconds) and drops trailing zeros.
    """
    text = text.strip()
    if text[-1] in "zZ":
        body = text[:-1]
    elif text[-6:] in ("+00:00", "-00:00"):
        body = text[:-6]
    else:
        raise ValueError(f"not a UTC timestamp: {text!r}")
    body = body[:10] + "T" + body[11:]
    if "." in body:
        whole, fraction = body.split(".", 1)
        fraction = fraction.rstrip("0")
        body = f"{whole}.{fraction}" if fraction else whole
    return body + "Z"


def parse_timestamp(text: str) -> datetime:
    """An RFC 3339 UTC timestamp as an aware datetime (fractions beyond microseconds truncated)."""
    canonical = canonical_timestamp(text)[:-1]
    if "." in canonical:
        whole, fraction = canonical.split(".", 1)
        canonical = f"{whole}.{fraction[:6].ljust(6, '0')}"
    return datetime.fromisoformat(canonical).replace(tzinfo=UTC)


def canonical_feedback(service_id: str, item: Mapping[str, Any]) -> dict[str, Any]:
    """The identity of a feedback item (module docstring)."""
    reason = item.get("overrideReason") or {}
    coding = reason.get("reason") or {}
    return {
        "service": service_id,
        "card": item["card"],
        "outcome": item["outcome"],
        "at": canonical_timestamp(item["outcomeTimestamp"]),
        "accepted": sorted({s["id"] for s in item.get("acceptedSuggestions") or ()}),
        "reason": [coding.get("system"), coding.get("code")] if coding else None,
        "comment": reason.get("userComment"),
    }


def feedback_key(service_id: str, item: Mapping[str, Any]) -> str:
    canonical = json.dumps(canonical_feedback(service_id, item), sort_keys=True, separators=(",", ":"),
                           ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def feedback_errors(body: Any) -> str | None:
    """The most relevant problem of a feedback body, or None if it is valid."""
    error = best_match(_VALIDATOR.iter_errors(body))
    if error is not None:
        return describe(error, "request")
    for index, item in enumerate(body["feedback"]):
        try:
            parse_timestamp(item["outcomeTimestamp"])
        except ValueError:
            return f"request.feedback[{index}].outcomeTimestamp: not a valid RFC 3339 date-time"
    return None


class StorageUnavailable(CdsError):
    """The feedback store failed; nothing was stored and the client may retry."""

    status_code = 503
    code = "storage-unavailable"


class FeedbackHandler:
    """Validates a feedback body, then stores all its items or none (4xx/503: nothing stored)."""


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
        try:
            stored, known = self.store.save_feedback(service_id, items, datetime.now(UTC))
        except Exception:
            log.exception("feedback not stored", extra={"event": "feedback_failed", "service": service_id})
            raise StorageUnavailable("feedback could not be stored; retry later") from None
        for item in items:
            self.metrics.count_feedback(service_id, item["outcome"])
        log.info("feedback", extra={"event": "feedback", "service": service_id, "count": len(items),
                                    "stored": stored, "duplicates": known})
        return {"stored": stored, "duplicates": known}
