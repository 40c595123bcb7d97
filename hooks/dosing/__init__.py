"""Dosing rules for Ig orders (docs/clinical-rules.md "Order rules", "Dose regimens", "Resolved details").

``order-weight-missing``, ``order-dose-out-of-range``, ``order-dose-unchecked``, ``order-dose-atypical``,
``order-interval-out-of-range``, ``order-dosing-weight``, ``order-scig-conversion``,
``order-scig-administration``.

All dose arithmetic is in mg/kg of the dosing weight (``derive.weights``): per administration, per day
(administrations per day from the interval), per week for SC (dose × 7 ÷ interval days) and per
stated course (``timing.repeat.count`` or frequency × the bounded days of ``boundsDuration`` or
``boundsPeriod``). Suggested doses are safe by construction: a candidate dose is re-checked against
every limit of the regimen before it is offered. An order without an indication is judged only against
the envelope of every regimen, and never gets a suggestion.

The package keeps one concern per module, read in this order:

- ``plan``: the dose schedule of an order in mg/kg (``Plan``, ``plan_of``);
- ``limits``: the regimen limits a plan breaks and the nearest safe dose (``violations``, ``suggest_dose``);
- ``context``: what the rules read about one order from the record (``DoseContext``, ``dose_context``);
- ``card_text``: the wording the dosing cards share;
- ``weight``, ``dose_range``, ``unchecked``, ``interval``, ``scig``: the rules, two at most per module.

``ORDER_RULES`` lists the rules in catalog order; ``hooks.services.rulesets`` runs them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .context import DoseContext as DoseContext
from .context import dose_context as dose_context
from .context import is_switching as is_switching
from .dose_range import justifying_reasons as justifying_reasons
from .dose_range import order_dose_atypical as order_dose_atypical
from .dose_range import order_dose_out_of_range as order_dose_out_of_range
from .interval import order_interval_out_of_range as order_interval_out_of_range
from .limits import SuggestedDose as SuggestedDose
from .limits import Violation as Violation
from .limits import round_toward as round_toward
from .limits import rounding_step as rounding_step
from .limits import suggest_dose as suggest_dose
from .limits import violations as violations
from .plan import MAINTENANCE_MIN_INTERVAL_DAYS as MAINTENANCE_MIN_INTERVAL_DAYS
from .plan import Plan as Plan
from .plan import plan_of as plan_of
from .scig import IvSource as IvSource
from .scig import order_scig_administration as order_scig_administration
from .scig import order_scig_conversion as order_scig_conversion
from .unchecked import order_dose_unchecked as order_dose_unchecked
from .weight import order_dosing_weight as order_dosing_weight
from .weight import order_weight_missing as order_weight_missing

ORDER_RULES = (
    order_weight_missing,
    order_dose_out_of_range,
    order_dose_unchecked,
    order_dose_atypical,
    order_interval_out_of_range,
    order_dosing_weight,
    order_scig_conversion,
    order_scig_administration,
)
if TYPE_CHECKING:
    from ..facts import Rule

PATIENT_VIEW_RULES: tuple[Rule, ...] = ()
