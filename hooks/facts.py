"""Facts: the one object every rule function receives.

Built once per call from the resolved prefetch and the hook context: the patient's
``ClinicalRecord`` (mapped by ``fhir_mappings``), the explicit "now" of the call, and the site
policy. Rules are pure functions ``Facts -> Iterable[Finding]``; nothing else reaches them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from cds_service import HookRequest
from fhir_mappings import ClinicalRecord, build_record

from .derive.ml_doses import with_ml_doses
from .findings import Finding
from .policy import Policy
from .services.prefetch import KEY_CATEGORIES


@dataclass(frozen=True, slots=True)
class Facts:
    record: ClinicalRecord
    now: datetime
    policy: Policy
    #: The hook being served ("order-select", "order-sign", "patient-view").
    hook: str


#: A rule: a pure function of one call's facts to its findings (each module lists its rules in
#: ``ORDER_RULES`` / ``PATIENT_VIEW_RULES``; ``services.common.run_rules`` runs them).
Rule = Callable[[Facts], Iterable[Finding]]


def facts_from_request(request: HookRequest) -> Facts:
    """Map the call's data once. ``build_record`` itself resolves ``medicationReference`` from
    contained resources, the prefetched resources and the draft orders; only what none of them
    holds is read from the EHR's FHIR server. Ig doses in mL are then read in g where the product's
    concentration is known (``derive.ml_doses``)."""
    policy: Policy = request.settings.get("policy") or Policy()
    patient = request.data.get("patient")
    drafts = request.context.get("draftOrders")
    record = build_record(
        patient=patient if isinstance(patient, Mapping) and patient.get("resourceType") == "Patient" else None,
        resources={k: v for k, v in request.data.items() if k != "patient" and isinstance(v, Mapping)},
        draft_orders=drafts if isinstance(drafts, Mapping) else (),
        selections=tuple(request.context.get("selections") or ()),
        unavailable=frozenset(KEY_CATEGORIES.get(k, k) for k in request.unavailable),
        resolve=request.fhir.read if request.fhir is not None else None,
        rxnorm_ig_codes=policy.ig_rxnorm_codes,
        plasma_exchange_snomed=policy.plasma_exchange_snomed_codes,
    )
    return Facts(record=with_ml_doses(record), now=request.now, policy=policy, hook=request.hook)
