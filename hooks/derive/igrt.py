"""Immunoglobulin therapy history: recorded doses, courses, "on IgRT", trough and pre-treatment IgG.

Definitions (docs/clinical-rules.md Terms and Resolved details):

- A **recorded dose** is a MedicationAdministration, a MedicationStatement (its effective period),
  or an Immunization (CVX 87, IGIV) for normal human Ig; "an order alone is not a dose", so
  MedicationRequests never count here. Entries with a status saying the dose was not given
  (``not-done``, ``entered-in-error``, ``not-taken``, ``intended``) are ignored.
- **mg/kg** of a dose uses the newest body weight measured on or before the dose's day.
- **On IgRT**: a replacement indication AND (an active, non-draft Ig MedicationRequest or
  MedicationStatement, or a recorded Ig dose in the last 56 days). Ig whose own reason is only an
  immunomodulatory indication does not count.
- **Trough IgG**: an IgG drawn with a recorded Ig dose in the 56 days before the draw.
- **Pre-treatment IgG**: the newest IgG drawn with no recorded Ig dose in the preceding 90 days.
- **Course**: recorded doses less than or equal to 7 days apart (chained) are one course.

All windows are whole days and inclusive at both ends (docs/clinical-rules.md "Dates").

The doses, the trough IgGs, the pre-treatment IgG and "on IgRT" are asked by several rules of one
call, so they are computed once per call (``cache.per_call``) and returned as tuples nobody mutates.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING

from fhir_mappings.model import ClinicalRecord, Measure, Measurement, MedicationFact, Route

from .cache import per_call
from .conditions import active_concepts

if TYPE_CHECKING:  # hooks.facts imports the services package; avoid the cycle at import time
    from ..facts import Facts

#: 8 weeks (docs/clinical-rules.md Terms "On IgRT", Resolved details "Trough IgG").
IGRT_WINDOW_DAYS = 56
#: Pre-treatment IgG washout (docs/clinical-rules.md Resolved details "Pre-treatment IgG").
PRETREATMENT_WASHOUT_DAYS = 90
#: All Ig given within 7 days is one course (docs/clinical-rules.md ``order-live-vaccine``).
COURSE_GAP_DAYS = 7

DOSE_RESOURCE_TYPES = ("MedicationAdministration", "MedicationStatement", "Immunization")
_NOT_GIVEN = frozenset({"not-done", "entered-in-error", "not-taken", "intended", "cancelled"})
_REPLACEMENT_CONCEPTS = ("replacement-severe", "replacement-less-severe", "replacement")
_IMMUNOMODULATORY = "immunomodulatory"


@dataclass(frozen=True, slots=True)
class IgDose:
    """One recorded Ig dose (or, for a MedicationStatement, a period of regular doses)."""

    when: datetime
    grams: float | None
    mg_per_kg: float | None
    route: Route | None
    product: str | None
    #: Resource type of the record: MedicationAdministration, MedicationStatement or Immunization.
    source: str
    #: End of the effective period (MedicationStatement / Administration period), when given.
    until: datetime | None = None
    #: Weight used for mg/kg (kg) and the day it was measured.
    weight_kg: float | None = None
    weight_when: datetime | None = None
    reference: str | None = None
    #: True when the dose's own reason is only immunomodulatory (not a replacement indication).
    immunomodulatory: bool = False
    #: True for a MedicationStatement still in progress (status active, no end).
    ongoing: bool = False

    @property
    def is_iv(self) -> bool:
        """IV unless the route (or product) says SC (docs/clinical-rules.md Terms "Route": default IV)."""
        return self.route is not Route.SC

    @property
    def last_day(self) -> datetime:
        """The latest moment this record can stand for a dose (end of a period, else ``when``)."""
        return self.until if self.until is not None and self.until > self.when else self.when

    def given_between(self, start: datetime, end: datetime) -> bool:
        """Whether a dose of this record falls on a day in [start, end] (whole days, inclusive)."""
        first = self.when.date()
        last = end.date() if self.ongoing else self.last_day.date()
        return first <= end.date() and last >= start.date()


@dataclass(frozen=True, slots=True)
class IgCourse:
    """Doses within ``COURSE_GAP_DAYS`` of each other, oldest first."""

    doses: tuple[IgDose, ...]

    @property
    def first(self) -> datetime:
        return self.doses[0].when

    @property
    def last(self) -> datetime:
        """The day of the last dose of the course (CDC intervals count from here)."""
        return max(d.last_day for d in self.doses)

    @property
    def total_mg_per_kg(self) -> float | None:
        """Course total in mg/kg; None when any dose has no mg/kg (no dose or no weight)."""
        values = [d.mg_per_kg for d in self.doses]
        if any(v is None for v in values):
            return None
        return sum(v for v in values if v is not None)

    @property
    def total_grams(self) -> float | None:
        values = [d.grams for d in self.doses]
        if any(v is None for v in values):
            return None
        return sum(v for v in values if v is not None)

    @property
    def is_iv(self) -> bool:
        return any(d.is_iv for d in self.doses)


def weight_on_or_before(record: ClinicalRecord, when: datetime) -> Measurement | None:
    """The newest body weight measured on or before ``when``'s day (no freshness limit)."""
    return _weight_on_or_before(record.measured(Measure.WEIGHT), when)


def _weight_on_or_before(weights: Sequence[Measurement], when: datetime) -> Measurement | None:
    """``weight_on_or_before`` over weights already sorted newest first (sorted once per record)."""
    day = when.date()
    for m in weights:
        if m.value is not None and m.when.date() <= day:
            return m
    return None


def _is_recorded_dose(med: MedicationFact) -> bool:
    return (
        med.resource_type in DOSE_RESOURCE_TYPES  # first: it turns away the orders cheapest
        and med.is_ig
        and not med.draft
        and med.when is not None
        and (med.status or "") not in _NOT_GIVEN
    )


def _only_immunomodulatory(med: MedicationFact) -> bool:
    reasons = med.reason_concepts
    return _IMMUNOMODULATORY in reasons and not any(c in reasons for c in _REPLACEMENT_CONCEPTS)


@per_call
def ig_doses(record: ClinicalRecord) -> tuple[IgDose, ...]:
    """Recorded Ig doses, oldest first (orders never count)."""
    doses: list[IgDose] = []
    weights = record.measured(Measure.WEIGHT)
    for med in record.medications:
        if not _is_recorded_dose(med):
            continue
        assert med.when is not None
        weight = _weight_on_or_before(weights, med.when)
        weight_kg = weight.value if weight is not None else None
        grams = med.dose.grams(weight_kg) if med.dose is not None else None
        per_kg = med.dose.mg_per_kg(weight_kg) if med.dose is not None else None
        doses.append(
            IgDose(
                when=med.when,
                grams=grams,
                mg_per_kg=per_kg,
                route=med.route,
                product=med.product,
                source=med.resource_type,
                until=med.until,
                weight_kg=weight_kg,
                weight_when=weight.when if weight is not None else None,
                reference=med.reference,
                immunomodulatory=_only_immunomodulatory(med),
                ongoing=(
                    med.resource_type == "MedicationStatement"
                    and med.until is None
                    and med.status == "active"
                ),
            )
        )
    doses.sort(key=lambda d: d.when)
    return tuple(doses)


def _record(facts_or_record: object) -> ClinicalRecord:
    record = getattr(facts_or_record, "record", facts_or_record)
    assert isinstance(record, ClinicalRecord)
    return record


def has_replacement_indication(record: ClinicalRecord) -> bool:
    active = active_concepts(record)
    return any(c in active for c in _REPLACEMENT_CONCEPTS)


@per_call
def on_igrt(facts: Facts) -> bool:
    """docs/clinical-rules.md Terms "On IgRT" (replacement IgRT), at ``facts.now``."""
    record = facts.record
    if not has_replacement_indication(record):
        return False
    for med in record.medications:
        if (
            med.is_ig
            and not med.draft
            and med.status == "active"
            and not _only_immunomodulatory(med)
            and med.resource_type in ("MedicationRequest", "MedicationStatement")
        ):
            return True
    return any(not d.immunomodulatory for d in _doses_within(record, facts.now, IGRT_WINDOW_DAYS))


def _doses_within(
    record: ClinicalRecord, now: datetime, days: int, route: Route | None = None
) -> list[IgDose]:
    start = now.date()
    found = []
    for dose in ig_doses(record):
        if route is not None and (dose.route or Route.IV) is not route:
            continue
        first = dose.when.date()
        last = now.date() if dose.ongoing else dose.last_day.date()
        if first <= start and (start - last).days <= days:
            found.append(dose)
    return found


def ig_given_within(facts: Facts, days: int, route: Route | None = None) -> bool:
    """A recorded Ig dose (optionally of one route; no route = IV) in the last ``days`` days."""
    return bool(_doses_within(_record(facts), facts.now, days, route))


def doses_within(facts: Facts, days: int, route: Route | None = None) -> list[IgDose]:
    """The recorded Ig doses of ``ig_given_within``, oldest first."""
    return _doses_within(_record(facts), facts.now, days, route)


def _dose_before(dose: IgDose, draw: datetime, days: int) -> bool:
    """A dose given on or before the draw, on a day in [draw day - days, draw day].

    A dose charted later on the draw day (an infusion after a trough draw) is not "before" it.
    """
    if dose.when > draw:
        return False
    last = draw if dose.ongoing else min(dose.last_day, draw)
    return (draw.date() - last.date()).days <= days


@per_call
def trough_iggs(facts: Facts) -> tuple[Measurement, ...]:
    """IgG results drawn with a recorded Ig dose in the 56 days before the draw, newest first."""
    record = _record(facts)
    newest_first = ig_doses(record)[::-1]  # the dose just before a draw is usually a recent one
    return tuple(
        m
        for m in record.measured(Measure.IGG)
        if m.value is not None and any(_dose_before(d, m.when, IGRT_WINDOW_DAYS) for d in newest_first)
    )


@per_call
def pretreatment_igg(facts: Facts) -> Measurement | None:
    """The newest IgG drawn with no recorded Ig dose in the preceding 90 days."""
    record = _record(facts)
    newest_first = ig_doses(record)[::-1]  # a dose in the washout is usually a recent one
    for m in record.measured(Measure.IGG):
        if m.value is None:
            continue
        if not any(_dose_before(d, m.when, PRETREATMENT_WASHOUT_DAYS) for d in newest_first):
            return m
    return None


def last_iv_ig_dose(facts: Facts) -> IgDose | None:
    """The most recent recorded IV Ig dose (route IV or unstated), by its last day."""
    iv = [d for d in ig_doses(_record(facts)) if d.is_iv]
    return max(iv, key=lambda d: d.last_day) if iv else None


def ig_courses(facts: Facts) -> list[IgCourse]:
    """Recorded doses grouped into courses (gaps of at most 7 days chain), oldest first.

    A MedicationStatement still in progress ends "now" (its last dose may have been today).
    """
    now = facts.now
    courses: list[list[IgDose]] = []
    for dose in ig_doses(_record(facts)):
        if dose.ongoing:
            dose = replace(dose, until=max(now, dose.when))
        if (
            courses
            and (dose.when.date() - max(d.last_day for d in courses[-1]).date()).days <= COURSE_GAP_DAYS
        ):
            courses[-1].append(dose)
        else:
            courses.append([dose])
    return [IgCourse(tuple(c)) for c in courses]
