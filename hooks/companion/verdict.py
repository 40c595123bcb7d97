"""What igcds's dose cards say about the order a plan is about, and the plan of any dose they suggest.

A pharmacist preparing a dose needs to know first whether the rules object to it: a plan for 70 g that
does not say the dose is above the label's limit, or that the card suggested 55 g, is the wrong plan.
Nothing here judges a dose: the page runs the dose rules of the order services (``hooks.dosing``'s
``ORDER_RULES``, the "dosing" theme of the catalog, whose cards are the ones that link to the plan)
through the services' own ``run_rules`` on the Facts the page already built, and keeps the findings
about this order that the EHR shows (a rule the site policy silences is left out, as its card is).

A suggested dose is read off those findings' suggestions: an ``update`` action carrying the same
MedicationRequest with only the dose changed (``hooks.suggestions.update_dose``). The order with that
dose (dose read by ``fhir_mappings``' ``read_dose``, as the mapper reads any dose) gets its own plan,
and the same dose rules judge it again, so the suggested plan says what the rules say about it too.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cds_service import ActionType, Indicator
from fhir_mappings.codings import first_dict
from fhir_mappings.medications import read_dose
from fhir_mappings.model import MedicationFact

from .. import dosing
from ..catalog import CATALOG, RULES_BY_ID
from ..facts import Facts
from ..findings import Finding, fit_summary
from ..services.common import run_rules
from .dose_plan import DosePlan, build_dose_plan
from .links import DOSE_PLAN_RULES

#: The dose rules, in catalog order, exactly as the order services run them.
DOSE_RULES = dosing.ORDER_RULES
#: Their titles, for the page to say what was checked.
DOSE_CHECKS = tuple(spec.title for spec in CATALOG if spec.id in DOSE_PLAN_RULES)


@dataclass(frozen=True, slots=True)
class DoseCard:
    """One dose card about the order, as the EHR shows it (indicator, the rule's title, the summary)."""

    rule: str
    title: str
    indicator: Indicator
    summary: str


@dataclass(frozen=True, slots=True)
class SuggestedDose:
    """A dose a card suggests for the order: the order with the card's dose, and which card said so."""

    order: MedicationFact
    rule: str
    #: The suggestion's label on the card (e.g. "Change dose to 55 g (786 mg/kg)").
    label: str
    recommended: bool


@dataclass(frozen=True, slots=True)
class DoseVerdict:
    cards: tuple[DoseCard, ...]
    suggestions: tuple[SuggestedDose, ...]
    #: Dose rules that failed instead of answering (the services report them as ``rulesNotEvaluated``).
    not_evaluated: tuple[str, ...]

    @property
    def indicator(self) -> Indicator | None:
        """The most urgent indicator of the cards (None: no dose card)."""
        return max((c.indicator for c in self.cards), key=lambda i: i.rank, default=None)


@dataclass(frozen=True, slots=True)
class JudgedDose:
    """One dose of the order (as ordered, or as a card suggests), its plan and the dose rules' verdict."""

    plan: DosePlan
    verdict: DoseVerdict
    suggested: SuggestedDose | None = None
    #: Position among the suggested doses (1, 2, ...); 0 for the ordered dose.
    index: int = 0

    @property
    def key(self) -> str:
        """``ordered``, or ``suggested-<n>``: the page marks each plan's figures with it."""
        return "ordered" if self.suggested is None else f"suggested-{self.index}"


def _first_dose_quantity(resource: Mapping[str, Any]) -> object:
    """``dosageInstruction[0].doseAndRate[0].doseQuantity``: where ``update_dose`` writes the dose (walked with
    the mapper's ``first_dict``, as it reads an order's dose)."""
    return first_dict(first_dict(resource.get("dosageInstruction")).get("doseAndRate")).get("doseQuantity")


def _suggested_doses(finding: Finding, order: MedicationFact) -> list[SuggestedDose]:
    found = []
    for suggestion in finding.suggestions:
        for action in suggestion.actions:
            resource = action.resource
            if (
                action.type is not ActionType.UPDATE
                or not isinstance(resource, Mapping)
                or resource.get("resourceType") != order.resource_type
                or resource.get("id") != order.id
            ):
                continue
            dose = read_dose(_first_dose_quantity(resource))
            if dose is None or dose == order.dose:
                continue
            found.append(SuggestedDose(dataclasses.replace(order, dose=dose, raw=resource), finding.rule,
                                       suggestion.label, suggestion.is_recommended))
    return found


def dose_verdict(facts: Facts, order: MedicationFact) -> DoseVerdict:
    """The dose cards about ``order`` (most urgent first, catalog order within) and the doses they suggest."""
    findings, failed = run_rules(facts, DOSE_RULES)
    mine = [
        f for f in findings
        if f.about == order.reference and f.rule in DOSE_PLAN_RULES and not facts.policy.is_silent(f.rule)
    ]
    mine.sort(key=lambda f: -f.indicator.rank)
    suggestions: list[SuggestedDose] = []
    for finding in mine:
        for suggested in _suggested_doses(finding, order):
            if all(s.order.dose != suggested.order.dose for s in suggestions):
                suggestions.append(suggested)
    return DoseVerdict(
        cards=tuple(DoseCard(f.rule, RULES_BY_ID[f.rule].title, f.indicator, fit_summary(f.summary)) for f in mine),
        suggestions=tuple(suggestions),
        not_evaluated=tuple(name.replace("_", "-") for name in failed),
    )


def with_order(facts: Facts, order: MedicationFact, replacement: MedicationFact) -> Facts:
    """The same Facts with ``replacement`` in place of the draft ``order`` (what the EHR would hold after
    the clinician accepts the card's suggestion)."""
    drafts = tuple(replacement if o is order else o for o in facts.record.draft_orders)
    if not any(o is replacement for o in drafts):
        drafts += (replacement,)
    return dataclasses.replace(facts, record=dataclasses.replace(facts.record, draft_orders=drafts))


def judged_doses(facts: Facts, order: MedicationFact) -> tuple[JudgedDose, ...]:
    """The ordered dose, then each dose a card suggests: each with its plan and the dose rules' verdict."""
    verdict = dose_verdict(facts, order)
    doses = [JudgedDose(build_dose_plan(facts, order), verdict)]
    for index, suggested in enumerate(verdict.suggestions, start=1):
        changed = with_order(facts, order, suggested.order)
        doses.append(JudgedDose(build_dose_plan(changed, suggested.order), dose_verdict(changed, suggested.order),
                                suggested, index))
    return tuple(doses)
