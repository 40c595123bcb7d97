"""The dose plan says what the dose cards say: the verdict comes from the dose rules themselves, and a dose a
card suggests gets its own plan, judged again by the same rules.

Expected verdicts are the rules' own findings (run here directly); expected plans of suggested doses are the
plans of an order written with the suggested dose; nothing is typed in as a result.
"""

from __future__ import annotations

import dataclasses

import pytest
from flask import render_template

from cds_service import Indicator
from hooks import text
from hooks.app import build_app, load
from hooks.companion import verdict as verdict_module
from hooks.companion.data import PatientData
from hooks.companion.dose_plan import build_dose_plan
from hooks.companion.links import DOSE_PLAN_RULES
from hooks.companion.verdict import DOSE_CHECKS, dose_verdict, judged_doses
from hooks.dosing import order_dose_out_of_range, order_scig_administration, order_weight_missing
from hooks.findings import Finding
from hooks.policy import Policy
from tests.hooks.builders import (
    condition,
    facts,
    height,
    ig_given,
    ig_order,
    igg,
    one,
    patient,
    suggested_grams,
    weight,
)

SELECTED = ("MedicationRequest/ivig-1",)


def hale(grams, *extra, policy=None):
    """A 34-year-old man with X-linked hyper-IgM, 70 kg, a trough below target, and a Privigen draft."""
    return facts(patient(34, "male"), weight(70), height(178), condition("hyper-igm"), igg(420, 40),
                 ig_given(30, days_ago=60), ig_order(grams, every_days=28, product="privigen"), *extra,
                 policy=policy, selections=SELECTED)


def order_of(f):
    (order,) = f.record.draft_orders
    return order


def test_a_70_g_draft_above_the_label_limit_gets_the_rules_warning_and_the_plan_of_the_cards_suggested_dose():
    f = hale(70)
    card = one(order_dose_out_of_range, f)
    suggested = suggested_grams(card)
    ordered, other = judged_doses(f, order_of(f))

    (shown,) = ordered.verdict.cards
    assert (shown.rule, shown.indicator, shown.summary) == (card.rule, card.indicator, card.summary)
    assert ordered.verdict.indicator is Indicator.WARNING and ordered.plan.grams == 70
    (offer,) = ordered.verdict.suggestions
    assert offer.rule == card.rule and offer.label == card.suggestions[0].label and offer.recommended

    assert other.key == "suggested-1" and other.suggested == offer
    assert other.plan.grams == suggested and other.plan.mg_per_kg == pytest.approx(suggested * 1000 / 70)
    written = hale(suggested)  # the same patient with the order written at the suggested dose
    expected = build_dose_plan(written, order_of(written))
    assert (other.plan.vials, other.plan.rates, other.plan.weight) == (expected.vials, expected.rates, expected.weight)
    assert other.verdict == dose_verdict(written, order_of(written))
    assert other.verdict.cards == ()  # the card promises its dose passes every limit; the rules agree


def test_a_dose_within_the_usual_range_gets_no_dose_card_and_a_single_plan():
    f = hale(35)
    (ordered,) = judged_doses(f, order_of(f))
    assert ordered.verdict.cards == () and ordered.verdict.indicator is None
    assert ordered.verdict.suggestions == () and ordered.key == "ordered"


def test_without_a_weight_the_verdict_is_the_weight_missing_warning_and_nothing_is_suggested():
    f = facts(patient(34, "male"), condition("hyper-igm"), ig_order(70, every_days=28), selections=SELECTED)
    card = one(order_weight_missing, f)
    (ordered,) = judged_doses(f, order_of(f))
    assert [(c.rule, c.summary) for c in ordered.verdict.cards] == [(card.rule, card.summary)]
    assert ordered.plan.mg_per_kg is None


def test_an_scig_dose_split_over_too_many_sites_gets_the_suggested_doses_sites():
    f = facts(patient(50, "male"), weight(70), condition("cvid"), ig_order(40, every_days=7, product="hizentra"))
    ordered, other = judged_doses(f, order_of(f))
    assert {"order-dose-out-of-range", "order-scig-administration"} <= {c.rule for c in ordered.verdict.cards}
    suggested = suggested_grams(one(order_dose_out_of_range, f))
    written = facts(patient(50, "male"), weight(70), condition("cvid"),
                    ig_order(suggested, every_days=7, product="hizentra"))
    assert other.plan.sc == build_dose_plan(written, order_of(written)).sc
    assert other.plan.sc.sites <= other.plan.sc.max_sites < ordered.plan.sc.sites
    assert [c.summary for c in other.verdict.cards] == [one(order_scig_administration, written).summary]


def test_a_rule_the_site_silences_is_left_out_as_its_card_is():
    f = hale(70, policy=Policy(silent_rules=("order-dose-out-of-range",)))
    (ordered,) = judged_doses(f, order_of(f))
    assert ordered.verdict.cards == () and ordered.verdict.suggestions == ()


def test_every_dose_theme_finding_about_this_order_counts_and_nothing_else(monkeypatch):
    """Generic over the dosing theme: a dose rule added later (e.g. an unreadable-dose rule) shows up as is."""
    f = hale(35)
    about = order_of(f).reference

    def some_rules(_facts):
        yield Finding("order-dose-atypical", Indicator.INFO, "dose theme, this order", "", about=about)
        yield Finding("order-dose-atypical", Indicator.INFO, "dose theme, another order", "",
                      about="MedicationRequest/other")
        yield Finding("order-thrombosis-risk", Indicator.WARNING, "not a dose card", "", about=about)

    def broken(_facts):
        raise RuntimeError("a bug in one dose rule")

    monkeypatch.setattr(verdict_module, "DOSE_RULES", (broken, some_rules))
    found = dose_verdict(f, order_of(f))
    assert [c.summary for c in found.cards] == ["dose theme, this order"]
    assert found.not_evaluated == ("broken",)


def test_cards_are_listed_most_urgent_first():
    f = facts(patient(50, "male"), weight(70), condition("cvid"), ig_order(40, every_days=7, product="hizentra"))
    ranks = [c.indicator.rank for c in dose_verdict(f, order_of(f)).cards]
    assert ranks == sorted(ranks, reverse=True)


@pytest.fixture(scope="module")
def flask_app(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("verdict-page")
    config = load(None, {"dev": True, "server": {"data_dir": str(tmp), "public_base_url": "https://cds.example.org"},
                         "storage": {"url": f"sqlite:///{tmp}/a.db"},
                         "app": {"enabled": True, "client_id": "igcds-app",
                                 "fhir_servers": ["https://ehr.example.org/fhir"]}})
    return build_app(config)


def render_plan(flask_app, f):
    order = order_of(f)
    doses = judged_doses(f, order)
    with flask_app.test_request_context("/app/dose-plan"):
        return render_template("companion/dose_plan.html", text=text, plan=doses[0].plan, doses=doses,
                               checks=DOSE_CHECKS, data=PatientData(f, order, frozenset(), "Marcus Hale"),
                               context={}, view="dose-plan", from_draft=True, active_orders=[])


def test_the_page_shows_the_warning_on_top_and_the_suggested_plan_beside_the_ordered_one(flask_app):
    page = render_plan(flask_app, hale(70))
    assert page.index('id="dose-verdict"') < page.index('id="weight"') < page.index('id="dose"')
    assert 'data-rule="order-dose-out-of-range" data-indicator="warning"' in page
    assert page.count('data-plan="ordered"') == page.count('data-plan="suggested-1"') == 3  # dose, vials, rates
    assert 'id="dose-quiet"' not in page


def test_a_quiet_dose_says_no_card_and_has_one_plan(flask_app):
    page = render_plan(flask_app, hale(35))
    assert 'id="dose-quiet"' in page and 'data-indicator="none"' in page and "suggested-1" not in page


def test_card_text_and_client_text_are_escaped_on_the_page(flask_app, monkeypatch):
    hostile = '<img src=x onerror="alert(1)">'
    f = hale(35)
    order = order_of(f)
    named = dataclasses.replace(order, name=f"Privigen {hostile}")
    f = dataclasses.replace(f, record=dataclasses.replace(f.record, draft_orders=(named,)))

    def loud(_facts):
        yield Finding("order-dose-atypical", Indicator.INFO, f"summary {hostile}", "", about=order.reference)

    monkeypatch.setattr(verdict_module, "DOSE_RULES", (loud,))
    page = render_plan(flask_app, f)
    assert hostile not in page and "<img" not in page
    assert "summary &lt;img src=x onerror=&#34;alert(1)&#34;&gt;" in page


def test_the_verdict_runs_exactly_the_rules_whose_cards_link_to_the_dose_plan():
    assert {rule.__name__.replace("_", "-") for rule in verdict_module.DOSE_RULES} == DOSE_PLAN_RULES
    assert len(DOSE_CHECKS) == len(DOSE_PLAN_RULES)
