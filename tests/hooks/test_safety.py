"""Safety rules: anaphylaxis, IgA deficiency, thrombosis and renal risk, renal baseline."""

from __future__ import annotations

import pytest

from cds_service import Indicator
from fhir_mappings.model import MedClass, Route
from hooks import dosing, indications, safety
from hooks.policy import Policy
from tests.hooks.builders import (
    CVID,
    allergy,
    anti_iga,
    condition,
    creatinine,
    egfr,
    facts,
    height,
    ig_given,
    ig_order,
    iga,
    igg,
    medication,
    one,
    patient,
    run,
    weight,
)


class TestAnaphylaxisHistory:
    @pytest.mark.parametrize(
        "reaction",
        [
            dict(anaphylaxis=True),
            dict(criticality="high"),
            dict(severities=("severe",)),
        ],
    )
    def test_serious_reaction_to_immune_globulin_is_critical(self, reaction):
        found = one(
            safety.order_anaphylaxis_history,
            facts(CVID, allergy("immune-globulin", text="Privigen", **reaction), ig_order(30)),
        )
        assert found.rule == "order-anaphylaxis-history"
        assert found.indicator is Indicator.CRITICAL and found.summary.startswith("Contraindicated")
        assert "Privigen" in found.detail and found.about == "MedicationRequest/ivig-1"

    def test_mild_low_criticality_or_inactive_allergy_is_quiet(self):
        mild = allergy("immune-globulin", criticality="low", severities=("mild",))
        resolved = allergy("immune-globulin", anaphylaxis=True, status="resolved")
        assert run(safety.order_anaphylaxis_history, facts(CVID, mild, ig_order(30))) == []
        assert run(safety.order_anaphylaxis_history, facts(CVID, resolved, ig_order(30))) == []

    def test_anaphylaxis_to_something_else_is_quiet(self):
        assert (
            run(
                safety.order_anaphylaxis_history,
                facts(CVID, allergy("sulfonamide", anaphylaxis=True), ig_order(30)),
            )
            == []
        )


class TestIgaDeficiency:
    def test_anti_iga_with_hypersensitivity_history_is_critical(self):
        f = facts(CVID, anti_iga(), allergy("blood-product", criticality="low"), ig_order(30))
        found = one(safety.order_iga_deficiency, f)
        assert found.rule == "order-iga-deficiency"
        assert found.indicator is Indicator.CRITICAL
        assert "Privigen: ≤25 µg/mL" in found.detail and "Xembify: ≤160 µg/mL" in found.detail

    def test_anti_iga_alone_is_not_critical(self):
        assert run(safety.order_iga_deficiency, facts(CVID, anti_iga(), ig_order(30))) == []
        assert (
            run(
                safety.order_iga_deficiency,
                facts(CVID, anti_iga(positive=False), allergy("immune-globulin"), ig_order(30)),
            )
            == []
        )

    def test_selective_iga_deficiency_diagnosis_warns(self):
        found = one(
            safety.order_iga_deficiency,
            facts(condition("selective-iga-deficiency"), condition("igg-subclass-deficiency"), ig_order(30)),
        )
        assert found.indicator is Indicator.WARNING and "low-IgA product" in found.summary

    def test_iga_below_7_warns_7_is_quiet(self):
        sad = condition("specific-antibody-deficiency")
        found = one(safety.order_iga_deficiency, facts(patient(age=30), sad, iga(6.9), ig_order(30)))
        assert "6.9 mg/dL" in found.detail and "site policy" in found.detail
        assert run(safety.order_iga_deficiency, facts(patient(age=30), sad, iga(7), ig_order(30))) == []

    def test_age_4_is_quiet_5_warns(self):
        sad = condition("specific-antibody-deficiency")
        assert run(safety.order_iga_deficiency, facts(patient(age=4), sad, iga(2), ig_order(5))) == []
        assert len(run(safety.order_iga_deficiency, facts(patient(age=5), sad, iga(2), ig_order(5)))) == 1

    def test_iga_older_than_730_days_is_not_used(self):
        sad = condition("specific-antibody-deficiency")
        assert len(run(safety.order_iga_deficiency, facts(sad, iga(2, days_ago=730), ig_order(30)))) == 1
        assert run(safety.order_iga_deficiency, facts(sad, iga(2, days_ago=731), ig_order(30))) == []
        assert (
            len(
                run(
                    safety.order_iga_deficiency,
                    facts(sad, iga(2, days_ago=800), ig_order(30), policy=Policy(iga_max_age_days=1000)),
                )
            )
            == 1
        )

    def test_absent_iga_expected_in_severe_antibody_deficiency(self):
        assert run(safety.order_iga_deficiency, facts(CVID, iga(2), ig_order(30))) == []


class TestThrombosisRisk:
    def test_age_65_warns_and_lists_factors(self):
        found = one(safety.order_thrombosis_risk, facts(patient(age=65), CVID, ig_order(30)))
        assert found.rule == "order-thrombosis-risk"
        assert found.indicator is Indicator.WARNING and "age 65" in found.summary
        assert "lowest practicable dose" in found.detail and "hydration" in found.detail

    def test_age_64_without_factors_is_quiet(self):
        assert run(safety.order_thrombosis_risk, facts(patient(age=64), CVID, ig_order(30))) == []

    def test_sc_orders_too_and_thrombosis_history_counts(self):
        f = facts(
            patient(age=40),
            CVID,
            condition("venous-thrombosis", status="resolved"),
            medication("estradiol patch", MedClass.ESTROGEN),
            ig_order(10, every_days=7, product="hizentra"),
        )
        found = one(safety.order_thrombosis_risk, f)
        assert "venous thrombosis" in found.summary and "estrogen-containing medication" in found.summary
        assert "estradiol patch" in found.detail and "current or history" in found.detail

    def test_stopped_estrogen_does_not_count(self):
        f = facts(CVID, medication("estradiol", MedClass.ESTROGEN, status="stopped"), ig_order(30))
        assert run(safety.order_thrombosis_risk, f) == []


class TestRenalRisk:
    def test_egfr_59_warns_60_is_quiet(self):
        found = one(safety.order_renal_risk, facts(CVID, egfr(59), ig_order(30)))
        assert found.rule == "order-renal-risk"
        assert found.indicator is Indicator.WARNING and "eGFR 59" in found.summary
        assert "sucrose" in found.detail and "monitor creatinine" in found.detail
        assert run(safety.order_renal_risk, facts(CVID, egfr(60), ig_order(30))) == []

    def test_old_egfr_is_not_used(self):
        assert len(run(safety.order_renal_risk, facts(CVID, egfr(40, days_ago=90), ig_order(30)))) == 1
        assert run(safety.order_renal_risk, facts(CVID, egfr(40, days_ago=91), ig_order(30))) == []

    def test_age_66_warns_65_is_quiet(self):
        assert "age 66" in one(safety.order_renal_risk, facts(patient(age=66), CVID, ig_order(30))).summary
        assert run(safety.order_renal_risk, facts(patient(age=65), CVID, ig_order(30))) == []

    def test_creatinine_above_range_diabetes_sepsis_nephrotoxic(self):
        f = facts(
            CVID,
            creatinine(1.5),
            condition("diabetes"),
            condition("sepsis", days_ago=2),
            medication("vancomycin", MedClass.NEPHROTOXIC),
            ig_order(30),
        )
        found = one(safety.order_renal_risk, f)
        for factor in ("creatinine 1.5 mg/dL above", "diabetes", "active sepsis", "vancomycin"):
            assert factor in found.detail

    def test_sc_and_hyqvia_orders_are_not_iv(self):
        for order in (
            ig_order(10, every_days=7, product="hizentra"),
            ig_order(30, every_days=28, product="hyqvia"),
        ):
            assert run(safety.order_renal_risk, facts(patient(age=80), CVID, egfr(30), order)) == []


class TestRenalBaselineMissing:
    def test_no_creatinine_in_30_days_suggests_one(self):
        found = one(
            safety.order_renal_baseline_missing, facts(CVID, creatinine(0.8, days_ago=31), ig_order(30))
        )
        assert found.rule == "order-renal-baseline-missing"
        assert found.indicator is Indicator.INFO and "31 days ago" in found.detail
        (suggestion,) = found.suggestions
        resource = suggestion.actions[0].resource
        assert resource["resourceType"] == "ServiceRequest"
        assert resource["code"]["coding"][0]["code"] == "2160-0"

    def test_creatinine_or_egfr_30_days_old_is_enough(self):
        assert (
            run(safety.order_renal_baseline_missing, facts(CVID, creatinine(0.8, days_ago=30), ig_order(30)))
            == []
        )
        assert (
            run(safety.order_renal_baseline_missing, facts(CVID, egfr(90, days_ago=30), ig_order(30))) == []
        )

    def test_sc_orders_and_unreadable_observations_are_quiet(self):
        assert (
            run(
                safety.order_renal_baseline_missing,
                facts(CVID, ig_order(10, every_days=7, product="hizentra")),
            )
            == []
        )
        assert (
            run(safety.order_renal_baseline_missing, facts(CVID, ig_order(30), unavailable=("observations",)))
            == []
        )


def test_well_managed_cvid_patient_gets_no_warning_or_critical_card():
    f = facts(
        patient(age=45, sex="female"),
        weight(70, days_ago=10),
        height(165, days_ago=10),
        CVID,
        ig_order(28, every_days=28, product="privigen"),
        ig_given(28, days_ago=28),
        ig_given(28, days_ago=56),
        igg(820, days_ago=28),
        creatinine(0.8, days_ago=10),
        egfr(95, days_ago=10),
        iga(110, days_ago=200),
    )
    cards = [
        finding
        for module in (dosing, indications, safety)
        for rule in module.ORDER_RULES
        for finding in run(rule, f)
    ]
    assert [c for c in cards if c.indicator is not Indicator.INFO] == []
    assert cards == []


def test_each_rule_fires_at_most_once_per_order_with_two_orders():
    f = facts(patient(age=70), CVID, egfr(40), ig_order(30, id="a"), ig_order(30, id="b"))
    found = run(safety.order_renal_risk, f)
    assert sorted(x.about for x in found) == ["MedicationRequest/a", "MedicationRequest/b"]


def test_order_select_judges_only_selected_orders():
    f = facts(
        patient(age=70),
        CVID,
        egfr(40),
        ig_order(30, id="a"),
        ig_order(30, id="b"),
        hook="order-select",
        selections=("MedicationRequest/b",),
    )
    assert [x.about for x in run(safety.order_renal_risk, f)] == ["MedicationRequest/b"]


def test_im_order_gets_no_safety_card():
    f = facts(patient(age=80), egfr(20), ig_order(50, route=Route.IM, product=None))
    for rule in safety.ORDER_RULES:
        assert run(rule, f) == []
