"""Body weights for dosing (docs/clinical-rules.md Terms "Actual weight", "Dosing weight"; clinical-facts §2.1–2.2).

- **Actual weight**: the newest body weight no older than ``policy.weight_max_age_days_adult`` (90)
  days for adults, ``policy.weight_max_age_days_child`` (30) under 18 years (whole days, inclusive;
  unknown age counts as adult).
- **IBW (Devine)**: male 50 kg, female 45.5 kg, + 2.3 kg per inch of height over 60 in
  (1 cm = 0.393701 in, the BloodSTAR conversion). None for other or unknown sex.
- **Adjusted weight** = IBW + 0.4 × (actual − IBW).
- **BMI**: a BMI result measured on or after the actual weight's day, else weight ÷ height².
- **Adjusted weight applies** (``order-dosing-weight``): age >= ``policy.adjusted_weight_min_age`` (18),
  height >= ``policy.adjusted_weight_min_height_cm`` (152), not pregnant, BMI >=
  ``policy.adjusted_weight_min_bmi`` (30), and actual > adjusted weight.
- **Dosing weight**: the adjusted weight when it applies and ``policy.dosing_weight == "adjusted"``;
  otherwise the actual weight.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from fhir_mappings.model import Measure, Measurement, Sex

from .. import text
from ..knowledge.thresholds import ADULT_AGE
from .cache import per_call
from .conditions import active_concepts

if TYPE_CHECKING:
    from ..facts import Facts

CM_TO_INCH = 0.393701
IBW_BASE_KG = {Sex.MALE: 50.0, Sex.FEMALE: 45.5}
IBW_KG_PER_INCH = 2.3
IBW_BASE_INCHES = 60.0
ADJUSTED_FACTOR = 0.4


def age(facts: Facts) -> int | None:
    patient = facts.record.patient
    return patient.age_at(facts.now) if patient else None


def is_child(facts: Facts) -> bool:
    years = age(facts)
    return years is not None and years < ADULT_AGE.value


def weight_window_days(facts: Facts) -> int:
    policy = facts.policy
    return policy.weight_max_age_days_child if is_child(facts) else policy.weight_max_age_days_adult


def newest_weight(facts: Facts) -> Measurement | None:
    """The newest body weight with a value, of any age (not in the future)."""
    for m in facts.record.measured(Measure.WEIGHT):
        if m.value is not None and m.value > 0 and text.days_ago(m.when, facts.now) >= 0:
            return m
    return None


@per_call
def actual_weight(facts: Facts) -> Measurement | None:
    """The newest body weight within the freshness window (inclusive), else None."""
    newest = newest_weight(facts)
    if newest is None or text.days_ago(newest.when, facts.now) > weight_window_days(facts):
        return None
    return newest


@per_call
def height(facts: Facts) -> Measurement | None:
    for m in facts.record.measured(Measure.HEIGHT):
        if m.value is not None and m.value > 0:
            return m
    return None


def ibw_kg(height_cm: float, sex: Sex) -> float | None:
    """Ideal body weight (Devine), kg; None for other or unknown sex."""
    base = IBW_BASE_KG.get(sex)
    if base is None:
        return None
    return base + IBW_KG_PER_INCH * (height_cm * CM_TO_INCH - IBW_BASE_INCHES)


def adjusted_kg(ibw: float, actual: float) -> float:
    return ibw + ADJUSTED_FACTOR * (actual - ibw)


def bmi(facts: Facts) -> tuple[float, str] | None:
    """(BMI kg/m², how it was obtained), from a measured BMI or computed from weight and height."""
    weight = actual_weight(facts)
    for m in facts.record.measured(Measure.BMI):
        if m.value is not None and (weight is None or m.when.date() >= weight.when.date()):
            return m.value, f"measured {text.day(m.when)}"
        break
    tall = height(facts)
    if weight is None or weight.value is None or tall is None or tall.value is None:
        return None
    metres = tall.value / 100.0
    return weight.value / (metres * metres), "computed from weight and height"


@dataclass(frozen=True, slots=True)
class AdjustedWeight:
    """The adjusted-weight assessment behind ``order-dosing-weight`` and the dosing weight."""

    applies: bool
    actual: Measurement | None
    height_cm: float | None
    bmi: float | None
    bmi_how: str | None
    ibw_kg: float | None
    adjusted_kg: float | None


@per_call
def adjusted_weight(facts: Facts) -> AdjustedWeight:
    policy = facts.policy
    actual = actual_weight(facts)
    tall = height(facts)
    found_bmi = bmi(facts)
    sex = facts.record.patient.sex if facts.record.patient else Sex.UNKNOWN
    ibw = ibw_kg(tall.value, sex) if tall is not None and tall.value is not None else None
    adjusted = (
        adjusted_kg(ibw, actual.value) if ibw is not None and actual is not None and actual.value else None
    )
    years = age(facts)
    applies = (
        actual is not None
        and actual.value is not None
        and adjusted is not None
        and tall is not None
        and years is not None
        and years >= policy.adjusted_weight_min_age
        and (tall.value or 0) >= policy.adjusted_weight_min_height_cm
        and "pregnancy" not in active_concepts(facts.record)
        and found_bmi is not None
        and found_bmi[0] >= policy.adjusted_weight_min_bmi
        and actual.value > adjusted
    )
    return AdjustedWeight(
        applies=bool(applies),
        actual=actual,
        height_cm=tall.value if tall else None,
        bmi=found_bmi[0] if found_bmi else None,
        bmi_how=found_bmi[1] if found_bmi else None,
        ibw_kg=ibw,
        adjusted_kg=adjusted,
    )


@dataclass(frozen=True, slots=True)
class DosingWeight:
    kg: float
    #: "actual" or "adjusted".
    basis: str
    #: The actual weight measurement behind it (its date is shown on cards).
    measured: Measurement

    def describe(self, facts: Facts) -> str:
        when = f"{text.day(self.measured.when)}, {text.days(text.days_ago(self.measured.when, facts.now))} ago"
        if self.basis == "adjusted":
            return (
                f"{text.kg(self.kg)} adjusted body weight (actual {text.kg(self.measured.value or 0)} "
                "measured "
                f'{when}; site policy dosing_weight = "adjusted")'
            )
        return f"{text.kg(self.kg)} actual body weight (measured {when})"


@per_call
def dosing_weight(facts: Facts) -> DosingWeight | None:
    """The weight dose rules use; None without an actual weight in the freshness window."""
    actual = actual_weight(facts)
    if actual is None or actual.value is None:
        return None
    if facts.policy.dosing_weight == "adjusted":
        assessment = adjusted_weight(facts)
        if assessment.applies and assessment.adjusted_kg is not None:
            return DosingWeight(assessment.adjusted_kg, "adjusted", actual)
    return DosingWeight(actual.value, "actual", actual)
