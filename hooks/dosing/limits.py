"""The limits of a regimen that a dose plan breaks, and the nearest safe dose (docs/clinical-rules.md "Suggested dose").

Suggested doses are safe by construction: a candidate dose is rounded to the site's step and re-checked
against every limit of the regimen before it is offered; a probable unit error gets no suggestion.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .. import text
from ..knowledge.regimens import Basis, Range, Regimen
from ..knowledge.thresholds import UNIT_ERROR_FACTOR
from .plan import Plan

if TYPE_CHECKING:
    from ..policy import Policy


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
        """A probable unit, decimal or product error (docs/clinical-rules.md Suggested dose: 3× / ⅓)."""
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


def _to_usual_range(v: Violation, regimen: Regimen, justified: bool) -> bool:
    """A replacement dose goes back to the usual range, an overdose with a justifying reason on record
    to the hard upper limit (docs/clinical-rules.md "Suggested dose with a justifying reason")."""
    return regimen.replacement and regimen.usual is not None and not (justified and v.above)


def _target_per_admin(v: Violation, regimen: Regimen, plan: Plan, justified: bool) -> float | None:
    """Per-administration mg/kg at the nearest edge (usual range for replacement; else the broken one)."""
    if v.what == "course total":
        return v.edge / plan.administrations if plan.administrations else None
    if v.what == "per day":
        return v.edge / plan.per_day_count
    edge = v.edge
    if _to_usual_range(v, regimen, justified) and regimen.usual is not None:
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
    regimen: Regimen,
    plan: Plan,
    found: list[Violation],
    weight_kg: float,
    policy: Policy,
    *,
    justified: bool = False,
) -> SuggestedDose | None:
    """The nearest safe dose, or None (probable unit error, or no rounded dose passes every limit).

    ``justified``: a reason that justifies a replacement dose above the usual range is on record, so an
    overdose is brought back to the hard upper limit instead of the usual range.
    """
    if any(v.unit_error() for v in found):
        return None
    for v in found:
        target = _target_per_admin(v, regimen, plan, justified)
        if target is None or target <= 0:
            continue
        exact = target * weight_kg / 1000
        grams = round_toward(exact, down=v.above, policy=policy)
        if grams <= 0:
            continue
        candidate = plan.with_dose(grams * 1000 / weight_kg)
        if not violations(regimen, candidate):
            edge_name = (
                "usual range"
                if _to_usual_range(v, regimen, justified)
                else "hard limit"
                if regimen.replacement
                else f"{v.what} limit"
            )
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
