"""The dose plan of one Ig order: weight, dose, vials, infusion rates, SC sites.

Every figure comes from the code and tables the dosing cards use, so the plan and the cards agree:

- dosing weight: ``derive.weights`` (actual weight in its freshness window, IBW (Devine), adjusted
  weight, whether adjusted weight applies, and the site policy ``[policy] dosing_weight``);
- dose: ``dosing.dose_context`` (the order's dose in g and mg/kg of the dosing weight, interval, per
  day / week / course, indication and regimen);
- vials: the product's vial sizes (``knowledge.products``) combined within ±10%
  (``knowledge.infusion.VIAL_TOLERANCE``; ``companion.vials``);
- IV rates: the product label's initial and maximum rates for the indication's labelled use
  (``knowledge.infusion``), capped at the label's lower maximum when the patient has a renal or
  thrombosis risk factor (``safety.renal_risk_factors`` / ``thrombosis_risk_factors``, the boxed-warning
  cards' lists); mL/h = mg/kg/min × dosing weight × 60 ÷ (concentration × 1000);
- SC: volume, sites, volume and rate per site from the label limits the ``order-scig-administration``
  card uses (``dosing.scig``).
"""

from __future__ import annotations

from dataclasses import dataclass

from fhir_mappings.model import MedicationFact, Route

from ..derive.indications import Kind
from ..derive.weights import AdjustedWeight, DosingWeight, adjusted_weight
from ..dosing import dose_context
from ..dosing.card_text import interval_text
from ..dosing.scig import site_limits
from ..facts import Facts
from ..knowledge.infusion import VIAL_TOLERANCE, IvRate, LabelUse, iv_rate
from ..knowledge.products import Product
from ..knowledge.regimens import Regimen
from ..safety import renal_risk_factors, thrombosis_risk_factors
from .vials import VialCombination, vial_combination


@dataclass(frozen=True, slots=True)
class WeightBasis:
    assessment: AdjustedWeight
    #: The weight the dose rules use (``dose_context``'s; None: no dosing weight), and the policy.
    dosing: DosingWeight | None
    policy: str

    @property
    def dosing_kg(self) -> float | None:
        return self.dosing.kg if self.dosing else None

    @property
    def basis(self) -> str | None:
        """The kind of weight: "actual" or "adjusted"."""
        return self.dosing.basis if self.dosing else None


@dataclass(frozen=True, slots=True)
class RateStep:
    mg_kg_min: float
    ml_per_h: float | None
    #: Minutes at this step before the next, when the label says (else: as tolerated).
    minutes: int | None


@dataclass(frozen=True, slots=True)
class RatePlan:
    row: IvRate | None
    use: LabelUse | None
    steps: tuple[RateStep, ...]
    risk_factors: tuple[str, ...]
    #: The label's lower maximum applied for a risk factor (mg/kg/min), when the label gives one.
    at_risk_cap: float | None
    concentration: float | None


@dataclass(frozen=True, slots=True)
class ScPlan:
    volume_ml: float | None
    sites: int | None
    ml_per_site: float | None
    max_ml_per_site: float | None
    ml_per_h_per_site: float | None
    max_sites: int
    whose: str
    note: str


@dataclass(frozen=True, slots=True)
class DosePlan:
    order: MedicationFact
    product: Product | None
    route: Route
    drug: str
    indication: str | None
    #: The regimen the dose cards judge this order against (its usual range and limits are shown).
    regimen: Regimen | None
    interval: str
    weight: WeightBasis
    grams: float | None
    mg_per_kg: float | None
    #: g and mg/kg per week (SC weekly regimens and any interval), per day, course total.
    grams_per_week: float | None
    mg_kg_per_week: float | None
    administrations: int | None
    course_mg_kg: float | None
    vials: VialCombination | None
    vial_sizes: tuple[float, ...]
    rates: RatePlan | None
    sc: ScPlan | None


def label_use(kind: Kind | None, concept: str | None) -> LabelUse | None:
    """The labelled use whose rates apply: replacement → PI; ITP; CIDP; else none on file."""
    if kind is Kind.REPLACEMENT:
        return LabelUse.PI
    return {"itp": LabelUse.ITP, "cidp": LabelUse.CIDP}.get(concept or "")


def ml_per_hour(mg_kg_min: float, weight_kg: float, concentration_g_per_ml: float) -> float:
    return mg_kg_min * weight_kg * 60 / (concentration_g_per_ml * 1000)


def rate_steps(row: IvRate, cap: float | None, weight_kg: float | None, concentration: float | None) -> list[RateStep]:
    """The label's steps from the initial rate up to ``cap`` (the label maximum, or the lower at-risk one).

    Intermediate steps only where the label gives a step (Bivigam); otherwise initial, then the maximum.
    """
    start = row.initial_mg_kg_min if cap is None else min(row.initial_mg_kg_min, cap)
    values = [start]
    if cap is not None and row.step_mg_kg_min:
        value = start + row.step_mg_kg_min
        while value < cap - 1e-9:
            values.append(round(value, 3))
            value += row.step_mg_kg_min
    if cap is not None and cap > values[-1] + 1e-9:
        values.append(cap)
    steps = []
    for index, value in enumerate(values):
        last = index == len(values) - 1
        minutes = None if last else (row.initial_minutes if index == 0 and row.initial_minutes else row.step_minutes)
        ml = ml_per_hour(value, weight_kg, concentration) if weight_kg and concentration else None
        steps.append(RateStep(value, ml, minutes))
    return steps


def _rates(facts: Facts, product_key: str | None, concentration: float | None, use: LabelUse | None,
           weight_kg: float | None) -> RatePlan:
    risks = tuple(renal_risk_factors(facts) + thrombosis_risk_factors(facts))
    row = iv_rate(product_key, use)
    if row is None:
        return RatePlan(None, use, (), risks, None, concentration)
    cap = row.max_mg_kg_min
    at_risk_cap = None
    if risks and row.at_risk_max_mg_kg_min is not None:
        at_risk_cap = row.at_risk_max_mg_kg_min
        cap = at_risk_cap if cap is None else min(cap, at_risk_cap)
    return RatePlan(row, use, tuple(rate_steps(row, cap, weight_kg, concentration)), risks, at_risk_cap,
                    concentration)


def _sc(facts: Facts, order: MedicationFact, found: Product | None, grams: float | None,
        weight_kg: float | None) -> ScPlan:
    """Volume, sites and per-site limits, as the ``order-scig-administration`` card computes them."""
    limits = site_limits(facts, order, found, weight_kg)
    volume = limits.volume_ml(grams)
    sites = limits.sites_for(volume) if volume else None
    return ScPlan(
        volume_ml=volume,
        sites=sites,
        ml_per_site=volume / sites if volume and sites else None,
        max_ml_per_site=limits.max_ml_per_site,
        ml_per_h_per_site=limits.max_ml_per_hour_per_site,
        max_sites=limits.max_sites,
        whose=limits.whose,
        note=limits.own.note if limits.own is not None else "",
    )


def build_dose_plan(facts: Facts, order: MedicationFact) -> DosePlan:
    ctx = dose_context(facts, order)
    weight = WeightBasis(adjusted_weight(facts), ctx.weight, facts.policy.dosing_weight)
    weight_kg = weight.dosing_kg
    grams = ctx.grams
    mg_per_kg = order.dose.mg_per_kg(weight_kg) if order.dose is not None else None
    interval_days = order.timing.interval_days if order.timing else None
    found = ctx.product
    sizes = tuple(found.vial_sizes_g) if found else ()
    vials = vial_combination(grams, sizes, VIAL_TOLERANCE.value) if grams and sizes else None
    indication = ctx.indication
    use = label_use(indication.kind if indication else None, indication.concept if indication else None)
    sc_route = ctx.route is Route.SC
    return DosePlan(
        order=order,
        product=found,
        route=ctx.route,
        drug=ctx.drug,
        indication=indication.label if indication else None,
        regimen=ctx.regimen,
        interval=interval_text(interval_days),
        weight=weight,
        grams=grams,
        mg_per_kg=mg_per_kg,
        grams_per_week=grams * 7 / interval_days if grams is not None and interval_days else None,
        mg_kg_per_week=ctx.plan.weekly if ctx.plan else None,
        administrations=ctx.plan.administrations if ctx.plan else None,
        course_mg_kg=ctx.plan.course_total if ctx.plan else None,
        vials=vials,
        vial_sizes=sizes,
        rates=None if sc_route else _rates(facts, order.product, found.concentration_g_per_ml if found else None,
                                          use, weight_kg),
        sc=_sc(facts, order, found, grams, weight_kg) if sc_route and not ctx.hyqvia else None,
    )
