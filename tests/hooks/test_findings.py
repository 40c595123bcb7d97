"""Findings become cards with the conventions every igcds card shares."""

from __future__ import annotations

from cds_service import Indicator
from hooks.findings import OVERRIDE_REASONS, Finding, fit_summary, render_card


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


def test_a_count_of_one_day_reads_1_day_in_every_card():
    """"daily (1 days)" was card text an integrator reported; "21 days" and "1.5 days" are left alone."""
    card = render_card(Finding("order-interval-out-of-range", Indicator.WARNING, "IVIG daily: over 1 days",
                               "**Ordered interval**: daily (1 days); 21 days; 1.5 days; 11 days; 1 days ago."))
    assert card.summary == "IVIG daily: over 1 day"
    assert card.detail == "**Ordered interval**: daily (1 day); 21 days; 1.5 days; 11 days; 1 day ago."
