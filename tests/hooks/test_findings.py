"""Findings become cards with the conventions every igcds card shares."""

from __future__ import annotations

import re

from cds_service import Indicator
from hooks import dosing, text
from hooks.findings import OVERRIDE_REASONS, Finding, fit_summary, render_card
from tests.hooks.builders import condition, facts, ig_order, one, patient, weight


def test_card_carries_rule_topic_citation_and_override_reasons():
    card = render_card(Finding("order-renal-risk", Indicator.WARNING, "IV Ig with renal risk: age 72", "detail"))
    document = card.to_json()
    assert document["source"]["topic"] == {"system": "urn:igcds:rule", "code": "order-renal-risk",
                                           "display": "Renal risk factors for IV immune globulin (boxed warning)"}
    assert len(document["overrideReasons"]) == len(OVERRIDE_REASONS)
    info = render_card(Finding("order-trough-due", Indicator.INFO, "Trough IgG due", "detail")).to_json()
    assert "overrideReasons" not in info


def test_a_summary_quoting_a_very_long_drug_name_is_cut_at_a_word_not_refused():
    name = "Immune globulin " + "extraordinarily-long-product-name " * 6
    summary = f"{name} 70 g = 1,000 mg/kg: above the 800 mg/kg label limit"
    fitted = fit_summary(summary)
    assert len(fitted) < 140 and fitted.endswith("…")
    card = render_card(Finding("order-dose-out-of-range", Indicator.WARNING, summary, "full text in detail"))
    assert card.summary == fitted
    assert fit_summary("IVIG 70 g  =\n1,000 mg/kg") == "IVIG 70 g = 1,000 mg/kg"


def test_a_count_of_days_reads_1_day_and_n_days():
    """"daily (1 days)" was card text an integrator reported: every count of days in card text goes
    through ``text.days``."""
    assert [text.days(n) for n in (1, 1.0, 21, 1.5, 0)] == ["1 day", "1 day", "21 days", "1.5 days", "0 days"]


def test_a_daily_replacement_order_reads_daily_1_day():
    found = one(dosing.order_interval_out_of_range,
                facts(patient(age=45), weight(70), condition("cvid"), ig_order(28, every_days=1)))
    assert "daily (1 day)." in found.detail and not re.search(r"(?<![\d.])1 days", found.detail + found.summary)
