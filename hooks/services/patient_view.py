"""``ig-patient-view``: surveillance when a chart is opened.

Quiet by design: a patient with none of the watched conditions (hyper-IgM syndrome, selective IgM
deficiency, replacement IgRT, anti-CD20 therapy) gets no card at all.
"""

from __future__ import annotations

from cds_service import HookRequest, ServiceDefinition, ServiceResponse

from .common import respond
from .prefetch import PATIENT_VIEW_PREFETCH
from .rulesets import PATIENT_VIEW_RULES


def handle(request: HookRequest) -> ServiceResponse:
    return respond(request, PATIENT_VIEW_RULES)


SERVICE = ServiceDefinition(
    id="ig-patient-view",
    hook="patient-view",
    title="Immunoglobulin therapy surveillance",
    description=(
        "On opening the chart of a patient with hyper-IgM syndrome, selective IgM deficiency, Ig "
        "replacement therapy or anti-CD20 therapy: IgRT, PJP prophylaxis, transplant referral, "
        "work-up, trough IgG and hepatitis B screening reminders."
    ),
    handler=handle,
    prefetch=PATIENT_VIEW_PREFETCH,
)
