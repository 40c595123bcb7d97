"""Subcutaneous Ig rules: ``order-scig-conversion`` and ``order-scig-administration``.

Conversion: an SC order for replacement while on, or within 8 weeks of, IV Ig gets the weekly SC target
from the last IV dose and interval (a converted dose is suggested only if it passes the SC limits).
Administration: the infusion volume, the number of sites and the rate per site from the product label.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from cds_service import Indicator, Suggestion
from fhir_mappings.model import MedicationFact, Route

from .. import text
from ..catalog import Citation
from ..derive.igrt import ig_doses
from ..derive.indications import Indication, ig_orders, order_indication, order_route
from ..derive.weights import DosingWeight, age, dosing_weight, newest_weight
from ..findings import Finding
from ..knowledge.products import SEED_SC_LIMITS, Product, ScSiteLimit, product, sc_conversion_factor
from ..knowledge.regimens import SCIG_LOADING_SOURCE, regimen_for
from ..knowledge.thresholds import SC_MAX_SITES, SCIG_MATCH_TOLERANCE
from ..suggestions import update_dose
from .card_text import interval_text
from .context import active_iv_ig, dose_context, is_switching
from .limits import violations
from .plan import Plan

if TYPE_CHECKING:
    from ..facts import Facts


@dataclass(frozen=True, slots=True)
class IvSource:
    grams: float | None
    interval_days: float | None
    description: str


def _iv_source(facts: Facts) -> IvSource:
    doses = [d for d in ig_doses(facts.record) if d.is_iv and not d.immunomodulatory]
    active = active_iv_ig(facts)
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
            parts.append(f"interval {text.days(gap)} between the last two IV doses")
    elif interval is not None:
        parts.append(f"IV interval {text.days(interval)}")
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
            f"{text.num(factor or 0, 2)} = {text.grams(target_week)} per week"  # factor > 0 here (target_week)
        )
        lines = header + [
            f"**Target**: {calc}.",
            f"**Ordered**: {text.grams(grams)} {interval_text(interval)} = "
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
                    label=f"Change dose to {text.grams(suggested)} {interval_text(interval)}",
                    description=f"Update the {name} order to {text.grams(suggested)} per "
                    "administration (IV-to-SC conversion)",
                    recommended=True,
                ),
            )
            lines.append(
                f"**Suggested**: {text.grams(suggested)} {interval_text(interval)} (the weekly target "
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


SEED_WHOSE = "seed document (Xembify label limits)"


@dataclass(frozen=True, slots=True)
class SiteLimits:
    """The per-site limits for one SC order, this patient and this infusion number, and whose they are:
    the product's label where it states one, else the seed document's. The ``order-scig-administration``
    card and the companion's dose plan both read them from here."""

    own: ScSiteLimit | None
    seed: ScSiteLimit | None
    whose: str
    concentration: float | None  # g/mL of the product, when known

    @property
    def max_ml_per_site(self) -> float | None:
        own, seed = self.own, self.seed
        return own.max_ml_per_site if own and own.max_ml_per_site else (seed.max_ml_per_site if seed else None)

    @property
    def max_ml_per_hour_per_site(self) -> float | None:
        own, seed = self.own, self.seed
        return (
            own.max_ml_per_hour_per_site
            if own and own.max_ml_per_hour_per_site
            else (seed.max_ml_per_hour_per_site if seed else None)
        )

    @property
    def max_sites(self) -> int:
        return int(self.own.max_sites if self.own and self.own.max_sites else SC_MAX_SITES.value)

    def volume_ml(self, grams: float | None) -> float | None:
        return grams / self.concentration if grams is not None and self.concentration else None

    def sites_for(self, volume_ml: float) -> int | None:
        limit = self.max_ml_per_site
        return max(1, math.ceil(volume_ml / limit - 1e-9)) if limit else None


def site_limits(facts: Facts, order: MedicationFact, found: Product | None, weight_kg: float | None) -> SiteLimits:
    years = age(facts)
    infusion = 1 + sum(1 for d in ig_doses(facts.record) if d.product == order.product and order.product)
    own = next(
        (lim for lim in (found.sc_limits if found else ()) if lim.applies(years, weight_kg, infusion)), None
    )
    seed = next((lim for lim in SEED_SC_LIMITS if lim.applies(years, weight_kg, infusion)), None)
    whose = f"{found.name} label" if own is not None and found else SEED_WHOSE
    return SiteLimits(own, seed, whose, found.concentration_g_per_ml if found else None)


def order_scig_administration(facts: Facts) -> Iterator[Finding]:
    for order in ig_orders(facts):
        if order_route(order) is not Route.SC or order.product == "hyqvia":
            continue
        found = product(order.product)
        name = found.name if found else "SCIG"
        weight = dosing_weight(facts)
        grams = order.dose.grams(weight.kg if weight else None) if order.dose else None
        limits = site_limits(facts, order, found, weight.kg if weight else None)
        own, seed, concentration = limits.own, limits.seed, limits.concentration
        volume_limit, rate_limit, max_sites = limits.max_ml_per_site, limits.max_ml_per_hour_per_site, limits.max_sites
        limit_whose = limits.whose if own and own.max_ml_per_site else SEED_WHOSE
        rate_whose = limits.whose if own and own.max_ml_per_hour_per_site else SEED_WHOSE
        lines: list[str] = []
        volume = limits.volume_ml(grams)
        if grams is not None and concentration and volume is not None:
            lines.append(
                f"- Volume: {text.grams(grams)} ÷ {text.num(concentration * 100)}% = {text.num(volume)} mL"
            )
            sites = limits.sites_for(volume)
            if volume_limit and sites is not None:
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
        if dose_context(facts, order).loading:
            policy = facts.policy
            lines.append(
                f"- Loading course ({text.num(policy.scig_loading_mg_kg_per_day)} mg/kg daily for at most "
                f"{text.days(policy.scig_loading_max_days)}, not on IgRT, not switching — "
                f"{SCIG_LOADING_SOURCE.label}): the weekly SC ranges and the SC interval are not checked."
            )
        source = own.source if own is not None else (seed.source if seed else Citation("seed document 003"))
        yield Finding(
            "order-scig-administration",
            Indicator.INFO,
            summary,
            "\n".join(lines),
            about=order.reference,
            source=source,
        )
