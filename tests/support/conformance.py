"""Checks of CDS Hooks 2.0 response documents, shared by every suite.

Each check names the requirement it enforces (ids and sections of docs/conformance.md, and the
Inferno requirement ids ``I#`` listed there).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

INDICATORS = {"info", "warning", "critical"}
SELECTION = {"at-most-one", "any"}
ACTION_TYPES = {"create", "update", "delete"}
LINK_TYPES = {"absolute", "smart"}


def assert_no_empty_values(value: Any, path: str = "$", *, allow_empty_cards: bool = True) -> None:
    """G2/G3 (I#3): no null, "", [] or {} anywhere, except ``"cards": []``."""
    if value is None:
        raise AssertionError(f"{path} is null (G2)")
    if isinstance(value, str):
        assert value != "", f"{path} is an empty string (G2)"
    elif isinstance(value, list):
        if not value and not (allow_empty_cards and path in ("$.cards", "$.services")):
            raise AssertionError(f"{path} is an empty array (G2)")
        for i, item in enumerate(value):
            assert_no_empty_values(item, f"{path}[{i}]", allow_empty_cards=allow_empty_cards)
    elif isinstance(value, Mapping):
        if not value and not path.endswith(".resource"):
            raise AssertionError(f"{path} is an empty object (G2)")
        for key, item in value.items():
            assert_no_empty_values(item, f"{path}.{key}", allow_empty_cards=allow_empty_cards)


def assert_coding(coding: Mapping[str, Any], path: str, *, display_required: bool) -> None:
    """Data Types › Coding (§8): code and system required; display required for overrideReasons."""
    assert isinstance(coding.get("code"), str) and coding["code"], f"{path}.code missing (§8)"
    assert isinstance(coding.get("system"), str) and coding["system"], f"{path}.system missing (§8)"
    if display_required:
        assert isinstance(coding.get("display"), str) and coding["display"], \
            f"{path}.display missing: overrideReasons need display (§4.2, I#98-100)"


def assert_card(card: Mapping[str, Any], path: str = "card") -> None:
    assert isinstance(card.get("uuid"), str) and card["uuid"], f"{path}.uuid missing (§4.2 uuid, I#80)"
    summary = card.get("summary")
    assert isinstance(summary, str) and summary, f"{path}.summary missing (I#83)"
    assert len(summary) < 140, f"{path}.summary has {len(summary)} chars; must be < 140 (§4.2, I#83)"
    assert card.get("indicator") in INDICATORS, f"{path}.indicator {card.get('indicator')!r} (§4.2, I#87-88)"
    source = card.get("source")
    assert isinstance(source, Mapping) and source.get("label"), f"{path}.source.label missing (§4.3, I#105)"
    for key in ("url", "icon"):
        if key in source:
            assert str(source[key]).startswith(("http://", "https://")), f"{path}.source.{key} not absolute (§4.3)"
    if "topic" in source:
        assert_coding(source["topic"], f"{path}.source.topic", display_required=False)
    if "detail" in card:
        assert isinstance(card["detail"], str) and card["detail"], f"{path}.detail empty (§4.2, I#85)"
    suggestions = card.get("suggestions")
    if suggestions is not None:
        assert card.get("selectionBehavior") in SELECTION, \
            f"{path}.selectionBehavior required with suggestions (§4.2, I#93, I#95-96)"
        recommended = sum(1 for s in suggestions if s.get("isRecommended"))
        if card["selectionBehavior"] == "at-most-one":
            assert recommended <= 1, f"{path}: several recommended suggestions need 'any' (§4.4, cds-resp-1)"
        for i, suggestion in enumerate(suggestions):
            assert_suggestion(suggestion, f"{path}.suggestions[{i}]")
    else:
        assert "selectionBehavior" not in card, f"{path}.selectionBehavior without suggestions"
    for i, reason in enumerate(card.get("overrideReasons", [])):
        assert_coding(reason, f"{path}.overrideReasons[{i}]", display_required=True)
    for i, link in enumerate(card.get("links", [])):
        assert link.get("label") and link.get("url"), f"{path}.links[{i}] label/url (§4.6, I#138-140)"
        assert link.get("type") in LINK_TYPES, f"{path}.links[{i}].type (§4.6, I#141-142)"
        if "appContext" in link:
            assert link["type"] == "smart", f"{path}.links[{i}].appContext only for smart (§4.6, I#144-147)"


def assert_suggestion(suggestion: Mapping[str, Any], path: str) -> None:
    assert isinstance(suggestion.get("label"), str) and suggestion["label"], f"{path}.label (§4.4, I#117)"
    assert isinstance(suggestion.get("uuid"), str) and suggestion["uuid"], f"{path}.uuid (§4.4, I#118)"
    if "isRecommended" in suggestion:
        assert isinstance(suggestion["isRecommended"], bool), f"{path}.isRecommended must be boolean"
    for i, action in enumerate(suggestion.get("actions", [])):
        assert_action(action, f"{path}.actions[{i}]")


def assert_action(action: Mapping[str, Any], path: str) -> None:
    assert action.get("type") in ACTION_TYPES, f"{path}.type (§4.5, I#127)"
    assert isinstance(action.get("description"), str) and action["description"], \
        f"{path}.description is REQUIRED (§4.5, I#128-129)"
    if action["type"] in ("create", "update"):
        resource = action.get("resource")
        assert isinstance(resource, Mapping) and resource.get("resourceType"), f"{path}.resource (§4.5, I#130-133)"
        if action["type"] == "update":
            assert resource.get("id"), f"{path}: update must carry the whole resource with its id (§4.5)"
    if "resourceId" in action:
        assert "/" in action["resourceId"] and "://" not in action["resourceId"], \
            f"{path}.resourceId must be relative (§4.5, I#134)"


def assert_conformant_response(document: Mapping[str, Any]) -> None:
    """C1 (I#74, I#77): ``cards`` present; every card valid; ordered critical > warning > info."""
    assert isinstance(document.get("cards"), list), "response.cards is REQUIRED (C1, I#74)"
    assert_no_empty_values(document)
    for i, card in enumerate(document["cards"]):
        assert_card(card, f"cards[{i}]")
    if "systemActions" in document:
        assert document["systemActions"], "systemActions must not be [] (C2)"
        for i, action in enumerate(document["systemActions"]):
            assert_action(action, f"systemActions[{i}]")
    ranks = [{"info": 0, "warning": 1, "critical": 2}[c["indicator"]] for c in document["cards"]]
    assert ranks == sorted(ranks, reverse=True), "cards must be ordered critical > warning > info"


def assert_conformant_discovery(document: Mapping[str, Any]) -> None:
    """D2-D6 (I#6-I#11)."""
    assert isinstance(document.get("services"), list), "discovery.services (D2, I#6)"
    assert_no_empty_values(document)
    for i, entry in enumerate(document["services"]):
        for key in ("hook", "description", "id"):
            assert isinstance(entry.get(key), str) and entry[key], f"services[{i}].{key} (D4, I#7-10)"
        if "prefetch" in entry:
            assert all(isinstance(v, str) for v in entry["prefetch"].values()), \
                f"services[{i}].prefetch values are strings (D6, I#11)"
