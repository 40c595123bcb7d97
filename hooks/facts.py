"""Facts: the one object every rule function receives.

Built once per call from the resolved prefetch and the hook context: the patient's
``ClinicalRecord`` (mapped by ``fhir_mappings``), the explicit "now" of the call, and the site
policy. Rules are pure functions ``Facts -> Iterable[Finding]``; nothing else reaches them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cds_service import HookRequest
from fhir_mappings import ClinicalRecord, build_record

from .policy import Policy
from .services.prefetch import KEY_CATEGORIES


@dataclass(frozen=True, slots=True)
class Facts:
    record: ClinicalRecord
    now: datetime
    policy: Policy
    #: The hook being served ("order-select", "order-sign", "patient-view").
    hook: str


def _resources(value: Any) -> Iterable[Mapping[str, Any]]:
    if isinstance(value, Mapping):
        yield value


def facts_from_request(request: HookRequest) -> Facts:
    policy: Policy = request.settings.get("policy") or Policy()
    data = request.data
    patient = data.get("patient")
    resources: list[Mapping[str, Any]] = []
    for key, value in data.items():
        if key != "patient":
            resources.extend(_resources(value))
    drafts: list[Mapping[str, Any]] = []
    draft_bundle = request.context.get("draftOrders")
    if isinstance(draft_bundle, Mapping):
        drafts = [e.get("resource") for e in draft_bundle.get("entry") or []
                  if isinstance(e, Mapping) and isinstance(e.get("resource"), Mapping)]
    unavailable = frozenset(KEY_CATEGORIES.get(k, k) for k in request.unavailable)
    index = _reference_index(resources, drafts)

    def resolve(reference: str) -> Mapping[str, Any] | None:
        found = index.get(reference)
        if found is None and request.fhir is not None:
            found = request.fhir.read(reference)
        return found

    record = build_record(
        patient=patient if isinstance(patient, Mapping) and patient.get("resourceType") == "Patient" else None,
        resources=resources,
        draft_orders=drafts,
        selections=tuple(request.context.get("selections") or ()),
        unavailable=unavailable,
        resolve=resolve,
        rxnorm_ig_codes=policy.ig_rxnorm_codes,
        plasma_exchange_snomed=policy.plasma_exchange_snomed_codes,
    )
    return Facts(record=record, now=request.now, policy=policy, hook=request.hook)


def _reference_index(*groups: Iterable[Mapping[str, Any]]) -> dict[str, Mapping[str, Any]]:
    """``Type/id`` -> resource, over prefetch Bundles and draft orders (medicationReference)."""
    index: dict[str, Mapping[str, Any]] = {}
    for group in groups:
        for item in group:
            entries = item.get("entry") if item.get("resourceType") == "Bundle" else None
            for resource in ([e.get("resource") for e in entries if isinstance(e, Mapping)]
                             if isinstance(entries, list) else [item]):
                if isinstance(resource, Mapping) and isinstance(resource.get("id"), str):
                    index[f"{resource.get('resourceType')}/{resource['id']}"] = resource
    return index
