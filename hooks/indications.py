"""Indication rules for Ig orders (docs/clinical-rules.md "Order rules").

``order-indication-missing``, ``order-igm-deficiency-not-indicated``, ``order-not-first-line``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from cds_service import Indicator, Suggestion
from fhir_mappings.model import Measure, MedClass, MedicationFact, Route

from . import text
from .catalog import Citation
from .derive.indications import (
    LABELS,
    SIGMD,
    SigmdCriteria,
    ig_orders,
    order_indication,
    order_route,
    recognised_indications,
    sigmd_criteria,
)
from .derive.weights import age
from .findings import Finding
from .knowledge.thresholds import ADULT_AGE, CORTICOSTEROID_DAYS, IGM_LOW
from .suggestions import lab_order, text_lab_order

if TYPE_CHECKING:
    from .facts import Facts, Rule

SEED_003 = Citation("seed document 003 (first-line therapies; no primary source retrieved)")
SIGMD_SOURCE = Citation(
    "seed document 001 — no primary source found; site policy (IgG threshold and "
    "recurrent-infection count); ESID definition of SIgMD (Janssen 2018)"
)


def _drug(order: MedicationFact) -> str:
    return "SCIG" if order_route(order) is Route.SC else "IVIG"


def indication_missing(facts: Facts, order: MedicationFact) -> bool:
    """``order-indication-missing`` fires for ``order``: no indication from the order or the active
    conditions, and the conditions could be read (unread conditions are not reported missing)."""
    if order_indication(facts, order) is not None:
        return False
    return bool(order.reason_concepts) or facts.record.has("conditions")


def order_indication_missing(facts: Facts) -> Iterator[Finding]:
    for order in ig_orders(facts):
        if not indication_missing(facts, order):
            continue
        regimen_less = sorted(
            {
                LABELS[c]
                for cond in facts.record.active_conditions()
                for c in cond.concepts
                if c in ("anti-gbm", "mgus", "cdi")
            }
        )
        summary = f"{_drug(order)} order without a recognised indication: state the reason on the order"
        detail = "\n".join(
            [
                "Neither the order's reason nor the patient's active conditions map to an indication for "
                "immune "
                "globulin, so the dose cannot be judged against a regimen.",
                "",
                "**Recognised indications**: " + ", ".join(recognised_indications()[:-3]) + ".",
                "**Only as the order's own reason** (IVIG is not standard therapy): anti-GBM disease, MGUS, "
                "C. difficile infection.",
                *(
                    [
                        "",
                        "Active conditions that count only as the order's reason: "
                        f"{', '.join(regimen_less)}.",
                    ]
                    if regimen_less
                    else []
                ),
            ]
        )
        yield Finding("order-indication-missing", Indicator.WARNING, summary, detail, about=order.reference)


def _newest_igm(facts: Facts) -> float | None:
    for m in facts.record.measured(Measure.IGM):
        if m.value is not None:
            return m.value
    return None


def _pneumococcal_state(criteria: SigmdCriteria) -> str:
    if criteria.pneumococcal_impaired:
        return "impaired"
    return "assessed, not impaired" if criteria.pneumococcal_assessed else "not assessed"


def order_igm_deficiency_not_indicated(facts: Facts) -> Iterator[Finding]:
    policy = facts.policy
    for order in ig_orders(facts):
        indication = order_indication(facts, order)
        criteria = None
        branch = ""
        if indication is not None and indication.concept == SIGMD:
            branch = f"The indication is selective IgM deficiency (from {indication.where})."
        elif indication is None:
            years = age(facts)
            igm = _newest_igm(facts)
            if years is None or years < ADULT_AGE.value or igm is None or igm >= IGM_LOW.value:
                continue
            criteria = sigmd_criteria(facts)
            if criteria.igg_low:
                continue  # a low pre-treatment IgG is on record: not an isolated low IgM
            branch = (
                f"The order has no indication and the newest IgM is {text.num(igm)} mg/dL "
                f"(below {text.num(IGM_LOW.value)} mg/dL) in an adult: an isolated low IgM."
            )
        else:
            continue
        criteria = criteria or sigmd_criteria(facts)
        if criteria.met:
            continue
        first = criteria.missing[0]
        short = (
            "IgG not low"
            if first.startswith("IgG not low")
            else "no pre-treatment IgG"
            if first.startswith("no pre-treatment")
            else "fewer than 2 severe infections"
            if first.startswith("fewer")
            else first
        )
        summary = f"IgRT for low IgM: criteria not met — {short}"
        if len(criteria.missing) > 1:
            summary += f" (+{len(criteria.missing) - 1} more)"
        pre = criteria.pretreatment_igg
        detail_lines = [
            branch,
            "",
            "**IgRT is indicated in selective IgM deficiency only when** [pre-treatment IgG below "
            f"{text.num(policy.sigmd_igg_threshold_mg_dl)} mg/dL (site policy) **or** a documented impaired "
            "pneumococcal vaccine response] **and** recurrent severe infections "
            f"({policy.recurrent_infections_min} or more episodes in {text.days(policy.infection_window_days)}; "
            "site policy).",
            "",
            "**Missing**:",
            *[f"- {m}" for m in criteria.missing],
            "",
            "**On record**: pre-treatment IgG "
            + (f"{text.num(pre.value or 0)} mg/dL ({text.day(pre.when)})" if pre else "none")
            + f"; pneumococcal response {_pneumococcal_state(criteria)}"
            + f"; severe infection episodes in {text.days(policy.infection_window_days)}: "
            f"{criteria.infection_episodes}.",
            "",
            "IVIG does not correct IgM; isolated low IgM alone should not start IgRT (seed document 001).",
        ]
        suggestions: list[Suggestion] = []
        patient = facts.record.patient
        if patient is not None and facts.record.has("observations"):
            if not criteria.igg_on_record:
                suggestions.append(
                    lab_order(
                        patient.id, "2465-3", "IgG [Mass/volume] in Serum or Plasma", label="Order serum IgG"
                    )
                )
            if not criteria.pneumococcal_assessed:
                suggestions.append(
                    text_lab_order(
                        patient.id,
                        "Pneumococcal polysaccharide antibody response (pre- and post-vaccination titres)",
                        loinc=policy.pneumococcal_ab_loinc,
                        label="Order pneumococcal vaccine response assessment",
                    )
                )
        yield Finding(
            "order-igm-deficiency-not-indicated",
            Indicator.WARNING,
            summary,
            "\n".join(detail_lines),
            about=order.reference,
            suggestions=tuple(suggestions),
            source=SIGMD_SOURCE,
        )


_FIRST_LINE = {
    "anti-gbm": ("anti-GBM disease", "cyclophosphamide + corticosteroids + plasma exchange"),
    "mgus": (
        "MGUS-related disease",
        "treat the clone (rituximab for IgM-related disease; anti-myeloma agents otherwise)",
    ),
    "cdi": (
        "C. difficile infection",
        "IVIG only as an adjunct in multiple recurrent or fulminant disease; "
        "standard CDI antibiotic therapy first",
    ),
}


def _corticosteroid_tried(facts: Facts) -> bool:
    for draft in facts.record.draft_orders:
        if isinstance(draft, MedicationFact) and MedClass.CORTICOSTEROID in draft.classes:
            return True
    for med in facts.record.medications:
        if MedClass.CORTICOSTEROID not in med.classes:
            continue
        if med.status == "active":
            return True
        last = med.until or med.when
        if (
            last is not None
            and 0 <= text.days_ago(last, facts.now) <= CORTICOSTEROID_DAYS.value
            and med.resource_type in ("MedicationAdministration", "MedicationStatement")
        ):
            return True
    return False


def order_not_first_line(facts: Facts) -> Iterator[Finding]:
    for order in ig_orders(facts):
        reasons = order.reason_concepts
        key = next((k for k in ("anti-gbm", "mgus", "cdi") if k in reasons), None)
        if key == "cdi" and "cdi-recurrent" in reasons:
            key = None
        if key is not None:
            label, therapy = _FIRST_LINE[key]
            summary = f"IVIG is not first-line for {label}: {therapy.split(';')[0]}"
            detail = (
                f"The order's reason is **{label}**. First-line therapy: {therapy}.\n\n"
                "IVIG is not standard therapy for this indication (seed document 003)."
                + (" Recurrent CDI (A04.71 / SNOMED 789685005) is not flagged." if key == "cdi" else "")
            )
            yield Finding(
                "order-not-first-line",
                Indicator.INFO,
                summary,
                detail,
                about=order.reference,
                source=SEED_003,
            )
            continue
        indication = order_indication(facts, order)
        if indication is None or indication.concept != "autoimmune-encephalitis":
            continue
        if not facts.record.has("medications") or _corticosteroid_tried(facts):
            continue
        summary = (
            "Autoimmune encephalitis: high-dose methylprednisolone first; IVIG if no improvement or severe"
        )
        detail = (
            "No corticosteroid (methylprednisolone, prednisolone, prednisone, dexamethasone) is ordered, "
            f"active, or given in the last {text.days(int(CORTICOSTEROID_DAYS.value))}.\n\n"
            "First-line therapy for autoimmune encephalitis is high-dose corticosteroids "
            "(methylprednisolone); add IVIG or plasma exchange if there is no improvement, or combine from "
            "the start in severe presentations (seed document 003)."
        )
        yield Finding(
            "order-not-first-line", Indicator.INFO, summary, detail, about=order.reference, source=SEED_003
        )


ORDER_RULES = (order_indication_missing, order_igm_deficiency_not_indicated, order_not_first_line)
PATIENT_VIEW_RULES: tuple[Rule, ...] = ()
