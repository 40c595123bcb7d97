"""Actual, ideal, adjusted and dosing weights (docs/clinical-rules.md Terms; clinical-facts §2.1)."""

from __future__ import annotations

import pytest

from fhir_mappings.model import Sex
from hooks.derive.weights import (
    actual_weight,
    adjusted_kg,
    adjusted_weight,
    bmi,
    dosing_weight,
    ibw_kg,
)
from hooks.policy import Policy
from tests.hooks.builders import bmi as bmi_result
from tests.hooks.builders import condition, facts, height, patient, weight


def test_adult_weight_90_days_old_is_fresh_91_is_not():
    assert actual_weight(facts(patient(age=40), weight(70, days_ago=90))) is not None
    assert actual_weight(facts(patient(age=40), weight(70, days_ago=91))) is None


def test_child_weight_30_days_old_is_fresh_31_is_not():
    assert actual_weight(facts(patient(age=8), weight(25, days_ago=30))) is not None
    assert actual_weight(facts(patient(age=8), weight(25, days_ago=31))) is None


def test_freshness_windows_are_site_policy():
    f = facts(patient(age=40), weight(70, days_ago=100), policy=Policy(weight_max_age_days_adult=120))
    assert actual_weight(f) is not None


def test_newest_weight_wins():
    f = facts(weight(80, days_ago=40), weight(72, days_ago=5))
    assert actual_weight(f).value == 72


def test_ibw_devine_male_and_female():
    # 180 cm = 70.87 in: male 50 + 2.3 × 10.87 = 75.0 kg; female 70.5 kg.
    assert ibw_kg(180, Sex.MALE) == pytest.approx(75.0, abs=0.05)
    assert ibw_kg(180, Sex.FEMALE) == pytest.approx(70.5, abs=0.05)
    assert ibw_kg(180, Sex.UNKNOWN) is None


def test_adjusted_weight_is_ibw_plus_forty_percent_of_excess():
    assert adjusted_kg(60, 110) == pytest.approx(80.0)


def test_bmi_measured_or_computed():
    assert bmi(facts(weight(90), height(150)))[0] == pytest.approx(40.0)
    assert bmi(facts(weight(90, days_ago=10), height(150), bmi_result(31, days_ago=5)))[0] == 31
    # A BMI older than the weight is not used: computed instead.
    assert bmi(facts(weight(90, days_ago=5), height(150), bmi_result(31, days_ago=50)))[0] == pytest.approx(
        40.0
    )


def _obese(**kw):
    return facts(
        patient(age=kw.pop("age", 50), sex="female"),
        weight(110),
        height(165),
        bmi_result(kw.pop("bmi", 40.4)),
        *kw.pop("extra", ()),
        **kw,
    )


def test_adjusted_weight_applies_to_obese_adult():
    a = adjusted_weight(_obese())
    assert a.applies
    # IBW female 165 cm = 64.96 in: 45.5 + 2.3 × 4.96 = 56.9 kg; adjusted 56.9 + 0.4 × 53.1 = 78.1 kg.
    assert a.ibw_kg == pytest.approx(56.9, abs=0.1)
    assert a.adjusted_kg == pytest.approx(78.1, abs=0.1)


def test_bmi_29_9_does_not_qualify_bmi_30_does():
    assert not adjusted_weight(_obese(bmi=29.9)).applies
    assert adjusted_weight(_obese(bmi=30)).applies


def test_adjusted_weight_not_for_under_18_pregnant_or_short():
    assert not adjusted_weight(_obese(age=17)).applies
    assert adjusted_weight(_obese(age=18)).applies
    assert not adjusted_weight(_obese(extra=(condition("pregnancy", days_ago=60),))).applies
    short = facts(patient(age=50), weight(110), height(151), bmi_result(48))
    tall_enough = facts(patient(age=50), weight(110), height(152), bmi_result(48))
    assert not adjusted_weight(short).applies
    assert adjusted_weight(tall_enough).applies


def test_dosing_weight_follows_policy():
    assert dosing_weight(_obese()).basis == "actual"
    assert dosing_weight(_obese(policy=Policy(dosing_weight="adjusted"))).basis == "adjusted"
    assert dosing_weight(_obese(policy=Policy(dosing_weight="adjusted"))).kg == pytest.approx(78.1, abs=0.1)
    assert dosing_weight(facts(weight(70, days_ago=200))) is None
