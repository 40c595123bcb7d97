"""What the dosing rules need to know about one Ig order, read once from the record.

``DoseContext`` gathers the route, product, indication, dosing weight, regimen and dose plan of an order,
and whether its dose limits apply at all: not during the HyQvia ramp-up, not for an SC order that
switches from IV Ig (``order-scig-conversion`` handles that one) and not for an SCIG loading course.
An order without an indication (``order-indication-missing`` fires) has no regimen but an
``envelope``: the range of every regimen, which only a grossly wrong dose leaves.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from fhir_mappings.model import MedicationFact, Route

from .. import text
from ..derive.cache import per_call
from ..derive.igrt import IgDose, doses_within, ig_doses, on_igrt
from ..derive.indications import Indication, Kind, order_indication, order_route
from ..derive.weights import DosingWeight, dosing_weight
from ..indications import indication_missing
from ..knowledge.products import Product, product
from ..knowledge.regimens import Regimen, no_indication_envelope, regimen_for
from ..knowledge.thresholds import HYQVIA_RAMP_UP_DAYS, SCIG_SWITCH_DAYS
from .plan import Plan, plan_of

if TYPE_CHECKING:
    from ..facts import Facts


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
    #: An SCIG loading course (docs/clinical-rules.md Resolved details; site policy): no weekly range, no interval rule.
    loading: bool = False
    #: Without an indication (``order-indication-missing`` fires): the envelope of every regimen.
    envelope: Regimen | None = None

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
        return drug_name(self.order)

    @property
    def limits_apply(self) -> bool:
        """Dose limits apply at all: not in HyQvia ramp-up, an IV-to-SC switch or an SCIG loading course
        (an order without an indication is neither switching nor loading: only the ramp-up exempts it)."""
        return not self.ramp_up and not (self.switching and self.route is Route.SC) and not self.loading

    @property
    def dose_checkable(self) -> bool:
        """Dose limits apply, and weight, regimen and dose are known."""
        return self.weight is not None and self.regimen is not None and self.plan is not None and self.limits_apply

    @property
    def envelope_checkable(self) -> bool:
        """No indication, but weight and dose known and dose limits apply: judge the envelope."""
        return self.envelope is not None and self.weight is not None and self.plan is not None and self.limits_apply


def drug_name(order: MedicationFact) -> str:
    """How the dosing cards name the order: HyQvia, SCIG (any other SC) or IVIG."""
    if order.product == "hyqvia":
        return "HyQvia"
    return "SCIG" if order_route(order) is Route.SC else "IVIG"


def hyqvia_ramp_up(facts: Facts, order: MedicationFact) -> bool:
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


def active_iv_ig(facts: Facts) -> list[MedicationFact]:
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


def _recent_iv_doses(facts: Facts) -> list[IgDose]:
    return [d for d in doses_within(facts, int(SCIG_SWITCH_DAYS.value), Route.IV) if not d.immunomodulatory]


def is_switching(facts: Facts, order: MedicationFact, indication: Indication | None) -> bool:
    """SC order for a replacement indication while on, or within 8 weeks of, IV Ig (docs/clinical-rules.md)."""
    if order_route(order) is not Route.SC or indication is None or not indication.replacement:
        return False
    return bool(_recent_iv_doses(facts) or active_iv_ig(facts))


def scig_loading(facts: Facts, order: MedicationFact, indication: Indication | None, plan: Plan | None) -> bool:
    """An SCIG loading course (docs/clinical-rules.md Resolved details "SCIG loading regimen"; seed document 003 — site
    policy): an SC replacement order (not HyQvia) given daily for at most ``scig_loading_max_days`` days
    (``count``, or the bounded days of ``boundsDuration``/``boundsPeriod``) at ``scig_loading_mg_kg_per_day``
    (± ``scig_loading_tolerance``), for a patient not on IgRT and not switching from IV."""
    policy = facts.policy
    timing = order.timing
    if (
        order_route(order) is not Route.SC
        or order.product == "hyqvia"
        or indication is None
        or not indication.replacement
        or plan is None
        or timing is None
        or timing.interval_days is None
        or abs(timing.interval_days - 1) > 1e-9
    ):
        return False
    days = policy.scig_loading_max_days
    short = (timing.count is not None and 0 < timing.count <= days) or (
        timing.bounds_days is not None and 0 < timing.bounds_days <= days
    )
    target = policy.scig_loading_mg_kg_per_day
    if not short or abs(plan.per_day - target) > policy.scig_loading_tolerance * target + 1e-9:
        return False
    return not on_igrt(facts) and not is_switching(facts, order, indication)


@per_call
def dose_context(facts: Facts, order: MedicationFact) -> DoseContext:
    """What the dosing rules read about ``order``; several rules judge the same order, so once per call."""
    route = order_route(order)
    indication = order_indication(facts, order)
    weight = dosing_weight(facts)
    sc_weekly = route is Route.SC and order.product != "hyqvia"
    regimen = None
    if indication is not None and indication.kind is not Kind.REGIMEN_LESS:
        regimen = regimen_for(
            indication.concept,
            replacement=indication.replacement,
            sc_weekly=sc_weekly,
            policy=facts.policy,
        )
    plan = plan_of(order, weight.kg) if weight is not None else None
    envelope = (
        no_indication_envelope(sc_weekly=sc_weekly)
        if indication is None and indication_missing(facts, order)
        else None
    )
    return DoseContext(
        order,
        route,
        product(order.product),
        indication,
        weight,
        regimen,
        plan,
        is_switching(facts, order, indication),
        hyqvia_ramp_up(facts, order),
        scig_loading(facts, order, indication, plan),
        envelope,
    )
