"""The card model refuses, at construction, every card CDS Hooks 2.0 forbids."""

from __future__ import annotations

import pytest

from cds_service import (
    Action,
    ActionType,
    Card,
    CardModelError,
    Coding,
    Indicator,
    Link,
    LinkType,
    SelectionBehavior,
    ServiceResponse,
    Source,
    Suggestion,
)
from tests.support.conformance import assert_conformant_response

SOURCE = Source(label="Test source", topic=Coding("urn:igcds:rule", "test-rule"))


def card(**kwargs):
    base = {"summary": "IVIG 70 g = 1,000 mg/kg: above the 800 mg/kg label limit",
            "indicator": Indicator.WARNING, "source": SOURCE}
    base.update(kwargs)
    return Card(**base)


def order_update() -> Action:
    return Action(ActionType.UPDATE, "Set dose to 55 g",
                  {"resourceType": "MedicationRequest", "id": "mr1", "status": "draft"})


def test_summary_of_139_characters_is_accepted_and_140_refused():
    assert card(summary="x" * 139).summary
    with pytest.raises(CardModelError, match="fewer than 140"):
        card(summary="x" * 140)


def test_empty_summary_and_detail_are_refused():
    with pytest.raises(CardModelError):
        card(summary="  ")
    with pytest.raises(CardModelError):
        card(detail="")


def test_indicator_must_be_the_enum():
    with pytest.raises(CardModelError):
        card(indicator="hard-stop")


def test_suggestions_require_selection_behavior():
    with pytest.raises(CardModelError, match="selectionBehavior"):
        card(suggestions=(Suggestion("Fix it", (order_update(),)),))
    ok = card(suggestions=(Suggestion("Fix it", (order_update(),)),),
              selection_behavior=SelectionBehavior.AT_MOST_ONE)
    assert ok.to_json()["selectionBehavior"] == "at-most-one"


def test_two_recommended_suggestions_need_any():
    both = (Suggestion("A", (order_update(),), is_recommended=True),
            Suggestion("B", (order_update(),), is_recommended=True))
    with pytest.raises(CardModelError, match="any"):
        card(suggestions=both, selection_behavior=SelectionBehavior.AT_MOST_ONE)
    assert card(suggestions=both, selection_behavior=SelectionBehavior.ANY)


def test_override_reasons_need_display():
    with pytest.raises(CardModelError, match="display"):
        card(override_reasons=(Coding("urn:x", "code"),))


def test_actions_need_description_and_resources():
    with pytest.raises(CardModelError):
        Action(ActionType.CREATE, "", {"resourceType": "ServiceRequest"})
    with pytest.raises(CardModelError):
        Action(ActionType.CREATE, "Create", None)
    with pytest.raises(CardModelError, match="id"):
        Action(ActionType.UPDATE, "Update", {"resourceType": "MedicationRequest"})
    with pytest.raises(CardModelError):
        Action(ActionType.DELETE, "Delete")
    with pytest.raises(CardModelError, match="relative"):
        Action(ActionType.DELETE, "Delete", resource_id="http://x/ServiceRequest/1")
    assert Action(ActionType.DELETE, "Delete", resource_id="ServiceRequest/1").to_json() == {
        "type": "delete", "description": "Delete", "resourceId": "ServiceRequest/1"}


def test_an_echoed_resource_loses_the_empty_values_the_ehr_sent_and_nothing_else():
    """The EHR's draft with ``note: []`` and friends, echoed in an update: CDS Hooks G2/G3 forbids the
    service to send them (FHIR does too). Values that look empty but are not (0, false) stay, and so
    does a null that aligns a primitive array with its ``_given`` extensions."""
    sent = {"resourceType": "MedicationRequest", "id": "mr1", "status": "draft", "note": [], "contained": [],
            "text": {}, "groupIdentifier": {"value": ""}, "priorPrescription": None, "doNotPerform": False,
            "dispenseRequest": {"numberOfRepeatsAllowed": 0},
            "dosageInstruction": [{"sequence": 1, "additionalInstruction": [], "doseAndRate": [{}]}],
            "subject": {"display": "x", "extension": [{"url": "u", "valueString": "a"}, {}]},
            "performer": {"_given": [None, {"id": "g2"}], "given": [None, "B"]}}
    resource = Action(ActionType.UPDATE, "Set dose", sent).to_json()["resource"]
    assert resource == {"resourceType": "MedicationRequest", "id": "mr1", "status": "draft", "doNotPerform": False,
                        "dispenseRequest": {"numberOfRepeatsAllowed": 0}, "dosageInstruction": [{"sequence": 1}],
                        "subject": {"display": "x", "extension": [{"url": "u", "valueString": "a"}]},
                        "performer": {"_given": [None, {"id": "g2"}], "given": [None, "B"]}}
    assert sent["note"] == []  # the action's own resource is left as it was


def test_links_are_absolute_and_app_context_only_for_smart():
    with pytest.raises(CardModelError):
        Link("Guide", "/relative")
    with pytest.raises(CardModelError):
        Link("Guide", "https://example.org", LinkType.ABSOLUTE, app_context="x")
    assert Link("App", "https://example.org/launch", LinkType.SMART, app_context="x").to_json()["type"] == "smart"


def test_serialisation_leaves_out_empty_optionals_and_gives_uuids():
    document = card().to_json()
    assert set(document) == {"uuid", "summary", "indicator", "source"}
    assert document["source"]["topic"] == {"system": "urn:igcds:rule", "code": "test-rule"}
    full = card(detail="**Weight** 70 kg", override_reasons=(Coding("urn:x", "a", "Reason A"),),
                suggestions=(Suggestion("Fix", (order_update(),), is_recommended=True),),
                selection_behavior=SelectionBehavior.AT_MOST_ONE,
                links=(Link("Label", "https://example.org/pi"),)).to_json()
    assert full["suggestions"][0]["uuid"] and full["suggestions"][0]["isRecommended"] is True
    assert_conformant_response({"cards": [full]})


def test_response_orders_cards_critical_warning_info():
    info = card(indicator=Indicator.INFO, summary="info")
    warning = card(indicator=Indicator.WARNING, summary="warning")
    critical = card(indicator=Indicator.CRITICAL, summary="critical")
    document = ServiceResponse(cards=(info, warning, critical, info)).to_json()
    assert [c["indicator"] for c in document["cards"]] == ["critical", "warning", "info", "info"]
    assert ServiceResponse().to_json() == {"cards": []}


def test_cards_are_frozen():
    with pytest.raises(AttributeError):
        card().summary = "changed"  # type: ignore[misc]
