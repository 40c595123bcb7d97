"""Monitoring theme: trough IgG, hyper-IgM and selective IgM deficiency surveillance (docs/clinical-rules.md).

Rules are pure functions ``Facts -> Iterable[Finding]``. Patient-view rules fire only for patients
with one of the watched conditions (HIGM, SIgMD, replacement IgRT); an unrelated patient gets no
card. Rules stay quiet when a data category they need was unavailable (``record.has``).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

from cds_service import Indicator, SelectionBehavior, Suggestion
from fhir_mappings.model import ClinicalRecord, Measure, Measurement, MedClass, MedicationFact

from . import text
from .catalog import AAAAI_CONSENSUS, SEED_POLICY
from .derive import igrt
from .derive.cache import per_call
from .derive.conditions import active_concepts, recorded_concepts
from .derive.indications import HIGM, SIGMD, is_ig_order, order_indication, sigmd_criteria
from .findings import Finding
from .knowledge import monitoring as mk
from .suggestions import lab_order, medication_order, text_lab_order

if TYPE_CHECKING:  # hooks.facts imports the services, which import this module
    from .facts import Facts, Rule

_NOT_A_PROCEDURE = frozenset({"entered-in-error", "not-done"})


def _patient_id(facts: Facts) -> str:
    return facts.record.patient.id if facts.record.patient is not None else "unknown"




# --- shared questions ----------------------------------------------------------------------------


def stem_cell_transplant_on_record(record: ClinicalRecord) -> bool:
    """docs/clinical-rules.md "Stem cell transplant on record": Z94.84/Z94.81 or a Condition/Procedure naming HSCT.

    Any clinical status counts (a transplant is history); refuted or entered-in-error does not.
    """
    if "stem-cell-transplant" in recorded_concepts(record):
        return True
    return any(
        "stem-cell-transplant" in p.concepts and not p.draft and p.status not in _NOT_A_PROCEDURE
        for p in record.procedures
    )


def trough_target(facts: Facts, order: MedicationFact | None = None) -> tuple[float, str]:
    """Trough IgG target (mg/dL) and its indication: HIGM > SIgMD > other (policy; seed-only numbers).

    For an order, its indication (docs/clinical-rules.md Terms "Indication of an order"); for the chart, the most
    specific active replacement condition.
    """
    targets = facts.policy.trough_target_mg_dl
    concepts: frozenset[str]
    if order is not None:
        indication = order_indication(facts, order)
        concepts = frozenset((indication.concept,)) if indication is not None else frozenset()
    else:
        concepts = active_concepts(facts.record)
    if HIGM in concepts:
        return targets.higm, "hyper-IgM syndrome"
    if SIGMD in concepts:
        return targets.sigmd, "selective IgM deficiency"
    return targets.other, "antibody deficiency"


def _recent_trough(facts: Facts) -> Measurement | None:
    """The newest trough IgG not older than the policy window (inclusive)."""
    troughs = igrt.trough_iggs(facts)
    if troughs and text.days_ago(troughs[0].when, facts.now) <= facts.policy.trough_max_age_days:
        return troughs[0]
    return None


def _last_iggs(record: ClinicalRecord, troughs: Sequence[Measurement], count: int = 3) -> str:
    trough_ids = {id(m) for m in troughs}
    rows = []
    for m in [m for m in record.measured(Measure.IGG) if m.value is not None][:count]:
        kind = " (trough)" if id(m) in trough_ids else ""
        rows.append(f"| {text.day(m.when)} | {text.num(m.value or 0, 0)} mg/dL{kind} |")
    return "| Date | IgG |\n|---|---|\n" + "\n".join(rows) if rows else "No IgG on record."


def _igg_suggestion(facts: Facts, note: str, recommended: bool = True) -> Suggestion:
    return lab_order(
        _patient_id(facts),
        mk.IGG.loinc or "2465-3",
        "IgG [Mass/volume] in Serum or Plasma",
        label="Order serum IgG (LOINC 2465-3)"
        + (" as a trough before the next dose" if "trough" in note else ""),
        note=note,
        recommended=recommended,
    )


# --- trough due / below target ---------------------------------------------------------------------------


def _trough_due(facts: Facts, rule: str, about: str | None) -> Finding | None:
    record = facts.record
    if not record.has("observations"):
        return None
    if _recent_trough(facts) is not None:
        return None
    window = facts.policy.trough_max_age_days
    troughs = igrt.trough_iggs(facts)
    if troughs:
        last = troughs[0]
        summary = (
            f"Trough IgG due: last trough {text.num(last.value or 0, 0)} mg/dL on {text.day(last.when)}, "
            f"{text.days(text.days_ago(last.when, facts.now))} ago (> {window})"
        )
    else:
        summary = (
            f"Trough IgG due: no trough IgG on record while on Ig replacement (check every {text.days(window)})"
        )
    detail = (
        f"The patient is on immunoglobulin replacement and has no trough IgG (an IgG drawn within "
        f"{text.days(igrt.IGRT_WINDOW_DAYS)} after a recorded Ig dose) in the last **{text.days(window)}** "
        f"(site policy).\n\nRecent IgG results:\n\n{_last_iggs(record, troughs)}\n\n"
        "Draw serum IgG immediately before the next dose to titrate the dose to infections and IgG level.\n\n"
        f"Source: {AAAAI_CONSENSUS.label}; window: site policy (trough_max_age_days)."
    )
    suggestion = _igg_suggestion(facts, "Trough IgG: draw immediately before the next immune globulin dose")
    return Finding(rule, Indicator.INFO, summary, detail, about=about, suggestions=(suggestion,))


def _trough_below(facts: Facts, rule: str, order: MedicationFact | None) -> Finding | None:
    record = facts.record
    if not record.has("observations"):
        return None
    trough = _recent_trough(facts)
    if trough is None or trough.value is None:
        return None
    target, indication = trough_target(facts, order)
    if trough.value >= target:
        return None
    summary = (
        f"Trough IgG {text.num(trough.value, 0)} mg/dL ({text.day(trough.when)}) below the "
        f"{text.num(target, 0)} mg/dL target for {indication}"
    )
    detail = (
        f"Newest trough IgG **{text.num(trough.value, 0)} mg/dL** on {text.day(trough.when)} is below the "
        "target "
        f"of **{text.num(target, 0)} mg/dL** for {indication} (target is site policy; the hyper-IgM and "
        "selective "
        "IgM deficiency targets come from the seed documents — no primary source found).\n\n"
        f"Last IgG values:\n\n{_last_iggs(record, igrt.trough_iggs(facts))}\n\n"
        "Consider raising the dose (a replacement dose up to 800 mg/kg is then justified) or shortening the "
        "interval, and look for protein loss or infection. Pneumonia incidence fell 27% for each 100 mg/dL "
        "rise "
        "in trough IgG (Orange 2010 meta-analysis).\n\n"
        f"Source: {SEED_POLICY.label}."
    )
    return Finding(
        rule,
        Indicator.WARNING,
        summary,
        detail,
        about=order.reference if order is not None else None,
        source=SEED_POLICY,
    )


@per_call
def _replacement_orders(facts: Facts) -> tuple[MedicationFact, ...]:
    """Ig orders whose indication is a replacement one (the order's reason wins over conditions).

    Both trough rules ask: computed once per call.
    """
    found = []
    for order in facts.record.orders_to_judge():
        if is_ig_order(order):
            assert isinstance(order, MedicationFact)
            indication = order_indication(facts, order)
            if indication is not None and indication.replacement:
                found.append(order)
    return tuple(found)


def order_trough_due(facts: Facts) -> Iterator[Finding]:
    """docs/clinical-rules.md ``order-trough-due``: replacement Ig order, on IgRT, no trough IgG in 90 days (policy)."""
    orders = _replacement_orders(facts)
    if not orders or not igrt.on_igrt(facts):
        return
    for order in orders:
        finding = _trough_due(facts, "order-trough-due", order.reference)
        if finding is not None:
            yield finding


def order_trough_below_target(facts: Facts) -> Iterator[Finding]:
    """docs/clinical-rules.md ``order-trough-below-target``: newest trough (≤ 90 days) below the policy target."""
    orders = _replacement_orders(facts)
    if not orders or not igrt.on_igrt(facts):
        return
    for order in orders:
        finding = _trough_below(facts, "order-trough-below-target", order)
        if finding is not None:
            yield finding


def pv_trough_due(facts: Facts) -> Iterator[Finding]:
    """docs/clinical-rules.md ``pv-trough-due``."""
    if igrt.on_igrt(facts):
        finding = _trough_due(facts, "pv-trough-due", None)
        if finding is not None:
            yield finding


def pv_trough_below_target(facts: Facts) -> Iterator[Finding]:
    """docs/clinical-rules.md ``pv-trough-below-target``."""
    if igrt.on_igrt(facts):
        finding = _trough_below(facts, "pv-trough-below-target", None)
        if finding is not None:
            yield finding


# --- hyper-IgM -------------------------------------------------------------------------------------------


def _higm_watched(facts: Facts) -> bool:
    """HIGM active, no stem cell transplant on record, medication list available."""
    record = facts.record
    return (
        "hyper-igm" in active_concepts(record)
        and record.has("medications")
        and not stem_cell_transplant_on_record(record)
    )


def _procedures_note(record: ClinicalRecord) -> str:
    return (
        ""
        if record.has("procedures")
        else "\n\n(The procedure history was not available; a transplant recorded only as a Procedure would "
        "not be seen.)"
    )


def pv_higm_no_igrt(facts: Facts) -> Iterator[Finding]:
    """docs/clinical-rules.md ``pv-higm-no-igrt``: HIGM, not on IgRT, no stem cell transplant on record."""
    if not _higm_watched(facts) or igrt.on_igrt(facts):
        return
    last = igrt.ig_doses(facts.record)
    last_text = (
        f"The last recorded Ig dose was on {text.day(last[-1].last_day)}."
        if last
        else "No Ig dose is recorded."
    )
    summary = (
        "Hyper-IgM syndrome without Ig replacement: no active Ig order and no dose in "
        f"{text.days(igrt.IGRT_WINDOW_DAYS)}"
    )
    detail = (
        "Immunoglobulin replacement is the cornerstone of hyper-IgM treatment. The patient has no active Ig "
        f"MedicationRequest/MedicationStatement and no Ig given in the last {text.days(igrt.IGRT_WINDOW_DAYS)}. "
        f"{last_text}\n\n{mk.HIGM_IGRT_TEXT}\n\nSource: {mk.HSCT_SOURCE.label}; seed document 000."
        + _procedures_note(facts.record)
    )
    yield Finding("pv-higm-no-igrt", Indicator.WARNING, summary, detail)


def _higm_subtype(record: ClinicalRecord) -> str | None:
    """``x-linked``, ``autosomal-recessive``, ``unspecified`` (CD40L deficiency suspected) or None (no-OI)."""
    higm = [c for c in record.active_conditions() if "hyper-igm" in c.concepts]
    if any("higm-x-linked" in c.concepts for c in higm):
        return "x-linked"
    if any("higm-autosomal-recessive" in c.concepts for c in higm):
        return "autosomal-recessive"
    if any("higm-no-opportunistic-infection" in c.concepts for c in higm):
        return None
    return "unspecified" if higm else None


def _active_pjp(record: ClinicalRecord) -> MedicationFact | None:
    return next(
        (
            m
            for m in record.medications
            if MedClass.PJP_PROPHYLAXIS in m.classes
            and not m.draft
            and m.status == "active"
            and m.resource_type in ("MedicationRequest", "MedicationStatement")
        ),
        None,
    )


def pv_higm_no_pjp_prophylaxis(facts: Facts) -> Iterator[Finding]:
    """docs/clinical-rules.md ``pv-higm-no-pjp-prophylaxis`` (warning X-linked/unspecified; info autosomal
    recessive)."""
    record = facts.record
    if not _higm_watched(facts) or _active_pjp(record) is not None:
        return
    subtype = _higm_subtype(record)
    if subtype is None:
        return
    warning = subtype != "autosomal-recessive"
    patient = record.patient
    age = patient.age_at(facts.now) if patient is not None else None
    adult = age is not None and age >= mk.ADULT_AGE_YEARS
    sulfa = [a for a in record.allergies if a.active and "sulfonamide" in a.concepts]
    alternatives = ", ".join(d.name for d in mk.PJP_ALTERNATIVES)
    suggestions: tuple[Suggestion, ...] = ()
    if adult and not sulfa and record.has("allergies"):
        drug = mk.TMP_SMX_DS
        suggestions = (
            medication_order(
                _patient_id(facts),
                drug.rxnorm or "198335",
                drug.name,
                dosage_text=drug.dosage_text or "",
                recommended=warning,
                label="Start TMP-SMX 800/160 mg one tablet daily (PJP prophylaxis)",
            ),
        )
        plan = (
            f"Suggested: TMP-SMX 800/160 mg (RxNorm {drug.rxnorm}) one tablet daily. Alternatives if not "
            f"tolerated: {alternatives}."
        )
    elif sulfa:
        plan = (
            f"Sulfonamide allergy on record ({text.quote(sulfa[0].text or 'sulfonamide')}): TMP-SMX is not suggested. "
            f"Alternatives: {alternatives}."
        )
    elif not adult:
        who = f"a child ({age} years)" if age is not None else "of unknown age"
        plan = (
            f"The patient is {who}: TMP-SMX needs a weight-based paediatric dose, so no order is suggested. "
            f"Options: TMP-SMX dosed by weight, or {alternatives}."
        )
    else:
        plan = (
            f"The allergy list was not available, so TMP-SMX is not suggested. Options: TMP-SMX 800/160 mg "
            f"daily if no sulfonamide allergy, or {alternatives}."
        )
    kind = {
        "x-linked": "X-linked hyper-IgM (CD40L deficiency)",
        "unspecified": "hyper-IgM without a subtype (CD40L deficiency possible)",
        "autosomal-recessive": "autosomal recessive hyper-IgM",
    }[subtype]
    why = (
        "Prophylaxis is indicated for all patients with known or suspected CD40 or CD40L deficiency."
        if warning
        else "Prophylaxis is indicated if this is CD40 deficiency, not for AID or UNG deficiency: "
        "confirm the genetic diagnosis."
    )
    summary = f"{kind[0].upper()}{kind[1:]} with no active Pneumocystis (PJP) prophylaxis"
    detail = (
        f"**{kind}**, no stem cell transplant on record, and no active PJP prophylaxis (TMP-SMX, dapsone, "
        f"atovaquone or pentamidine).\n\n{why}\n\n{plan}\n\n"
        f"Source: {mk.PJP_SOURCE.label}, summary statement 41; seed document 000." + _procedures_note(record)
    )
    yield Finding(
        "pv-higm-no-pjp-prophylaxis",
        Indicator.WARNING if warning else Indicator.INFO,
        summary,
        detail,
        suggestions=suggestions,
    )


def pv_higm_hsct(facts: Facts) -> Iterator[Finding]:
    """docs/clinical-rules.md ``pv-higm-hsct``: X-linked HIGM, no stem cell transplant on record."""
    record = facts.record
    if "higm-x-linked" not in active_concepts(record) or stem_cell_transplant_on_record(record):
        return
    patient = record.patient
    age = patient.age_at(facts.now) if patient is not None else None
    age_text = f" (age {age})" if age is not None else ""
    best = mk.HSCT_PREFERRED_BEFORE_AGE
    summary = (
        f"X-linked hyper-IgM{age_text}: refer for stem cell transplant evaluation (best before age {best})"
    )
    detail = (
        "Haematopoietic stem cell transplantation is the only cure for X-linked hyper-IgM (CD40L deficiency) "
        "and "
        f"is preferably done **before age {best}**. No transplant is on record"
        + (f"; the patient is {age} years old." if age is not None else ".")
        + f"\n\nSource: {mk.HSCT_SOURCE.label}; AAAAI/ACAAI 2015 SS43 (consider HSCT)."
        + _procedures_note(record)
    )
    yield Finding("pv-higm-hsct", Indicator.INFO, summary, detail)


# --- selective IgM deficiency ------------------------------------------------------------------------------


def _sigmd(record: ClinicalRecord) -> bool:
    return "selective-igm-deficiency" in active_concepts(record)


def pneumococcal_assessed(record: ClinicalRecord) -> bool:
    """docs/clinical-rules.md: an Observation naming pneumococcal antibodies, or a specific antibody deficiency."""
    return bool(record.measured(Measure.PNEUMOCOCCAL_AB)) or any(
        "specific-antibody-deficiency" in c.concepts and not c.refuted_or_error for c in record.conditions
    )


def pv_igm_deficiency_workup(facts: Facts) -> Iterator[Finding]:
    """docs/clinical-rules.md ``pv-igm-deficiency-workup``: one suggestion per missing test (pneumococcal, CD19)."""
    record = facts.record
    if not _sigmd(record) or not record.has("observations"):
        return
    pid = _patient_id(facts)
    missing = []
    if not pneumococcal_assessed(record):
        missing.append(
            (mk.PNEUMOCOCCAL_AB, facts.policy.pneumococcal_ab_loinc, "pneumococcal antibody response")
        )
    if not record.measured(Measure.CD19):
        missing.append((mk.CD19, facts.policy.cd19_loinc, "B-cell (CD19) count"))
    if not missing:
        return
    suggestions = tuple(
        text_lab_order(
            pid,
            test.name,
            loinc=code,
            label=f"Order {short}",
            note="Selective IgM deficiency work-up (seed document 001)",
        )
        for test, code, short in missing
    )
    uncoded = [short for test, code, short in missing if not code]
    summary = (
        "Selective IgM deficiency work-up incomplete: no "
        + " and no ".join(s for _, _, s in missing)
        + " on record"
    )
    detail = (
        "Selective IgM deficiency needs a functional antibody assessment and lymphocyte subsets before any "
        "decision "
        "on Ig replacement: pneumococcal polysaccharide (PPSV23) challenge with pre- and post-immunisation "
        "titres, "
        "and B-cell (CD19) enumeration by flow cytometry.\n\nMissing: "
        + ", ".join(s for _, _, s in missing)
        + "."
        + (
            f"\n\nOrdered by text only ({', '.join(uncoded)}): no verified LOINC code (UNVERIFIED; a site "
            "can "
            "configure one in policy)."
            if uncoded
            else ""
        )
        + f"\n\nSource: {mk.SIGMD_SOURCE.label}; Ontario IGUM (work-up includes pneumococcal polysaccharide "
        "titres)."
    )
    yield Finding(
        "pv-igm-deficiency-workup",
        Indicator.INFO,
        summary,
        detail,
        suggestions=suggestions,
        selection_behavior=SelectionBehavior.ANY if len(suggestions) > 1 else None,
        source=mk.SIGMD_SOURCE,
    )


def pv_igm_deficiency_igrt_review(facts: Facts) -> Iterator[Finding]:
    """docs/clinical-rules.md ``pv-igm-deficiency-igrt-review``: SIgMD on IgRT without the criteria."""
    record = facts.record
    if not _sigmd(record) or "hyper-igm" in active_concepts(record) or not record.has("observations"):
        return
    if not igrt.on_igrt(facts):
        return
    criteria = sigmd_criteria(facts)
    if criteria.met:
        return
    missing = "\n".join(f"- {m}" for m in criteria.missing) or "- criteria not met"
    pre = criteria.pretreatment_igg
    short: list[str] = []
    if not (criteria.igg_low or criteria.pneumococcal_impaired):
        short.append(
            f"IgG not low ({text.num(pre.value, 0)} mg/dL)"
            if pre is not None and pre.value is not None
            else "no pre-treatment IgG"
        )
        short.append(
            "pneumococcal response not impaired"
            if criteria.pneumococcal_assessed
            else "no pneumococcal assessment"
        )
    if criteria.infection_episodes < facts.policy.recurrent_infections_min:
        short.append(f"{criteria.infection_episodes} severe infections in 12 months")
    summary = "SIgMD on IgRT without the criteria: " + "; ".join(short)
    pre_text = (
        f"{text.num(pre.value or 0, 0)} mg/dL on {text.day(pre.when)}"
        if pre is not None
        else "none on record"
    )
    pneumococcal = (
        "impaired"
        if criteria.pneumococcal_impaired
        else ("assessed, not impaired" if criteria.pneumococcal_assessed else "not assessed")
    )
    detail = (
        "Ig replacement in selective IgM deficiency is indicated only with [a pre-treatment IgG below "
        f"{text.num(facts.policy.sigmd_igg_threshold_mg_dl, 0)} mg/dL (site policy) or a documented impaired "
        f"pneumococcal response] **and** recurrent severe infections "
        f"({facts.policy.recurrent_infections_min} or more episodes in {facts.policy.infection_window_days} "
        "days).\n\n"
        f"- Pre-treatment IgG: {pre_text}\n"
        f"- Pneumococcal response: {pneumococcal}\n"
        f"- Severe infection episodes in 12 months: {criteria.infection_episodes}\n\n"
        f"Missing:\n\n{missing}\n\nReassess the need for therapy. IVIG does not correct IgM (it contains "
        "almost "
        "none), so a low IgM on IgRT is not a reason to continue.\n\n"
        f"Source: {SEED_POLICY.label} (seed document 001, pitfalls)."
    )
    yield Finding("pv-igm-deficiency-igrt-review", Indicator.WARNING, summary, detail)


def pv_igm_deficiency_monitor(facts: Facts) -> Iterator[Finding]:
    """docs/clinical-rules.md ``pv-igm-deficiency-monitor``: SIgMD, not on IgRT, no IgG in 365 days."""
    record = facts.record
    if not _sigmd(record) or not record.has("observations") or not record.has("medications"):
        return
    if igrt.on_igrt(facts):
        return
    window = mk.SIGMD_IGG_MONITOR_DAYS
    iggs = [m for m in record.measured(Measure.IGG) if m.value is not None]
    if iggs and text.days_ago(iggs[0].when, facts.now) <= window:
        return
    last = (
        f"last IgG {text.num(iggs[0].value or 0, 0)} mg/dL on {text.day(iggs[0].when)}"
        if iggs
        else "no IgG on record"
    )
    summary = f"Selective IgM deficiency: IgG monitoring due ({last}; check every 6–12 months)"
    detail = (
        f"Selective IgM deficiency can progress to IgG deficiency: monitor IgG every 6–12 months. There is "
        f"{last}, none in the last {text.days(window)}.\n\nSource: {mk.SIGMD_SOURCE.label}."
    )
    suggestion = _igg_suggestion(facts, "Selective IgM deficiency: IgG monitoring")
    yield Finding(
        "pv-igm-deficiency-monitor",
        Indicator.INFO,
        summary,
        detail,
        suggestions=(suggestion,),
        source=mk.SIGMD_SOURCE,
    )


ORDER_RULES: tuple[Rule, ...] = (order_trough_due, order_trough_below_target)
PATIENT_VIEW_RULES: tuple[Rule, ...] = (
    pv_higm_no_igrt,
    pv_higm_no_pjp_prophylaxis,
    pv_higm_hsct,
    pv_igm_deficiency_workup,
    pv_igm_deficiency_igrt_review,
    pv_igm_deficiency_monitor,
    pv_trough_due,
    pv_trough_below_target,
)
