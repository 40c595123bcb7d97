"""Dosing rules for Ig orders (RULES.md "Order rules", "Dose regimens", "Resolved details").

``order-weight-missing``, ``order-dose-out-of-range``, ``order-dose-atypical``,
``order-interval-out-of-range``, ``order-dosing-weight``, ``order-scig-conversion``,
``order-scig-administration``.

All dose arithmetic is in mg/kg of the dosing weight (``derive.weights``): per administration, per day
(administrations per day from the interval), per week for SC (dose × 7 ÷ interval days) and per
stated course (``timing.repeat.count`` or frequency × ``boundsDuration``). Suggested doses are safe by
construction: a candidate dose is re-checked against every limit of the regimen before it is offered.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from cds_service import Indicator, Suggestion
from fhir_mappings.model import MedicationFact, Route, Timing

from . import text
from .catalog import Citation
from .derive.igrt import doses_within, ig_doses, trough_iggs
from .derive.indications import (
    Indication,
    Kind,
    ig_orders,
    order_indication,
    order_route,
    recurrent_severe_infections,
)
from .derive.weights import (
    DosingWeight,
    adjusted_weight,
    age,
    dosing_weight,
    is_child,
    newest_weight,
    weight_window_days,
)
from .findings import Finding
from .knowledge.products import SEED_SC_LIMITS, Product, ScSiteLimit, product, sc_conversion_factor
from .knowledge.regimens import JUSTIFYING_REASONS, Basis, Range, Regimen, regimen_for, regimen_group
from .knowledge.thresholds import (
    HYQVIA_RAMP_UP_DAYS,
    SC_MAX_SITES,
    SCIG_MATCH_TOLERANCE,
    SCIG_SWITCH_DAYS,
    TROUGH_JUSTIFY_DAYS,
    UNIT_ERROR_FACTOR,
)
from .suggestions import update_dose

if TYPE_CHECKING:
    from .facts import Facts
    from .policy import Policy

MAINTENANCE_MIN_INTERVAL_DAYS = 7


# --- dose arithmetic ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Plan:
    """An order's dose schedule in mg/kg of dosing weight."""

    per_admin: float
    interval_days: float | None = None
    #: Stated course: number of administrations (> 1, interval < 7 days), else None.
    administrations: int | None = None
    course_days: float | None = None

    @property
    def per_day_count(self) -> int:
        if self.interval_days and self.interval_days < 1:
            return max(1, round(1 / self.interval_days))
        return 1

    @property
    def per_day(self) -> float:
        return self.per_admin * self.per_day_count

    @property
    def weekly(self) -> float | None:
        return self.per_admin * 7 / self.interval_days if self.interval_days else None

    @property
    def course_total(self) -> float | None:
        return self.per_admin * self.administrations if self.administrations else None

    @property
    def maintenance(self) -> bool:
        return self.interval_days is not None and self.interval_days >= MAINTENANCE_MIN_INTERVAL_DAYS

    def with_dose(self, per_admin: float) -> Plan:
        return dataclasses.replace(self, per_admin=per_admin)


def plan_of(order: MedicationFact, weight_kg: float) -> Plan | None:
    if order.dose is None:
        return None
    per_kg = order.dose.mg_per_kg(weight_kg)
    if per_kg is None:
        return None
    timing = order.timing or Timing()
    interval = timing.interval_days
    count = timing.administrations
    course = (
        count
        if count and count > 1 and (interval is None or interval < MAINTENANCE_MIN_INTERVAL_DAYS)
        else None
    )
    days: float | None = None
    if course:
        if timing.bounds_days:
            days = timing.bounds_days
        elif interval:
            days = (course - 1) * interval + 1 if interval >= 1 else course * interval
    return Plan(per_kg, interval, course, days)


@dataclass(frozen=True, slots=True)
class Violation:
    """One limit the plan breaks."""

    what: str  # "per infusion", "per day", "per week", "course total", "course length", ...
    value: float
    limit: Range
    unit: str  # "mg/kg", "mg/kg/day", "mg/kg/week", "days"

    @property
    def above(self) -> bool:
        return self.limit.high is not None and self.value > self.limit.high + 1e-9

    @property
    def edge(self) -> float:
        return (self.limit.high if self.above else self.limit.low) or 0.0

    @property
    def per_kg(self) -> bool:
        return self.unit != "days"

    def unit_error(self) -> bool:
        """A probable unit, decimal or product error (RULES.md Suggested dose: 3× / ⅓)."""
        if not self.per_kg:
            return False
        factor = UNIT_ERROR_FACTOR.value
        if self.limit.high is not None and self.value > factor * self.limit.high:
            return True
        return self.limit.low is not None and self.value < self.limit.low / factor


def violations(regimen: Regimen, plan: Plan) -> list[Violation]:
    """Every hard or course limit of ``regimen`` that ``plan`` breaks (bounds inclusive)."""
    found: list[Violation] = []
    if regimen.course and plan.course_total is not None and not regimen.course.contains(plan.course_total):
        found.append(Violation("course total", plan.course_total, regimen.course, "mg/kg"))
    if (
        regimen.course_days
        and plan.administrations
        and plan.course_days is not None
        and not regimen.course_days.contains(plan.course_days)
    ):
        found.append(Violation("course length", plan.course_days, regimen.course_days, "days"))
    if regimen.max_per_day is not None and plan.per_day > regimen.max_per_day + 1e-9:
        found.append(Violation("per day", plan.per_day, Range(None, regimen.max_per_day), "mg/kg/day"))
    if regimen.basis is Basis.WEEK:
        weekly = plan.weekly
        if regimen.hard and weekly is not None and not regimen.hard.contains(weekly):
            found.append(Violation("per week", weekly, regimen.hard, "mg/kg/week"))
    elif regimen.hard and not regimen.hard.contains(plan.per_admin):
        found.append(Violation("per infusion", plan.per_admin, regimen.hard, "mg/kg"))
    if regimen.single_dose and not plan.administrations and not regimen.single_dose.contains(plan.per_admin):
        found.append(Violation("single dose", plan.per_admin, regimen.single_dose, "mg/kg"))
    if regimen.maintenance and plan.maintenance and not regimen.maintenance.contains(plan.per_admin):
        found.append(Violation("maintenance dose", plan.per_admin, regimen.maintenance, "mg/kg"))
    return found


def _target_per_admin(v: Violation, regimen: Regimen, plan: Plan) -> float | None:
    """Per-administration mg/kg at the nearest edge (usual range for replacement; else the broken one)."""
    if v.what == "course total":
        return v.edge / plan.administrations if plan.administrations else None
    if v.what == "per day":
        return v.edge / plan.per_day_count
    edge = v.edge
    if regimen.replacement and regimen.usual is not None:
        edge = (regimen.usual.high if v.above else regimen.usual.low) or edge
    if v.what == "per week":
        return edge * plan.interval_days / 7 if plan.interval_days else None
    if v.what == "course length":
        return None
    return edge


def rounding_step(grams: float, policy: Policy) -> float:
    return policy.rounding_step_g if grams >= policy.rounding_threshold_g else policy.rounding_step_small_g


def round_toward(grams: float, down: bool, policy: Policy) -> float:
    step = rounding_step(grams, policy)
    units = round(grams / step, 9)
    return (math.floor(units) if down else math.ceil(units)) * step


@dataclass(frozen=True, slots=True)
class SuggestedDose:
    grams: float
    per_admin: float
    reason: str


def suggest_dose(
    regimen: Regimen, plan: Plan, found: list[Violation], weight_kg: float, policy: Policy
) -> SuggestedDose | None:
    """The nearest safe dose, or None (probable unit error, or no rounded dose passes every limit)."""
    if any(v.unit_error() for v in found):
        return None
    for v in found:
        target = _target_per_admin(v, regimen, plan)
        if target is None or target <= 0:
            continue
        exact = target * weight_kg / 1000
        grams = round_toward(exact, down=v.above, policy=policy)
        if grams <= 0:
            continue
        candidate = plan.with_dose(grams * 1000 / weight_kg)
        if not violations(regimen, candidate):
            edge_name = "usual range" if regimen.replacement else f"{v.what} limit"
            reason = (
                f"the {'upper' if v.above else 'lower'} edge of the {edge_name} "
                f"({text.num(target, 0)} mg/kg per administration × {text.kg(weight_kg)}"
                f" = {text.grams(exact)}), rounded {'down' if v.above else 'up'} to a "
                f"{text.grams(rounding_step(exact, policy))} step (site policy: "
                f"{text.num(policy.rounding_step_g)} g from {text.num(policy.rounding_threshold_g)} g up, "
                f"{text.num(policy.rounding_step_small_g)} g below)"
            )
            return SuggestedDose(grams, candidate.per_admin, reason)
    return None


# --- order context ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DoseContext:
    order: MedicationFact
    route: Route
    product: Product | None
    indication: Indication | None
    weight: DosingWeight | None
    regimen: Regimen | None
    plan: Plan | None
    switching: bool
    ramp_up: bool

    @property
    def hyqvia(self) -> bool:
        return self.order.product == "hyqvia"

    @property
    def sc_weekly(self) -> bool:
        return self.route is Route.SC and not self.hyqvia

    @property
    def grams(self) -> float | None:
        if self.order.dose is None:
            return None
        return self.order.dose.grams(self.weight.kg if self.weight else None)

    @property
    def drug(self) -> str:
        if self.hyqvia:
            return "HyQvia"
        return "SCIG" if self.route is Route.SC else "IVIG"

    @property
    def dose_checkable(self) -> bool:
        """Dose limits apply: weight, regimen and dose known; not in HyQvia ramp-up or an IV-to-SC switch."""
        return (
            self.weight is not None
            and self.regimen is not None
            and self.plan is not None
            and not self.ramp_up
            and not (self.switching and self.route is Route.SC)
        )


def _hyqvia_ramp_up(facts: Facts, order: MedicationFact) -> bool:
    """Within 6 weeks of the first HyQvia on record (none on record: this order starts the ramp-up)."""
    if order.product != "hyqvia":
        return False
    dates = [d.when for d in ig_doses(facts.record) if d.product == "hyqvia"]
    dates += [
        m.when
        for m in facts.record.medications
        if m.product == "hyqvia"
        and not m.draft
        and m.when is not None
        and m.resource_type in ("MedicationRequest", "MedicationStatement")
    ]
    if not dates:
        return True
    return text.days_ago(min(dates), facts.now) <= HYQVIA_RAMP_UP_DAYS.value


def _active_iv_ig(facts: Facts) -> list[MedicationFact]:
    return [
        m
        for m in facts.record.medications
        if m.is_ig
        and not m.draft
        and m.status == "active"
        and order_route(m) is Route.IV
        and m.resource_type in ("MedicationRequest", "MedicationStatement")
        and not ("immunomodulatory" in m.reason_concepts and "replacement" not in m.reason_concepts)
    ]


def _recent_iv_doses(facts: Facts) -> list:  # list[IgDose]
    return [d for d in doses_within(facts, int(SCIG_SWITCH_DAYS.value), Route.IV) if not d.immunomodulatory]


def is_switching(facts: Facts, order: MedicationFact, indication: Indication | None) -> bool:
    """SC order for a replacement indication while on, or within 8 weeks of, IV Ig (RULES.md)."""
    if order_route(order) is not Route.SC or indication is None or not indication.replacement:
        return False
    return bool(_recent_iv_doses(facts) or _active_iv_ig(facts))


def dose_context(facts: Facts, order: MedicationFact) -> DoseContext:
    route = order_route(order)
    indication = order_indication(facts, order)
    weight = dosing_weight(facts)
    hyqvia = order.product == "hyqvia"
    regimen = None
    if indication is not None and indication.kind is not Kind.REGIMEN_LESS:
        regimen = regimen_for(
            indication.concept,
            replacement=indication.replacement,
            sc_weekly=route is Route.SC and not hyqvia,
            policy=facts.policy,
        )
    plan = plan_of(order, weight.kg) if weight is not None else None
    return DoseContext(
        order,
        route,
        product(order.product),
        indication,
        weight,
        regimen,
        plan,
        is_switching(facts, order, indication),
        _hyqvia_ramp_up(facts, order),
    )


# --- text helpers -------------------------------------------------------------------------------


def _per_kg(value: float, regimen: Regimen | None, unit: str = "mg/kg") -> str:
    """mg/kg for replacement, g/kg for immunomodulatory doses (as the regimen table speaks)."""
    suffix = unit.removeprefix("mg/kg")
    if regimen is not None and not regimen.replacement:
        return f"{text.num(value / 1000, 2)} g/kg{suffix}"
    return f"{text.num(value, 0)} mg/kg{suffix}"


def _interval_text(days: float | None) -> str:
    if days is None:
        return "(no interval stated)"
    if days < 1:
        return f"{round(1 / days)} times a day"
    if days == 1:
        return "daily"
    if days % 7 == 0:
        weeks = int(days // 7)
        return "weekly" if weeks == 1 else f"every {weeks} weeks ({text.num(days)} days)"
    return f"every {text.num(days)} days"


def _ordered_text(ctx: DoseContext) -> str:
    order = ctx.order
    dose = order.dose
    parts = [ctx.drug + (f" ({ctx.product.name})" if ctx.product and not ctx.hyqvia else "")]
    if dose is not None:
        parts.append(f"{text.num(dose.value, 2)} {dose.unit.value}")
        grams = ctx.grams
        if dose.unit.value not in ("g",) and grams is not None:
            parts.append(f"(= {text.grams(grams)})")
    parts.append(
        _interval_text(
            ctx.plan.interval_days if ctx.plan else (order.timing.interval_days if order.timing else None)
        )
    )
    if ctx.plan and ctx.plan.administrations:
        parts.append(f"× {ctx.plan.administrations} administrations")
    return " ".join(parts)


def _indication_line(ctx: DoseContext) -> str:
    if ctx.indication is None:
        return "**Indication**: none recognised"
    return f"**Indication**: {ctx.indication.label} (from {ctx.indication.where})"


def _computed_lines(ctx: DoseContext) -> list[str]:
    plan, regimen = ctx.plan, ctx.regimen
    assert plan is not None
    lines = [
        f"- per administration: {_per_kg(plan.per_admin, regimen)}"
        + (f" = {text.grams(ctx.grams)}" if ctx.grams is not None else "")
    ]
    if plan.per_day_count > 1 or (regimen is not None and regimen.max_per_day is not None):
        lines.append(f"- per day: {_per_kg(plan.per_day, regimen, 'mg/kg/day')}")
    if ctx.route is Route.SC and plan.weekly is not None:
        lines.append(
            f"- per week: {_per_kg(plan.weekly, regimen, 'mg/kg/week')} (dose × 7 ÷ "
            f"{text.num(plan.interval_days or 0)} days)"
        )
    if plan.course_total is not None:
        days = f" over {text.num(plan.course_days)} days" if plan.course_days else ""
        lines.append(
            f"- stated course: {plan.administrations} administrations = "
            f"{text.g_per_kg(plan.course_total)}{days}"
        )
    return lines


def _citation_text(c: Citation) -> str:
    return f"[{c.label}]({c.url})" if c.url else c.label


# --- rules --------------------------------------------------------------------------------------


def order_weight_missing(facts: Facts) -> Iterator[Finding]:
    """Ig order and no actual weight in the freshness window (site policy: 90 days adult, 30 child)."""
    if not facts.record.has("observations"):
        return
    orders = ig_orders(facts)
    if not orders or dosing_weight(facts) is not None:
        return
    window = weight_window_days(facts)
    who = "under 18" if is_child(facts) else "adults"
    newest = newest_weight(facts)
    for order in orders:
        drug = "SCIG" if order_route(order) is Route.SC else "IVIG"
        if newest is None:
            summary = f"No body weight on record: the {drug} dose cannot be checked per kg"
            newest_text = "No body weight is on record."
        else:
            ago = text.days_ago(newest.when, facts.now)
            summary = (
                f"No weight in the last {window} days (newest {text.kg(newest.value or 0)}, {ago} days old): "
                f"{drug} dose cannot be checked"
            )
            newest_text = (
                f"The newest weight is {text.kg(newest.value or 0)} measured {text.day(newest.when)}, "
                f"{ago} days ago."
            )
        detail = "\n".join(
            [
                f"A current **actual body weight** is missing: one measured in the last **{window} days** "
                f"(site policy: {facts.policy.weight_max_age_days_adult} days for adults, "
                f"{facts.policy.weight_max_age_days_child} days under 18; this patient counts as {who}).",
                "",
                newest_text,
                "",
                "Without it the dose per kg, the daily and course totals and any adjusted dosing weight "
                "cannot be "
                "checked, so no dose check and no dose suggestion is made for this order. Record a weight "
                "(and height, for adjusted-weight dosing) and re-check the dose.",
            ]
        )
        yield Finding(
            "order-weight-missing",
            Indicator.WARNING,
            summary,
            detail,
            about=order.reference,
            source=Citation(
                "site policy: weight freshness; RULES.md Terms, Actual weight; "
                "label doses are per kg (Privigen PI)"
            ),
        )


def order_dose_out_of_range(facts: Facts) -> Iterator[Finding]:
    for order in ig_orders(facts):
        ctx = dose_context(facts, order)
        if not ctx.dose_checkable:
            continue
        assert ctx.plan is not None and ctx.regimen is not None and ctx.weight is not None
        found = violations(ctx.regimen, ctx.plan)
        if not found:
            continue
        yield _out_of_range_finding(facts, ctx, found)


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
            f"{ctx.drug} course over {text.num(v.value)} days: outside the {v.limit.text('days')}{for_whom}"
        )
    if v.what == "course total":
        return (
            f"{ctx.drug} course {ctx.plan.administrations} × {grams} = {text.g_per_kg(v.value)}: {side} "
            f"the {text.g_per_kg(v.edge)} course limit{for_whom}"
        )
    if v.what == "per day":
        return (
            f"{ctx.drug} {grams} = {_per_kg(v.value, regimen, 'mg/kg/day')}: {side} the "
            f"{_per_kg(v.edge, regimen, 'mg/kg/day')} limit{for_whom}"
        )
    if v.what == "per week":
        return (
            f"{ctx.drug} {grams} {_interval_text(ctx.plan.interval_days)} = "
            f"{_per_kg(v.value, regimen, 'mg/kg/week')}: {side} the {_per_kg(v.edge, regimen, 'mg/kg/week')}"
            f" limit{for_whom}"
        )
    name = {
        "per infusion": "label limit" if regimen.replacement else "limit",
        "single dose": "single dose",
        "maintenance dose": "maintenance dose",
    }[v.what]
    ordered, edge = _per_kg(v.value, regimen), _per_kg(v.edge, regimen)
    return f"{ctx.drug} {grams} = {ordered}: {side} the {edge} {name}{for_whom}"


def _out_of_range_finding(facts: Facts, ctx: DoseContext, found: list[Violation]) -> Finding:
    regimen, plan, weight = ctx.regimen, ctx.plan, ctx.weight
    assert regimen is not None and plan is not None and weight is not None
    suggested = suggest_dose(regimen, plan, found, weight.kg, facts.policy)
    lines = [
        f"**Order**: {_ordered_text(ctx)}",
        _indication_line(ctx),
        f"**Dosing weight**: {weight.describe(facts)}",
        "",
        "**Computed dose**",
        *_computed_lines(ctx),
        "",
        "**Outside the limits**",
        *[
            f"- {v.what}: {_per_kg(v.value, regimen, v.unit) if v.per_kg else text.num(v.value) + ' days'} "
            f"(limit {v.limit.text(v.unit) if not v.per_kg else _range_per_kg(v.limit, regimen, v.unit)})"
            for v in found
        ],
        "",
        f"**Regimen** ({regimen.title}): limits {regimen.hard_text} — {_citation_text(regimen.hard_source)}; "
        f"usual {regimen.usual_text} — {_citation_text(regimen.usual_source)}.",
    ]
    suggestions: tuple[Suggestion, ...] = ()
    if suggested is not None:
        lines += [
            "",
            f"**Suggested dose**: {text.grams(suggested.grams)} per administration "
            f"({_per_kg(suggested.per_admin, regimen)}): {suggested.reason}. It passes every limit above.",
        ]
        label = f"Change dose to {text.grams(suggested.grams)} ({_per_kg(suggested.per_admin, regimen)})"
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
        source=_source(regimen.hard_source),
    )


def _range_per_kg(r: Range, regimen: Regimen, unit: str) -> str:
    suffix = unit.removeprefix("mg/kg")
    if regimen.replacement:
        return r.text(f"mg/kg{suffix}")
    scaled = Range(r.low / 1000 if r.low is not None else None, r.high / 1000 if r.high is not None else None)
    return scaled.text(f"g/kg{suffix}")


def _source(c: Citation) -> Citation:
    return c


def _trough_target(facts: Facts, ind: Indication) -> float:
    targets = facts.policy.trough_target_mg_dl
    group = regimen_group(ind.concept)
    return targets.higm if group == "higm" else targets.sigmd if group == "sigmd" else targets.other


def justifying_reasons(facts: Facts, ind: Indication) -> list[str]:
    """Reasons on record that justify a replacement dose above the usual range (RULES.md)."""
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
        interval = f" {_interval_text(plan.interval_days)}" if regimen.basis is Basis.WEEK else ""
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
                f"**Order**: {_ordered_text(ctx)}",
                _indication_line(ctx),
                f"**Dosing weight**: {ctx.weight.describe(facts)}",
                "",
                "**Computed dose**",
                *_computed_lines(ctx),
                "",
                f"**Usual range** ({regimen.title}): {regimen.usual_text} — "
                f"{_citation_text(regimen.usual_source)}."
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


def order_interval_out_of_range(facts: Facts) -> Iterator[Finding]:
    for order in ig_orders(facts):
        indication = order_indication(facts, order)
        if indication is None or not indication.replacement or order.timing is None:
            continue
        interval = order.timing.interval_days
        if interval is None or _hyqvia_ramp_up(facts, order):
            continue
        sc_weekly = order_route(order) is Route.SC and order.product != "hyqvia"
        regimen = regimen_for(indication.concept, replacement=True, sc_weekly=sc_weekly, policy=facts.policy)
        if regimen is None or regimen.interval is None or regimen.interval.contains(interval):
            continue
        drug = "HyQvia" if order.product == "hyqvia" else ("SCIG" if sc_weekly else "IVIG")
        summary = (
            f"{drug} {_interval_text(interval)}: outside the expected {regimen.interval_text} "
            f"for {indication.label}"
        )
        detail = "\n".join(
            [
                f"**Ordered interval**: {_interval_text(interval)}"
                + ("" if "days" in _interval_text(interval) else f" ({text.num(interval)} days)")
                + ".",
                f"**Expected** for {'SC' if sc_weekly else 'IV'} replacement"
                f"{' (HyQvia is checked like IV replacement)' if drug == 'HyQvia' else ''}: "
                f'{regimen.interval_text}; "monthly" counts as 30 days.',
                _indication_line(dose_context(facts, order)),
                "",
                f"Source: {_citation_text(regimen.usual_source)}; RULES.md Resolved details (replacement "
                "interval).",
            ]
        )
        yield Finding(
            "order-interval-out-of-range",
            Indicator.WARNING,
            summary,
            detail,
            about=order.reference,
            source=regimen.usual_source,
        )


def order_dosing_weight(facts: Facts) -> Iterator[Finding]:
    policy = facts.policy
    if policy.dosing_weight == "actual":
        return
    assessment = adjusted_weight(facts)
    if not assessment.applies:
        return
    actual, adjusted, ibw = assessment.actual, assessment.adjusted_kg, assessment.ibw_kg
    assert actual is not None and actual.value is not None and adjusted is not None and ibw is not None
    recommended = policy.dosing_weight == "adjusted"
    for order in ig_orders(facts):
        ctx = dose_context(facts, order)
        per_kg = order.dose.mg_per_kg(actual.value) if order.dose else None
        ordered_g = order.dose.grams(actual.value) if order.dose else None
        suggestion: tuple[Suggestion, ...] = ()
        new_g: float | None = None
        if per_kg is not None:
            raw = per_kg * adjusted / 1000
            step = rounding_step(raw, policy)
            new_g = round(raw / step) * step
            plan = plan_of(order, actual.value)
            safe = new_g > 0
            if (
                safe
                and ctx.regimen is not None
                and plan is not None
                and not ctx.ramp_up
                and not (ctx.switching and ctx.route is Route.SC)
            ):
                safe = not violations(ctx.regimen, plan.with_dose(new_g * 1000 / adjusted))
            if safe:
                suggestion = (
                    update_dose(
                        order.raw,
                        new_g,
                        label=f"Dose on adjusted weight: {text.grams(new_g)}",
                        description=f"Update the order to {text.grams(new_g)} ({text.num(per_kg, 0)} mg/kg × "
                        f"{text.kg(adjusted)} adjusted weight)",
                        recommended=recommended,
                    ),
                )
        bmi_text = text.num(assessment.bmi or 0)
        summary = f"BMI {bmi_text}: adjusted weight {text.kg(adjusted)} (actual {text.kg(actual.value)})" + (
            f"; dose would be {text.grams(new_g)} instead of {text.grams(ordered_g)}"
            if new_g is not None and ordered_g is not None
            else ""
        )
        mode = (
            'Site policy dosing_weight = "adjusted": the dose checks use the adjusted weight and the '
            "suggestion is recommended."
            if recommended
            else 'Site policy dosing_weight = "advise": this is advice; the dose checks use the actual '
            "weight."
        )
        detail = "\n".join(
            [
                f"- Actual weight: {text.kg(actual.value)} ({text.day(actual.when)}); height "
                f"{text.num(assessment.height_cm or 0)} cm; BMI {bmi_text} ({assessment.bmi_how})",
                f"- Ideal body weight (Devine): {text.kg(ibw)}",
                f"- Adjusted weight = IBW + 0.4 × (actual − IBW) = {text.kg(adjusted)}",
                (
                    f"- Ordered {text.grams(ordered_g)} = {text.num(per_kg, 0)} mg/kg of actual weight; the "
                    "same "
                    f"mg/kg on adjusted weight = {text.grams(per_kg * adjusted / 1000)}"
                    + (f", rounded to {text.grams(new_g)}" if new_g is not None else "")
                    if per_kg is not None and ordered_g is not None
                    else "- The order states no dose."
                ),
                "",
                f"Applies (site policy): adult ≥ {policy.adjusted_weight_min_age} years, height ≥ "
                f"{text.num(policy.adjusted_weight_min_height_cm)} cm, not pregnant, BMI ≥ "
                f"{text.num(policy.adjusted_weight_min_bmi)}, and actual weight above adjusted weight. Ig "
                "distributes "
                "little into fat (NBA BloodSTAR; Ontario IGUM).",
                mode,
            ]
        )
        yield Finding(
            "order-dosing-weight",
            Indicator.INFO,
            summary,
            detail,
            about=order.reference,
            suggestions=suggestion,
        )


@dataclass(frozen=True, slots=True)
class IvSource:
    grams: float | None
    interval_days: float | None
    description: str


def _iv_source(facts: Facts) -> IvSource:
    doses = [d for d in ig_doses(facts.record) if d.is_iv and not d.immunomodulatory]
    active = _active_iv_ig(facts)
    grams: float | None = None
    interval: float | None = None
    parts: list[str] = []
    if doses:
        last = max(doses, key=lambda d: d.last_day)
        grams = last.grams
        parts.append(
            f"last IV dose {text.grams(last.grams) if last.grams else '(dose not recorded)'} on "
            f"{text.day(last.when)}"
        )
    weight = newest_weight(facts)
    for med in active:
        if med.timing and med.timing.interval_days:
            interval = med.timing.interval_days
        if grams is None and med.dose is not None:
            grams = med.dose.grams(weight.value if weight else None)
            if grams is not None:
                parts.append(f"active IV order {text.grams(grams)}")
        if interval:
            break
    if interval is None and len(doses) >= 2:
        ordered = sorted(doses, key=lambda d: d.when)
        gap = (ordered[-1].when.date() - ordered[-2].when.date()).days
        if 7 <= gap <= 56:
            interval = float(gap)
            parts.append(f"interval {gap} days between the last two IV doses")
    elif interval is not None:
        parts.append(f"IV interval {text.num(interval)} days")
    return IvSource(grams, interval, "; ".join(parts) or "IV Ig on record")


def order_scig_conversion(facts: Facts) -> Iterator[Finding]:
    policy = facts.policy
    for order in ig_orders(facts):
        indication = order_indication(facts, order)
        if not is_switching(facts, order, indication):
            continue
        assert indication is not None
        source = _iv_source(facts)
        factor = sc_conversion_factor(order.product, policy.scig_conversion)
        found = product(order.product)
        name = found.name if found else "SCIG"
        weight = dosing_weight(facts)
        grams = order.dose.grams(weight.kg if weight else None) if order.dose else None
        interval = order.timing.interval_days if order.timing else None
        factor_text = (
            'factor 1.0 (site policy scig_conversion = "one")'
            if policy.scig_conversion == "one"
            else f"factor {text.num(factor, 2)} ({name} label)"
            if factor
            else "factor not on file"
        )
        trough = (
            "Check a trough IgG after the switch: the Cutaquig label says 2–3 months after switching (the "
            "seed's every 2 weeks for 8 weeks has no primary source)."
        )
        target_week = None
        if source.grams and source.interval_days and factor:
            target_week = source.grams / (source.interval_days / 7) * factor
        header = [
            f"**Switch from IV**: {source.description}.",
            f"**Rule**: weekly SC dose = IV dose (g) ÷ IV interval (weeks) × {factor_text}.",
        ]
        if target_week is None or grams is None or not interval:
            missing = (
                "the IV dose or interval"
                if not (source.grams and source.interval_days)
                else "the product's conversion factor"
                if not factor
                else "the SC dose or interval"
            )
            summary = f"IV to SC switch: set the weekly {name} dose from the last IV dose and interval"
            detail = "\n".join(
                header + ["", f"The target cannot be computed here: {missing} is not on record.", "", trough]
            )
            yield Finding("order-scig-conversion", Indicator.INFO, summary, detail, about=order.reference)
            continue
        ordered_week = grams * 7 / interval
        match = abs(ordered_week - target_week) <= SCIG_MATCH_TOLERANCE.value * target_week
        calc = (
            f"{text.grams(source.grams or 0)} ÷ {text.num((source.interval_days or 0) / 7, 2)} weeks × "
            f"{text.num(factor, 2)} = {text.grams(target_week)} per week"
        )
        lines = header + [
            f"**Target**: {calc}.",
            f"**Ordered**: {text.grams(grams)} {_interval_text(interval)} = "
            f"{text.grams(ordered_week)} per week.",
        ]
        if match:
            summary = (
                f"{name} {text.grams(ordered_week)}/week matches the IV-to-SC target "
                f"{text.grams(target_week)}/week (within 10%)"
            )
            yield Finding(
                "order-scig-conversion",
                Indicator.INFO,
                summary,
                "\n".join(lines + ["", trough]),
                about=order.reference,
            )
            continue
        suggested = round(target_week * interval / 7)
        suggestions: tuple[Suggestion, ...] = ()
        if suggested > 0 and _conversion_safe(facts, order, indication, suggested, interval, weight):
            suggestions = (
                update_dose(
                    order.raw,
                    float(suggested),
                    label=f"Change dose to {text.grams(suggested)} {_interval_text(interval)}",
                    description=f"Update the {name} order to {text.grams(suggested)} per "
                    "administration (IV-to-SC conversion)",
                    recommended=True,
                ),
            )
            lines.append(
                f"**Suggested**: {text.grams(suggested)} {_interval_text(interval)} (the weekly target "
                "scaled to the ordered interval, rounded to 1 g)."
            )
        summary = (
            f"{name} {text.grams(ordered_week)}/week differs from the IV-to-SC target "
            f"{text.grams(target_week)}/week by more than 10%"
        )
        yield Finding(
            "order-scig-conversion",
            Indicator.WARNING,
            summary,
            "\n".join(lines + ["", trough]),
            about=order.reference,
            suggestions=suggestions,
        )


def _conversion_safe(
    facts: Facts,
    order: MedicationFact,
    indication: Indication,
    grams: float,
    interval: float,
    weight: DosingWeight | None,
) -> bool:
    """The converted dose passes the SC (or, for HyQvia, per-infusion) replacement hard limits."""
    if weight is None:
        return True
    regimen = regimen_for(
        indication.concept, replacement=True, sc_weekly=order.product != "hyqvia", policy=facts.policy
    )
    if regimen is None:
        return True
    plan = Plan(grams * 1000 / weight.kg, interval)
    return not violations(regimen, plan)


def _site_limits(
    facts: Facts, order: MedicationFact, found: Product | None, weight_kg: float | None
) -> tuple[ScSiteLimit | None, str, ScSiteLimit | None]:
    """(product limit, whose, seed limit) for this patient and infusion number."""
    years = age(facts)
    infusion = 1 + sum(1 for d in ig_doses(facts.record) if d.product == order.product and order.product)
    own = next(
        (lim for lim in (found.sc_limits if found else ()) if lim.applies(years, weight_kg, infusion)), None
    )
    seed = next((lim for lim in SEED_SC_LIMITS if lim.applies(years, weight_kg, infusion)), None)
    whose = f"{found.name} label" if own is not None and found else "seed document (Xembify label limits)"
    return own, whose, seed


def order_scig_administration(facts: Facts) -> Iterator[Finding]:
    for order in ig_orders(facts):
        if order_route(order) is not Route.SC or order.product == "hyqvia":
            continue
        found = product(order.product)
        name = found.name if found else "SCIG"
        weight = dosing_weight(facts)
        grams = order.dose.grams(weight.kg if weight else None) if order.dose else None
        own, whose, seed = _site_limits(facts, order, found, weight.kg if weight else None)
        volume_limit = (
            own.max_ml_per_site if own and own.max_ml_per_site else (seed.max_ml_per_site if seed else None)
        )
        rate_limit = (
            own.max_ml_per_hour_per_site
            if own and own.max_ml_per_hour_per_site
            else (seed.max_ml_per_hour_per_site if seed else None)
        )
        limit_whose = whose if own and own.max_ml_per_site else "seed document (Xembify label limits)"
        rate_whose = whose if own and own.max_ml_per_hour_per_site else "seed document (Xembify label limits)"
        max_sites = int(own.max_sites if own and own.max_sites else SC_MAX_SITES.value)
        concentration = found.concentration_g_per_ml if found else None
        lines: list[str] = []
        if grams is not None and concentration:
            volume = grams / concentration
            lines.append(
                f"- Volume: {text.grams(grams)} ÷ {text.num(concentration * 100)}% = {text.num(volume)} mL"
            )
            if volume_limit:
                sites = max(1, math.ceil(volume / volume_limit - 1e-9))
                lines.append(
                    f"- Sites: {sites} (at most {text.num(volume_limit)} mL per site — {limit_whose})"
                )
                summary = (
                    f"{name} {text.grams(grams)} = {text.num(volume)} mL: {sites} "
                    f"site{'s' if sites > 1 else ''}"
                    f" of ≤{text.num(volume_limit)} mL"
                    + (f" at ≤{text.num(rate_limit)} mL/h/site" if rate_limit else "")
                )
                if sites > max_sites:
                    lines.append(
                        f"- **More than {max_sites} sites needed**: at most {max_sites} sites at once "
                        "(Xembify label); split the dose over more frequent infusions."
                    )
                    summary = (
                        f"{name} {text.grams(grams)} = {text.num(volume)} mL needs {sites} sites: more than "
                        f"{max_sites}; split the dose"
                    )
            else:
                summary = (
                    f"{name} {text.grams(grams)} = {text.num(volume)} mL: no per-site volume limit on file"
                )
        else:
            why = "no dose in g" if grams is None else f"the {name} concentration is not on file"
            summary = f"{name}: check volume per site and rate ({why})"
            lines.append(f"- Volume cannot be computed: {why}.")
        if rate_limit:
            lines.append(f"- Rate: at most {text.num(rate_limit)} mL/h per site — {rate_whose}")
        elif seed is None:
            lines.append(
                "- No SC rate limits on file for this age (the Xembify label limits start at 2 years)."
            )
        if own is not None and own.note:
            lines.append(f"- {found.name if found else name}: {own.note}")
        lines.append(f"- At most {max_sites} sites at once, at least 5 cm apart (Xembify label).")
        source = own.source if own is not None else (seed.source if seed else Citation("seed document 003"))
        yield Finding(
            "order-scig-administration",
            Indicator.INFO,
            summary[:139],
            "\n".join(lines),
            about=order.reference,
            source=source,
        )


ORDER_RULES = (
    order_weight_missing,
    order_dose_out_of_range,
    order_dose_atypical,
    order_interval_out_of_range,
    order_dosing_weight,
    order_scig_conversion,
    order_scig_administration,
)
PATIENT_VIEW_RULES: tuple = ()
