"""Small, defensive readers for FHIR datatypes: codings, text, dates.

Every helper accepts *anything* (FHIR JSON from an EHR may be malformed) and returns a typed value or
an empty result; none of them raises on garbage. Mappers decide what a missing value means.

Client text is capped here, where it is read (docs/security.md "Threats and defences"): a code
longer than :data:`MAX_CODE_CHARS`, a system longer than :data:`MAX_SYSTEM_CHARS`, a text or display
longer than :data:`MAX_TEXT_CHARS` is kept only up to the cap and marked with "…". Everything
downstream (pattern matching, memo keys, card text) then works on bounded strings. A clipped code or
system ends in "…", which no code system uses, so it is never a known code: an over-long code is
simply not a known code. A clipped text is cut where the original has a word boundary, so no word,
and no ``\b``-delimited name, appears in it that the original does not have.
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


#: Longest code kept: real codes are far shorter (SNOMED CT ids ≤ 18 characters, NDC 13, LOINC 10,
#: ICD-10 8; a site's local codes, GUIDs 36), and every code a rule knows is shorter still.
MAX_CODE_CHARS = 128
#: Longest code system URI kept (``http://hl7.org/fhir/sid/icd-10-cm`` is 33; OIDs in urn form ~60).
MAX_SYSTEM_CHARS = 256
#: Longest text or display kept: SNOMED CT terms are at most 255 characters, ICD-10-CM and LOINC long
#: names shorter; names that rules recognise (drugs, conditions, allergies) name themselves early.
MAX_TEXT_CHARS = 1024
#: Marks a clipped string.
CLIPPED = "…"


def clip_code(value: str, limit: int = MAX_CODE_CHARS) -> str:
    """``value``, or its first ``limit`` characters and "…" when longer (never equal to a known code)."""
    return value if len(value) <= limit else value[:limit] + CLIPPED


def _word(char: str) -> bool:
    return char.isalnum() or char == "_"


def clip_text(value: str, limit: int = MAX_TEXT_CHARS) -> str:
    """``value``, or at most ``limit`` characters of it cut at a word boundary of the original, and "…".

    The cut moves back until it falls between two characters of which at least one is not a word
    character, so the clipped text never ends in a fragment that reads as a whole word
    ("prednisolonexyz" is not cut to "prednisolone"); a single over-long word is dropped entirely.
    """
    if len(value) <= limit:
        return value
    cut = limit
    while cut > 0 and _word(value[cut - 1]) and _word(value[cut]):
        cut -= 1
    return value[:cut] + CLIPPED


def as_text(value: object) -> str | None:
    """A non-empty string, stripped and clipped to :data:`MAX_TEXT_CHARS` (names, texts, displays)."""
    text = as_str(value)
    return clip_text(text) if text is not None and len(text) > MAX_TEXT_CHARS else text


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
            if len(system) > MAX_SYSTEM_CHARS or len(code) > MAX_CODE_CHARS:
                system, code = clip_code(system, MAX_SYSTEM_CHARS), clip_code(code)
            found.append(Code(system, code, as_text(coding.get("display"))))
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
            return clip_code(code)
    return None


def text_of(concept: object) -> str | None:
    """``CodeableConcept.text``, else the first coding display: the human name of the concept."""
    concept = as_dict(concept)
    text = as_text(concept.get("text"))
    if text:
        return text
    for code in codes_of(concept):
        if code.display:
            return code.display
    for coding in as_list(concept.get("coding")):
        display = as_text(as_dict(coding).get("display"))
        if display:
            return display
    return None


def words_of(concepts: Iterable[object]) -> str:
    """Every text and display of the concepts, lower-cased and joined, for keyword matching."""
    parts: list[str] = []
    for concept in concepts:
        if type(concept) is not dict and not isinstance(concept, Mapping):
            continue
        text = as_text(concept.get("text"))
        if text:
            parts.append(text)
        for coding in as_list(concept.get("coding")):
            if type(coding) is dict or isinstance(coding, Mapping):
                display = as_text(coding.get("display"))
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
    match = _DATE.fullmatch(text)
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
    if _DATETIME.fullmatch(text) is None:
        day = parse_date(text) if _DATE.fullmatch(text) else None
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
