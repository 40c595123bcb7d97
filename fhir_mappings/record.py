"""Assemble a ``ClinicalRecord`` from the FHIR JSON of one call (prefetch or fetched, plus draftOrders).

Never raises for any input. Each resource is read on its own, tolerantly (``validation.read_resource``:
the elements the mappers read are normalised, the others left alone), then mapped. What could not be
used is recorded as ``Skipped`` without PHI: the resource type, its id and position in the call's data,
a short reason code, and whether the whole resource was skipped or only one of its facts was lost
(degraded). Bundles are flattened (searchset ``outcome`` entries and OperationOutcomes are ignored, a
Bundle needs no ``type``); the same ``Type/id`` seen twice (e.g. under two prefetch keys) is used once.
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
    Outcome,
    PatientInfo,
    ProcedureFact,
    Skipped,
    reportable_id,
)
from .observations import DEFAULT_CODES
from .observations import map_observation as _map_observation
from .patients import map_patient
from .procedures import PROCEDURE_TYPES, map_procedure
from .validation import READ_TYPES, read_resource, status_required

_MAX_DEPTH = 4


class _Entry(NamedTuple):
    resource: Mapping[str, object]
    full_url: str | None
    #: Where the resource was in the call's data, e.g. ``draftOrders.entry[0]``, ``labs.entry[3]``.
    position: str


def _collect(data: object, where: str, skipped: list[Skipped], seen: set[tuple[str, str]]) -> list[_Entry]:
    """The resources in ``data`` (a resource, a Bundle, or an iterable of them; nested bundles are
    flattened), each ``Type/id`` once; what is not a resource is added to ``skipped``."""
    found: list[_Entry] = []
    try:
        _walk(data, 0, where, found, seen, skipped)
    except Exception:  # e.g. an iterable that fails half-way: keep what was read before
        skipped.append(Skipped("unknown", "unreadable-input", position=where))
    return found


def _not_a_resource(where: str) -> Skipped:
    return Skipped("unknown", "not-a-resource", position=where)


def _walk(
    data: object, depth: int, where: str, found: list[_Entry], seen: set[tuple[str, str]], skipped: list[Skipped]
) -> None:
    # A plain recursive walk appending to lists: a generator pipeline cost ~3x more per resource.
    if depth > _MAX_DEPTH:
        skipped.append(Skipped("Bundle", "nested-too-deeply", position=where))
    elif type(data) is dict or isinstance(data, Mapping):
        kind = data.get("resourceType")
        if kind == "Bundle":
            for index, entry in enumerate(as_list(data.get("entry"))):
                entry = as_dict(entry)
                search = entry.get("search")
                if search is not None and as_str(as_dict(search).get("mode")) == "outcome":
                    continue
                resource = entry.get("resource")
                position = f"{where}.entry[{index}]"
                if type(resource) is dict or isinstance(resource, Mapping):
                    inner = resource.get("resourceType")
                    if inner == "Bundle":
                        _walk(resource, depth + 1, position, found, seen, skipped)
                    elif isinstance(inner, str):
                        if inner != "OperationOutcome":
                            _add(resource, entry.get("fullUrl"), position, found, seen)
                    else:
                        skipped.append(_not_a_resource(position))
                elif resource is not None:
                    skipped.append(_not_a_resource(position))
        elif isinstance(kind, str):
            if kind != "OperationOutcome":
                _add(data, None, where, found, seen)
        else:
            skipped.append(_not_a_resource(where))
    elif isinstance(data, Iterable) and not isinstance(data, str | bytes):
        for index, item in enumerate(data):
            _walk(item, depth + 1, f"{where}[{index}]", found, seen, skipped)
    elif data is not None:
        skipped.append(_not_a_resource(where))


def _add(
    resource: Mapping[str, object], full_url: object, where: str, found: list[_Entry], seen: set[tuple[str, str]]
) -> None:
    rid = as_str(resource.get("id"))
    if rid is not None:
        key = (str(resource.get("resourceType")), rid)
        if key in seen:
            return
        seen.add(key)
    found.append(_Entry(resource, as_str(full_url), where))


class _LocalResolver:
    """Resolve references against this call's resources first, then the caller's resolver; what is
    found is read tolerantly like every other resource."""

    def __init__(self, entries: Iterable[_Entry], fallback: Resolver | None) -> None:
        self._entries = entries
        self._index: dict[str, Mapping[str, object]] | None = None  # built on the first lookup
        self._fallback = fallback

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
        return None if found is None else read_resource(found).resource


def _collect_sources(
    resources: Iterable[object] | Mapping[str, object], skipped: list[Skipped], seen: set[tuple[str, str]]
) -> list[_Entry]:
    """The resources of every source: positions start with the prefetch key when the sources are named,
    else with ``resources[i]``."""
    if isinstance(resources, Mapping) and "resourceType" not in resources:
        return [e for key, value in resources.items() for e in _collect(value, str(key), skipped, seen)]
    if isinstance(resources, Mapping) or isinstance(resources, str | bytes) or not isinstance(resources, Iterable):
        return _collect(resources, "resources", skipped, seen)
    found: list[_Entry] = []
    try:
        for index, value in enumerate(resources):
            found.extend(_collect(value, f"resources[{index}]", skipped, seen))
    except Exception:  # e.g. a generator that fails half-way: keep what was read before
        skipped.append(Skipped("unknown", "unreadable-input", position="resources"))
    return found


class _Report:
    """The problems of one call's resources, in the order they were met."""

    def __init__(self, skipped: list[Skipped]) -> None:
        self.skipped = skipped

    def add(self, entry: _Entry, kind: str, reasons: list[str], outcome: Outcome) -> None:
        if not reasons:
            return
        rid = reportable_id(as_str(entry.resource.get("id")))
        for reason in reasons:
            self.skipped.append(Skipped(kind, reason, outcome, rid, entry.position))


def build_record(
    *,
    patient: Mapping[str, object] | None,
    resources: Iterable[object] | Mapping[str, object],
    draft_orders: object = (),
    selections: Iterable[str] = (),
    unavailable: Collection[str] = frozenset(),
    resolve: Resolver | None = None,
    rxnorm_ig_codes: Collection[str] = (),
    loinc_measures: Mapping[str, Measure] | None = None,
    plasma_exchange_snomed: Collection[str] = (),
) -> ClinicalRecord:
    """Map one call's FHIR JSON to the rules' domain inputs.

    ``resources``: the prefetch values by key (``{"labs": Bundle, ...}``: positions read
    ``labs.entry[3]``), or any iterable of resources and Bundles (``resources[0].entry[3]``).
    ``draft_orders`` (the draftOrders Bundle or its resources) become facts with ``draft=True``.
    ``resolve`` is the caller's reference lookup (prefetch, FHIR read) used after contained resources
    and this call's own resources. ``rxnorm_ig_codes``: the site's RxNorm codes for normal human Ig;
    ``loinc_measures``: extra LOINC -> Measure rows; ``plasma_exchange_snomed``: the site's SNOMED
    plasma-exchange codes (no code is verified, so none ship).
    """
    skipped: list[Skipped] = []
    seen: set[tuple[str, str]] = set()
    entries = _collect_sources(resources, skipped, seen)
    drafts = _collect(draft_orders, "draftOrders", skipped, seen)
    resolver = _LocalResolver([*entries, *drafts], resolve)
    codes = DEFAULT_CODES.with_extra(loinc_measures) if loinc_measures else DEFAULT_CODES
    report = _Report(skipped)

    patient_info = _map_patient(patient, entries, report)
    measurements: list[Measurement] = []
    conditions: list[ConditionFact] = []
    medications: list[MedicationFact] = []
    allergies: list[AllergyFact] = []
    procedures: list[ProcedureFact] = []
    draft_facts: list[MedicationFact | ProcedureFact] = []

    def map_one(entry: _Entry, draft: bool) -> None:
        kind = str(entry.resource.get("resourceType"))
        if kind not in READ_TYPES or kind in ("Patient", "Medication"):
            return
        problems: list[str] = []
        notes: list[str] = []
        fact: object = None
        try:  # reading too: a bug there, like one in a mapper, must cost one resource, not the call
            resource, found = read_resource(entry.resource)
            problems.extend(found)
            if not draft and "status" not in resource and "invalid-status" not in problems and status_required(kind):
                problems.append("invalid-status")
            if kind in MEDICATION_TYPES:
                medication = map_medication(
                    resource, resolve=resolver, rxnorm_ig_codes=rxnorm_ig_codes, draft=draft, notes=notes,
                    position=entry.position)
                fact = _append(draft_facts if draft else medications, medication)
            elif kind in PROCEDURE_TYPES:
                procedure = map_procedure(resource, plasma_exchange_snomed=plasma_exchange_snomed, draft=draft)
                fact = _append(draft_facts if draft else procedures, procedure)
            elif draft:
                return
            elif kind == "Observation":
                fact = _append(measurements, _map_observation(resource, codes))
            elif kind == "Condition":
                fact = _append(conditions, map_condition(resource))
            elif kind == "AllergyIntolerance":
                fact = _append(allergies, map_allergy(resource))
        except MappingError as error:
            report.add(entry, kind, [str(error), *(p for p in problems if p != str(error))], Outcome.SKIPPED)
            return
        except RecursionError:
            report.add(entry, kind, ["nested-too-deeply"], Outcome.SKIPPED)
            return
        except Exception:  # a mapper bug on odd input must not lose the whole call
            report.add(entry, kind, ["mapping-failed"], Outcome.SKIPPED)
            return
        if fact is None:
            report.add(entry, kind, problems, Outcome.SKIPPED)  # not used; its problems may be why
        elif problems or notes:
            report.add(entry, kind, problems + notes, Outcome.DEGRADED)

    for entry in entries:
        map_one(entry, False)
    for entry in drafts:
        map_one(entry, True)

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


def _append(target: list, item: object) -> object:  # type: ignore[type-arg]
    if item is not None:
        target.append(item)
    return item


def _map_patient(patient: object, entries: list[_Entry], report: _Report) -> PatientInfo | None:
    """The given Patient, else the first Patient among the resources."""
    entry = _Entry(patient, None, "patient") if isinstance(patient, Mapping) else None
    if entry is None:
        entry = next((e for e in entries if e.resource.get("resourceType") == "Patient"), None)
    if entry is None:
        return None
    if entry.resource.get("resourceType") != "Patient":
        report.add(entry, "Patient", ["not-a-patient"], Outcome.SKIPPED)
        return None
    try:
        resource, problems = read_resource(entry.resource)
        info = map_patient(resource)
    except MappingError as error:
        report.add(entry, "Patient", [str(error)], Outcome.SKIPPED)
        return None
    except Exception:
        report.add(entry, "Patient", ["mapping-failed"], Outcome.SKIPPED)
        return None
    report.add(entry, "Patient", list(problems), Outcome.DEGRADED)
    return info
