"""Wording shared by the dosing cards: doses per kg, intervals, the ordered dose, the computed dose.

The cards speak as the regimen table does (mg/kg for replacement, g/kg for immunomodulatory doses), and
several rules describe the same order, so the phrases are written once here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fhir_mappings.model import Route

from .. import text
from ..catalog import Citation
from ..knowledge.regimens import Range, Regimen
from .context import DoseContext

if TYPE_CHECKING:
    from ..facts import Facts


def per_kg_text(value: float, regimen: Regimen | None, unit: str = "mg/kg") -> str:
    """mg/kg for replacement, g/kg for immunomodulatory doses (as the regimen table speaks)."""
    suffix = unit.removeprefix("mg/kg")
    if regimen is not None and not regimen.replacement:
        return f"{text.num(value / 1000, 2)} g/kg{suffix}"
    return f"{text.num(value, 0)} mg/kg{suffix}"


def interval_text(days: float | None) -> str:
    if days is None:
        return "(no interval stated)"
    if days < 1:
        return f"{round(1 / days)} times a day"
    if days == 1:
        return "daily"
    if days % 7 == 0:
        weeks = int(days // 7)
        return "weekly" if weeks == 1 else f"every {weeks} weeks ({text.days(days)})"
    return f"every {text.days(days)}"


def ordered_text(ctx: DoseContext) -> str:
    order = ctx.order
    dose = order.dose
    parts = [ctx.drug + (f" ({ctx.product.name})" if ctx.product and not ctx.hyqvia else "")]
    if dose is not None:
        parts.append(f"{text.num(dose.value, 2)} {dose.unit.value}")
        if dose.volume_ml is not None and dose.concentration is not None:  # ordered in mL
            parts.append(f"(ordered as {text.num(dose.volume_ml)} mL at {text.num(dose.concentration * 100)}%)")
        grams = ctx.grams
        if dose.unit.value not in ("g",) and grams is not None:
            parts.append(f"(= {text.grams(grams)})")
    parts.append(
        interval_text(
            ctx.plan.interval_days if ctx.plan else (order.timing.interval_days if order.timing else None)
        )
    )
    if ctx.plan and ctx.plan.administrations:
        parts.append(f"× {ctx.plan.administrations} administrations")
    return " ".join(parts)


def indication_line(ctx: DoseContext) -> str:
    if ctx.indication is None:
        return "**Indication**: none recognised"
    return f"**Indication**: {ctx.indication.label} (from {ctx.indication.where})"


def computed_lines(ctx: DoseContext) -> list[str]:
    plan, regimen = ctx.plan, ctx.regimen
    assert plan is not None
    lines = [
        f"- per administration: {per_kg_text(plan.per_admin, regimen)}"
        + (f" = {text.grams(ctx.grams)}" if ctx.grams is not None else "")
    ]
    if plan.per_day_count > 1 or (regimen is not None and regimen.max_per_day is not None):
        lines.append(f"- per day: {per_kg_text(plan.per_day, regimen, 'mg/kg/day')}")
    if ctx.route is Route.SC and plan.weekly is not None:
        lines.append(
            f"- per week: {per_kg_text(plan.weekly, regimen, 'mg/kg/week')} (dose × 7 ÷ "
            f"{text.days(plan.interval_days or 0)})"
        )
    if plan.course_total is not None:
        days = f" over {text.days(plan.course_days)}" if plan.course_days else ""
        lines.append(
            f"- stated course: {plan.administrations} administrations = "
            f"{text.g_per_kg(plan.course_total)}{days}"
        )
    return lines


def order_lines(facts: Facts, ctx: DoseContext) -> list[str]:
    """The head every dose card shares: the order, its indication, the dosing weight, the computed dose."""
    assert ctx.weight is not None
    return [
        f"**Order**: {ordered_text(ctx)}",
        indication_line(ctx),
        f"**Dosing weight**: {ctx.weight.describe(facts)}",
        "",
        "**Computed dose**",
        *computed_lines(ctx),
    ]


def citation_text(c: Citation) -> str:
    return f"[{c.label}]({c.url})" if c.url else c.label


def range_per_kg_text(r: Range, regimen: Regimen, unit: str) -> str:
    suffix = unit.removeprefix("mg/kg")
    if regimen.replacement:
        return r.text(f"mg/kg{suffix}")
    scaled = Range(r.low / 1000 if r.low is not None else None, r.high / 1000 if r.high is not None else None)
    return scaled.text(f"g/kg{suffix}")
