"""Assemble a ``ClinicalRecord`` from the FHIR JSON of one call (prefetch or fetched, plus draftOrders).

Never raises for any input: each resource is validated and mapped on its own, and a resource that
fails either becomes a ``Skipped`` entry (type and a reason without PHI). Bundles are flattened
(searchset ``outcome`` entries and OperationOutcomes are ignored); the same ``Type/id`` seen twice
(e.g. under two prefetch keys) is used once.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator, Mapping
from typing import NamedTuple

from .allergies import map_allergy
from .codings import as_dict, as_list, as_str
from .conditions import map_condition
from .errors import MappingError
from .medications import MEDICATION_TYPES, Resolver, map_medication
from .model import (
    AllergyFact,
    ClinicalRecord,
    ConditionFact,
    Measure,
    Measurement,
    MedicationFact,
    PatientInfo,
    ProcedureFact,
    Skipped,
)
from .observations import DEFAULT_CODES
from .observations import map_observation as _map_observation
from .patients import map_patient
from .procedures import PROCEDURE_TYPES, map_procedure
from .validation import VALIDATED_TYPES, ValidationMode, validate_resource

_MAX_DEPTH = 4


class _Entry(NamedTuple):
    resource: Mapping[str, object]
    full_url: str | None


def iter_resources(data: object, _depth: int = 0) -> Iterator[_Entry | Skipped]:
    """Resources in ``data``: a resource, a Bundle, or an iterable of them (nested bundles flattened)."""
    if _depth > _MAX_DEPTH:
        yield Skipped("Bundle", "nested too deeply")
        return
    if isinstance(data, Mapping):
        kind = data.get("resourceType")
        if kind == "Bundle":
            for entry in as_list(data.get("entry")):
                entry = as_dict(entry)
                if as_str(as_dict(entry.get("search")).get("mode")) == "outcome":
                    continue
                resource = entry.get("resource")
                if isinstance(resource, Mapping) and resource.get("resourceType") == "Bundle":
                    yield from iter_resources(resource, _depth + 1)
                elif isinstance(resource, Mapping) and isinstance(resource.get("resourceType"), str):
                    if resource.get("resourceType") != "OperationOutcome":
                        yield _Entry(resource, as_str(entry.get("fullUrl")))
                elif resource is not None:
                    yield Skipped("unknown", "bundle entry is not a FHIR resource")
        elif isinstance(kind, str):
            if kind != "OperationOutcome":
                yield _Entry(data, None)
        else:
            yield Skipped("unknown", "not a FHIR resource")
    elif isinstance(data, Iterable) and not isinstance(data, str | bytes):
        for item in data:
            yield from iter_resources(item, _depth + 1)
    elif data is not None:
        yield Skipped("unknown", "not a FHIR resource")


def _collect(data: object, skipped: list[Skipped]) -> list[_Entry]:
    seen: set[tuple[str, str]] = set()
    found: list[_Entry] = []
    try:
        for item in iter_resources(data):
            if isinstance(item, Skipped):
                skipped.append(item)
                continue
            kind, rid = str(item.resource.get("resourceType")), as_str(item.resource.get("id"))
            if rid is not None:
                if (kind, rid) in seen:
                    continue
                seen.add((kind, rid))
            found.append(item)
    except Exception:  # e.g. an iterable that fails half-way
        skipped.append(Skipped("unknown", "unreadable input"))
    return found


class _LocalResolver:
    """Resolve references against this call's resources first, then the caller's resolver."""

    def __init__(self, entries: Iterable[_Entry], fallback: Resolver | None, mode: ValidationMode) -> None:
        self._index: dict[str, Mapping[str, object]] = {}
        for entry in entries:
            kind, rid = entry.resource.get("resourceType"), as_str(entry.resource.get("id"))
            if rid is not None:
                self._index.setdefault(f"{kind}/{rid}", entry.resource)
            if entry.full_url:
                self._index.setdefault(entry.full_url, entry.resource)
        self._fallback = fallback
        self._mode = mode

    def __call__(self, reference: str) -> Mapping[str, object] | None:
        found = self._index.get(reference)
        if found is None:
            parts = reference.rstrip("/").split("/")
            if len(parts) >= 2 and "_history" not in parts:
                found = self._index.get("/".join(parts[-2:]))
        if found is None and self._fallback is not None:
            candidate = self._fallback(reference)
            found = candidate if isinstance(candidate, Mapping) else None
        if found is None or validate_resource(found, self._mode) is not None:
            return None
        return found


def build_record(
    *,
    patient: Mapping[str, object] | None,
    resources: Iterable[object],
    draft_orders: object = (),
    selections: Iterable[str] = (),
    unavailable: Collection[str] = frozenset(),
    resolve: Resolver | None = None,
    rxnorm_ig_codes: Collection[str] = (),
    loinc_measures: Mapping[str, Measure] | None = None,
    plasma_exchange_snomed: Collection[str] = (),
    validation: ValidationMode = ValidationMode.AUTO,
) -> ClinicalRecord:
    """Map one call's FHIR JSON to the rules' domain inputs.

    ``draft_orders`` (the draftOrders Bundle or its resources) become facts with ``draft=True``.
    ``resolve`` is the caller's reference lookup (prefetch, FHIR read) used after contained resources
    and this call's own resources. ``rxnorm_ig_codes``: the site's RxNorm codes for normal human Ig;
    ``loinc_measures``: extra LOINC -> Measure rows; ``plasma_exchange_snomed``: the site's SNOMED
    plasma-exchange codes (no code is verified, so none ship).
    """
    skipped: list[Skipped] = []
    entries = _collect(resources, skipped)
    drafts = _collect(draft_orders, skipped)
    resolver = _LocalResolver([*entries, *drafts], resolve, validation)
    codes = DEFAULT_CODES.with_extra(loinc_measures) if loinc_measures else DEFAULT_CODES

    patient_info = _map_patient(patient, entries, validation, skipped)
    measurements: list[Measurement] = []
    conditions: list[ConditionFact] = []
    medications: list[MedicationFact] = []
    allergies: list[AllergyFact] = []
    procedures: list[ProcedureFact] = []
    draft_facts: list[MedicationFact | ProcedureFact] = []

    def map_one(resource: Mapping[str, object], draft: bool) -> None:
        kind = str(resource.get("resourceType"))
        if kind not in VALIDATED_TYPES or kind in ("Patient", "Medication"):
            return
        reason = validate_resource(resource, validation)
        if reason is not None:
            skipped.append(Skipped(kind, reason))
            return
        try:
            if kind in MEDICATION_TYPES:
                fact = map_medication(resource, resolve=resolver, rxnorm_ig_codes=rxnorm_ig_codes, draft=draft)
                if fact is not None:
                    (draft_facts if draft else medications).append(fact)
            elif kind in PROCEDURE_TYPES:
                procedure = map_procedure(resource, plasma_exchange_snomed=plasma_exchange_snomed, draft=draft)
                if procedure is not None:
                    (draft_facts if draft else procedures).append(procedure)
            elif draft:
                return
            elif kind == "Observation":
                _append(measurements, _map_observation(resource, codes))
            elif kind == "Condition":
                _append(conditions, map_condition(resource))
            elif kind == "AllergyIntolerance":
                _append(allergies, map_allergy(resource))
        except MappingError as error:
            skipped.append(Skipped(kind, str(error)))
        except RecursionError:
            skipped.append(Skipped(kind, f"invalid {kind}: nested too deeply"))
        except Exception:  # a mapper bug on odd input must not lose the whole call
            skipped.append(Skipped(kind, f"could not map {kind}"))

    for entry in entries:
        map_one(entry.resource, False)
    for entry in drafts:
        map_one(entry.resource, True)

    return ClinicalRecord(
        patient=patient_info,
        measurements=tuple(measurements),
        conditions=tuple(conditions),
        medications=tuple(medications),
        allergies=tuple(allergies),
        procedures=tuple(procedures),
        draft_orders=tuple(draft_facts),
        selections=tuple(s for s in (selections or ()) if isinstance(s, str)),
        skipped=tuple(skipped),
        unavailable=frozenset(u for u in (unavailable or ()) if isinstance(u, str)),
    )


def _append(target: list, item: object) -> None:  # type: ignore[type-arg]
    if item is not None:
        target.append(item)


def _map_patient(
    patient: object, entries: list[_Entry], mode: ValidationMode, skipped: list[Skipped]
) -> PatientInfo | None:
    """The given Patient, else the first Patient among the resources."""
    candidate = patient if isinstance(patient, Mapping) else None
    if candidate is None:
        candidate = next((e.resource for e in entries if e.resource.get("resourceType") == "Patient"), None)
    if candidate is None:
        return None
    if candidate.get("resourceType") != "Patient":
        skipped.append(Skipped("Patient", "invalid Patient: not a Patient resource"))
        return None
    reason = validate_resource(candidate, mode)
    if reason is not None:
        skipped.append(Skipped("Patient", reason))
        return None
    try:
        return map_patient(candidate)
    except MappingError as error:
        skipped.append(Skipped("Patient", str(error)))
    except Exception:
        skipped.append(Skipped("Patient", "could not map Patient"))
    return None
