"""The patient's data for the companion, read with the session's access token and mapped as the rules map it.

The app asks the EHR's FHIR server the same searches the order services prefetch
(``hooks.services.prefetch``), limited to the resource types its scopes cover, through the same client
and paging code (``cds_service.prefetch.resolve_prefetch``), and builds the same :class:`~hooks.facts.Facts`
(``facts_from_request``) from them: the chart and the cards read one record, mapped by ``fhir_mappings``
with the same unit conversions, the same trough and dose definitions and the same site policy.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from cds_service import Config, HookRequest
from cds_service.fhir_client import Deadline, FhirClient, FhirClientSettings
from cds_service.prefetch import resolve_prefetch
from cds_service.registry import ServiceDefinition
from fhir_mappings.model import MedicationFact

from ..derive.indications import is_ig_order
from ..facts import Facts, facts_from_request
from ..services.prefetch import ORDER_PREFETCH
from .errors import EhrUnavailable, NotFound
from .settings import READ_TYPES

#: The order services' searches for the resource types the app's scopes cover; none required (a search the
#: token does not allow leaves its data category "unavailable", which the views say).
COMPANION_READS = {
    key: dataclasses.replace(spec, required=False)
    for key, spec in ORDER_PREFETCH.items()
    if spec.template.split("/", 1)[0].split("?", 1)[0] in READ_TYPES
}
#: ``resolve_prefetch`` takes a service declaration; this one only names the searches (it serves nothing).
_READER = ServiceDefinition(
    id="igcds-companion",
    hook="order-select",
    title="igcds companion reads",
    description="The searches the companion app runs with its own access token.",
    handler=lambda request: (),
    prefetch=COMPANION_READS,
)


@dataclass(frozen=True, slots=True)
class PatientData:
    facts: Facts
    #: The order the view is about (draft from appContext, or read from the FHIR server), if any.
    order: MedicationFact | None
    #: Data categories that could not be read (no scope, server error): the views say so.
    unavailable: frozenset[str]
    #: The patient's name as the EHR records it (shown so the clinician can check whose chart it is).
    name: str


def display_name(patient: object) -> str:
    """``name[0].text``, else given names and family name of the first (official first) name."""
    names = patient.get("name") if isinstance(patient, Mapping) else None
    if not isinstance(names, list):
        return "(no name on record)"
    usable = [n for n in names if isinstance(n, Mapping)]
    usable.sort(key=lambda n: n.get("use") != "official")
    for name in usable:
        if isinstance(name.get("text"), str) and name["text"].strip():
            return str(name["text"]).strip()[:200]
        given = [g for g in name.get("given") or [] if isinstance(g, str)]
        family = name.get("family") if isinstance(name.get("family"), str) else ""
        joined = " ".join([*given, str(family)]).strip()
        if joined:
            return joined[:200]
    return "(no name on record)"


def fhir_client(config: Config, iss: str, access_token: str) -> FhirClient:
    return FhirClient(
        iss,
        access_token=access_token,
        deadline=Deadline(config.fhir.deadline_s),
        settings=FhirClientSettings.from_config(config.fhir),
    )


def _subject_is(resource: Mapping[str, Any], patient_id: str) -> bool:
    subject = resource.get("subject")
    reference = subject.get("reference") if isinstance(subject, Mapping) else None
    return reference in (f"Patient/{patient_id}", None)


def read_patient(
    config: Config,
    client: FhirClient,
    patient_id: str,
    *,
    order_reference: str | None = None,
    draft: Mapping[str, Any] | None = None,
    now: datetime | None = None,
) -> PatientData:
    """Everything one view needs; ``draft`` (from appContext) wins over reading ``order_reference``."""
    context: dict[str, Any] = {"patientId": patient_id}
    order_resource: Mapping[str, Any] | None = None
    if draft is not None:
        if draft.get("resourceType") != "MedicationRequest" or not _subject_is(draft, patient_id):
            raise NotFound("The order passed by the EHR is not a MedicationRequest of this patient.")
        order_resource = draft
    elif order_reference:
        kind, _, ident = order_reference.partition("/")
        if kind != "MedicationRequest" or not ident:
            raise NotFound("The order to plan must be a MedicationRequest.")
        order_resource = client.read(order_reference)
        if order_resource is None or not _subject_is(order_resource, patient_id):
            raise NotFound("The order could not be read from the EHR's FHIR server for this patient.")
    if order_resource is not None:
        order_id = order_resource.get("id") or "companion-order"
        # The order is judged like a selected draft: the rules' dose context reads it the same way.
        context["draftOrders"] = {"resourceType": "Bundle", "type": "collection",
                                  "entry": [{"resource": {**order_resource, "id": order_id}}]}
        context["selections"] = [f"MedicationRequest/{order_id}"]
    resolution = resolve_prefetch(_READER, context, None, client, max_pages=config.fhir.max_pages)
    if "patient" in resolution.unavailable:
        raise EhrUnavailable("The patient could not be read from the EHR's FHIR server.")
    request = HookRequest(
        service_id=_READER.id,
        hook="order-select",
        hook_instance=str(uuid.uuid4()),
        context=context,
        data=resolution.data,
        unavailable=frozenset(resolution.unavailable),
        now=now or datetime.now(UTC),
        fhir_server=client.base_url,
        fhir=client,
        settings=config.sections,
    )
    facts = facts_from_request(request)
    order = next((o for o in facts.record.draft_orders if isinstance(o, MedicationFact)), None)
    if order_resource is not None and (order is None or not is_ig_order(order)):
        raise NotFound("The order is not an immune globulin order igcds can plan.")
    return PatientData(facts, order, facts.record.unavailable, display_name(resolution.data.get("patient")))


def active_ig_orders(facts: Facts) -> list[MedicationFact]:
    """The patient's active Ig orders the dose plan offers to open: Ig orders by the same test a launched
    order must pass (``is_ig_order``: an intramuscular one would open on "not an order igcds can plan")."""
    return [m for m in facts.record.medications if is_ig_order(m) and m.status == "active" and m.id]
