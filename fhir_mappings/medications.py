"""MedicationRequest / MedicationStatement / MedicationAdministration / Immunization -> ``MedicationFact``.

Dropped: ``entered-in-error`` everywhere, and records of something that did not happen (administration
or immunization ``not-done``, statement ``not-taken``). MedicationRequest statuses are kept as given:
the rules decide what "active" means; a draft order without a status is a draft. ``medicationReference``
is resolved through contained resources first, then the caller's ``resolve(reference)`` (draftOrders
bundle, prefetch, FHIR read).

The dose is read as ordered (docs/clinical-rules.md Terms, "Ordered dose"): a Quantity in g, mg, g/kg or mg/kg becomes
``Dose``; any other Quantity is kept as given (``GivenDose``), so that a dose in mL can be converted where
the product facts are (``hooks``), and a dose in another unit can be named when it is not checked. For an
Ig dose in mL, the strength the medication itself states (``Medication.ingredient.strength``, or "10%" /
"200 MG/ML" in its name) is read too (``stated_concentration``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Mapping
from datetime import datetime
from typing import NamedTuple

from .codings import (
    SNOMED,
    as_dict,
    as_list,
    as_number,
    as_str,
    codes_of,
    codes_of_all,
    first_code,
    first_dict,
    parse_datetime,
    parse_period_end,
    parse_period_start,
    text_of,
    words_of,
)
from .conditions import concepts_of
from .drugs import classify_drug
from .errors import MappingError
from .model import Code, Dose, DoseUnit, GivenDose, MedClass, MedicationFact, Route, Timing
from .units import duration_days, period_days, read_dose_unit, read_given_dose

#: Looks a reference ("Medication/123", a fullUrl) up; returns the resource or None.
Resolver = Callable[[str], Mapping[str, object] | None]

MEDICATION_TYPES = frozenset({"MedicationRequest", "MedicationStatement", "MedicationAdministration", "Immunization"})
_DROPPED = frozenset({"entered-in-error", "not-done", "not-taken"})

#: SNOMED route codes: 47625008 IV and 34206005 SC (docs/clinical-rules.md Terms "Route"); 78421000 intramuscular and
#: 26643006 oral: corroborated (same code and meaning in several public FHIR IGs / code tables found with
#: the search tool, e.g. ONCOFAIR IG SNOMED route list, DICOM CID 11, NHS Digital dose syntax).
ROUTE_CODES: Mapping[str, Route] = {
    "47625008": Route.IV,
    "34206005": Route.SC,
    "78421000": Route.IM,
    "26643006": Route.ORAL,
}
_ROUTE_WORDS: tuple[tuple[re.Pattern[str], Route], ...] = (
    (re.compile(r"\bintravenous|\biv\b|\bi\.v\.?"), Route.IV),
    (re.compile(r"\bsubcutaneous|\bsubcut\b|\bsc\b|\bsq\b|\bs\.c\.?"), Route.SC),
    (re.compile(r"\bintramuscular|\bim\b|\bi\.m\.?"), Route.IM),
    (re.compile(r"\boral\b|\bpo\b|\bby mouth\b"), Route.ORAL),
)
_DOSE_UNITS = {u.value: u for u in DoseUnit}


def resolve_reference(
    reference: object, container: Mapping[str, object], resolve: Resolver | None
) -> Mapping[str, object] | None:
    """A referenced resource: ``#id`` against ``container.contained``, else the caller's resolver."""
    ref = as_str(as_dict(reference).get("reference"))
    if ref is None:
        return None
    if ref.startswith("#"):
        for item in as_list(container.get("contained")):
            item = as_dict(item)
            if as_str(item.get("id")) == ref[1:]:
                return item
        return None
    if resolve is None:
        return None
    try:
        found = resolve(ref)
    except Exception:  # a resolver failure is "not resolvable", never a crash of the mapping
        return None
    return found if isinstance(found, Mapping) else None


def read_route(concept: object) -> Route | None:
    """Route from SNOMED codes, else from the words of the concept; None when not recognisable."""
    for code in codes_of(concept):
        if code.system == SNOMED and code.code in ROUTE_CODES:
            return ROUTE_CODES[code.code]
    words = words_of([concept])
    for pattern, route in _ROUTE_WORDS:
        if pattern.search(words):
            return route
    return None


def read_dose(quantity: object) -> Dose | None:
    """A dose Quantity in g, mg, g/kg or mg/kg (UCUM); None otherwise (e.g. mL, or no number)."""
    value = as_number(as_dict(quantity).get("value"))
    unit = read_dose_unit(quantity)
    if value is None or unit is None or value < 0:
        return None
    return Dose(value, _DOSE_UNITS[unit])


def read_timing(timing: object) -> Timing | None:
    """``timing.repeat``: frequency, period, periodUnit, count, and the bounded days (``boundsDuration``,
    else a ``boundsPeriod`` with start and end)."""
    repeat = as_dict(as_dict(timing).get("repeat"))
    if not repeat:
        return None
    frequency, count = as_number(repeat.get("frequency")), as_number(repeat.get("count"))
    bounds = duration_days(repeat.get("boundsDuration"))
    if bounds is None and "boundsPeriod" in repeat:
        bounds = period_days(repeat.get("boundsPeriod"))
    parts = (
        int(frequency) if frequency is not None and frequency >= 1 else None,
        _positive(repeat.get("period")),
        as_str(repeat.get("periodUnit")),
        int(count) if count is not None and count >= 1 else None,
        bounds,
    )
    return None if parts == _NO_TIMING else Timing(*parts)


_NO_TIMING = (None, None, None, None, None)


def _positive(value: object) -> float | None:
    number = as_number(value)
    return number if number is not None and number > 0 else None


class _Medication(NamedTuple):
    """What names the medication: its concepts (code and ingredients), a fallback display, and the
    Medication resource when it was resolved."""

    concepts: list[object]
    fallback_name: str | None
    resource: Mapping[str, object] | None


def _medication_concepts(
    resource: Mapping[str, object], resolve: Resolver | None, notes: list[str] | None
) -> _Medication:
    """The concepts naming the medication; ``MappingError`` when the resource names none."""
    kind = resource.get("resourceType")
    if kind == "Immunization":
        return _Medication([resource.get("vaccineCode")], None, None)
    if "medicationCodeableConcept" in resource:
        return _Medication([resource.get("medicationCodeableConcept")], None, None)
    reference = resource.get("medicationReference")
    if reference is None:
        raise MappingError("unknown-medication")
    medication = resolve_reference(reference, resource, resolve)
    if medication is None:
        display = as_str(as_dict(reference).get("display"))
        if display is None:
            raise MappingError("unresolved-reference:medicationReference")
        if notes is not None:
            notes.append("unresolved-reference:medicationReference")
        return _Medication([{"text": display}], display, None)
    ingredients = [as_dict(i).get("itemCodeableConcept") for i in as_list(medication.get("ingredient"))]
    return _Medication([medication.get("code"), *ingredients], None, medication)


#: A strength in a product name: "10%", "16.5 %" / "100 MG/ML", "0.2 g/ml" (names are lower-cased).
_NAME_PERCENT = re.compile(r"(?<![\d.])(\d{1,2}(?:\.\d{1,2})?) ?%")
_NAME_MASS_PER_ML = re.compile(r"(?<![\d.])(\d{1,4}(?:\.\d{1,3})?) ?(mg|g) ?/ ?ml\b")
_MASS_IN_G = {"g": 1.0, "mg": 0.001}


def _one_value(values: list[float]) -> float | None:
    """The one concentration stated (g/mL, 0 < c <= 1), None when none or when they disagree."""
    found = {round(v, 4) for v in values if 0 < v <= 1}
    return found.pop() if len(found) == 1 else None


def _strength_g_per_ml(ratio: object) -> float | None:
    """``Ratio`` numerator in g or mg over denominator in mL, as g/mL."""
    ratio = as_dict(ratio)
    numerator, denominator = read_given_dose(ratio.get("numerator")), read_given_dose(ratio.get("denominator"))
    if numerator is None or denominator is None or numerator.value is None or numerator.unit not in _MASS_IN_G:
        return None
    volume = denominator.millilitres
    return numerator.value * _MASS_IN_G[numerator.unit] / volume if volume else None


def stated_concentration(medication: Mapping[str, object] | None, name_words: str) -> float | None:
    """The strength the medication states, in g/mL: its ``ingredient.strength`` (mass per mL), else a
    strength in its name ("10%", "200 mg/ml"); None when none is stated or two statements disagree
    (docs/clinical-rules.md Resolved details, "Concentration of a dose in mL")."""
    if medication is not None:
        strengths = [_strength_g_per_ml(as_dict(i).get("strength")) for i in as_list(medication.get("ingredient"))]
        stated = _one_value([s for s in strengths if s is not None])
        if stated is not None:
            return stated
    values = [float(m.group(1)) / 100 for m in _NAME_PERCENT.finditer(name_words)]
    values += [float(m.group(1)) * _MASS_IN_G[m.group(2)] for m in _NAME_MASS_PER_ML.finditer(name_words)]
    return _one_value(values)


def _dosage(resource: Mapping[str, object]) -> tuple[object, object, object]:
    """(dose Quantity, route concept, timing) from the resource's own dosage element."""
    kind = resource.get("resourceType")
    if kind == "MedicationAdministration":
        dosage = as_dict(resource.get("dosage"))
        return dosage.get("dose"), dosage.get("route"), None
    if kind == "Immunization":
        return resource.get("doseQuantity"), resource.get("route"), None
    dosage = first_dict(resource.get("dosageInstruction" if kind == "MedicationRequest" else "dosage"))
    dose_and_rate = first_dict(dosage.get("doseAndRate"))
    return dose_and_rate.get("doseQuantity"), dosage.get("route"), dosage.get("timing")


def _when(resource: Mapping[str, object]) -> tuple[datetime | None, datetime | None]:
    kind = resource.get("resourceType")
    if kind == "MedicationRequest":
        return parse_datetime(resource.get("authoredOn")), None
    if kind == "Immunization":
        return parse_datetime(resource.get("occurrenceDateTime")), None
    period = resource.get("effectivePeriod")
    start = parse_datetime(resource.get("effectiveDateTime")) or parse_period_start(period)
    if start is None and kind == "MedicationStatement":
        start = parse_datetime(resource.get("dateAsserted"))
    return start, parse_period_end(period)


def _reasons(resource: Mapping[str, object], resolve: Resolver | None) -> tuple[tuple[Code, ...], str]:
    codes = list(codes_of_all(resource.get("reasonCode")))
    texts = [words_of(as_list(resource.get("reasonCode")))]
    for reference in as_list(resource.get("reasonReference")):
        target = resolve_reference(reference, resource, resolve)
        if target is None or target.get("resourceType") != "Condition":
            continue
        if first_code(target.get("verificationStatus")) not in ("refuted", "entered-in-error"):
            codes.extend(codes_of(target.get("code")))
            texts.append(words_of([target.get("code")]))
    return tuple(codes), " | ".join(t for t in texts if t)


def _dose_notes(given: GivenDose | None, dose: Dose | None) -> str | None:
    """Why an Ig dose Quantity could not be read (None when it was read, is in mL, or is absent)."""
    if given is None or dose is not None or given.millilitres is not None:
        return None
    if given.unit not in _DOSE_UNITS and given.unit != "mL":
        return "invalid-dose-unit"
    return "invalid-dose-value"


def map_medication(
    resource: Mapping[str, object],
    *,
    resolve: Resolver | None = None,
    rxnorm_ig_codes: Collection[str] = (),
    draft: bool = False,
    notes: list[str] | None = None,
    position: str | None = None,
) -> MedicationFact | None:
    """A MedicationFact, or None for a dropped status (see module docstring).

    ``notes`` receives the reason codes of facts that could not be read while the rest could
    (``unresolved-reference:medicationReference`` with a display to go by, ``invalid-dose-unit``).
    """
    kind = as_str(resource.get("resourceType"))
    if kind not in MEDICATION_TYPES:
        raise MappingError("not-a-medication")
    status = as_str(resource.get("status"))
    if status in _DROPPED:
        return None
    if status is None and draft:
        status = "draft"  # a draft order that does not say so (the CDS Hooks sandbox sends none)
    named = _medication_concepts(resource, resolve, notes)
    concepts = named.concepts
    codes = codes_of(concepts[0]) if len(concepts) == 1 else tuple(c for concept in concepts for c in codes_of(concept))
    text = words_of(concepts)
    dose_quantity, route_concept, timing = _dosage(resource)
    route = read_route(route_concept)
    profile = classify_drug(
        codes, text, route=route, vaccine_context=kind == "Immunization", rxnorm_ig_codes=rxnorm_ig_codes
    )
    is_ig = MedClass.IMMUNE_GLOBULIN in profile.classes
    if route is None and is_ig:
        # docs/clinical-rules.md Terms "Route": else from the product (SC brands; J06BA01 extravascular), else IV.
        route = Route.SC if profile.subcutaneous_product else Route.IV
    reason_codes, reason_text = _reasons(resource, resolve)
    when, until = _when(resource)
    dose = read_dose(dose_quantity)
    given = read_given_dose(dose_quantity) if dose is None else None  # kept only when it says something
    if is_ig and notes is not None:
        problem = _dose_notes(given, dose)
        if problem is not None:
            notes.append(problem)
    in_ml = is_ig and given is not None and given.millilitres is not None
    return MedicationFact(
        resource_type=kind,
        id=as_str(resource.get("id")),
        classes=profile.classes,
        name=(text_of(concepts[0]) if concepts else None) or named.fallback_name,
        codes=codes,
        status=status,
        when=when,
        until=until,
        product=profile.product,
        route=route,
        dose=dose,
        dose_given=given,
        stated_concentration=stated_concentration(named.resource, text) if in_ml else None,
        timing=read_timing(timing),
        reason_concepts=concepts_of(reason_codes, reason_text),
        reason_codes=reason_codes,
        draft=draft,
        raw=resource,
        position=position,
    )
