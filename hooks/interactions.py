"""Interactions theme: Ig with plasma exchange, live vaccines and anti-CD20 therapy (docs/clinical-rules.md).

Rules are pure functions ``Facts -> Iterable[Finding]``. Order rules judge only
``record.orders_to_judge()`` (the selected drafts at order-select); every other draft is context.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING

from cds_service import Indicator, SelectionBehavior, Suggestion
from fhir_mappings.model import (
    ClinicalRecord,
    Measure,
    Measurement,
    MedClass,
    MedicationFact,
    ProcedureFact,
    Route,
)

from . import text
from .catalog import ACIP_ALTERED_IMMUNO, ACIP_INTERVALS
from .derive import igrt
from .findings import Finding
from .knowledge import monitoring as mk
from .knowledge import vaccines as vk
from .suggestions import lab_order, text_lab_order

if TYPE_CHECKING:  # hooks.facts imports the services, which import this module
    from .facts import Facts, Rule

_NOT_GIVEN = frozenset({"not-done", "entered-in-error", "not-taken", "cancelled", "intended"})


def _patient_id(facts: Facts) -> str:
    patient = facts.record.patient
    return patient.id if patient is not None else "unknown"


def _med_name(med: MedicationFact, fallback: str) -> str:
    """The order's name without a parenthesised gloss ("MMR vaccine (measles, ...)" -> "MMR vaccine"),
    quoted for a card (client text: ``text.quote``)."""
    name = med.name or next((code.display for code in med.codes if code.display), None) or fallback
    return text.quote(name.split(" (")[0].strip() or name)


# --- order-plasma-exchange-after-ivig ---------------------------------------------------------------


def _is_iv(med: MedicationFact) -> bool:
    """docs/clinical-rules.md Terms "Route": IV unless the order (or product) says SC; IM Ig is never an Ig order."""
    return med.route is not Route.SC


@dataclass(frozen=True, slots=True)
class _RecentIvIg:
    what: str
    when: datetime | None


def _recent_iv_ig(facts: Facts) -> list[_RecentIvIg]:
    """IV Ig administered (≤ 14 days), IV Ig MedicationRequest authored (≤ 14 days), or IV Ig drafts."""
    window = mk.PLASMA_EXCHANGE_WINDOW_DAYS
    found: list[_RecentIvIg] = []
    for dose in igrt.doses_within(facts, window):
        if dose.is_iv:
            amount = f" {text.grams(dose.grams)}" if dose.grams is not None else ""
            found.append(_RecentIvIg(f"IV Ig{amount} given", dose.last_day))
    for med in facts.record.medications:
        if (
            med.is_ig
            and not med.draft
            and med.resource_type == "MedicationRequest"
            and _is_iv(med)
            and med.when is not None
            and med.status not in ("entered-in-error", "cancelled")
            and 0 <= text.days_ago(med.when, facts.now) <= window
        ):
            found.append(_RecentIvIg(f"IV Ig order ({_med_name(med, 'immune globulin')}) authored", med.when))
    for draft in facts.record.draft_orders:
        if isinstance(draft, MedicationFact) and draft.is_ig and _is_iv(draft):
            found.append(
                _RecentIvIg(
                    f"IV Ig order ({_med_name(draft, 'immune globulin')}) in these draft orders", None
                )
            )
    return found


def plasma_exchange_after_ivig(facts: Facts) -> Iterator[Finding]:
    """Draft plasma exchange while IV Ig was given/ordered in the last 14 days (inclusive) or is drafted."""
    exchanges = [
        o
        for o in facts.record.orders_to_judge()
        if isinstance(o, ProcedureFact) and "plasma-exchange" in o.concepts
    ]
    if not exchanges:
        return
    recent = _recent_iv_ig(facts)
    if not recent:
        return
    dated = sorted((r for r in recent if r.when is not None), key=lambda r: r.when or facts.now, reverse=True)
    newest = dated[0] if dated else recent[0]
    if newest.when is not None:
        ago = text.days_ago(newest.when, facts.now)
        when = text.day(newest.when)
        summary = f"Plasma exchange {text.days(ago)} after IVIG ({when}) would remove the IVIG just given"
    else:
        summary = "Plasma exchange ordered with IVIG in the same orders: exchange removes the IVIG"
    lines = "\n".join(
        f"- {r.what}"
        + (f" on {text.day(r.when)} ({text.days(text.days_ago(r.when, facts.now))} ago)" if r.when else "")
        for r in recent
    )
    detail = (
        "Plasma exchange removes immunoglobulin already given and cancels its effect; do not start plasma "
        f"exchange straight after IVIG (window: {text.days(mk.PLASMA_EXCHANGE_WINDOW_DAYS)}, inclusive).\n\n"
        f"IV immune globulin found:\n{lines}\n\n"
        "Choose one therapy, or sequence plasma exchange before IVIG.\n\n"
        f"Source: {mk.PLASMA_EXCHANGE_SOURCE.label}."
    )
    for order in exchanges:
        yield Finding(
            "order-plasma-exchange-after-ivig",
            Indicator.WARNING,
            summary,
            detail,
            about=f"{order.resource_type}/{order.id}" if order.id else None,
        )


# --- order-live-vaccine ---------------------------------------------------------------------------------


def _live_vaccine_orders(facts: Facts) -> list[MedicationFact]:
    return [
        o
        for o in facts.record.orders_to_judge()
        if isinstance(o, MedicationFact) and MedClass.LIVE_VACCINE in o.classes
    ]


def _condition_names(record: ClinicalRecord, concept: str) -> list[str]:
    names = []
    for c in record.active_conditions():
        if concept in c.concepts:
            label = (
                c.text
                or next((code.display for code in c.codes if code.display), None)
                or next((code.code for code in c.codes), concept)
            )
            names.append(text.quote(label))
    return names


@dataclass(frozen=True, slots=True)
class Deferral:
    """The CDC interval owed to one Ig course: the vaccine can be given from ``first_day``."""

    course: igrt.IgCourse
    band: vk.DeferralBand
    first_day: date


def live_vaccine_deferral(facts: Facts) -> Deferral | None:
    """The latest still-running CDC interval after an Ig course, or None when none is running."""
    running: list[Deferral] = []
    for course in igrt.ig_courses(facts):
        band = vk.deferral_band(course.total_mg_per_kg)
        first_day = vk.add_months(course.last.date(), band.months)
        if facts.now.date() < first_day:
            running.append(Deferral(course, band, first_day))
    return max(running, key=lambda d: d.first_day) if running else None


def live_vaccine(facts: Facts) -> Iterator[Finding]:
    """docs/clinical-rules.md ``order-live-vaccine`` (critical by deficiency/IgRT; warning within the CDC interval)."""
    orders = _live_vaccine_orders(facts)
    if not orders:
        return
    record = facts.record
    severe = _condition_names(record, "replacement-severe")
    less_severe = _condition_names(record, "replacement-less-severe")
    on_igrt = igrt.on_igrt(facts)
    for order in orders:
        name = _med_name(order, "live vaccine")
        about = order.reference
        if severe or on_igrt:
            reasons = []
            if severe:
                reasons.append("severe antibody deficiency: " + ", ".join(severe))
            if on_igrt:
                reasons.append("on immunoglobulin replacement therapy")
            summary = f"Live vaccine {name} contraindicated: " + ("; ".join(reasons))
            detail = (
                f"**{name}** is a live vaccine. The patient has " + " and ".join(reasons) + ".\n\n"
                f"{vk.ACIP_LIVE_VACCINE_CATEGORIES[0].text}\n\n"
                "Seed document 000 (hyper-IgM): avoid live vaccines.\n\n"
                f"Source: {ACIP_ALTERED_IMMUNO.label}; seed document 000."
            )
            yield Finding(
                "order-live-vaccine",
                Indicator.CRITICAL,
                summary,
                detail,
                about=about,
                source=ACIP_ALTERED_IMMUNO,
            )
            continue
        if MedClass.OPV_BCG_YELLOW_FEVER in order.classes and less_severe:
            summary = f"{name} contraindicated in {', '.join(less_severe)} (oral polio, BCG, yellow fever)"
            detail = (
                f"**{name}** is oral polio, BCG or yellow fever vaccine. The patient has a less severe "
                "antibody "
                f"deficiency ({', '.join(less_severe)}) and is not on Ig replacement.\n\n"
                f"{vk.ACIP_LIVE_VACCINE_CATEGORIES[1].text}\n\nSource: {ACIP_ALTERED_IMMUNO.label}."
            )
            yield Finding(
                "order-live-vaccine",
                Indicator.CRITICAL,
                summary,
                detail,
                about=about,
                source=ACIP_ALTERED_IMMUNO,
            )
            continue
        if MedClass.MEASLES_VARICELLA_VACCINE not in order.classes:
            continue
        deferral = live_vaccine_deferral(facts)
        if deferral is None:
            continue
        yield _deferral_finding(facts, order, name, deferral)


def _deferral_finding(facts: Facts, order: MedicationFact, name: str, deferral: Deferral) -> Finding:
    course, band = deferral.course, deferral.band
    total = course.total_mg_per_kg
    dose_text = text.mg_per_kg(total) if total is not None else "unknown mg/kg"
    summary = (
        f"{name}: Ig {dose_text} last given {text.day(course.last)}; "
        f"defer until {deferral.first_day.isoformat()} ({band.months} months)"
    )
    rows = []
    for dose in course.doses:
        parts = [text.day(dose.when)]
        if dose.last_day.date() != dose.when.date():
            parts[0] += f" to {text.day(dose.last_day)}"
        parts.append(text.grams(dose.grams) if dose.grams is not None else "dose not recorded")
        if dose.mg_per_kg is not None:
            parts.append(text.mg_per_kg(dose.mg_per_kg))
        if dose.weight_kg is not None and dose.weight_when is not None:
            parts.append(f"weight {text.kg(dose.weight_kg)} on {text.day(dose.weight_when)}")
        rows.append("- " + ", ".join(parts) + f" ({dose.source})")
    unknown = (
        ""
        if total is not None
        else "\n\nThe course total in mg/kg could not be computed (dose or weight missing), so the longest "
        "interval (11 months) is used."
    )
    bands = "; ".join(
        (f"≤ {text.mg_per_kg(b.max_mg_per_kg)}" if b.max_mg_per_kg is not None else "more")
        + f": {b.months} months"
        for b in vk.DEFERRAL_BANDS
    )
    detail = (
        f"Immune globulin neutralises measles and varicella vaccine virus. The last Ig course "
        f"(all Ig given within {text.days(igrt.COURSE_GAP_DAYS)} counts as one course):\n\n"
        + "\n".join(rows)
        + f"\n\nCourse total **{dose_text}** → CDC interval **{band.months} months** after the last dose "
        f"({text.day(course.last)}): the vaccine can be given from **{deferral.first_day.isoformat()}**."
        f"{unknown}\n\nCDC bands (calendar months from the last dose): {bands}.\n\nSource: "
        f"{ACIP_INTERVALS.label}."
    )
    return Finding(
        "order-live-vaccine",
        Indicator.WARNING,
        summary,
        detail,
        about=order.reference,
        source=ACIP_INTERVALS,
    )


# --- order-ig-after-live-vaccine --------------------------------------------------------------------------


def _given_vaccines(facts: Facts) -> list[MedicationFact]:
    """Measles- or varicella-containing vaccines given (not ordered), newest first."""
    given = [
        m
        for m in facts.record.medications
        if MedClass.MEASLES_VARICELLA_VACCINE in m.classes
        and not m.draft
        and m.when is not None
        and m.resource_type in ("Immunization", "MedicationAdministration")
        and (m.status or "") not in _NOT_GIVEN
    ]
    return sorted(given, key=lambda m: m.when or facts.now, reverse=True)


def ig_after_live_vaccine(facts: Facts) -> Iterator[Finding]:
    """Immune globulin order within 14 days (inclusive) after a measles- or varicella-containing vaccine.

    Every antibody-containing product counts — IV, SC, IM or hyperimmune — but not anti-D (docs/clinical-rules.md
    ``order-ig-after-live-vaccine``; ACIP), so this rule reads ``MedClass.ANTIBODY_CONTAINING``, not
    ``is_ig`` (which excludes IM and hyperimmune globulins from the Ig-order rules).
    """
    ig_orders = [
        o
        for o in facts.record.orders_to_judge()
        if isinstance(o, MedicationFact) and MedClass.ANTIBODY_CONTAINING in o.classes
    ]
    if not ig_orders:
        return
    window = vk.IG_AFTER_VACCINE_WINDOW_DAYS
    recent = [
        v
        for v in _given_vaccines(facts)
        if v.when is not None and 0 <= text.days_ago(v.when, facts.now) <= window
    ]
    if not recent:
        return
    vaccine = recent[0]
    assert vaccine.when is not None
    ago = text.days_ago(vaccine.when, facts.now)
    vname = _med_name(vaccine, "measles/varicella vaccine")
    weight = igrt.weight_on_or_before(facts.record, facts.now)
    for order in ig_orders:
        per_kg = None
        if order.dose is not None and order.is_ig:  # the mg/kg bands are those of normal human Ig (IGIV)
            per_kg = order.dose.mg_per_kg(weight.value if weight is not None else None)
        if per_kg is not None:
            band = vk.deferral_band(per_kg)
            interval = f"{band.months} months after this Ig ({text.mg_per_kg(per_kg)})"
        elif order.is_ig:
            interval = "the CDC interval after this Ig (8–11 months by dose)"
        else:
            interval = "the interval the CDC table gives for this product and dose"
        summary = (
            f"Ig ordered {text.days(ago)} after {vname} ({text.day(vaccine.when)}): vaccine response may be blunted"
        )
        detail = (
            f"**{vname}** was given on {text.day(vaccine.when)} ({text.days(ago)} ago). Immune globulin given "
            "within "
            f"{text.days(window)} after a measles- or varicella-containing vaccine can neutralise the vaccine "
            "virus.\n\n"
            f"If the Ig is needed, give it, and revaccinate after {interval}, unless serology shows "
            "immunity.\n\n"
            f"Source: {ACIP_INTERVALS.label}."
        )
        yield Finding(
            "order-ig-after-live-vaccine", Indicator.INFO, summary, detail, about=order.reference
        )


# --- HBV before/on anti-CD20 ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class HbvAssessment:
    """docs/clinical-rules.md "HBV conditions": what is missing or positive, and the passive-transfer case."""

    hbsag: Measurement | None
    anti_hbc: Measurement | None
    antiviral: MedicationFact | None
    ig_recent: igrt.IgDose | None

    @property
    def missing(self) -> tuple[mk.LabTest, ...]:
        return tuple(t for t, m in ((mk.HBSAG, self.hbsag), (mk.ANTI_HBC, self.anti_hbc)) if m is None)

    @property
    def positive(self) -> bool:
        return any(m is not None and m.positive for m in (self.hbsag, self.anti_hbc))

    @property
    def passive_transfer_possible(self) -> bool:
        return (
            self.anti_hbc is not None
            and self.anti_hbc.positive is True
            and self.hbsag is not None
            and self.hbsag.positive is False
            and self.ig_recent is not None
        )

    @property
    def fires(self) -> bool:
        return bool(self.missing) or (self.positive and self.antiviral is None)


def _qualitative(record: ClinicalRecord, measure: Measure) -> Measurement | None:
    return next((m for m in record.measured(measure) if m.positive is not None), None)


def _active_antiviral(record: ClinicalRecord) -> MedicationFact | None:
    for med in (*record.medications, *(d for d in record.draft_orders if isinstance(d, MedicationFact))):
        if MedClass.HBV_ANTIVIRAL in med.classes and (med.draft or med.status == "active"):
            return med
    return None


def hbv_assessment(facts: Facts) -> HbvAssessment | None:
    """None when the observations needed were not available (no card on missing data)."""
    record = facts.record
    if not record.has("observations"):
        return None
    hbsag = _qualitative(record, Measure.HBSAG)
    anti_hbc = _qualitative(record, Measure.ANTI_HBC)
    cutoff = vk.add_months(facts.now.date(), -mk.HBV_PASSIVE_TRANSFER_MONTHS)
    recent = [
        d
        for d in igrt.ig_doses(record)
        if (facts.now.date() if d.ongoing else d.last_day.date()) >= cutoff and d.when <= facts.now
    ]
    return HbvAssessment(hbsag, anti_hbc, _active_antiviral(record), recent[-1] if recent else None)


def _hbv_finding(facts: Facts, rule: str, drug: str, about: str | None, context: str) -> Finding | None:
    hbv = hbv_assessment(facts)
    if hbv is None or not hbv.fires:
        return None
    if not hbv.missing and not facts.record.has("medications"):
        return None  # positive serology but the medication list was unavailable: can't tell about antivirals
    pid = _patient_id(facts)
    suggestions: list[Suggestion] = [
        lab_order(
            pid,
            t.loinc or "",
            t.name,
            label=f"Order {t.name} (LOINC {t.loinc})",
            note=f"HBV screening {context} {drug}",
            recommended=True,
        )
        for t in hbv.missing
    ]

    def result(m: Measurement | None, name: str) -> str:
        if m is None:
            return f"- {name}: **no result on record**"
        return f"- {name}: {'positive' if m.positive else 'negative'} ({text.day(m.when)})"

    lines = [result(hbv.hbsag, "HBsAg"), result(hbv.anti_hbc, "anti-HBc (total)")]
    if hbv.passive_transfer_possible:
        assert hbv.ig_recent is not None
        summary = (
            f"{drug}: anti-HBc positive, HBsAg negative after Ig on {text.day(hbv.ig_recent.last_day)}: "
            "may be passive; check HBV DNA"
        )
        suggestions.append(
            text_lab_order(
                pid,
                mk.HBV_DNA.name,
                loinc=facts.policy.hbv_dna_loinc,
                label="Order HBV DNA (viral load)",
                note="anti-HBc positive, HBsAg negative after recent immune globulin",
            )
        )
        advice = (
            f"Immune globulin was given on {text.day(hbv.ig_recent.last_day)} (within "
            f"{mk.HBV_PASSIVE_TRANSFER_MONTHS} months): **anti-HBc may be passively transferred by Ig** and "
            "does "
            "not by itself show past infection. Check HBV DNA before concluding; if HBV DNA is detectable, "
            "or "
            "the history suggests past infection, manage as resolved HBV (antiviral prophylaxis or HBV DNA "
            "monitoring with a hepatitis expert)."
            + (
                ""
                if mk.HBV_DNA.verified
                else " (HBV DNA is ordered by text: no LOINC code is verified here.)"
            )
        )
    elif hbv.missing:
        names = " and ".join(t.short for t in hbv.missing)
        summary = f"{drug}: no {names} result on record; screen for hepatitis B {context} anti-CD20 therapy"
        advice = (
            "Screen everyone before anti-CD20 therapy with HBsAg and anti-HBc. If either is positive, "
            "consult a hepatitis expert about antiviral prophylaxis and monitoring."
        )
    else:
        positive = [
            n for n, m in (("HBsAg", hbv.hbsag), ("anti-HBc", hbv.anti_hbc)) if m is not None and m.positive
        ]
        found = " and ".join(positive)
        summary = f"{drug}: {found} positive with no active HBV antiviral: risk of HBV reactivation"
        advice = (
            "Start antiviral prophylaxis (entecavir, tenofovir or lamivudine are recognised here) with a "
            "hepatitis expert and monitor HBV DNA during therapy and for months afterwards (seed 003: "
            "monthly "
            "during treatment, every 3 months after). Stop anti-CD20 therapy if HBV reactivates."
        )
    detail = (
        f"Anti-CD20 therapy (**{drug}**) can reactivate hepatitis B, including fatal fulminant hepatitis "
        "(boxed warning; fatal cases from 63 days after starting to 12 months after the last dose).\n\n"
        + "\n".join(lines)
        + f"\n- active HBV antiviral: {_med_name(hbv.antiviral, 'yes') if hbv.antiviral else 'none'}"
        + f"\n\n{advice}\n\nSource: {mk.HBV_SOURCE.label}; seed document 003."
    )
    return Finding(
        rule,
        Indicator.WARNING,
        summary,
        detail,
        about=about,
        suggestions=tuple(suggestions),
        selection_behavior=SelectionBehavior.ANY if len(suggestions) > 1 else None,
    )


def anti_cd20_hbv(facts: Facts) -> Iterator[Finding]:
    """docs/clinical-rules.md ``order-anti-cd20-hbv``: a draft anti-CD20 and the HBV conditions."""
    for order in facts.record.orders_to_judge():
        if isinstance(order, MedicationFact) and MedClass.ANTI_CD20 in order.classes:
            finding = _hbv_finding(
                facts,
                "order-anti-cd20-hbv",
                _med_name(order, "anti-CD20 antibody"),
                order.reference,
                "before starting",
            )
            if finding is not None:
                yield finding


def pv_anti_cd20_hbv(facts: Facts) -> Iterator[Finding]:
    """docs/clinical-rules.md ``pv-anti-cd20-hbv``: active anti-CD20 therapy (an active request or statement)."""
    active = [
        m
        for m in facts.record.medications
        if MedClass.ANTI_CD20 in m.classes
        and not m.draft
        and m.status == "active"
        and m.resource_type in ("MedicationRequest", "MedicationStatement")
    ]
    if not active:
        return
    finding = _hbv_finding(facts, "pv-anti-cd20-hbv", _med_name(active[0], "anti-CD20 antibody"), None, "on")
    if finding is not None:
        yield finding




ORDER_RULES: tuple[Rule, ...] = (
    plasma_exchange_after_ivig,
    live_vaccine,
    ig_after_live_vaccine,
    anti_cd20_hbv,
)
PATIENT_VIEW_RULES: tuple[Rule, ...] = (pv_anti_cd20_hbv,)
