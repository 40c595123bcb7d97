"""Body-weight rules for Ig orders: ``order-weight-missing`` and ``order-dosing-weight``.

Doses are per kg, so a missing or stale weight stops every dose check (and says so), and an obese adult
may be dosed on adjusted weight (site policy ``dosing_weight``: actual, advise or adjusted).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from cds_service import Indicator, Suggestion
from fhir_mappings.model import Route

from .. import text
from ..catalog import Citation
from ..derive.indications import ig_orders, order_route
from ..derive.weights import adjusted_weight, dosing_weight, is_child, newest_weight, weight_window_days
from ..findings import Finding
from ..suggestions import update_dose
from .context import dose_context
from .limits import rounding_step, violations
from .plan import plan_of

if TYPE_CHECKING:
    from ..facts import Facts


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
                f"No weight in the last {text.days(window)} (newest {text.kg(newest.value or 0)}, "
                f"{text.days(ago)} old): {drug} dose cannot be checked"
            )
            newest_text = (
                f"The newest weight is {text.kg(newest.value or 0)} measured {text.day(newest.when)}, "
                f"{text.days(ago)} ago."
            )
        detail = "\n".join(
            [
                f"A current **actual body weight** is missing: one measured in the last **{text.days(window)}** "
                f"(site policy: {text.days(facts.policy.weight_max_age_days_adult)} for adults, "
                f"{text.days(facts.policy.weight_max_age_days_child)} under 18; this patient counts as {who}).",
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
                "site policy: weight freshness; docs/clinical-rules.md Terms, Actual weight; "
                "label doses are per kg (Privigen PI)"
            ),
        )


def order_dosing_weight(facts: Facts) -> Iterator[Finding]:
    policy = facts.policy
    orders = ig_orders(facts)
    if policy.dosing_weight == "actual" or not orders:
        return
    assessment = adjusted_weight(facts)
    if not assessment.applies:
        return
    actual, adjusted, ibw = assessment.actual, assessment.adjusted_kg, assessment.ibw_kg
    assert actual is not None and actual.value is not None and adjusted is not None and ibw is not None
    recommended = policy.dosing_weight == "adjusted"
    for order in orders:
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
            # Without an indication the envelope of every regimen is the only limit there is.
            limits = ctx.regimen or ctx.envelope
            if safe and limits is not None and plan is not None and ctx.limits_apply:
                safe = not violations(limits, plan.with_dose(new_g * 1000 / adjusted))
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
