"""Dose-range rules for Ig orders: ``order-dose-out-of-range`` and ``order-dose-atypical``.

Out of range: the dose breaks a hard or course limit of the regimen (warning, with a safe suggested dose
where one exists; an overdose goes back to the usual range, or to the hard upper limit when a reason that
justifies a higher replacement dose is on record). An order without an indication is judged against the
envelope of every regimen, and outside it gets the warning without a suggestion. Atypical: within the
limits but outside the usual replacement range, and no reason on record justifies a higher dose (info).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from cds_service import Indicator, Suggestion

from .. import text
from ..derive.igrt import trough_iggs
from ..derive.indications import Indication, ig_orders, recurrent_severe_infections
from ..findings import Finding
from ..knowledge.regimens import JUSTIFYING_REASONS, Basis, regimen_group
from ..knowledge.thresholds import TROUGH_JUSTIFY_DAYS, UNIT_ERROR_FACTOR
from ..suggestions import update_dose
from .card_text import citation_text, interval_text, order_lines, per_kg_text, range_per_kg_text
from .context import DoseContext, dose_context
from .limits import Violation, suggest_dose, violations

if TYPE_CHECKING:
    from ..facts import Facts


def order_dose_out_of_range(facts: Facts) -> Iterator[Finding]:
    for order in ig_orders(facts):
        ctx = dose_context(facts, order)
        if ctx.envelope_checkable:
            assert ctx.plan is not None and ctx.envelope is not None
            outside = violations(ctx.envelope, ctx.plan)
            if outside:
                yield _no_indication_finding(facts, ctx, outside[0])
            continue
        if not ctx.dose_checkable:
            continue
        assert ctx.plan is not None and ctx.regimen is not None and ctx.weight is not None
        found = violations(ctx.regimen, ctx.plan)
        if not found:
            continue
        yield _out_of_range_finding(facts, ctx, found)


def _no_indication_finding(facts: Facts, ctx: DoseContext, v: Violation) -> Finding:
    """Outside the envelope of every regimen, no indication: the card, never a suggestion (docs/clinical-rules.md
    Resolved details "Ig order without an indication": without an indication there is no safe target)."""
    envelope, plan = ctx.envelope, ctx.plan
    assert envelope is not None and plan is not None
    weekly = envelope.basis is Basis.WEEK
    unit = "mg/kg/week" if weekly else "mg/kg"
    grams = f" {text.grams(ctx.grams)}" if ctx.grams is not None else ""
    interval = f" {interval_text(plan.interval_days)}" if weekly else ""
    edge = "ceiling" if v.above else "floor"
    summary = (
        f"{ctx.drug}{grams}{interval} = {per_kg_text(v.value, None, unit)}: {'above' if v.above else 'below'} "
        f"the {per_kg_text(v.edge, None, unit)} {edge} of any {'SC ' if weekly else ''}regimen "
        "(no indication found)"
    )
    lines = [
        *order_lines(facts, ctx),
        "",
        f"**No indication found**, so no regimen can judge this dose; it is judged against the envelope of "
        f"every {'SC' if weekly else 'IV (and HyQvia)'} regimen instead: {envelope.hard_text} — "
        f"{citation_text(envelope.hard_source)}.",
        f"- {'per week' if weekly else 'per administration'}: {per_kg_text(v.value, None, unit)}, "
        f"{'above' if v.above else 'below'} that envelope.",
        "",
        "**No dose is suggested**: without an indication there is no safe target dose. State the indication "
        "on the order; its regimen then judges the dose (and suggests one where needed).",
    ]
    if v.unit_error():
        lines += [
            "",
            f"The ordered dose is more than {text.num(UNIT_ERROR_FACTOR.value)} times the ceiling (or less "
            "than a third of the floor): a probable unit, decimal or product error — check product and unit.",
        ]
    return Finding(
        "order-dose-out-of-range",
        Indicator.WARNING,
        summary,
        "\n".join(lines),
        about=ctx.order.reference,
        source=envelope.hard_source,
    )


def _violation_summary(ctx: DoseContext, v: Violation) -> str:
    regimen = ctx.regimen
    assert regimen is not None and ctx.plan is not None
    side = "above" if v.above else "below"
    for_whom = (
        "" if regimen.replacement else f" for {ctx.indication.label if ctx.indication else regimen.title}"
    )
    grams = text.grams(ctx.grams) if ctx.grams is not None else ""
    if v.what == "course length":
        return (
            f"{ctx.drug} course over {text.days(v.value)}: outside the {v.limit.text('days')}{for_whom}"
        )
    if v.what == "course total":
        return (
            f"{ctx.drug} course {ctx.plan.administrations} × {grams} = {text.g_per_kg(v.value)}: {side} "
            f"the {text.g_per_kg(v.edge)} course limit{for_whom}"
        )
    if v.what == "per day":
        return (
            f"{ctx.drug} {grams} = {per_kg_text(v.value, regimen, 'mg/kg/day')}: {side} the "
            f"{per_kg_text(v.edge, regimen, 'mg/kg/day')} limit{for_whom}"
        )
    if v.what == "per week":
        return (
            f"{ctx.drug} {grams} {interval_text(ctx.plan.interval_days)} = "
            f"{per_kg_text(v.value, regimen, 'mg/kg/week')}: {side} the "
            f"{per_kg_text(v.edge, regimen, 'mg/kg/week')} limit{for_whom}"
        )
    name = {
        "per infusion": "label limit" if regimen.replacement else "limit",
        "single dose": "single dose",
        "maintenance dose": "maintenance dose",
    }[v.what]
    ordered, edge = per_kg_text(v.value, regimen), per_kg_text(v.edge, regimen)
    return f"{ctx.drug} {grams} = {ordered}: {side} the {edge} {name}{for_whom}"


def _out_of_range_finding(facts: Facts, ctx: DoseContext, found: list[Violation]) -> Finding:
    regimen, plan, weight = ctx.regimen, ctx.plan, ctx.weight
    assert regimen is not None and plan is not None and weight is not None
    reasons = (
        justifying_reasons(facts, ctx.indication)
        if regimen.replacement and ctx.indication is not None and any(v.above for v in found)
        else []
    )
    suggested = suggest_dose(regimen, plan, found, weight.kg, facts.policy, justified=bool(reasons))
    lines = [
        *order_lines(facts, ctx),
        "",
        "**Outside the limits**",
        *[
            f"- {v.what}: "
            f"{per_kg_text(v.value, regimen, v.unit) if v.per_kg else text.days(v.value)} "
            f"(limit "
            f"{v.limit.text(v.unit) if not v.per_kg else range_per_kg_text(v.limit, regimen, v.unit)})"
            for v in found
        ],
        "",
        f"**Regimen** ({regimen.title}): limits {regimen.hard_text} — "
        f"{citation_text(regimen.hard_source)}; "
        f"usual {regimen.usual_text} — {citation_text(regimen.usual_source)}.",
    ]
    suggestions: tuple[Suggestion, ...] = ()
    if suggested is not None:
        lines += [
            "",
            f"**Suggested dose**: {text.grams(suggested.grams)} per administration "
            f"({per_kg_text(suggested.per_admin, regimen)}): {suggested.reason}. "
            "It passes every limit above.",
        ]
        if reasons:
            lines += [
                "",
                "**Brought back to the hard limit, not to the usual range**: a dose above the usual range "
                f"is justified by {'; '.join(reasons)} (on record).",
            ]
        label = (
            f"Change dose to {text.grams(suggested.grams)} "
            f"({per_kg_text(suggested.per_admin, regimen)})"
        )
        suggestions = (
            update_dose(
                ctx.order.raw,
                suggested.grams,
                label=label,
                description=f"Update the {ctx.drug} order to {text.grams(suggested.grams)} per "
                "administration",
                recommended=True,
            ),
        )
    elif any(v.unit_error() for v in found):
        lines += [
            "",
            f"**No dose is suggested — check product and unit**: the ordered dose is more than "
            f"{text.num(UNIT_ERROR_FACTOR.value)} times the limit (or less than a third of it), "
            "a probable unit, decimal or product error.",
        ]
    else:
        lines += [
            "",
            "**No dose is suggested**: no rounded dose changes this order into every limit "
            "(e.g. the course length itself is outside the range); review the regimen.",
        ]
    summary = _violation_summary(ctx, found[0])
    if suggested is None and any(v.unit_error() for v in found):
        summary = f"{summary} — check product and unit"
        if len(summary) >= 140:
            summary = _violation_summary(ctx, found[0])
    return Finding(
        "order-dose-out-of-range",
        Indicator.WARNING,
        summary,
        "\n".join(lines),
        about=ctx.order.reference,
        suggestions=suggestions,
        source=regimen.hard_source,
    )


def _trough_target(facts: Facts, ind: Indication) -> float:
    targets = facts.policy.trough_target_mg_dl
    group = regimen_group(ind.concept)
    return targets.higm if group == "higm" else targets.sigmd if group == "sigmd" else targets.other


def justifying_reasons(facts: Facts, ind: Indication) -> list[str]:
    """Reasons on record that justify a replacement dose above the usual range (docs/clinical-rules.md)."""
    found = []
    if recurrent_severe_infections(facts):
        found.append("recurrent severe infections")
    if facts.record.has_active("bronchiectasis"):
        found.append("bronchiectasis")
    target = _trough_target(facts, ind)
    low = [
        m
        for m in trough_iggs(facts)
        if m.value is not None
        and m.value < target
        and 0 <= text.days_ago(m.when, facts.now) <= TROUGH_JUSTIFY_DAYS.value
    ]
    if low:
        found.append(
            f"trough IgG {text.num(low[0].value or 0)} mg/dL on {text.day(low[0].when)} below the "
            f"{text.num(target)} mg/dL target"
        )
    return found


def order_dose_atypical(facts: Facts) -> Iterator[Finding]:
    for order in ig_orders(facts):
        ctx = dose_context(facts, order)
        if not ctx.dose_checkable or ctx.indication is None or not ctx.indication.replacement:
            continue
        regimen, plan = ctx.regimen, ctx.plan
        assert regimen is not None and plan is not None and ctx.weight is not None
        if violations(regimen, plan) or regimen.usual is None:
            continue
        value = plan.weekly if regimen.basis is Basis.WEEK else plan.per_admin
        if value is None or regimen.usual.contains(value):
            continue
        above = regimen.usual.high is not None and value > regimen.usual.high
        if above and justifying_reasons(facts, ctx.indication):
            continue
        unit = "mg/kg/week" if regimen.basis is Basis.WEEK else "mg/kg"
        usual = regimen.usual.text(unit)
        grams = text.grams(ctx.grams) if ctx.grams is not None else ""
        interval = f" {interval_text(plan.interval_days)}" if regimen.basis is Basis.WEEK else ""
        summary = (
            f"{ctx.drug} {grams}{interval} = {text.num(value, 0)} {unit}: {'above' if above else 'below'} "
            f"the usual {usual} for {ctx.indication.label}"
        )
        policy_note = (
            " These usual-range numbers come from a seed document without a primary source: "
            "site policy (higm_usual_low_mg_kg, sigmd_usual_low_mg_kg / sigmd_usual_high_mg_kg)."
            if regimen.usual_is_policy
            else ""
        )
        if above:
            why = (
                "A dose above the usual range (up to the label limit) is justified by: "
                + "; ".join(JUSTIFYING_REASONS)
                + ". None of these is on record."
                + (
                    " The HIGM seed's adults 300–400 / children 400–600 mg/kg is narrative only."
                    if regimen.indication == "higm"
                    else ""
                )
            )
        else:
            why = (
                "Nothing on record silences this note for a dose below the usual range; a low dose may be "
                "intended (e.g. a titrated regimen) — confirm against the trough IgG and infection history."
            )
        detail = "\n".join(
            [
                *order_lines(facts, ctx),
                "",
                f"**Usual range** ({regimen.title}): {regimen.usual_text} — "
                f"{citation_text(regimen.usual_source)}."
                f"{policy_note} The dose is inside the label limits ({regimen.hard_text}).",
                "",
                why,
            ]
        )
        yield Finding(
            "order-dose-atypical",
            Indicator.INFO,
            summary,
            detail,
            about=order.reference,
            source=regimen.usual_source,
        )
