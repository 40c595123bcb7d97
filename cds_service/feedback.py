"""CDS Hooks 2.0 feedback (``POST {baseUrl}/cds-services/{id}/feedback``, docs/conformance.md §5).

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

Feedback is bound to the client that got the card. With card audit on, every item's card must have
been issued by this service to the calling client (the same JWT ``iss`` and tenant); otherwise the
whole body is refused with 422 ``unknown-card`` (the same answer whether the card does not exist or
belongs to another client, so the refusal tells nobody which cards exist) and the items are counted
in ``igcds_feedback_refused_items_total{reason}``. Cards recorded without an issuer (dev mode, or
before this check existed) accept feedback from any client.

The card's audit row is written up to ``[storage] audit_flush_ms`` after the answer, by whichever
worker (or instance) issued it, so feedback may arrive first. :class:`IssuedCards` therefore looks
in the database, then in this worker's audit spool, then asks the database again for a short,
bounded while (:func:`card_wait_s`) before calling a card unknown. After a database outage the
spooled audit takes a little longer to be written: while this instance is catching up, a card
not found is answered 503 with ``Retry-After`` (nothing stored, retry), not 422.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from jsonschema.exceptions import best_match

from .auth import AuthContext
from .errors import CdsError, InvalidRequest, ServiceUnavailable, UnknownService
from .extensions import CardDirectory, CardOwner, FeedbackStore, Metrics, NullFeedbackStore, NullMetrics
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


class StorageUnavailable(ServiceUnavailable):
    """The feedback store failed; nothing was stored and the client may retry (``Retry-After``)."""

    code = "storage-unavailable"
    retry_after_s = 5


class UnknownCard(CdsError):
    """A feedback item names a card this service did not issue to this client (or none at all)."""

    status_code = 422
    code = "unknown-card"


def card_wait_s(audit_flush_ms: int) -> float:
    """How long feedback waits for a card's audit row to appear: two flush intervals and half a
    second (another worker's batch, one database round trip), at most 2 s."""
    return min(2.0, 2 * audit_flush_ms / 1000 + 0.5)


class IssuedCards:
    """The cards issued so far: the database, then this worker's audit spool (cards answered but
    not yet written), then the database again for up to ``wait_s`` (another worker's batch)."""

    def __init__(self, store: CardDirectory, pending: CardDirectory | None = None, *, wait_s: float = 0.0) -> None:
        self.store = store
        self.pending = pending
        self.wait_s = wait_s

    def catching_up(self) -> bool:
        """Whether cards not found may just not be written yet (see ``BufferedAudit.catching_up``)."""
        catching_up = getattr(self.pending, "catching_up", None)
        return bool(catching_up()) if catching_up is not None else False

    def card_owners(self, card_uuids: Iterable[str]) -> dict[str, CardOwner]:
        wanted = set(card_uuids)
        owners = dict(self.store.card_owners(wanted))
        if self.pending is not None and len(owners) < len(wanted):
            owners.update(self.pending.card_owners(wanted - owners.keys()))
        deadline = time.monotonic() + self.wait_s
        pause = 0.02
        while len(owners) < len(wanted) and time.monotonic() < deadline:
            time.sleep(min(pause, max(0.0, deadline - time.monotonic())))
            pause = min(pause * 2, 0.2)
            owners.update(self.store.card_owners(wanted - owners.keys()))
        return owners


def _issued_to(owner: CardOwner, service_id: str, auth: AuthContext) -> bool:
    if owner.service_id != service_id:
        return False
    if owner.issuer is None:  # recorded in dev mode or before cards carried their client: unbound
        return True
    return owner.issuer == auth.issuer and owner.tenant == auth.tenant


class FeedbackHandler:
    """Validates a feedback body, checks that every card was issued to the caller, then stores all
    its items or none (4xx/503: nothing stored).

    :param cards: where issued cards are looked up (:class:`IssuedCards`); None (audit off, or an
        embedding without storage) skips the check: the items are stored with their sender.
    """

    def __init__(
        self,
        registry: Registry,
        store: FeedbackStore | None = None,
        metrics: Metrics | None = None,
        *,
        cards: CardDirectory | None = None,
    ) -> None:
        self.registry = registry
        self.store = store or NullFeedbackStore()
        self.metrics = metrics or NullMetrics()
        self.cards = cards

    def handle(self, service_id: str, body: Mapping[str, Any], auth: AuthContext | None = None) -> dict[str, Any]:
        if service_id not in self.registry.ids():
            raise UnknownService(f"no CDS service with id {service_id!r}")
        problem = feedback_errors(body)
        if problem:
            raise InvalidRequest(problem)
        items: Sequence[Mapping[str, Any]] = body["feedback"]
        auth = auth or AuthContext()
        try:
            if self.cards is not None:
                self._check_cards(service_id, items, auth)
            stored, known = self.store.save_feedback(service_id, items, datetime.now(UTC),
                                                     auth.issuer, auth.tenant)
        except CdsError:  # refused (422) or "retry later" (503), said as such
            raise
        except Exception:
            log.exception("feedback not stored", extra={"event": "feedback_failed", "service": service_id})
            raise StorageUnavailable("feedback could not be stored; retry later") from None
        for item in items:
            self.metrics.count_feedback(service_id, item["outcome"])
        log.info("feedback", extra={"event": "feedback", "service": service_id, "count": len(items),
                                    "stored": stored, "duplicates": known})
        return {"stored": stored, "duplicates": known}

    def _check_cards(self, service_id: str, items: Sequence[Mapping[str, Any]], auth: AuthContext) -> None:
        assert self.cards is not None
        owners = self.cards.card_owners({item["card"] for item in items})
        unknown = other = 0
        first: int | None = None
        for index, item in enumerate(items):
            owner = owners.get(item["card"])
            if owner is not None and _issued_to(owner, service_id, auth):
                continue
            if owner is None or owner.service_id != service_id:
                unknown += 1
            else:
                other += 1
            first = index if first is None else first
        if first is None:
            return
        if unknown and isinstance(self.cards, IssuedCards) and self.cards.catching_up():
            raise StorageUnavailable(
                f"request.feedback[{first}].card is not known yet: the card audit is catching up after a "
                "database outage; nothing was stored, retry later")
        self.metrics.count_feedback_refused(service_id, "unknown_card", unknown)
        self.metrics.count_feedback_refused(service_id, "other_client", other)
        log.warning("feedback refused", extra={
            "event": "feedback_refused", "service": service_id, "issuer": auth.issuer or "dev",
            "count": unknown + other, "reason": f"unknown_card={unknown} other_client={other}"})
        raise UnknownCard(
            f"request.feedback[{first}].card: no card with this uuid was issued by {service_id!r} to this "
            "client; nothing was stored")
