"""``ig-order-sign``: judges every draft order just before signing."""

from __future__ import annotations

from cds_service import HookRequest, ServiceDefinition, ServiceResponse

from .common import respond
from .prefetch import ORDER_PREFETCH
from .rulesets import ORDER_RULES


def handle(request: HookRequest) -> ServiceResponse:
    return respond(request, ORDER_RULES)


SERVICE = ServiceDefinition(
    id="ig-order-sign",
    hook="order-sign",
    title="Immunoglobulin order check (at signing)",
    description=(
        "Checks every draft IVIG/SCIG order before signing (indication, dose, interval, dosing weight, "
        "SC conversion, contraindications, thrombosis and renal risk, monitoring) and the live vaccines, "
        "plasma exchange and anti-CD20 orders around immunoglobulin therapy."
    ),
    handler=handle,
    prefetch=ORDER_PREFETCH,
    usage_requirements="Weight, laboratory results and conditions are needed: prefetch them or give fhirServer.",
)
