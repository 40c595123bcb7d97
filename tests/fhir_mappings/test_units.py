"""Every supported unit conversion, and refusal of anything else (a unit is never guessed)."""

import pytest

from fhir_mappings.model import Measure
from fhir_mappings.units import convert, duration_days, read_dose_unit, read_quantity

UCUM = "http://unitsofmeasure.org"


@pytest.mark.parametrize(
    ("measure", "value", "unit", "expected"),
    [
        (Measure.IGG, 650, "mg/dL", 650),
        (Measure.IGG, 6.5, "g/L", 650),
        (Measure.IGG, 6500, "mg/L", 650),
        (Measure.IGG, 0.65, "g/dL", 650),
        (Measure.IGA, 0.05, "g/L", 5),
        (Measure.IGM, 300, "mg/L", 30),
        (Measure.WEIGHT, 70, "kg", 70),
        (Measure.WEIGHT, 3500, "g", 3.5),
        (Measure.WEIGHT, 154, "[lb_av]", 154 * 0.45359237),
        (Measure.HEIGHT, 170, "cm", 170),
        (Measure.HEIGHT, 1.7, "m", 170),
        (Measure.HEIGHT, 60, "[in_i]", 152.4),
        (Measure.CREATININE, 1.1, "mg/dL", 1.1),
        (Measure.CREATININE, 88.42, "umol/L", 1.0),
        (Measure.EGFR, 55, "mL/min/{1.73_m2}", 55),
        (Measure.BMI, 31.2, "kg/m2", 31.2),
    ],
)
def test_supported_conversions(measure: Measure, value: float, unit: str, expected: float) -> None:
    assert convert(measure, value, unit) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("measure", "unit"),
    [(Measure.IGG, "mmol/L"), (Measure.IGG, None), (Measure.WEIGHT, "[stone_av]"), (Measure.HEIGHT, "ft"),
     (Measure.CREATININE, "mmol/L"), (Measure.IGG, "kg")],
)
def test_unknown_units_are_refused(measure: Measure, unit: str | None) -> None:
    assert convert(measure, 1.0, unit) is None


def test_ucum_code_wins_and_unit_text_is_a_fallback_for_exact_spellings_only() -> None:
    assert read_quantity({"value": 154, "unit": "pounds", "system": UCUM, "code": "[lb_av]"}).ucum == "[lb_av]"
    assert read_quantity({"value": 154, "unit": "lbs"}).ucum == "[lb_av]"
    assert read_quantity({"value": 154, "unit": "lb"}).ucum == "[lb_av]"
    assert read_quantity({"value": 7, "unit": "g/L"}).ucum == "g/L"
    assert read_quantity({"value": 7, "unit": "grams per litre"}).ucum is None
    assert read_quantity({"value": 88, "unit": "µmol/L"}).ucum == "umol/L"
    assert read_quantity({"value": "7", "unit": "g/L"}) is None
    assert read_quantity({"value": 7, "unit": "g/L", "system": "http://example.org/units", "code": "GPL"}).ucum == "g/L"


@pytest.mark.parametrize("unit", ["g", "mg", "g/kg", "mg/kg"])
def test_dose_units(unit: str) -> None:
    assert read_dose_unit({"value": 1, "system": UCUM, "code": unit}) == unit
    assert read_dose_unit({"value": 1, "unit": unit}) == unit


def test_dose_in_millilitres_is_not_a_dose_unit() -> None:
    assert read_dose_unit({"value": 100, "system": UCUM, "code": "mL"}) is None


@pytest.mark.parametrize(("duration", "days"), [({"value": 5, "code": "d"}, 5), ({"value": 2, "code": "wk"}, 14),
                                                ({"value": 3, "unit": "mo"}, 90), ({"value": 1, "code": "a"}, 365),
                                                ({"value": 48, "code": "h"}, 2), ({"value": 5, "code": "days"}, None)])
def test_bounds_duration_in_days(duration: dict, days: float | None) -> None:
    assert duration_days(duration) == (pytest.approx(days) if days is not None else None)
