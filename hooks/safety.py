"""Safety rules for Ig orders (docs/clinical-rules.md "Order rules", "Resolved details").

``order-anaphylaxis-history``, ``order-iga-deficiency``, ``order-thrombosis-risk``,
``order-renal-risk``, ``order-renal-baseline-missing``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from cds_service import Indicator
from fhir_mappings.model import AllergyFact, Measure, Measurement, MedClass, MedicationFact, Route

from . import text
from .catalog import Citation
from .derive.conditions import active_concepts, recorded_concepts
from .derive.indications import SEVERE_DEFICIENCY, ig_orders, order_route
from .derive.weights import age
from .findings import Finding
from .knowledge.products import low_iga_products, product
from .knowledge.thresholds import (
    EGFR_LOW,
    IGA_ABSENT,
    IGA_MIN_AGE,
    RENAL_AGE,
    RENAL_BASELINE_DAYS,
    RENAL_LAB_DAYS,
    THROMBOSIS_AGE,
)
from .suggestions import lab_order

if TYPE_CHECKING:
    from .facts import Facts, Rule

CONTRAINDICATION = Citation(
    "Immune globulin labels: contraindicated after anaphylaxis or severe systemic reaction "
    "to human immune globulin (Privigen PI; seed document 003)",
    "https://www.privigen.com/",
)
IGA_SOURCE = Citation(
    "Immune globulin labels: IgA deficiency with anti-IgA antibodies and a hypersensitivity "
    "history is a contraindication (Privigen PI; therapeuticresearch.com)"
)
THROMBOSIS_SOURCE = Citation("Boxed warning: thrombosis (Xembify, Panzyga, Qivigy labels; drugs.com)")
RENAL_SOURCE = Citation(
    "Boxed warning: renal dysfunction and acute renal failure (IVIG labels; drugs.com AHFS)"
)


def _drug(order: MedicationFact) -> str:
    return "SCIG" if order_route(order) is Route.SC else "IVIG"


def _is_iv(order: MedicationFact) -> bool:
    """IV for the renal rules (HyQvia is SC)."""
    return order_route(order) is Route.IV


# --- anaphylaxis ------------------------------------------------------------------------------


def _serious_ig_allergy(allergy: AllergyFact) -> bool:
    return (
        allergy.active
        and "immune-globulin" in allergy.concepts
        and (allergy.criticality == "high" or "severe" in allergy.severities or allergy.anaphylaxis)
    )


def order_anaphylaxis_history(facts: Facts) -> Iterator[Finding]:
    if not facts.record.has("allergies"):
        return
    found = [a for a in facts.record.allergies if _serious_ig_allergy(a)]
    if not found:
        return
    allergy = found[0]
    what = (
        "anaphylaxis"
        if allergy.anaphylaxis
        else "severe reaction"
        if "severe" in allergy.severities
        else "high-criticality allergy"
    )
    for order in ig_orders(facts):
        summary = (
            f"Contraindicated: {what} to immune globulin on record — review before giving {_drug(order)}"
        )
        detail = "\n".join(
            [
                f"Active AllergyIntolerance: **{text.quote(allergy.text or 'immune globulin')}** (criticality "
                f"{text.quote(allergy.criticality or 'not stated')}; reactions: "
                f"{text.quote(', '.join(allergy.severities) or 'not stated')}"
                f"{'; anaphylaxis' if allergy.anaphylaxis else ''}).",
                "",
                "Immune globulin is contraindicated in patients with a history of anaphylaxis or severe "
                "systemic "
                "reaction to human immune globulin. If treatment is essential, decide with an immunologist "
                "(product change, premedication, monitored setting with anaphylaxis treatment at hand).",
            ]
        )
        yield Finding(
            "order-anaphylaxis-history",
            Indicator.CRITICAL,
            summary,
            detail,
            about=order.reference,
            source=CONTRAINDICATION,
        )


# --- IgA deficiency ---------------------------------------------------------------------------


def _anti_iga_documented(facts: Facts) -> bool:
    for m in facts.record.measured(Measure.ANTI_IGA):
        if m.positive or any(i in ("POS", "DET", "A", "H") for i in m.interpretation):
            return True
    return "anti-iga-antibodies" in recorded_concepts(facts.record)


def _ig_or_blood_hypersensitivity(facts: Facts) -> AllergyFact | None:
    return next(
        (
            a
            for a in facts.record.allergies
            if a.verification_status not in ("refuted", "entered-in-error")
            and ({"immune-globulin", "blood-product"} & a.concepts)
        ),
        None,
    )


def _newest_iga(facts: Facts) -> Measurement | None:
    for m in facts.record.measured(Measure.IGA):
        if m.value is not None:
            return m
    return None


def _product_advice(order: MedicationFact) -> str:
    lines = ["**Prefer a low-IgA product** (IgA content on file):"]
    lines += [f"- {p.name}: {p.iga_note}" for p in low_iga_products()]
    ordered = product(order.product)
    if ordered is not None:
        lines.append(f"\nOrdered product: **{ordered.name}**, IgA {ordered.iga_note}.")
    lines.append("Other products' IgA content is not on file (check the label).")
    return "\n".join(lines)


def order_iga_deficiency(facts: Facts) -> Iterator[Finding]:
    orders = ig_orders(facts)
    if not orders:
        return
    anti_iga = _anti_iga_documented(facts)
    allergy = _ig_or_blood_hypersensitivity(facts)
    if anti_iga and allergy is not None:
        for order in orders:
            summary = (
                "Contraindicated: anti-IgA antibodies with a hypersensitivity history to Ig or blood products"
            )
            detail = "\n".join(
                [
                    "Anti-IgA antibodies are documented, and there is a hypersensitivity history "
                    f"(**{text.quote(allergy.text or ', '.join(sorted(allergy.concepts)))}**).",
                    "",
                    "Immune globulin is contraindicated in IgA deficiency with anti-IgA antibodies and a "
                    "history of "
                    "hypersensitivity. Only with an immunologist's decision, in a monitored setting.",
                    "",
                    _product_advice(order),
                ]
            )
            yield Finding(
                "order-iga-deficiency",
                Indicator.CRITICAL,
                summary,
                detail,
                about=order.reference,
                source=IGA_SOURCE,
            )
        return
    reason = None
    policy = facts.policy
    active = active_concepts(facts.record)
    if "selective-iga-deficiency" in active:
        reason = "a selective IgA deficiency diagnosis is on record"
    else:
        iga = _newest_iga(facts)
        years = age(facts)
        severe = any(c in active for c in SEVERE_DEFICIENCY)
        if (
            iga is not None
            and iga.value is not None
            and iga.value < IGA_ABSENT.value
            and 0 <= text.days_ago(iga.when, facts.now) <= policy.iga_max_age_days
            and years is not None
            and years > IGA_MIN_AGE.value
            and not severe
        ):
            reason = (
                f"the newest IgA is {text.num(iga.value)} mg/dL ({text.day(iga.when)}; below "
                f"{text.num(IGA_ABSENT.value)} mg/dL, measured within {text.days(policy.iga_max_age_days)} — "
                "site policy)"
            )
    if reason is None:
        return
    for order in orders:
        summary = f"IgA deficiency: anaphylaxis risk with {_drug(order)} — prefer a low-IgA product"
        detail = "\n".join(
            [
                f"Caution: {reason}.",
                "",
                "IgA-deficient patients have a higher risk of anaphylaxis, especially with IgA-rich "
                "products. "
                + (
                    "Anti-IgA antibodies are documented (no hypersensitivity history on record). "
                    if anti_iga
                    else ""
                )
                + "Infuse slowly at first and be ready to treat anaphylaxis.",
                "",
                _product_advice(order),
            ]
        )
        yield Finding(
            "order-iga-deficiency",
            Indicator.WARNING,
            summary,
            detail,
            about=order.reference,
            source=IGA_SOURCE,
        )


# --- thrombosis -------------------------------------------------------------------------------

_THROMBOSIS_CONDITIONS = (
    ("venous-thrombosis", "venous thrombosis or embolism", True),
    ("arterial-thrombosis", "arterial thrombosis", True),
    ("thrombophilia", "thrombophilia", False),
    ("immobility", "immobility", False),
    ("central-venous-catheter", "central venous catheter", False),
    ("paraproteinemia", "paraproteinemia (hyperviscosity)", False),
    ("hypertension", "hypertension", False),
    ("diabetes", "diabetes", False),
    ("hyperlipidemia", "hyperlipidemia", False),
    ("coronary-disease", "coronary disease", False),
    ("nicotine-dependence", "nicotine dependence", False),
)


def _active_med(facts: Facts, med_class: MedClass) -> MedicationFact | None:
    for med in (*facts.record.medications, *facts.record.draft_orders):
        if (
            isinstance(med, MedicationFact)
            and med_class in med.classes
            and (med.draft or med.status == "active")
        ):
            return med
    return None


def thrombosis_risk_factors(facts: Facts) -> list[str]:
    found: list[str] = []
    years = age(facts)
    if years is not None and years >= THROMBOSIS_AGE.value:
        found.append(f"age {years} (≥ {int(THROMBOSIS_AGE.value)})")
    active, recorded = active_concepts(facts.record), recorded_concepts(facts.record)
    for concept, label, history_counts in _THROMBOSIS_CONDITIONS:
        if concept in (recorded if history_counts else active):
            found.append(label + (" (current or history)" if history_counts else ""))
    estrogen = _active_med(facts, MedClass.ESTROGEN)
    if estrogen is not None:
        found.append(f"estrogen-containing medication ({text.quote(estrogen.name or 'estrogen')})")
    return found


def order_thrombosis_risk(facts: Facts) -> Iterator[Finding]:
    orders = ig_orders(facts)
    if not orders:
        return
    factors = thrombosis_risk_factors(facts)
    if not factors:
        return
    for order in orders:
        summary = _listing(f"Thrombosis risk with {_drug(order)}: ", factors)
        detail = "\n".join(
            [
                "**Risk factors found**:",
                *[f"- {f}" for f in factors],
                "",
                "Boxed warning: thrombosis may occur with immune globulin products, also without risk "
                "factors. "
                "For patients at risk: give the **lowest practicable dose at the minimum practicable "
                "infusion rate**, "
                "ensure **adequate hydration before** administration, and monitor for signs of thrombosis; "
                "assess "
                "blood viscosity where hyperviscosity is possible.",
            ]
        )
        yield Finding(
            "order-thrombosis-risk",
            Indicator.WARNING,
            summary,
            detail,
            about=order.reference,
            source=THROMBOSIS_SOURCE,
        )


def _listing(prefix: str, factors: list[str]) -> str:
    """``prefix`` + the factors without their parenthesised details, as many as fit in a summary.

    Every factor ends with its detail, " (...)", which may quote client text (a medication name): cut
    at the first " (" in one linear pass, never a backtracking pattern over client text."""
    short = [f.partition(" (")[0] for f in factors]
    for shown in range(len(short), 0, -1):
        rest = len(short) - shown
        text_ = prefix + ", ".join(short[:shown]) + (f" and {rest} more" if rest else "")
        if len(text_) < 140:
            return text_
    return prefix + f"{len(short)} risk factors"


# --- renal ------------------------------------------------------------------------------------


def _newest(facts: Facts, measure: Measure) -> Measurement | None:
    for m in facts.record.measured(measure):
        if m.value is not None:
            return m
    return None


def renal_risk_factors(facts: Facts) -> list[str]:
    found: list[str] = []
    window = RENAL_LAB_DAYS.value
    egfr = _newest(facts, Measure.EGFR)
    if (
        egfr is not None
        and 0 <= text.days_ago(egfr.when, facts.now) <= window
        and (egfr.value or 0) < EGFR_LOW.value
    ):
        found.append(f"eGFR {text.num(egfr.value or 0)} ({text.day(egfr.when)}; < {int(EGFR_LOW.value)})")
    creatinine = _newest(facts, Measure.CREATININE)
    if (
        creatinine is not None
        and 0 <= text.days_ago(creatinine.when, facts.now) <= window
        and creatinine.above_reference
    ):
        found.append(
            f"creatinine {text.num(creatinine.value or 0, 2)} mg/dL above the reference range "
            f"({text.day(creatinine.when)})"
        )
    active = active_concepts(facts.record)
    if "diabetes" in active:
        found.append("diabetes")
    years = age(facts)
    if years is not None and years > RENAL_AGE.value:
        found.append(f"age {years} (> {int(RENAL_AGE.value)})")
    if "volume-depletion" in active:
        found.append("volume depletion")
    if "sepsis" in active:
        found.append("active sepsis")
    if "paraproteinemia" in active:
        found.append("paraproteinemia")
    nephrotoxic = _active_med(facts, MedClass.NEPHROTOXIC)
    if nephrotoxic is not None:
        found.append(f"nephrotoxic drug ({text.quote(nephrotoxic.name or 'nephrotoxic')})")
    return found


def order_renal_risk(facts: Facts) -> Iterator[Finding]:
    orders = [o for o in ig_orders(facts) if _is_iv(o)]
    if not orders:
        return
    factors = renal_risk_factors(facts)
    if not factors:
        return
    for order in orders:
        ordered = product(order.product)
        summary = _listing("Renal risk with IVIG: ", factors)
        sucrose = (
            f"\n\n**{ordered.name} is sucrose-stabilised**: choose a sucrose-free product."
            if ordered is not None and ordered.sucrose
            else ""
        )
        detail = (
            "\n".join(
                [
                    "**Renal risk factors found**:",
                    *[f"- {f}" for f in factors],
                    "",
                    "Boxed warning: renal dysfunction and acute renal failure, more common with "
                    "**sucrose-stabilised** "
                    "products — avoid them. Give the minimum dose at the **minimum practicable rate** (e.g. "
                    "Panzyga and "
                    "Octagam: at most 3.3 mg/kg/min when at risk), ensure hydration, and **monitor "
                    "creatinine** (and "
                    "urine output) before and after the infusion.",
                ]
            )
            + sucrose
        )
        yield Finding(
            "order-renal-risk",
            Indicator.WARNING,
            summary,
            detail,
            about=order.reference,
            source=RENAL_SOURCE,
        )


def order_renal_baseline_missing(facts: Facts) -> Iterator[Finding]:
    if not facts.record.has("observations"):
        return
    orders = [o for o in ig_orders(facts) if _is_iv(o)]
    if not orders:
        return
    window = RENAL_BASELINE_DAYS.value
    recent = [
        m
        for measure in (Measure.CREATININE, Measure.EGFR)
        for m in facts.record.measured(measure)
        if m.value is not None and 0 <= text.days_ago(m.when, facts.now) <= window
    ]
    if recent:
        return
    newest = max(
        (
            m
            for measure in (Measure.CREATININE, Measure.EGFR)
            for m in facts.record.measured(measure)
            if m.value is not None
        ),
        key=lambda m: m.when,
        default=None,
    )
    patient = facts.record.patient
    for order in orders:
        summary = f"No creatinine or eGFR in the last {text.days(int(window))} before IVIG: check renal function"
        detail = (
            f"No serum creatinine or eGFR result in the last {text.days(int(window))}"
            + (
                f" (newest {text.day(newest.when)}, {text.days(text.days_ago(newest.when, facts.now))} ago)."
                if newest
                else " (none on record)."
            )
            + "\n\nIVIG labels advise checking BUN and serum creatinine before therapy (renal boxed warning)."
        )
        suggestions = (
            (
                lab_order(
                    patient.id,
                    "2160-0",
                    "Creatinine [Mass/volume] in Serum or Plasma",
                    label="Order serum creatinine",
                    note="Baseline before IV immune globulin",
                ),
            )
            if patient is not None
            else ()
        )
        yield Finding(
            "order-renal-baseline-missing",
            Indicator.INFO,
            summary,
            detail,
            about=order.reference,
            suggestions=suggestions,
            source=RENAL_SOURCE,
        )


ORDER_RULES = (
    order_anaphylaxis_history,
    order_iga_deficiency,
    order_thrombosis_risk,
    order_renal_risk,
    order_renal_baseline_missing,
)
PATIENT_VIEW_RULES: tuple[Rule, ...] = ()
