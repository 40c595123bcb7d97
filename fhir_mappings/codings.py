"""Small, defensive readers for FHIR datatypes: codings, text, dates.

Every helper accepts *anything* (FHIR JSON from an EHR may be malformed) and returns a typed value or
an empty result; none of them raises on garbage. Mappers decide what a missing value means.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime, time
from types import MappingProxyType

from .model import Code

# Code system URIs (FHIR R4 terminology registry, https://hl7.org/fhir/R4/terminologies-systems.html).
LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"
ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"
#: WHO ICD-10 URI: accepted as ICD-10-CM for matching (the codes used here are identical in both).
ICD10 = "http://hl7.org/fhir/sid/icd-10"
CVX = "http://hl7.org/fhir/sid/cvx"
NDC = "http://hl7.org/fhir/sid/ndc"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
ATC = "http://www.whocc.no/atc"
CPT = "http://www.ama-assn.org/go/cpt"
UCUM = "http://unitsofmeasure.org"

ICD10_SYSTEMS = frozenset({ICD10CM, ICD10})
_INF = float("inf")


#: The empty mapping the readers return for "no object here" (shared and read-only: never mutated).
EMPTY: Mapping[str, object] = MappingProxyType({})

# The readers below run for every element of every resource of every call (thousands of times per
# call), so each starts with an exact-type check for what ``orjson`` produces (dict, list, str) and
# only then falls back to the general ABC check for other mappings. Same results, ~3x cheaper.


_SCALARS = frozenset({str, int, float, bool, list})


def as_dict(value: object) -> Mapping[str, object]:
    """``value`` if it is a JSON object, else an empty mapping."""
    if type(value) is dict:
        return value
    if value is None or type(value) in _SCALARS or not isinstance(value, Mapping):
        return EMPTY
    return value


def as_list(value: object) -> list[object]:
    """``value`` if it is a JSON array, else an empty list."""
    return value if type(value) is list or isinstance(value, list) else []


def as_str(value: object) -> str | None:
    """A non-empty string, stripped; None for anything else."""
    if type(value) is str or isinstance(value, str):
        return value.strip() or None
    return None


def as_number(value: object) -> float | None:
    """A JSON number (not bool, not NaN/inf) as float; numeric strings are refused (FHIR decimals are
    JSON numbers, and a string there means the sender is not speaking FHIR JSON)."""
    kind = type(value)
    if kind is not float and kind is not int:
        if isinstance(value, bool) or not isinstance(value, int | float):
            return None
    number = float(value)  # type: ignore[arg-type]
    if number != number or number in (_INF, -_INF):
        return None
    return number


def first_dict(value: object) -> Mapping[str, object]:
    """The first element of a JSON array if it is an object (e.g. ``dosageInstruction[0]``)."""
    items = as_list(value)
    return as_dict(items[0]) if items else {}


def codes_of(concept: object) -> tuple[Code, ...]:
    """The codings of a CodeableConcept that have both a system and a code."""
    found: list[Code] = []
    for coding in as_list(as_dict(concept).get("coding")):
        if type(coding) is not dict and not isinstance(coding, Mapping):
            continue
        system, code = coding.get("system"), coding.get("code")
        if type(system) is str and type(code) is str:  # the usual case, read without the helpers
            system, code = system.strip(), code.strip()
        else:
            system, code = as_str(system), as_str(code)
        if system and code:
            found.append(Code(system, code, as_str(coding.get("display"))))
    return tuple(found)


def codes_of_all(concepts: object) -> tuple[Code, ...]:
    """The codings of a list of CodeableConcepts (e.g. ``reasonCode``)."""
    return tuple(code for concept in as_list(concepts) for code in codes_of(concept))


def code_in(concept: object, system: str) -> str | None:
    """The first code of ``concept`` in ``system`` (e.g. a clinicalStatus code)."""
    for code in codes_of(concept):
        if code.system == system:
            return code.code
    return None


def first_code(concept: object) -> str | None:
    """The first code of ``concept`` in any system (status concepts use one well-known system)."""
    for coding in as_list(as_dict(concept).get("coding")):
        code = as_str(as_dict(coding).get("code"))
        if code:
            return code
    return None


def text_of(concept: object) -> str | None:
    """``CodeableConcept.text``, else the first coding display: the human name of the concept."""
    concept = as_dict(concept)
    text = as_str(concept.get("text"))
    if text:
        return text
    for code in codes_of(concept):
        if code.display:
            return code.display
    for coding in as_list(concept.get("coding")):
        display = as_str(as_dict(coding).get("display"))
        if display:
            return display
    return None


def words_of(concepts: Iterable[object]) -> str:
    """Every text and display of the concepts, lower-cased and joined, for keyword matching."""
    parts: list[str] = []
    for concept in concepts:
        if type(concept) is not dict and not isinstance(concept, Mapping):
            continue
        text = as_str(concept.get("text"))
        if text:
            parts.append(text)
        for coding in as_list(concept.get("coding")):
            if type(coding) is dict or isinstance(coding, Mapping):
                display = as_str(coding.get("display"))
                if display:
                    parts.append(display)
    return " | ".join(parts).lower()


_DATE = re.compile(r"^(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?$")
_DATETIME = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(\.\d+)?)?(Z|[+-]\d{2}:\d{2})?$"
)


def parse_date(value: object) -> date | None:
    """A FHIR ``date`` ("2024", "2024-05", "2024-05-03"): partial dates take the first day.

    A dateTime string is accepted too (its date part). Invalid calendar dates give None.
    """
    text = as_str(value)
    if text is None:
        return None
    match = _DATE.match(text)
    try:
        if match:
            year, month, day = match.groups()
            return date(int(year), int(month or 1), int(day or 1))
        moment = parse_datetime(text)
        return moment.date() if moment else None
    except ValueError:
        return None


def parse_datetime(value: object) -> datetime | None:
    """A FHIR ``date``/``dateTime``/``instant`` as an aware datetime.

    Without an offset the time is taken as UTC (model.py contract); a date (or partial date) maps to
    midnight UTC of its first day. Invalid values give None, never an exception. The FHIR regular
    expression decides what is acceptable; ``datetime.fromisoformat`` (C, Python 3.11+: ``Z``, offsets,
    fractions truncated to microseconds) then builds the value.
    """
    text = as_str(value)
    if text is None:
        return None
    if _DATETIME.match(text) is None:
        day = parse_date(text) if _DATE.match(text) else None
        return datetime.combine(day, time(), tzinfo=UTC) if day else None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def parse_period_start(value: object) -> datetime | None:
    """``Period.start`` as an aware datetime."""
    return parse_datetime(as_dict(value).get("start"))


def parse_period_end(value: object) -> datetime | None:
    """``Period.end`` as an aware datetime."""
    return parse_datetime(as_dict(value).get("end"))
