"""SMART links from igcds cards to the companion app (CDS Hooks 2.0 Link, ``type: smart``).

Dose cards open the *dose plan* of their order; trough and IgRT cards open the *IgG trend*. The link's
``url`` is the app's launch URL (the EHR adds ``launch`` and ``iss``), and ``appContext`` is a small
JSON object the EHR hands back to the app in its token response (SMART App Launch; CDS Hooks §Link)::

    {"view": "dose-plan", "order": "MedicationRequest/123", "draft": {<the draft MedicationRequest>}}

``draft`` carries an order-select/order-sign draft as the EHR sent it: a draft is usually not on the
FHIR server yet, so the app could not read it there (the trend uses it too: the trough target follows the
order's indication, as on the trough cards). Links are added only when ``[app] enabled``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import orjson

from cds_service import Link, LinkType

from ..catalog import CATALOG
from .settings import AppSettings

if TYPE_CHECKING:
    from ..facts import Facts
    from ..findings import Finding

TREND = "trend"
DOSE_PLAN = "dose-plan"
VIEWS = (TREND, DOSE_PLAN)

#: Cards about the dose of an order: every rule of the dosing theme.
DOSE_PLAN_RULES = frozenset(spec.id for spec in CATALOG if spec.theme == "dosing")
#: Cards about trough IgG and Ig replacement (IgRT): the IgG trend is what they are judged on.
TREND_RULES = frozenset({
    "order-trough-due",
    "order-trough-below-target",
    "pv-trough-due",
    "pv-trough-below-target",
    "pv-higm-no-igrt",
    "pv-igm-deficiency-igrt-review",
    "pv-igm-deficiency-monitor",
})
#: A draft larger than this (JSON bytes) is named by reference only, to keep cards small.
MAX_DRAFT_BYTES = 16_384

LABELS = {TREND: "Open the IgG trend (igcds companion app)", DOSE_PLAN: "Open the dose plan (igcds companion app)"}


def view_for(rule: str, about: str | None) -> str | None:
    """The view a card of ``rule`` links to (None: no link)."""
    if rule in DOSE_PLAN_RULES and about and about.startswith("MedicationRequest/"):
        return DOSE_PLAN
    if rule in TREND_RULES:
        return TREND
    return None


def app_context(view: str, order: str | None = None, draft: Mapping[str, Any] | None = None) -> str:
    context: dict[str, Any] = {"view": view}
    if order:
        context["order"] = order
    if draft is not None:
        context["draft"] = dict(draft)
    return orjson.dumps(context).decode()


def _draft_of(facts: Facts, reference: str) -> Mapping[str, Any] | None:
    for order in facts.record.draft_orders:
        if getattr(order, "reference", None) == reference:
            raw = getattr(order, "raw", None)
            if isinstance(raw, Mapping) and len(orjson.dumps(dict(raw))) <= MAX_DRAFT_BYTES:
                return raw
    return None


def smart_links(finding: Finding, facts: Facts, settings: AppSettings | None) -> tuple[Link, ...]:
    """The companion link of a card, when the app is enabled and the card's rule has a view."""
    if settings is None or not settings.enabled or not settings.launch_url:
        return ()
    view = view_for(finding.rule, finding.about)
    if view is None:
        return ()
    draft = _draft_of(facts, finding.about) if finding.about else None
    return (
        Link(
            label=LABELS[view],
            url=settings.launch_url,
            type=LinkType.SMART,
            app_context=app_context(view, finding.about, draft),
        ),
    )
