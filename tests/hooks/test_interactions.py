"""Interactions: plasma exchange after IVIG, live vaccines, Ig after a live vaccine, anti-CD20 and HBV.

Each test is a short clinical vignette dated in whole days before NOW (2025-06-15).
"""

from __future__ import annotations

from datetime import date

import pytest

from cds_service import ActionType, Indicator, SelectionBehavior
from fhir_mappings.model import Measure, MedClass, Route
from hooks import interactions as ix
from hooks.findings import render_card
from hooks.knowledge import vaccines as vk
from tests.hooks.pv_builders import (
    NOW,
    concepts,
    condition,
    facts,
    globulin_draft,
    ig_draft,
    ig_given,
    ig_request,
    loinc,
    med,
    one,
    procedure,
    qual,
    record,
    resource,
    rituximab_draft,
    run,
    vaccine_draft,
    vaccine_given,
    weight,
)


def days_before_now(day: date) -> int:
    return (NOW.date() - day).days


# --- order-plasma-exchange-after-ivig ----------------------------------------------------------------


def _plex(**kw) -> list:  # noqa: ANN003
    return [procedure("plasma-exchange", draft=True, **kw)]


def test_plasma_exchange_14_days_after_iv_ig_warns() -> None:
    f = facts(record(conditions=[condition("gbs")], medications=[ig_given(14, 140)], drafts=_plex()))
    card = one(ix.plasma_exchange_after_ivig, f)
    assert card.rule == "order-plasma-exchange-after-ivig"
    assert card.indicator is Indicator.WARNING and card.about == "ServiceRequest/pr1"
    assert "14 days after IVIG" in card.summary and "2025-06-01" in card.summary
    assert "removes immunoglobulin" in card.detail and "MSD Manual" in card.detail
    assert render_card(card).override_reasons


def test_plasma_exchange_15_days_after_iv_ig_is_quiet() -> None:
    f = facts(record(conditions=[condition("gbs")], medications=[ig_given(15, 140)], drafts=_plex()))
    assert run(ix.plasma_exchange_after_ivig, f) == []


def test_plasma_exchange_after_sc_ig_is_quiet() -> None:
    f = facts(record(medications=[ig_given(3, 10, route=Route.SC)], drafts=_plex()))
    assert run(ix.plasma_exchange_after_ivig, f) == []


def test_plasma_exchange_with_iv_ig_request_authored_10_days_ago() -> None:
    f = facts(record(medications=[ig_request(10, status="completed")], drafts=_plex()))
    assert "10 days after IVIG" in one(ix.plasma_exchange_after_ivig, f).summary


def test_plasma_exchange_with_iv_ig_in_the_same_draft_orders_select_judges_only_the_exchange() -> None:
    drafts = _plex() + [ig_draft("ig1")]
    selected_exchange = facts(record(drafts=drafts, selections=["ServiceRequest/pr1"]), hook="order-select")
    card = one(ix.plasma_exchange_after_ivig, selected_exchange)
    assert card.about == "ServiceRequest/pr1" and "same orders" in card.summary
    selected_ig = facts(record(drafts=drafts, selections=["MedicationRequest/ig1"]), hook="order-select")
    assert run(ix.plasma_exchange_after_ivig, selected_ig) == []


# --- order-live-vaccine ---------------------------------------------------------------------------------


def test_live_vaccine_in_severe_antibody_deficiency_is_critical() -> None:
    f = facts(record(conditions=[condition("cvid", text="CVID")], drafts=[vaccine_draft("mmr")]))
    card = one(ix.live_vaccine, f)
    assert card.rule == "order-live-vaccine"
    assert card.indicator is Indicator.CRITICAL and card.about == "Immunization/vax-draft"
    assert "contraindicated" in card.summary and "CVID" in card.summary
    assert "altered immunocompetence" in card.detail


def test_live_vaccine_on_igrt_for_a_less_severe_deficiency_is_critical() -> None:
    f = facts(
        record(
            conditions=[condition("selective-igm-deficiency")],
            medications=[ig_request(100)],
            drafts=[vaccine_draft("rotavirus")],
        )
    )
    card = one(ix.live_vaccine, f)
    assert card.indicator is Indicator.CRITICAL and "on immunoglobulin replacement" in card.summary


def test_yellow_fever_in_less_severe_deficiency_not_on_igrt_is_critical() -> None:
    f = facts(
        record(
            conditions=[condition("igg-subclass-deficiency", text="IgG subclass deficiency")],
            drafts=[vaccine_draft("yellow-fever")],
        )
    )
    card = one(ix.live_vaccine, f)
    assert card.indicator is Indicator.CRITICAL and "IgG subclass deficiency" in card.summary


@pytest.mark.parametrize("kind", ["mmr", "rotavirus"])
def test_other_live_vaccines_in_less_severe_deficiency_without_ig_are_quiet(kind: str) -> None:
    f = facts(record(conditions=[condition("igg-subclass-deficiency")], drafts=[vaccine_draft(kind)]))
    assert run(ix.live_vaccine, f) == []


@pytest.mark.parametrize(
    ("mg_per_kg", "months", "first_day"),
    [
        (400, 8, "2025-09-10"),
        (401, 10, "2025-11-10"),
        (1000, 10, "2025-11-10"),
        (1001, 11, "2025-12-10"),
    ],
)
def test_mmr_after_ig_gives_the_exact_first_vaccination_date(
    mg_per_kg: float, months: int, first_day: str
) -> None:
    given = days_before_now(date(2025, 1, 10))
    f = facts(
        record(
            conditions=[condition("itp")],
            measurements=[weight(70, given + 3)],
            medications=[ig_given(given, mg_per_kg=mg_per_kg)],
            drafts=[vaccine_draft("mmr")],
        )
    )
    card = one(ix.live_vaccine, f)
    assert card.indicator is Indicator.WARNING
    assert f"defer until {first_day} ({months} months)" in card.summary
    assert first_day in card.detail and "2025-01-10" in card.detail and len(card.summary) < 140


def test_deferral_uses_grams_over_the_newest_weight_on_or_before_the_dose() -> None:
    given = days_before_now(date(2025, 1, 10))
    # 28 g / 70 kg = 400 mg/kg (weight measured before the dose; a later 60 kg weight is ignored)
    f = facts(
        record(
            conditions=[condition("itp")],
            measurements=[weight(70, given + 30), weight(60, 5)],
            medications=[ig_given(given, 28)],
            drafts=[vaccine_draft("varicella")],
        )
    )
    card = one(ix.live_vaccine, f)
    assert "400 mg/kg" in card.summary and "2025-09-10" in card.summary
    assert "weight 70 kg" in card.detail


def test_a_five_day_course_is_banded_by_its_total_from_its_last_dose() -> None:
    last = days_before_now(date(2025, 1, 14))
    doses = [ig_given(last + i, mg_per_kg=400, rid=f"d{i}") for i in range(5)]  # 2 g/kg over 5 days (GBS)
    f = facts(record(conditions=[condition("gbs")], medications=doses, drafts=[vaccine_draft("mmr")]))
    card = one(ix.live_vaccine, f)
    assert "2,000 mg/kg" in card.summary and "2025-12-14 (11 months)" in card.summary


def test_mmr_on_the_first_allowed_day_is_quiet_and_the_day_before_warns() -> None:
    on_day = days_before_now(date(2024, 10, 15))  # + 8 months = 2025-06-15 = today
    f = facts(
        record(
            conditions=[condition("itp")],
            medications=[ig_given(on_day, mg_per_kg=400)],
            drafts=[vaccine_draft("mmr")],
        )
    )
    assert run(ix.live_vaccine, f) == []
    day_before = days_before_now(date(2024, 10, 16))
    f2 = facts(
        record(
            conditions=[condition("itp")],
            medications=[ig_given(day_before, mg_per_kg=400)],
            drafts=[vaccine_draft("mmr")],
        )
    )
    assert "2025-06-16" in one(ix.live_vaccine, f2).summary


def test_unknown_course_dose_uses_the_longest_interval() -> None:
    given = days_before_now(date(2025, 1, 10))
    f = facts(
        record(conditions=[condition("itp")], medications=[ig_given(given, None)], drafts=[vaccine_draft()])
    )
    card = one(ix.live_vaccine, f)
    assert "2025-12-10 (11 months)" in card.summary and "could not be computed" in card.detail


def test_add_months_is_calendar_months_clamped_to_month_end() -> None:
    assert vk.add_months(date(2024, 6, 30), 8) == date(2025, 2, 28)
    assert vk.add_months(date(2024, 5, 31), 9) == date(2025, 2, 28)
    assert vk.add_months(date(2025, 6, 15), -6) == date(2024, 12, 15)


# --- order-ig-after-live-vaccine ---------------------------------------------------------------------------


@pytest.mark.parametrize(("days", "fires"), [(13, True), (14, True), (15, False)])
def test_ig_order_within_14_days_after_mmr(days: int, fires: bool) -> None:
    f = facts(
        record(
            conditions=[condition("itp")],
            measurements=[weight(70, 2)],
            medications=[vaccine_given(days)],
            drafts=[ig_draft(grams=70)],
        )
    )
    found = run(ix.ig_after_live_vaccine, f)
    assert bool(found) is fires
    if fires:
        card = found[0]
        assert card.rule == "order-ig-after-live-vaccine"
        assert card.indicator is Indicator.INFO and card.about == "MedicationRequest/ig-draft"
        assert f"{days} days after MMR vaccine" in card.summary
        assert "revaccinate after 10 months" in card.detail  # 70 g / 70 kg = 1,000 mg/kg


def test_ig_after_a_non_measles_live_vaccine_is_quiet() -> None:
    f = facts(record(medications=[vaccine_given(3, "yellow-fever")], drafts=[ig_draft()]))
    assert run(ix.ig_after_live_vaccine, f) == []


@pytest.mark.parametrize(
    ("name", "route"),
    [
        ("immune globulin (human) intramuscular", Route.IM),  # IM Ig (hepatitis A / measles prophylaxis)
        ("GamaSTAN S/D", Route.IM),
        ("hepatitis B immune globulin (human)", Route.IM),
        ("HyperRAB (rabies immune globulin)", Route.IM),
        ("VariZIG", Route.IM),
        ("tetanus immune globulin", Route.IM),
        ("cytomegalovirus immune globulin intravenous", Route.IV),
        ("Hizentra", Route.SC),
    ],
)
def test_any_immune_globulin_after_varicella_vaccine_gets_the_card(name: str, route: Route) -> None:
    # A 20-month-old given varicella vaccine 5 days ago, now exposed: any antibody-containing product
    # may neutralise the vaccine virus (ACIP), not only IV/SC Ig orders.
    f = facts(record(medications=[vaccine_given(5, "varicella")], drafts=[globulin_draft(name, route=route)]))
    card = one(ix.ig_after_live_vaccine, f)
    assert card.about == "MedicationRequest/globulin-draft" and "5 days after varicella vaccine" in card.summary
    if route is Route.SC:
        assert "8–11 months by dose" in card.detail
    else:
        assert "the interval the CDC table gives for this product and dose" in card.detail


@pytest.mark.parametrize(
    "name",
    ["RhoGAM", "Rho(D) immune globulin (human)", "anti-D immunoglobulin", "WinRho SDF", "Rhophylac"],
)
def test_anti_d_after_mmr_is_quiet(name: str) -> None:
    # Postpartum anti-D with MMR the same week: ACIP says anti-D does not delay vaccination.
    f = facts(record(medications=[vaccine_given(2)], drafts=[globulin_draft(name)]))
    assert run(ix.ig_after_live_vaccine, f) == []


@pytest.mark.parametrize("name", ["Thymoglobulin", "anti-thymocyte globulin (rabbit)", "Atgam"])
def test_anti_thymocyte_globulin_after_mmr_is_quiet(name: str) -> None:
    # Animal anti-lymphocyte globulins are not in the ACIP antibody-containing product table.
    f = facts(record(medications=[vaccine_given(2)], drafts=[globulin_draft(name, route=Route.IV)]))
    assert run(ix.ig_after_live_vaccine, f) == []


def test_hyperimmune_globulin_15_days_after_mmr_is_quiet() -> None:
    f = facts(record(medications=[vaccine_given(15)], drafts=[globulin_draft("HyperRAB")]))
    assert run(ix.ig_after_live_vaccine, f) == []


# --- order-anti-cd20-hbv / pv-anti-cd20-hbv -----------------------------------------------------------------


def test_rituximab_without_hbv_serology_suggests_both_screening_tests() -> None:
    f = facts(record(conditions=[condition("gbs")], drafts=[rituximab_draft()]))
    card = one(ix.anti_cd20_hbv, f)
    assert card.rule == "order-anti-cd20-hbv"
    assert card.indicator is Indicator.WARNING and card.about == "MedicationRequest/rtx"
    assert [loinc(s) for s in card.suggestions] == ["5196-1", "16933-4"]
    assert all(s.is_recommended for s in card.suggestions)
    sr = resource(card.suggestions[0])
    assert sr["resourceType"] == "ServiceRequest" and sr["status"] == "draft" and sr["intent"] == "order"
    assert (
        card.suggestions[0].actions[0].type is ActionType.CREATE
        and card.suggestions[0].actions[0].description
    )
    assert render_card(card).selection_behavior is SelectionBehavior.ANY


def test_rituximab_with_one_missing_test_suggests_only_that_one() -> None:
    f = facts(record(measurements=[qual(Measure.HBSAG, False)], drafts=[rituximab_draft()]))
    card = one(ix.anti_cd20_hbv, f)
    assert [loinc(s) for s in card.suggestions] == ["16933-4"] and "anti-HBc" in card.summary


def test_rituximab_with_negative_serology_is_quiet() -> None:
    rec = record(
        measurements=[qual(Measure.HBSAG, False), qual(Measure.ANTI_HBC, False)], drafts=[rituximab_draft()]
    )
    assert run(ix.anti_cd20_hbv, facts(rec)) == []


def test_anti_hbc_positive_after_recent_ig_says_passive_transfer_and_suggests_hbv_dna_by_text() -> None:
    rec = record(
        measurements=[qual(Measure.HBSAG, False), qual(Measure.ANTI_HBC, True)],
        medications=[ig_given(90, 140)],
        drafts=[rituximab_draft()],
    )
    card = one(ix.anti_cd20_hbv, facts(rec))
    assert "may be passive" in card.summary and "passively transferred" in card.detail
    (dna,) = card.suggestions
    sr = resource(dna)
    assert sr["resourceType"] == "ServiceRequest" and "coding" not in sr["code"]
    assert "HBV" in sr["code"]["text"] or "Hepatitis B" in sr["code"]["text"]


def test_anti_hbc_positive_without_recent_ig_warns_of_reactivation() -> None:
    rec = record(
        measurements=[qual(Measure.HBSAG, False), qual(Measure.ANTI_HBC, True)],
        medications=[ig_given(200, 140)],
        drafts=[rituximab_draft()],
    )
    card = one(ix.anti_cd20_hbv, facts(rec))
    assert "reactivation" in card.summary and card.suggestions == ()


def test_positive_serology_with_an_active_antiviral_is_quiet() -> None:
    rec = record(
        measurements=[qual(Measure.HBSAG, True), qual(Measure.ANTI_HBC, True)],
        medications=[med({MedClass.HBV_ANTIVIRAL}, "entecavir")],
        drafts=[rituximab_draft()],
    )
    assert run(ix.anti_cd20_hbv, facts(rec)) == []


def test_hbv_rule_is_quiet_when_observations_were_unavailable() -> None:
    rec = record(drafts=[rituximab_draft()], unavailable=["observations"])
    assert run(ix.anti_cd20_hbv, facts(rec)) == []


def test_pv_active_rituximab_without_serology_warns() -> None:
    rec = record(medications=[med({MedClass.ANTI_CD20}, "rituximab")])
    card = one(ix.pv_anti_cd20_hbv, facts(rec, hook="patient-view"))
    assert card.rule == "pv-anti-cd20-hbv" and card.about is None and len(card.suggestions) == 2


def test_pv_stopped_rituximab_is_quiet() -> None:
    rec = record(medications=[med({MedClass.ANTI_CD20}, "rituximab", status="completed")])
    assert run(ix.pv_anti_cd20_hbv, facts(rec, hook="patient-view")) == []


def test_concepts_helper_adds_groupers() -> None:
    assert "immunomodulatory" in concepts("gbs")
