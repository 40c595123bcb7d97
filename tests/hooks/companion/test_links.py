"""Which cards link to the companion, and what their SMART link says."""

from __future__ import annotations

import json

import pytest

from cds_service import Indicator, LinkType
from hooks.catalog import CATALOG
from hooks.companion.links import DOSE_PLAN, DOSE_PLAN_RULES, MAX_DRAFT_BYTES, TREND, TREND_RULES, smart_links, view_for
from hooks.companion.settings import AppSettings
from hooks.findings import Finding, render_card
from tests.hooks.builders import facts, ig_order

ENABLED = AppSettings(enabled=True, client_id="igcds", fhir_servers=("https://ehr.example.org/fhir",),
                      launch_url="https://cds.example.org/app/launch")
ORDER = ig_order(70, every_days=28, id="draft-7")


def finding(rule, about="MedicationRequest/draft-7"):
    return Finding(rule, Indicator.WARNING, "summary", "detail", about=about)


def test_every_dosing_rule_opens_the_dose_plan_and_trough_and_igrt_rules_the_trend():
    assert DOSE_PLAN_RULES == {s.id for s in CATALOG if s.theme == "dosing"}
    assert {"order-dose-out-of-range", "order-scig-administration", "order-dosing-weight"} <= DOSE_PLAN_RULES
    assert TREND_RULES <= {s.id for s in CATALOG}
    assert view_for("order-dose-out-of-range", "MedicationRequest/1") == DOSE_PLAN
    assert view_for("pv-trough-below-target", None) == TREND
    assert view_for("order-anaphylaxis-history", "MedicationRequest/1") is None
    assert view_for("order-dose-out-of-range", None) is None  # a dose plan needs its order


def test_a_dose_card_links_to_the_dose_plan_of_its_draft_order_carried_in_app_context():
    (link,) = smart_links(finding("order-dose-out-of-range"), facts(ORDER), ENABLED)
    assert link.type is LinkType.SMART and link.url == ENABLED.launch_url
    context = json.loads(link.app_context)
    assert context["view"] == DOSE_PLAN and context["order"] == "MedicationRequest/draft-7"
    assert context["draft"] == dict(ORDER.raw)
    card = render_card(finding("order-dose-out-of-range"), (link,)).to_json()
    assert card["links"] == [{"label": link.label, "url": ENABLED.launch_url, "type": "smart",
                              "appContext": link.app_context}]


def test_an_order_not_among_the_drafts_is_named_by_reference_only():
    (link,) = smart_links(finding("order-dose-out-of-range", "MedicationRequest/elsewhere"), facts(ORDER), ENABLED)
    assert json.loads(link.app_context) == {"view": DOSE_PLAN, "order": "MedicationRequest/elsewhere"}


def test_a_huge_draft_is_not_copied_into_the_card():
    big = ig_order(70, id="draft-7", name="x" * (MAX_DRAFT_BYTES + 1))
    (link,) = smart_links(finding("order-dose-out-of-range"), facts(big), ENABLED)
    assert "draft" not in json.loads(link.app_context)


def test_a_trough_card_links_to_the_trend():
    (link,) = smart_links(finding("order-trough-below-target"), facts(ORDER), ENABLED)
    assert json.loads(link.app_context) == {"view": TREND, "order": "MedicationRequest/draft-7",
                                            "draft": dict(ORDER.raw)}
    (link,) = smart_links(finding("pv-trough-below-target", None), facts(), ENABLED)
    assert json.loads(link.app_context) == {"view": TREND}


@pytest.mark.parametrize("settings", [None, AppSettings(), AppSettings(enabled=False, launch_url="https://x/app/launch")])
def test_no_link_unless_the_app_is_enabled(settings):
    assert smart_links(finding("order-dose-out-of-range"), facts(ORDER), settings) == ()
