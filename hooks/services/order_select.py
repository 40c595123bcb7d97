"""``ig-order-select``: judges the orders the clinician has just selected.

The other draft orders of the session are context only (e.g. an IV Ig order beside a plasma
exchange); the selections are what the cards are about (docs/clinical-rules.md "order-select").
"""

from __future__ import annotations

from cds_service import HookRequest, ServiceDefinition, ServiceResponse

from .common import respond
from .prefetch import ORDER_PREFETCH
from .rulesets import ORDER_RULES


def handle(request: HookRequest) -> ServiceResponse:
    return respond(request, ORDER_RULES)


SERVICE = ServiceDefinition(
    id="ig-order-select",
    hook="order-select",
    title="Immunoglobulin order check (on selection)",
    description=(
        "Checks selected IVIG/SCIG orders (indication, weight-based dose, interval, dosing weight, "
        "SC conversion, contraindications, thrombosis and renal risk) and the selected live vaccines, "
        "plasma exchange and anti-CD20 orders around immunoglobulin therapy."
    ),
    handler=handle,
    prefetch=ORDER_PREFETCH,
    usage_requirements="Weight, laboratory results and conditions are needed: prefetch them or give fhirServer.",
)
