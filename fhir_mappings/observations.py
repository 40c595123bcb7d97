"""Observation -> ``Measurement``: code to ``Measure``, status filter, unit conversion.

Only results with status final/amended/corrected and a value (no ``dataAbsentReason``) count
(docs/clinical-rules.md Terms); a result's date is ``effectiveDateTime`` (or ``effectiveInstant``), else the end (or
start) of ``effectivePeriod``, else ``issued`` (docs/clinical-rules.md Resolved details, "Which observations count").
Quantitative measures need a supported unit (``units.py``); a result in an unknown unit raises
``MappingError`` so the record builder skips and counts it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from .codings import (
    LOINC,
    as_dict,
    as_list,
    as_str,
    codes_of,
    codes_of_all,
    parse_datetime,
    parse_period_end,
    parse_period_start,
    words_of,
)
from .errors import MappingError
from .model import Code, Measure, Measurement
from .units import canonical_unit, convert, read_quantity

_F11 = "clinical-facts §1.1"

#: LOINC -> Measure, with the source of each row (tags from clinical-facts §1.1).
LOINC_MEASURES: Mapping[str, Measure] = {
    "2465-3": Measure.IGG,  # C [FS]
    "2458-8": Measure.IGA,  # C [FS]
    "2472-9": Measure.IGM,  # C [FS]
    # Body weight: V [CANVAS] VSAC 2.16.840.1.113762.1.4.1045.159 / 2.16.840.1.113883.3.464.1003.121.12.1015
    "29463-7": Measure.WEIGHT, "3141-9": Measure.WEIGHT, "3142-7": Measure.WEIGHT, "8341-0": Measure.WEIGHT,
    "8350-1": Measure.WEIGHT, "8351-9": Measure.WEIGHT, "18833-4": Measure.WEIGHT, "75292-3": Measure.WEIGHT,
    # Body height: V [CANVAS] VSAC 2.16.840.1.113883.3.464.1003.121.12.1014
    "8302-2": Measure.HEIGHT, "3137-7": Measure.HEIGHT, "8306-3": Measure.HEIGHT, "8308-9": Measure.HEIGHT,
    "39156-5": Measure.BMI,  # V [CANVAS] VSAC 2.16.840.1.113883.3.600.1.1490
    # Creatinine mass/volume: V [CANVAS] VSAC 2.16.840.1.113762.1.4.1248.21
    "2160-0": Measure.CREATININE, "38483-4": Measure.CREATININE, "21232-4": Measure.CREATININE,
    # Creatinine moles/volume: V [CANVAS] VSAC 2.16.840.1.113883.3.666.5.2363
    "14682-9": Measure.CREATININE, "59826-8": Measure.CREATININE, "77140-2": Measure.CREATININE,
    # eGFR: V [CANVAS] VSAC 2.16.840.1.113883.3.6929.3.1000; 33914-3 C (legacy, accepted on input only)
    "98979-8": Measure.EGFR, "98980-6": Measure.EGFR, "62238-1": Measure.EGFR, "88293-6": Measure.EGFR,
    "88294-4": Measure.EGFR, "94677-2": Measure.EGFR, "77147-7": Measure.EGFR, "48642-3": Measure.EGFR,
    "48643-1": Measure.EGFR, "50044-7": Measure.EGFR, "70969-1": Measure.EGFR, "50210-4": Measure.EGFR,
    "69405-9": Measure.EGFR, "33914-3": Measure.EGFR,
    # HBV serology: docs/clinical-rules.md order-anti-cd20-hbv
    "5196-1": Measure.HBSAG, "16933-4": Measure.ANTI_HBC,
}

#: Measures recognised by the words of the code (no verified LOINC: clinical-facts §1.1, §5 item 2).
#: docs/clinical-rules.md Resolved details: "an Observation whose code names ..." anti-IgA / pneumococcal / CD19.
TEXT_MEASURES: tuple[tuple[re.Pattern[str], Measure], ...] = (
    (re.compile(r"\banti[- ]?iga\b|(?:^|\| )iga antibod|\bantibod(?:y|ies) (?:to|against) iga\b"), Measure.ANTI_IGA),
    (re.compile(r"pneumococc|streptococcus pneumoniae|s\. pneumoniae"), Measure.PNEUMOCOCCAL_AB),
    (re.compile(r"\bcd19\b"), Measure.CD19),
    (re.compile(r"\bhbv dna\b|hepatitis b virus dna"), Measure.HBV_DNA),
)

USABLE_STATUSES = frozenset({"final", "amended", "corrected"})

_POSITIVE = re.compile(r"\bpositive\b|\bdetected\b|\breactive\b|\bpresent\b")
_NEGATIVE = re.compile(r"\bnegative\b|\bnot detected\b|\bnon-?reactive\b|\bundetected\b|\babsent\b")
_POS_INTERP = frozenset({"POS", "DET"})
_NEG_INTERP = frozenset({"NEG", "ND"})


@dataclass(frozen=True, slots=True)
class ObservationCodes:
    """Which codes mean which measure: the defaults plus a site's extra LOINC codes (e.g. a local
    anti-IgA or pneumococcal panel code), so sites can add codes without editing this module."""

    loinc: Mapping[str, Measure] = field(default_factory=lambda: dict(LOINC_MEASURES))

    def with_extra(self, extra: Mapping[str, Measure]) -> ObservationCodes:
        return ObservationCodes({**self.loinc, **extra})

    def measure_of(self, codes: tuple[Code, ...], words: str | Callable[[], str]) -> Measure | None:
        """The measure a code names: a LOINC row first, else the text patterns over ``words`` (a
        callable is only called when no LOINC code matched: most results are coded)."""
        for code in codes:
            if code.system == LOINC and code.code in self.loinc:
                return self.loinc[code.code]
        text = words if isinstance(words, str) else words()
        for pattern, measure in TEXT_MEASURES:
            if pattern.search(text):
                return measure
        return None


DEFAULT_CODES = ObservationCodes()


#: Measures that must carry a number (a result without one is an error, not "no result").
_NUMERIC = frozenset({Measure.IGG, Measure.IGA, Measure.IGM, Measure.WEIGHT, Measure.HEIGHT, Measure.BMI,
                      Measure.CREATININE, Measure.EGFR})


def map_observation(resource: Mapping[str, object], codes: ObservationCodes = DEFAULT_CODES) -> Measurement | None:
    """A usable result, None when the Observation is not one the rules read or does not count
    (status, no value), ``MappingError`` when it should count but cannot be used (unit, no date)."""
    if as_str(resource.get("status")) not in USABLE_STATUSES or resource.get("dataAbsentReason") is not None:
        return None
    code_concept = resource.get("code")
    code_list = codes_of(code_concept)
    measure = codes.measure_of(code_list, lambda: words_of([code_concept]))
    if measure is None:
        return None
    when = (
        parse_datetime(resource.get("effectiveDateTime"))
        or parse_datetime(resource.get("effectiveInstant"))
        or parse_period_end(resource.get("effectivePeriod"))
        or parse_period_start(resource.get("effectivePeriod"))
        or parse_datetime(resource.get("issued"))
    )
    if when is None:
        raise MappingError("missing-date")
    interpretation = _interpretation(resource.get("interpretation"))
    code = code_list[0] if code_list else None
    if code is not None and code.system != LOINC:
        code = next((c for c in code_list if c.system == LOINC), code)
    resource_id = as_str(resource.get("id"))
    positive = _read_positive(resource, interpretation)
    if "valueQuantity" in resource:
        value, unit, low, high = _quantitative(measure, resource)
        return Measurement(measure, when, value=value, unit=unit, positive=positive, reference_low=low,
                           reference_high=high, interpretation=interpretation, code=code, resource_id=resource_id)
    if measure in _NUMERIC:
        if any(k.startswith("value") for k in resource):
            raise MappingError("invalid-value")
        return None
    if positive is None and not any(k.startswith("value") for k in resource):
        return None  # a qualitative test with no value at all: not a result
    return Measurement(measure, when, positive=positive, interpretation=interpretation, code=code,
                       resource_id=resource_id)


def _interpretation(concepts: object) -> tuple[str, ...]:
    """Interpretation codes as given, else the concepts' texts (e.g. "H", "POS")."""
    if not concepts:
        return ()
    return tuple(c.code for c in codes_of_all(concepts)) or tuple(
        i for i in (as_str(as_dict(x).get("text")) for x in as_list(concepts)) if i
    )


def _quantitative(
    measure: Measure, resource: Mapping[str, object]
) -> tuple[float, str | None, float | None, float | None]:
    """(value, unit, reference low, reference high) of ``valueQuantity``, in the canonical unit."""
    quantity = read_quantity(resource.get("valueQuantity"))
    if quantity is None:
        raise MappingError("invalid-value")
    unit = canonical_unit(measure)
    if unit is None:
        # Qualitative or any-result measures (CD19, pneumococcal, HBV DNA): keep the number as given.
        return quantity.value, quantity.ucum, None, None
    value = convert(measure, quantity.value, quantity.ucum)
    if value is None:
        raise MappingError("unsupported-unit")
    low, high = _reference_range(measure, resource.get("referenceRange"), quantity.ucum)
    return value, unit, low, high


def _reference_range(measure: Measure, ranges: object, value_unit: str | None) -> tuple[float | None, float | None]:
    """The first reference range, converted to the canonical unit (a bound in an unknown unit is dropped)."""
    if not ranges:
        return None, None
    first = as_dict(as_list(ranges)[0]) if as_list(ranges) else {}
    bounds: list[float | None] = []
    for key in ("low", "high"):
        quantity = read_quantity(first.get(key))
        if quantity is None:
            bounds.append(None)
            continue
        bounds.append(convert(measure, quantity.value, quantity.ucum or value_unit))
    return bounds[0], bounds[1]


def _read_positive(resource: Mapping[str, object], interpretation: tuple[str, ...]) -> bool | None:
    """Positive/negative from valueBoolean, valueCodeableConcept/valueString words, or interpretation."""
    if isinstance(resource.get("valueBoolean"), bool):
        return bool(resource["valueBoolean"])
    words = ""
    if "valueCodeableConcept" in resource:
        words = words_of([resource.get("valueCodeableConcept")])
    elif as_str(resource.get("valueString")):
        words = str(resource["valueString"]).lower()
    if words:
        if _NEGATIVE.search(words):
            return False
        if _POSITIVE.search(words):
            return True
    upper = {i.upper() for i in interpretation}
    if upper & _POS_INTERP:
        return True
    if upper & _NEG_INTERP:
        return False
    return None
