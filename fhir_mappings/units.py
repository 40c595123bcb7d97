"""Supported unit conversions to the canonical units of ``model.CANONICAL_UNITS``.

Only the conversions listed here are done; any other unit makes the value unusable (the caller skips
and counts it). A unit is never guessed from the size of a number.

The unit is read from ``Quantity.code`` when ``Quantity.system`` is UCUM (http://unitsofmeasure.org);
otherwise from ``Quantity.unit`` text, and then only for exact common spellings (``_TEXT_UNITS``).
"catalog" below is the clinical catalog, ``docs/clinical-rules.md``.

| Measure | Canonical | Accepted (UCUM code -> factor) | Source |
|---|---|---|---|
| IgG, IgA, IgM | mg/dL | mg/dL ×1; g/L ×100; mg/L ÷10; g/dL ×1000 | catalog Terms (g/L ×100, mg/L ÷10); SI prefixes |
| weight | kg | kg ×1; g ÷1000; [lb_av] ×0.45359237 | catalog Terms; avoirdupois pound (UCUM [lb_av] = 0.45359237 kg) |
| height | cm | cm ×1; m ×100; [in_i] ×2.54 | SI prefixes; international inch (UCUM [in_i] = 2.54 cm exactly) |
| creatinine | mg/dL | mg/dL ×1; umol/L ÷88.42 | creatinine molar mass 113.12 g/mol: 1 mg/dL = 88.42 µmol/L |
| eGFR | mL/min/{1.73_m2} | as given (mL/min/{1.73_m2}, mL/min/1.73m2, mL/min) | no conversion (catalog Terms) |
| BMI | kg/m2 | as given (kg/m2) | no conversion |
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from .codings import UCUM, as_dict, as_number, as_str, parse_datetime
from .model import CANONICAL_UNITS, GivenDose, Measure

#: Creatinine µmol/L per mg/dL (molar mass 113.12 g/mol): a standard laboratory conversion factor.
CREATININE_UMOL_PER_MG_DL = 88.42

_IG_MG_DL: Mapping[str, float] = {"mg/dL": 1.0, "g/L": 100.0, "mg/L": 0.1, "g/dL": 1000.0}

#: Factor from the given UCUM unit to the canonical unit, per measure.
CONVERSIONS: Mapping[Measure, Mapping[str, float]] = {
    Measure.IGG: _IG_MG_DL,
    Measure.IGA: _IG_MG_DL,
    Measure.IGM: _IG_MG_DL,
    Measure.WEIGHT: {"kg": 1.0, "g": 0.001, "[lb_av]": 0.45359237},
    Measure.HEIGHT: {"cm": 1.0, "m": 100.0, "[in_i]": 2.54},
    Measure.CREATININE: {"mg/dL": 1.0, "umol/L": 1.0 / CREATININE_UMOL_PER_MG_DL},
    Measure.EGFR: {"mL/min/{1.73_m2}": 1.0, "mL/min/1.73m2": 1.0, "mL/min": 1.0},
    Measure.BMI: {"kg/m2": 1.0},
}

#: Exact unit-text spellings accepted when no UCUM code is given (text -> UCUM code).
_TEXT_UNITS: Mapping[str, str] = {
    "mg/dL": "mg/dL",
    "mg/dl": "mg/dL",
    "g/L": "g/L",
    "g/l": "g/L",
    "mg/L": "mg/L",
    "mg/l": "mg/L",
    "g/dL": "g/dL",
    "g/dl": "g/dL",
    "kg": "kg",
    "g": "g",
    "lb": "[lb_av]",
    "lbs": "[lb_av]",
    "[lb_av]": "[lb_av]",
    "cm": "cm",
    "m": "m",
    "in": "[in_i]",
    "[in_i]": "[in_i]",
    "umol/L": "umol/L",
    "µmol/L": "umol/L",
    "μmol/L": "umol/L",
    "umol/l": "umol/L",
    "µmol/l": "umol/L",
    "mL/min/{1.73_m2}": "mL/min/{1.73_m2}",
    "mL/min/1.73m2": "mL/min/1.73m2",
    "mL/min/1.73 m2": "mL/min/1.73m2",
    "ml/min/1.73m2": "mL/min/1.73m2",
    "mL/min": "mL/min",
    "kg/m2": "kg/m2",
    "kg/m^2": "kg/m2",
}

#: Dose units (UCUM codes, and the same exact spellings as text).
_DOSE_UNITS = frozenset({"g", "mg", "g/kg", "mg/kg"})
#: Spellings of millilitres in a dose (UCUM ``mL``; ``ml``/``ML`` as unit text), read as ``mL``.
_ML_SPELLINGS = frozenset({"mL", "ml", "ML"})
#: A unit as written is quoted back in a card ("the dose is in {pill}"): at most this many characters.
UNIT_TEXT_LIMIT = 24


@dataclass(frozen=True, slots=True)
class Quantity:
    """A FHIR Quantity reduced to a number and a recognised UCUM unit code (None if unrecognised)."""

    value: float
    ucum: str | None
    comparator: str | None = None


def read_quantity(value: object) -> Quantity | None:
    """A Quantity with a numeric value; ``ucum`` is None when the unit is not recognisable."""
    quantity = as_dict(value)
    number = as_number(quantity.get("value"))
    if number is None:
        return None
    code, system = as_str(quantity.get("code")), as_str(quantity.get("system"))
    ucum: str | None = None
    if code and system == UCUM:
        ucum = code
    else:
        text = as_str(quantity.get("unit")) or (code if system is None else None)
        if text is not None:
            ucum = _TEXT_UNITS.get(text)
    comparator = quantity.get("comparator")
    return Quantity(number, ucum, None if comparator is None else as_str(comparator))


def convert(measure: Measure, value: float, ucum: str | None) -> float | None:
    """``value`` in ``ucum`` converted to the canonical unit of ``measure``; None if unsupported."""
    if ucum is None:
        return None
    factor = CONVERSIONS.get(measure, {}).get(ucum)
    return None if factor is None else value * factor


def canonical_unit(measure: Measure) -> str | None:
    """The canonical unit of ``measure`` (None for qualitative measures)."""
    return CANONICAL_UNITS.get(measure)


def read_dose_unit(value: object) -> str | None:
    """The dose unit of a dose Quantity: UCUM ``g``, ``mg``, ``g/kg``, ``mg/kg``; else None."""
    quantity = as_dict(value)
    code, system = as_str(quantity.get("code")), as_str(quantity.get("system"))
    if code and system == UCUM:
        return code if code in _DOSE_UNITS else None
    text = as_str(quantity.get("unit")) or (code if system is None else None)
    return text if text in _DOSE_UNITS else None


def read_given_dose(value: object) -> GivenDose | None:
    """The dose Quantity as given (number and unit as written), whatever its unit; None without one.

    The unit is the UCUM ``code`` when ``system`` is UCUM (or absent), else the ``unit`` text; mL
    spellings read as ``mL``. Only printable characters are kept, at most ``UNIT_TEXT_LIMIT``.
    """
    quantity = as_dict(value)
    if not quantity:
        return None
    number = as_number(quantity.get("value"))
    code, system = as_str(quantity.get("code")), as_str(quantity.get("system"))
    unit = code if code and system in (UCUM, None) else as_str(quantity.get("unit")) or code
    if unit is not None:
        unit = "mL" if unit in _ML_SPELLINGS else "".join(c for c in unit[:UNIT_TEXT_LIMIT] if c.isprintable())
    return GivenDose(number, unit or None)


def period_days(value: object) -> float | None:
    """The days a Period with start and end covers (``timing.repeat.boundsPeriod``): both ends counted
    for dates (2024-05-01 to 2024-05-05 is 5 days), rounded up for date-times (docs/clinical-rules.md Resolved
    details, "Immunomodulatory courses"). None when an end is missing or invalid, or end < start."""
    period = as_dict(value)
    start_text, end_text = as_str(period.get("start")), as_str(period.get("end"))
    start, end = parse_datetime(start_text), parse_datetime(end_text)
    if start is None or end is None or end < start:
        return None
    assert start_text is not None and end_text is not None
    if "T" not in start_text or "T" not in end_text:  # a date at either end: calendar days, both ends
        return float((end.date() - start.date()).days + 1)
    days = math.ceil((end - start).total_seconds() / 86400)
    return float(days) if days > 0 else None


_DURATION_DAYS: Mapping[str, float] = {
    "s": 1 / 86400,
    "min": 1 / 1440,
    "h": 1 / 24,
    "d": 1.0,
    "wk": 7.0,
    "mo": 30.0,
    "a": 365.0,
}


def duration_days(value: object) -> float | None:
    """A Duration (``boundsDuration``) in days; ``mo`` = 30 days and ``a`` = 365 days (docs/clinical-rules.md
    Resolved details). Units are UCUM codes, read from ``code`` or else ``unit``."""
    duration = as_dict(value)
    number = as_number(duration.get("value"))
    unit = as_str(duration.get("code")) or as_str(duration.get("unit"))
    if number is None or unit is None or unit not in _DURATION_DAYS:
        return None
    return number * _DURATION_DAYS[unit]
