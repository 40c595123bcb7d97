"""Monitoring: trough IgG, hyper-IgM and selective IgM deficiency surveillance (clinical vignettes).

NOW is 2025-06-15; every date is whole days before it.
"""

from __future__ import annotations

import pytest

from cds_service import Indicator, SelectionBehavior
from fhir_mappings.model import Measure, Measurement, MedClass
from hooks import monitoring as mon
from hooks.findings import render_card
from hooks.policy import Policy
from hooks.services.rulesets import PATIENT_VIEW_RULES
from tests.hooks.pv_builders import (
    ago,
    concepts,
    condition,
    facts,
    ig_draft,
    ig_given,
    ig_request,
    igg,
    loinc,
    med,
    one,
    procedure,
    record,
    resource,
    run,
    sulfa_allergy,
)

RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"


def _on_igrt(*names: str, iggs=(), extra_meds=(), drafts=(), age: int = 40, **kw):  # noqa: ANN001, ANN003, ANN202
    """On replacement IgRT: monthly IVIG administrations over the last year and an active order."""
    doses = [ig_given(d, 35, rid=f"adm{d}") for d in range(7, 400, 28)]
    return record(
        age=age,
        conditions=[condition(n) for n in names],
        measurements=list(iggs),
        medications=[ig_request(300), *doses, *extra_meds],
        drafts=list(drafts),
        **kw,
    )


# --- order-trough-due / pv-trough-due -----------------------------------------------------------------


@pytest.mark.parametrize(("days", "due"), [(89, False), (90, False), (91, True)])
def test_order_trough_due_89_90_91_days_since_the_last_trough(days: int, due: bool) -> None:
    f = facts(_on_igrt("cvid", iggs=[igg(700, days)], drafts=[ig_draft()]))
    found = run(mon.order_trough_due, f)
    assert bool(found) is due
    if due:
        card = found[0]
        assert card.rule == "order-trough-due"
        assert card.indicator is Indicator.INFO and card.about == "MedicationRequest/ig-draft"
        assert f"{days} days ago" in card.summary and "site policy" in card.detail
        (s,) = card.suggestions
        assert loinc(s) == "2465-3" and s.is_recommended
        sr = resource(s)
        assert sr["resourceType"] == "ServiceRequest" and sr["status"] == "draft" and sr["intent"] == "order"
        assert "before the next" in sr["note"][0]["text"]


def test_order_trough_due_with_no_trough_ever() -> None:
    card = one(mon.order_trough_due, facts(_on_igrt("cvid", drafts=[ig_draft()])))
    assert "no trough IgG on record" in card.summary


def test_trough_due_is_quiet_for_an_immunomodulatory_order_or_patient_not_on_igrt() -> None:
    gbs_order = ig_draft(reason=concepts("gbs"))
    assert run(mon.order_trough_due, facts(_on_igrt("cvid", drafts=[gbs_order]))) == []
    new_start = record(conditions=[condition("cvid")], drafts=[ig_draft()])  # first order: not on IgRT yet
    assert run(mon.order_trough_due, facts(new_start)) == []


def test_trough_due_is_quiet_when_observations_were_unavailable() -> None:
    f = facts(_on_igrt("cvid", drafts=[ig_draft()], unavailable=["observations"]))
    assert run(mon.order_trough_due, f) == []


@pytest.mark.parametrize(("days", "due"), [(89, False), (91, True)])
def test_pv_trough_due(days: int, due: bool) -> None:
    f = facts(_on_igrt("cvid", iggs=[igg(700, days)]), hook="patient-view")
    found = run(mon.pv_trough_due, f)
    assert bool(found) is due
    if due:
        assert found[0].rule == "pv-trough-due" and loinc(found[0].suggestions[0]) == "2465-3"


# --- trough below target ---------------------------------------------------------------------------------


def test_order_trough_below_target_higm_shows_last_three_iggs() -> None:
    iggs = [igg(450, 10), igg(520, 38), igg(610, 66), igg(700, 94)]
    f = facts(_on_igrt("hyper-igm", iggs=iggs, drafts=[ig_draft()]))
    card = one(mon.order_trough_below_target, f)
    assert card.rule == "order-trough-below-target"
    assert card.indicator is Indicator.WARNING and card.about == "MedicationRequest/ig-draft"
    assert "450 mg/dL (2025-06-05)" in card.summary and "500 mg/dL target for hyper-IgM" in card.summary
    for shown in ("2025-06-05 | 450", "2025-05-08 | 520", "2025-04-10 | 610"):
        assert shown in card.detail
    assert "700" not in card.detail.split("Last IgG values")[1].split("Consider")[0]
    assert "800 mg/kg" in card.detail and "seed" in card.detail
    assert card.source is not None and "site policy" in card.source.label
    assert render_card(card).override_reasons


@pytest.mark.parametrize(
    ("name", "value", "fires"),
    [
        ("selective-igm-deficiency", 550, True),  # target 600 (seed, policy)
        ("selective-igm-deficiency", 600, False),  # at the target: not below
        ("cvid", 550, False),  # target 500
        ("cvid", 499, True),
    ],
)
def test_trough_targets_by_indication(name: str, value: float, fires: bool) -> None:
    f = facts(_on_igrt(name, iggs=[igg(value, 10)], drafts=[ig_draft()]))
    assert bool(run(mon.order_trough_below_target, f)) is fires


def test_trough_target_follows_policy() -> None:
    policy = Policy(trough_target_mg_dl=type(Policy().trough_target_mg_dl)(other=700))
    f = facts(_on_igrt("cvid", iggs=[igg(650, 10)], drafts=[ig_draft()]), policy=policy)
    assert "700 mg/dL target" in one(mon.order_trough_below_target, f).summary


def test_trough_below_target_ignores_a_trough_older_than_90_days() -> None:
    f = facts(_on_igrt("hyper-igm", iggs=[igg(300, 91)], drafts=[ig_draft()]))
    assert run(mon.order_trough_below_target, f) == []
    assert run(mon.order_trough_due, f)  # due instead


def test_pv_trough_below_target() -> None:
    f = facts(_on_igrt("hyper-igm", iggs=[igg(430, 20)]), hook="patient-view")
    card = one(mon.pv_trough_below_target, f)
    assert card.rule == "pv-trough-below-target" and card.about is None and "430 mg/dL" in card.summary


# --- pv-higm-no-igrt ---------------------------------------------------------------------------------------


def test_higm_without_igrt_warns() -> None:
    f = facts(record(conditions=[condition("hyper-igm")], medications=[ig_given(120)]), hook="patient-view")
    card = one(mon.pv_higm_no_igrt, f)
    assert card.rule == "pv-higm-no-igrt"
    assert (
        card.indicator is Indicator.WARNING
        and "400–600 mg/kg" in card.detail
        and "GeneReviews" in card.detail
    )
    assert "300–400" in card.detail  # the seed's adult range, labelled seed-only


def test_higm_on_igrt_is_quiet() -> None:
    assert run(mon.pv_higm_no_igrt, facts(_on_igrt("hyper-igm"), hook="patient-view")) == []


@pytest.mark.parametrize(
    "transplant",
    [
        condition("stem-cell-transplant", status="inactive"),
        "procedure",
    ],
)
def test_stem_cell_transplant_silences_the_higm_rules(transplant) -> None:  # noqa: ANN001
    conds = [condition("higm-x-linked")]
    procs = []
    if transplant == "procedure":
        procs = [procedure("stem-cell-transplant", resource_type="Procedure", days=900)]
    else:
        conds.append(transplant)
    f = facts(record(age=30, conditions=conds, procedures=procs), hook="patient-view")
    for rule in (mon.pv_higm_no_igrt, mon.pv_higm_no_pjp_prophylaxis, mon.pv_higm_hsct):
        assert run(rule, f) == [], rule.__name__


# --- pv-higm-no-pjp-prophylaxis -----------------------------------------------------------------------------


def test_adult_x_linked_higm_without_pjp_prophylaxis_gets_tmp_smx() -> None:
    f = facts(record(age=30, conditions=[condition("higm-x-linked")]), hook="patient-view")
    card = one(mon.pv_higm_no_pjp_prophylaxis, f)
    assert card.rule == "pv-higm-no-pjp-prophylaxis"
    assert card.indicator is Indicator.WARNING and "X-linked" in card.summary
    (s,) = card.suggestions
    mr = resource(s)
    assert mr["resourceType"] == "MedicationRequest" and mr["status"] == "draft" and mr["intent"] == "order"
    assert mr["medicationCodeableConcept"]["coding"][0] == {
        "system": RXNORM,
        "code": "198335",
        "display": "sulfamethoxazole 800 mg / trimethoprim 160 mg oral tablet",
    }
    assert s.is_recommended and s.actions[0].description
    assert render_card(card).selection_behavior is SelectionBehavior.AT_MOST_ONE


def test_child_with_higm_gets_no_tmp_smx_order_but_the_alternatives() -> None:
    f = facts(record(age=8, conditions=[condition("higm-x-linked")]), hook="patient-view")
    card = one(mon.pv_higm_no_pjp_prophylaxis, f)
    assert card.indicator is Indicator.WARNING and card.suggestions == ()
    assert "child (8 years)" in card.detail and "dapsone" in card.detail and "atovaquone" in card.detail


def test_adult_at_18_gets_the_suggestion_and_17_does_not() -> None:
    for age, expected in ((18, 1), (17, 0)):
        f = facts(record(age=age, conditions=[condition("hyper-igm")]), hook="patient-view")
        assert len(one(mon.pv_higm_no_pjp_prophylaxis, f).suggestions) == expected


def test_sulfonamide_allergy_gets_no_tmp_smx_and_names_alternatives() -> None:
    f = facts(
        record(age=30, conditions=[condition("higm-x-linked")], allergies=[sulfa_allergy()]),
        hook="patient-view",
    )
    card = one(mon.pv_higm_no_pjp_prophylaxis, f)
    assert card.suggestions == () and "Sulfonamide allergy" in card.detail
    assert all(name in card.detail for name in ("dapsone", "atovaquone", "pentamidine"))


def test_autosomal_recessive_higm_is_info_confirm_genetics() -> None:
    f = facts(record(age=30, conditions=[condition("higm-autosomal-recessive")]), hook="patient-view")
    card = one(mon.pv_higm_no_pjp_prophylaxis, f)
    assert card.indicator is Indicator.INFO and "CD40 deficiency" in card.detail and "AID" in card.detail
    assert not card.suggestions[0].is_recommended


def test_higm_without_opportunistic_infection_susceptibility_is_quiet() -> None:
    f = facts(record(age=30, conditions=[condition("higm-no-opportunistic-infection")]), hook="patient-view")
    assert run(mon.pv_higm_no_pjp_prophylaxis, f) == []


def test_active_dapsone_is_prophylaxis() -> None:
    dapsone = med({MedClass.PJP_PROPHYLAXIS}, "dapsone")
    f = facts(
        record(age=30, conditions=[condition("higm-x-linked")], medications=[dapsone]), hook="patient-view"
    )
    assert run(mon.pv_higm_no_pjp_prophylaxis, f) == []


# --- pv-higm-hsct -------------------------------------------------------------------------------------------


def test_x_linked_higm_gets_hsct_referral_autosomal_does_not() -> None:
    xl = facts(record(age=6, conditions=[condition("higm-x-linked")]), hook="patient-view")
    card = one(mon.pv_higm_hsct, xl)
    assert card.rule == "pv-higm-hsct"
    assert card.indicator is Indicator.INFO and "age 6" in card.summary and "before age 10" in card.summary
    ar = facts(record(age=6, conditions=[condition("higm-autosomal-recessive")]), hook="patient-view")
    assert run(mon.pv_higm_hsct, ar) == []


# --- selective IgM deficiency -------------------------------------------------------------------------------


def test_sigmd_workup_suggests_each_missing_test_by_text() -> None:
    f = facts(
        record(conditions=[condition("selective-igm-deficiency")], measurements=[igg(900, 30)]),
        hook="patient-view",
    )
    card = one(mon.pv_igm_deficiency_workup, f)
    assert card.rule == "pv-igm-deficiency-workup"
    assert card.indicator is Indicator.INFO and len(card.suggestions) == 2
    assert [loinc(s) for s in card.suggestions] == [None, None]  # no verified LOINC: code.text only
    texts = [resource(s)["code"]["text"] for s in card.suggestions]
    assert "Pneumococcal" in texts[0] and "CD19" in texts[1]
    assert "UNVERIFIED" in card.detail
    assert card.selection_behavior is SelectionBehavior.ANY
    assert all(loinc(s) != "2465-3" for s in card.suggestions)  # IgG belongs to the monitor rule


def test_sigmd_workup_with_cd19_on_record_suggests_only_pneumococcal() -> None:
    cd19 = Measurement(Measure.CD19, ago(100), value=250)
    f = facts(
        record(conditions=[condition("selective-igm-deficiency")], measurements=[cd19]), hook="patient-view"
    )
    (s,) = one(mon.pv_igm_deficiency_workup, f).suggestions
    assert "Pneumococcal" in resource(s)["code"]["text"]


def test_sigmd_workup_complete_is_quiet() -> None:
    cd19 = Measurement(Measure.CD19, ago(100), value=250)
    f = facts(
        record(
            conditions=[condition("selective-igm-deficiency"), condition("specific-antibody-deficiency")],
            measurements=[cd19],
        ),
        hook="patient-view",
    )
    assert run(mon.pv_igm_deficiency_workup, f) == []


def test_sigmd_workup_uses_a_site_configured_code() -> None:
    f = facts(
        record(conditions=[condition("selective-igm-deficiency")]),
        hook="patient-view",
        policy=Policy(cd19_loinc="99999-9"),
    )
    assert [loinc(s) for s in one(mon.pv_igm_deficiency_workup, f).suggestions] == [None, "99999-9"]


def test_sigmd_on_igrt_without_criteria_warns_naming_what_is_missing() -> None:
    f = facts(_on_igrt("selective-igm-deficiency", iggs=[igg(900, 10), igg(720, 500)]), hook="patient-view")
    card = one(mon.pv_igm_deficiency_igrt_review, f)
    assert card.rule == "pv-igm-deficiency-igrt-review"
    assert card.indicator is Indicator.WARNING
    assert "IgG not low (720 mg/dL)" in card.summary and "0 severe infections" in card.summary
    assert "no pneumococcal assessment" in card.summary and len(card.summary) < 140
    assert "does not correct IgM" in card.detail


def test_sigmd_on_igrt_meeting_the_criteria_is_quiet() -> None:
    infections = [condition("pneumonia", "severe-infection", status="resolved", days=d) for d in (40, 200)]
    rec = _on_igrt("selective-igm-deficiency", iggs=[igg(420, 500)])
    rec = type(rec)(rec.patient, rec.measurements, rec.conditions + tuple(infections), rec.medications)
    assert run(mon.pv_igm_deficiency_igrt_review, facts(rec, hook="patient-view")) == []


@pytest.mark.parametrize(("days", "fires"), [(365, False), (366, True)])
def test_sigmd_not_on_igrt_igg_monitoring_365_vs_366_days(days: int, fires: bool) -> None:
    f = facts(
        record(conditions=[condition("selective-igm-deficiency")], measurements=[igg(850, days)]),
        hook="patient-view",
    )
    found = run(mon.pv_igm_deficiency_monitor, f)
    assert bool(found) is fires
    if fires:
        assert found[0].rule == "pv-igm-deficiency-monitor"
        (s,) = found[0].suggestions
        assert loinc(s) == "2465-3" and "850 mg/dL" in found[0].summary


def test_sigmd_monitor_is_quiet_on_igrt() -> None:
    f = facts(_on_igrt("selective-igm-deficiency"), hook="patient-view")
    assert run(mon.pv_igm_deficiency_monitor, f) == []


# --- the patient-view service stays quiet for unrelated patients --------------------------------------------


def test_general_medicine_patient_gets_no_patient_view_card_at_all() -> None:
    rec = record(
        age=58,
        conditions=[condition("hypertension"), condition("diabetes")],
        measurements=[Measurement(Measure.CREATININE, ago(20), value=1.0)],
        medications=[med(set(), "metformin"), med(set(), "lisinopril")],
    )
    f = facts(rec, hook="patient-view")
    assert [finding for rule in PATIENT_VIEW_RULES for finding in rule(f)] == []


def test_patient_view_for_an_untreated_xlinked_higm_child() -> None:
    f = facts(record(age=5, conditions=[condition("higm-x-linked")]), hook="patient-view")
    rules = {finding.rule for rule in PATIENT_VIEW_RULES for finding in rule(f)}
    assert rules == {"pv-higm-no-igrt", "pv-higm-no-pjp-prophylaxis", "pv-higm-hsct"}
