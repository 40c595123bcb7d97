"""Typed CDS Hooks 2.0 response models.

Every model is frozen and validates itself at construction, so an invalid card is a programming
error raised where it is built (and caught by tests), never something sent to an EHR. ``to_json``
drops every optional attribute that has no value: CDS Hooks 2.0 "Use of JSON" forbids ``null``,
``""``, ``[]`` and ``{}`` (requirements G2/G3); ``{"cards": []}`` is the only allowed empty list.
"""

from __future__ import annotations

import uuid as _uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

SUMMARY_MAX_CHARS = 139  # "fewer than 140 characters" (spec Card Attributes; Inferno checks < 140)


class CardModelError(ValueError):
    """A card, suggestion, action or link that would violate CDS Hooks 2.0."""


class Indicator(StrEnum):
    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        """Urgency rank: critical > warning > info (used to order cards)."""
        return _INDICATOR_RANK[self]


_INDICATOR_RANK = {Indicator.INFO: 0, Indicator.WARNING: 1, Indicator.CRITICAL: 2}


class SelectionBehavior(StrEnum):
    AT_MOST_ONE = "at-most-one"
    ANY = "any"


class ActionType(StrEnum):
    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"


class LinkType(StrEnum):
    ABSOLUTE = "absolute"
    SMART = "smart"


def _require_text(value: str | None, what: str) -> None:
    if not isinstance(value, str) or not value.strip():
        raise CardModelError(f"{what} must be a non-empty string")


def _new_uuid() -> str:
    return str(_uuid.uuid4())


def _absolute_url(url: str, what: str) -> None:
    if not (url.startswith("https://") or url.startswith("http://")):
        raise CardModelError(f"{what} must be an absolute URL, got {url!r}")


@dataclass(frozen=True, slots=True)
class Coding:
    """CDS Hooks Coding: ``system`` and ``code`` required; ``display`` conditional."""

    system: str
    code: str
    display: str | None = None

    def __post_init__(self) -> None:
        _require_text(self.system, "Coding.system")
        _require_text(self.code, "Coding.code")
        if self.display is not None:
            _require_text(self.display, "Coding.display")

    def to_json(self) -> dict[str, Any]:
        out = {"system": self.system, "code": self.code}
        if self.display:
            out["display"] = self.display
        return out


@dataclass(frozen=True, slots=True)
class Source:
    label: str
    url: str | None = None
    icon: str | None = None
    topic: Coding | None = None

    def __post_init__(self) -> None:
        _require_text(self.label, "Source.label")
        if self.url is not None:
            _absolute_url(self.url, "Source.url")
        if self.icon is not None:
            _absolute_url(self.icon, "Source.icon")

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"label": self.label}
        if self.url:
            out["url"] = self.url
        if self.icon:
            out["icon"] = self.icon
        if self.topic is not None:
            out["topic"] = self.topic.to_json()
        return out


def _is_empty(value: Any) -> bool:
    return value is None or (isinstance(value, str | list | dict) and not value)


def _without_empty_values(value: Any) -> Any:
    """A resource as the EHR sent it, without the empty values CDS Hooks forbids the service to send
    (G2/G3): an EHR's own ``"note": []`` on a draft, echoed in an update, made the whole response
    non-conformant. FHIR forbids them too, so nothing is lost. A ``null`` inside a list stays: FHIR
    JSON uses it to align a primitive array with its ``_element`` extensions."""
    if isinstance(value, Mapping):
        kept = ((key, _without_empty_values(item)) for key, item in value.items())
        return {key: item for key, item in kept if not _is_empty(item)}
    if isinstance(value, list):
        items = (_without_empty_values(item) for item in value)
        return [item for item in items if item is None or not _is_empty(item)]
    return value


@dataclass(frozen=True, slots=True)
class Action:
    """A suggestion's action. ``description`` is always sent (spec table: REQUIRED)."""

    type: ActionType
    description: str
    resource: Mapping[str, Any] | None = None
    resource_id: str | None = None

    def __post_init__(self) -> None:
        _require_text(self.description, "Action.description")
        if self.type in (ActionType.CREATE, ActionType.UPDATE):
            if not self.resource or not isinstance(self.resource.get("resourceType"), str):
                raise CardModelError(f"a {self.type} action needs a FHIR resource with resourceType")
        if self.type is ActionType.UPDATE and not self.resource.get("id"):  # type: ignore[union-attr]
            raise CardModelError("an update action must keep the resource id")
        if self.type is ActionType.DELETE and not self.resource_id:
            raise CardModelError("a delete action needs resourceId (ResourceType/id)")
        if self.resource_id is not None and ("/" not in self.resource_id or "://" in self.resource_id):
            raise CardModelError("resourceId must be a relative reference such as 'ServiceRequest/1'")

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": str(self.type), "description": self.description}
        if self.resource:
            out["resource"] = _without_empty_values(self.resource)
        if self.resource_id:
            out["resourceId"] = self.resource_id
        return out


@dataclass(frozen=True, slots=True)
class Suggestion:
    label: str
    actions: tuple[Action, ...] = ()
    is_recommended: bool = False
    uuid: str = field(default_factory=_new_uuid)

    def __post_init__(self) -> None:
        _require_text(self.label, "Suggestion.label")
        _require_text(self.uuid, "Suggestion.uuid")
        object.__setattr__(self, "actions", tuple(self.actions))

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"label": self.label, "uuid": self.uuid}
        if self.is_recommended:
            out["isRecommended"] = True
        if self.actions:
            out["actions"] = [a.to_json() for a in self.actions]
        return out


@dataclass(frozen=True, slots=True)
class Link:
    label: str
    url: str
    type: LinkType = LinkType.ABSOLUTE
    app_context: str | None = None
    autolaunchable: bool | None = None

    def __post_init__(self) -> None:
        _require_text(self.label, "Link.label")
        _absolute_url(self.url, "Link.url")
        if self.app_context is not None and self.type is not LinkType.SMART:
            raise CardModelError("Link.appContext is only valid for type 'smart'")

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"label": self.label, "url": self.url, "type": str(self.type)}
        if self.app_context:
            out["appContext"] = self.app_context
        if self.autolaunchable is not None:
            out["autolaunchable"] = self.autolaunchable
        return out


@dataclass(frozen=True, slots=True)
class Card:
    """One CDS Hooks card. Construction enforces the 2.0 rules that are easy to miss."""

    summary: str
    indicator: Indicator
    source: Source
    detail: str | None = None
    suggestions: tuple[Suggestion, ...] = ()
    selection_behavior: SelectionBehavior | None = None
    override_reasons: tuple[Coding, ...] = ()
    links: tuple[Link, ...] = ()
    uuid: str = field(default_factory=_new_uuid)

    def __post_init__(self) -> None:
        _require_text(self.summary, "Card.summary")
        if len(self.summary) > SUMMARY_MAX_CHARS:
            raise CardModelError(
                f"Card.summary has {len(self.summary)} characters; CDS Hooks allows fewer than 140"
            )
        if not isinstance(self.indicator, Indicator):
            raise CardModelError(f"Card.indicator must be an Indicator, got {self.indicator!r}")
        if self.detail is not None:
            _require_text(self.detail, "Card.detail")
        for name in ("suggestions", "override_reasons", "links"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        if self.suggestions and self.selection_behavior is None:
            raise CardModelError("Card.selectionBehavior is required whenever there are suggestions")
        if not self.suggestions and self.selection_behavior is not None:
            raise CardModelError("Card.selectionBehavior without suggestions would be meaningless")
        recommended = sum(1 for s in self.suggestions if s.is_recommended)
        if recommended > 1 and self.selection_behavior is not SelectionBehavior.ANY:
            raise CardModelError("more than one recommended suggestion needs selectionBehavior 'any'")
        for reason in self.override_reasons:
            if not reason.display:
                raise CardModelError("every overrideReasons Coding must have a display")
        ids = [s.uuid for s in self.suggestions]
        if len(set(ids)) != len(ids):
            raise CardModelError("suggestion uuids must be unique within a card")

    @property
    def topic_code(self) -> str | None:
        return self.source.topic.code if self.source.topic else None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "uuid": self.uuid,
            "summary": self.summary,
            "indicator": str(self.indicator),
            "source": self.source.to_json(),
        }
        if self.detail:
            out["detail"] = self.detail
        if self.suggestions:
            out["suggestions"] = [s.to_json() for s in self.suggestions]
            out["selectionBehavior"] = str(self.selection_behavior)
        if self.override_reasons:
            out["overrideReasons"] = [r.to_json() for r in self.override_reasons]
        if self.links:
            out["links"] = [link.to_json() for link in self.links]
        return out


def order_cards(cards: Iterable[Card]) -> list[Card]:
    """Most urgent first (critical > warning > info); stable within one indicator."""
    return sorted(cards, key=lambda c: -c.indicator.rank)


@dataclass(frozen=True, slots=True)
class ServiceResponse:
    """What a service handler returns: cards plus optional response-level extension data.

    Handlers may also return a plain sequence of cards. ``extension`` carries processing notes
    (e.g. how many resources were skipped) in the response-level ``extension`` the spec reserves.
    """

    cards: tuple[Card, ...] = ()
    extension: Mapping[str, Any] | None = None
    system_actions: tuple[Action, ...] = ()
    #: Cards withheld from the client (silent mode) but recorded for audit.
    silent_cards: tuple[Card, ...] = ()
    #: Resources of the request the handler could not use (counted in the metrics, never serialised:
    #: a handler that wants the client to know says so in ``extension``).
    skipped_resources: int = 0
    #: What the handler could not use, for the per-call log line (never serialised): small flat dicts of
    #: safe strings (no request values, no identifiers), opaque to this package.
    issues: tuple[Mapping[str, str], ...] = ()

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"cards": [c.to_json() for c in order_cards(self.cards)]}
        if self.system_actions:
            out["systemActions"] = [a.to_json() for a in self.system_actions]
        if self.extension:
            out["extension"] = dict(self.extension)
        return out
