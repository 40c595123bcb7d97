"""Assemble a ``ClinicalRecord`` from the FHIR JSON of one call (prefetch or fetched, plus draftOrders).

Never raises for any input: each resource is validated and mapped on its own, and a resource that
fails either becomes a ``Skipped`` entry (type and a reason without PHI). Bundles are flattened
(searchset ``outcome`` entries and OperationOutcomes are ignored); the same ``Type/id`` seen twice
(e.g. under two prefetch keys) is used once.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
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


def _collect(data: object, skipped: list[Skipped]) -> list[_Entry]:
    """The resources in ``data`` (a resource, a Bundle, or an iterable of them; nested bundles are
    flattened), each ``Type/id`` once; what is not a resource is added to ``skipped``."""
    found: list[_Entry] = []
    try:
        _walk(data, 0, found, set(), skipped)
    except Exception:  # e.g. an iterable that fails half-way: keep what was read before
        skipped.append(Skipped("unknown", "unreadable input"))
    return found


def _walk(data: object, depth: int, found: list[_Entry], seen: set[tuple[str, str]], skipped: list[Skipped]) -> None:
    # A plain recursive walk appending to lists: a generator pipeline cost ~3x more per resource.
    if depth > _MAX_DEPTH:
        skipped.append(Skipped("Bundle", "nested too deeply"))
    elif type(data) is dict or isinstance(data, Mapping):
        kind = data.get("resourceType")
        if kind == "Bundle":
            for entry in as_list(data.get("entry")):
                entry = as_dict(entry)
                search = entry.get("search")
                if search is not None and as_str(as_dict(search).get("mode")) == "outcome":
                    continue
                resource = entry.get("resource")
                if type(resource) is dict or isinstance(resource, Mapping):
                    inner = resource.get("resourceType")
                    if inner == "Bundle":
                        _walk(resource, depth + 1, found, seen, skipped)
                    elif isinstance(inner, str):
                        if inner != "OperationOutcome":
                            _add(resource, entry.get("fullUrl"), found, seen)
                    else:
                        skipped.append(Skipped("unknown", "bundle entry is not a FHIR resource"))
                elif resource is not None:
                    skipped.append(Skipped("unknown", "bundle entry is not a FHIR resource"))
        elif isinstance(kind, str):
            if kind != "OperationOutcome":
                _add(data, None, found, seen)
        else:
            skipped.append(Skipped("unknown", "not a FHIR resource"))
    elif isinstance(data, Iterable) and not isinstance(data, str | bytes):
        for item in data:
            _walk(item, depth + 1, found, seen, skipped)
    elif data is not None:
        skipped.append(Skipped("unknown", "not a FHIR resource"))


def _add(resource: Mapping[str, object], full_url: object, found: list[_Entry], seen: set[tuple[str, str]]) -> None:
    rid = as_str(resource.get("id"))
    if rid is not None:
        key = (str(resource.get("resourceType")), rid)
        if key in seen:
            return
        seen.add(key)
    found.append(_Entry(resource, as_str(full_url)))


class _LocalResolver:
    """Resolve references against this call's resources first, then the caller's resolver."""

    def __init__(self, entries: Iterable[_Entry], fallback: Resolver | None, mode: ValidationMode) -> None:
        self._entries = entries
        self._index: dict[str, Mapping[str, object]] | None = None  # built on the first lookup
        self._fallback = fallback
        self._mode = mode

    def _built_index(self) -> dict[str, Mapping[str, object]]:
        index: dict[str, Mapping[str, object]] = {}
        for entry in self._entries:
            kind, rid = entry.resource.get("resourceType"), as_str(entry.resource.get("id"))
            if rid is not None:
                index.setdefault(f"{kind}/{rid}", entry.resource)
            if entry.full_url:
                index.setdefault(entry.full_url, entry.resource)
        self._index = index
        return index

    def __call__(self, reference: str) -> Mapping[str, object] | None:
        index = self._index if self._index is not None else self._built_index()
        found = index.get(reference)
        if found is None:
            parts = reference.rstrip("/").split("/")
            if len(parts) >= 2 and "_history" not in parts:
                found = index.get("/".join(parts[-2:]))
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
        try:  # validation too: a bug there, like one in a mapper, must cost one resource, not the call
            reason = validate_resource(resource, validation)
            if reason is not None:
                skipped.append(Skipped(kind, reason))
                return
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
    try:
        reason = validate_resource(candidate, mode)
        if reason is not None:
            skipped.append(Skipped("Patient", reason))
            return None
        return map_patient(candidate)
    except MappingError as error:
        skipped.append(Skipped("Patient", str(error)))
    except Exception:
        skipped.append(Skipped("Patient", "could not map Patient"))
    return None
