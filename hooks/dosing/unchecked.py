"""``order-dose-unchecked``: an Ig order whose dose cannot be read is said to be unchecked.

docs/clinical-rules.md Terms ("Ordered dose"): a dose is read in g, mg, g/kg or mg/kg, or in mL of a product whose
concentration is known (``derive.ml_doses``). Any other unit (``{pill}``, ``{vial}``, ``[iU]``), mL of a
product of unknown concentration, or no dose at all is an unreadable dose: no dose rule can judge it, and
a clinician seeing no dose card must not believe the dose was checked. The card names what it got (the
unit, or "no dose") and what would make the dose checkable; it carries no suggestion (there is nothing
to correct the dose to).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from cds_service import Indicator
from fhir_mappings.model import GivenDose, MedicationFact

from .. import text
from ..derive.indications import ig_orders
from ..findings import Finding
from ..knowledge.products import product
from .context import drug_name

if TYPE_CHECKING:
    from ..facts import Facts

_CHECKABLE = (
    "**To make it checkable**: order the dose per administration in g or mg, or in mg/kg or g/kg (UCUM "
    "units `g`, `mg`, `g/kg`, `mg/kg`). A dose in mL is read when the strength is stated: on the order's "
    "Medication (`ingredient.strength`, e.g. 100 mg per 1 mL) or in the product name (\"10%\"), or when "
    "the product is sold in one strength only."
)


def _unit_text(given: GivenDose) -> str:
    """The unit as the order wrote it: client text, so quoted (one line, Markdown inert, capped)."""
    return text.quote(given.unit or "")


def _why(order: MedicationFact) -> tuple[str, str]:
    """(summary phrase, detail sentence) saying what the order gave instead of a readable dose."""
    given = order.dose_given
    if given is None:
        return "the order states no dose", "the order states no dose (no `doseQuantity`)"
    millilitres = given.millilitres
    if millilitres is not None:
        # Still in mL: no stated strength, and no single strength on file (derive.ml_doses read the rest).
        known = product(order.product)
        name = known.name if known else "this product"
        reason = (
            "the product is not recognised"
            if known is None
            else f"{known.name} is sold in more than one strength, or its strength is not on file"
        )
        return (
            f"{text.num(millilitres)} mL of {name} with no stated strength",
            f"the dose is {text.num(millilitres)} mL of {name} and no strength is stated on the order; "
            f"{reason}, so the mL cannot be turned into grams without a guess",
        )
    unit = _unit_text(given)
    if given.unit is not None and given.unit not in ("g", "mg", "g/kg", "mg/kg", "mL"):
        amount = f"{text.num(given.value, 2)} " if given.value is not None else ""
        return (
            f'dose in "{unit}" is not a mass or per-kg dose',
            f'the dose is "{amount}{unit}": a count of units, not an amount of immune globulin',
        )
    if given.unit is None:
        return "the dose has no unit", "the dose Quantity has no unit"
    return "the dose has no usable number", f'the dose in "{unit}" has no usable number'


def order_dose_unchecked(facts: Facts) -> Iterator[Finding]:
    for order in ig_orders(facts):
        if order.dose is not None:
            continue
        drug = drug_name(order)
        phrase, sentence = _why(order)
        detail = "\n".join(
            [
                f"The {drug} dose of this order was **not checked**: {sentence}. No dose limit (per kg, per "
                "day, per course) and no dose suggestion applies to it.",
                "",
                _CHECKABLE,
            ]
        )
        yield Finding(
            "order-dose-unchecked",
            Indicator.INFO,
            f"{drug} dose not checked: {phrase} — order it in g or mg/kg",
            detail,
            about=order.reference,
        )
