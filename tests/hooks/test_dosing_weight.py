"""Body-weight rules: ``order-weight-missing`` and ``order-dosing-weight`` (``hooks/dosing/weight.py``).

Each rule has a vignette where it fires (indicator, numbers, suggestion) and a boundary vignette where
it nearly applies and stays quiet (docs/clinical-rules.md "Resolved details": bounds inclusive, whole days).
"""

from __future__ import annotations

from cds_service import Indicator
from hooks import dosing
from hooks.policy import Policy
from tests.hooks.builders import (
    CVID,
    bmi,
    condition,
    facts,
    height,
    ig_order,
    one,
    patient,
    run,
    suggested_grams,
    weight,
)

# --- order-weight-missing -------------------------------------------------------------------------


class TestWeightMissing:
    def test_adult_weight_91_days_old_warns_with_its_age(self):
        f = facts(patient(age=45), weight(70, days_ago=91), CVID, ig_order(30, every_days=28))
        found = one(dosing.order_weight_missing, f)
        assert found.rule == "order-weight-missing"
        assert found.indicator is Indicator.WARNING
        assert found.about == "MedicationRequest/ivig-1"
        assert "91 days old" in found.summary and "last 90 days" in found.summary
        assert "site policy" in found.detail and "70 kg" in found.detail

    def test_adult_weight_90_days_old_is_enough(self):
        f = facts(patient(age=45), weight(70, days_ago=90), CVID, ig_order(30, every_days=28))
        assert run(dosing.order_weight_missing, f) == []

    def test_child_weight_31_days_old_warns_30_does_not(self):
        order = ig_order(10, every_days=28)
        assert (
            "31 days old"
            in one(
                dosing.order_weight_missing, facts(patient(age=8), weight(25, days_ago=31), CVID, order)
            ).summary
        )
        assert (
            run(dosing.order_weight_missing, facts(patient(age=8), weight(25, days_ago=30), CVID, order))
            == []
        )

    def test_no_weight_ever(self):
        found = one(dosing.order_weight_missing, facts(CVID, ig_order(30, every_days=28)))
        assert found.summary.startswith("No body weight on record")

    def test_quiet_when_observations_could_not_be_read(self):
        f = facts(CVID, ig_order(30, every_days=28), unavailable=("observations",))
        assert run(dosing.order_weight_missing, f) == []

    def test_no_dose_card_and_no_suggestion_without_a_weight(self):
        f = facts(patient(age=45), weight(70, days_ago=91), CVID, ig_order(700, every_days=28))
        assert run(dosing.order_dose_out_of_range, f) == []
        assert run(dosing.order_dose_atypical, f) == []


# --- order-dosing-weight ------------------------------------------------------------------------


def _obese(bmi_value=40.4, **kw):
    return facts(
        patient(age=50, sex="female"),
        weight(110),
        height(165),
        bmi(bmi_value),
        CVID,
        ig_order(44, every_days=28),
        **kw,
    )


class TestDosingWeight:
    def test_obese_adult_gets_ibw_adjusted_weight_and_dose(self):
        found = one(dosing.order_dosing_weight, _obese())
        assert found.rule == "order-dosing-weight"
        assert found.indicator is Indicator.INFO
        assert "adjusted weight 78.1 kg" in found.summary and "30 g instead of 44 g" in found.summary
        assert "Ideal body weight (Devine): 56.9 kg" in found.detail and "site policy" in found.detail
        assert suggested_grams(found) == 30  # 400 mg/kg × 78.1 kg = 31.2 g -> 30 g
        assert not found.suggestions[0].is_recommended

    def test_recommended_when_policy_is_adjusted(self):
        found = one(dosing.order_dosing_weight, _obese(policy=Policy(dosing_weight="adjusted")))
        assert found.suggestions[0].is_recommended

    def test_bmi_29_9_is_quiet_30_fires(self):
        assert run(dosing.order_dosing_weight, _obese(29.9)) == []
        assert len(run(dosing.order_dosing_weight, _obese(30))) == 1

    def test_policy_actual_weight_never_adjusts(self):
        assert run(dosing.order_dosing_weight, _obese(policy=Policy(dosing_weight="actual"))) == []

    def test_without_an_indication_the_adjusted_dose_is_suggested_only_inside_the_envelope(self):
        # 110 kg, 165 cm woman with no indication on record (adjusted weight 78.1 kg).
        def obese_no_indication(order):
            return facts(patient(age=50), weight(110), height(165), bmi(40.4), condition("hypertension"), order)

        # 3,000 mg/kg (330 g) on actual weight: about 235 g on adjusted weight is still outside the 2,400 mg/kg
        # ceiling of every regimen, so the card offers no dose.
        assert one(dosing.order_dosing_weight, obese_no_indication(ig_order(330, every_days=28))).suggestions == ()
        # 400 mg/kg: inside the envelope, the same mg/kg on adjusted weight is offered.
        assert suggested_grams(one(dosing.order_dosing_weight, obese_no_indication(ig_order(44, every_days=28)))) == 30
