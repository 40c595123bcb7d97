"""What an Ig order is for, severe-infection episodes, and the selective IgM deficiency criteria.

Definitions (docs/clinical-rules.md Terms and Resolved details):

- **Ig order**: a draft MedicationRequest for normal human Ig (``MedicationFact.is_ig``; the mapper
  marks anti-D, hyperimmune globulins, ATG and IM Ig ``IG_EXCLUDED``), never given intramuscularly.
- **Indication of an order**: the order's own reason when it maps to an indication (replacement,
  immunomodulatory or regimen-less); otherwise the patient's *active* conditions that map to a
  replacement or immunomodulatory indication. The most specific wins: HIGM > SIgMD > other antibody
  deficiency; then immunomodulatory indications; regimen-less ones (anti-GBM, MGUS, CDI) count only
  as the order's own reason.
- **Severe infection episode**: severe-infection Conditions (any clinical status; not refuted or
  entered-in-error) dated (onset, else recordedDate) in the last ``policy.infection_window_days``
  (365) days; conditions whose dates are within 14 days of each other (chained) are one episode.
- **SIgMD IgRT criteria** (``order-igm-deficiency-not-indicated``, ``pv-igm-deficiency-igrt-review``):
  [pre-treatment IgG < ``policy.sigmd_igg_threshold_mg_dl`` (500) OR a documented impaired
  pneumococcal response (D80.6 / SNOMED 234556002, 234559009)] AND recurrent severe infections
  (>= ``policy.recurrent_infections_min`` (2) episodes).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, TypeGuard

from fhir_mappings.model import ConditionFact, Measure, Measurement, MedicationFact, Route

from .. import text
from ..knowledge.thresholds import INFECTION_EPISODE_MERGE_DAYS
from .cache import per_call
from .conditions import active_concepts, recorded_concepts
from .igrt import pretreatment_igg

if TYPE_CHECKING:  # hooks.facts imports the services package; avoid the cycle at import time
    from ..facts import Facts


class Kind(StrEnum):
    REPLACEMENT = "replacement"
    IMMUNOMODULATORY = "immunomodulatory"
    REGIMEN_LESS = "regimen-less"


HIGM = "hyper-igm"
SIGMD = "selective-igm-deficiency"
#: Other antibody deficiencies, severe first (docs/clinical-rules.md Terms "Replacement indication").
OTHER_ANTIBODY_DEFICIENCY = (
    "cvid",
    "agammaglobulinemia",
    "hypogammaglobulinemia",
    "specific-antibody-deficiency",
    "igg-subclass-deficiency",
)
SEVERE_DEFICIENCY = (HIGM, "cvid", "agammaglobulinemia", "hypogammaglobulinemia")
IMMUNOMODULATORY = ("gbs", "myasthenia-gravis", "cidp", "mmn", "autoimmune-encephalitis", "itp", "kawasaki")
REGIMEN_LESS = ("anti-gbm", "mgus", "cdi")

#: Most specific first (docs/clinical-rules.md Terms "Indication of an order").
_PRIORITY: tuple[tuple[str, Kind], ...] = (
    ((HIGM, Kind.REPLACEMENT), (SIGMD, Kind.REPLACEMENT))
    + tuple((c, Kind.REPLACEMENT) for c in OTHER_ANTIBODY_DEFICIENCY)
    + tuple((c, Kind.IMMUNOMODULATORY) for c in IMMUNOMODULATORY)
    + tuple((c, Kind.REGIMEN_LESS) for c in REGIMEN_LESS)
)

LABELS: dict[str, str] = {
    HIGM: "hyper-IgM syndrome",
    SIGMD: "selective IgM deficiency",
    "cvid": "common variable immunodeficiency (CVID)",
    "agammaglobulinemia": "agammaglobulinemia",
    "hypogammaglobulinemia": "hypogammaglobulinemia",
    "specific-antibody-deficiency": "specific antibody deficiency",
    "igg-subclass-deficiency": "IgG subclass deficiency",
    "gbs": "Guillain-Barré syndrome",
    "myasthenia-gravis": "myasthenia gravis",
    "cidp": "CIDP",
    "mmn": "multifocal motor neuropathy",
    "autoimmune-encephalitis": "autoimmune encephalitis",
    "itp": "immune thrombocytopenia (ITP)",
    "kawasaki": "Kawasaki disease",
    "anti-gbm": "anti-GBM disease",
    "mgus": "MGUS",
    "cdi": "C. difficile infection",
}


@dataclass(frozen=True, slots=True)
class Indication:
    """The indication an Ig order is judged against."""

    concept: str
    kind: Kind
    #: True when it comes from the order's own reasonCode/reasonReference.
    from_order: bool

    @property
    def label(self) -> str:
        return LABELS.get(self.concept, self.concept)

    @property
    def replacement(self) -> bool:
        return self.kind is Kind.REPLACEMENT

    @property
    def severe_deficiency(self) -> bool:
        return self.concept in SEVERE_DEFICIENCY

    @property
    def where(self) -> str:
        return "the order's reason" if self.from_order else "an active condition"


# --- Ig orders --------------------------------------------------------------------------------


def is_ig_order(order: object) -> TypeGuard[MedicationFact]:
    """A draft normal human Ig MedicationRequest, not intramuscular (docs/clinical-rules.md Terms "Ig order")."""
    return (
        isinstance(order, MedicationFact)
        and order.is_ig
        and order.resource_type == "MedicationRequest"
        and order.route is not Route.IM
    )


@per_call
def ig_orders(facts: Facts) -> tuple[MedicationFact, ...]:
    """The Ig orders this hook judges (selected ones for order-select, all drafts for order-sign).

    Every order rule starts here, so it is computed once per call.
    """
    return tuple(o for o in facts.record.orders_to_judge() if is_ig_order(o))


def order_route(order: MedicationFact) -> Route:
    """IV or SC: the mapped route (dosage route, else product), else IV (docs/clinical-rules.md Terms "Route")."""
    return order.route if order.route in (Route.IV, Route.SC) else Route.IV


# --- indication -------------------------------------------------------------------------------


def _most_specific(concepts: frozenset[str] | set[str], kinds: tuple[Kind, ...]) -> tuple[str, Kind] | None:
    for concept, kind in _PRIORITY:
        if kind in kinds and concept in concepts:
            return concept, kind
    return None


@per_call
def order_indication(facts: Facts, order: MedicationFact) -> Indication | None:
    """The indication of ``order`` (docs/clinical-rules.md Terms "Indication of an order"), None when none.

    Asked by most order rules about the same order: computed once per call and order.
    """
    own = _most_specific(order.reason_concepts, tuple(Kind))
    if own is not None:
        return Indication(own[0], own[1], from_order=True)
    found = _most_specific(active_concepts(facts.record), (Kind.REPLACEMENT, Kind.IMMUNOMODULATORY))
    return Indication(found[0], found[1], from_order=False) if found else None


def recognised_indications() -> list[str]:
    """Clinician words for every recognised indication, for ``order-indication-missing``."""
    return [LABELS[c] for c, _ in _PRIORITY]


# --- severe infections ------------------------------------------------------------------------


def _counted(condition: ConditionFact) -> bool:
    return "severe-infection" in condition.concepts and not condition.refuted_or_error


def infection_episodes(facts: Facts) -> list[datetime]:
    """First day of each severe-infection episode in the window, oldest first.

    Any clinical status counts (resolved episodes too); dated by onset, else recordedDate; dates in
    the last ``policy.infection_window_days`` whole days (inclusive); conditions within 14 days of
    the previous one are the same episode.
    """
    window = facts.policy.infection_window_days
    dates = sorted(
        c.start
        for c in facts.record.conditions
        if _counted(c) and c.start is not None and 0 <= text.days_ago(c.start, facts.now) <= window
    )
    episodes: list[datetime] = []
    previous: datetime | None = None
    for when in dates:
        if previous is None or (when.date() - previous.date()).days > INFECTION_EPISODE_MERGE_DAYS.value:
            episodes.append(when)
        previous = when
    return episodes


def recurrent_severe_infections(facts: Facts) -> bool:
    return len(infection_episodes(facts)) >= facts.policy.recurrent_infections_min


# --- selective IgM deficiency criteria ---------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SigmdCriteria:
    """docs/clinical-rules.md ``order-igm-deficiency-not-indicated``: when IgRT is indicated in SIgMD."""

    igg_low: bool
    pretreatment_igg: Measurement | None
    pneumococcal_impaired: bool
    pneumococcal_assessed: bool
    infection_episodes: int
    met: bool
    #: Each missing criterion, in clinician words (empty when ``met``).
    missing: tuple[str, ...]
    #: Whether any IgG result is on record (the work-up suggestion is for "never done").
    igg_on_record: bool = False


def _pneumococcal_impaired(facts: Facts) -> bool:
    return "specific-antibody-deficiency" in recorded_concepts(facts.record)


@per_call
def sigmd_criteria(facts: Facts) -> SigmdCriteria:
    """Evaluate the SIgMD IgRT criteria at ``facts.now`` (thresholds from ``facts.policy``)."""
    policy = facts.policy
    threshold = policy.sigmd_igg_threshold_mg_dl
    pre = pretreatment_igg(facts)
    igg_low = pre is not None and pre.value is not None and pre.value < threshold
    impaired = _pneumococcal_impaired(facts)
    assessed = impaired or bool(facts.record.measured(Measure.PNEUMOCOCCAL_AB))
    episodes = len(infection_episodes(facts))
    recurrent = episodes >= policy.recurrent_infections_min
    missing: list[str] = []
    if not (igg_low or impaired):
        if pre is None or pre.value is None:
            missing.append(
                f"no pre-treatment IgG on record (IgG below {text.num(threshold)} mg/dL "
                "drawn with no Ig in the 90 days before; site policy)"
            )
        else:
            missing.append(
                f"IgG not low: pre-treatment IgG {text.num(pre.value)} mg/dL on {text.day(pre.when)} "
                f"is not below {text.num(threshold)} mg/dL (site policy)"
            )
        if not assessed:
            missing.append("no pneumococcal vaccine response assessment on record")
        else:
            missing.append("pneumococcal vaccine response not documented as impaired")
    if not recurrent:
        missing.append(
            f"fewer than {policy.recurrent_infections_min} severe infections in the last "
            f"{text.days(policy.infection_window_days)} ({episodes} episode{'s' if episodes != 1 else ''} "
            "on record; site policy)"
        )
    return SigmdCriteria(
        igg_low=igg_low,
        pretreatment_igg=pre,
        pneumococcal_impaired=impaired,
        pneumococcal_assessed=assessed,
        infection_episodes=episodes,
        met=(igg_low or impaired) and recurrent,
        missing=tuple(missing),
        igg_on_record=any(m.value is not None for m in facts.record.measured(Measure.IGG)),
    )
