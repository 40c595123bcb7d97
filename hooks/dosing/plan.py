"""An Ig order's dose schedule in mg/kg of dosing weight (docs/clinical-rules.md "Dose regimens").

Every dose check reads one ``Plan``: the dose per administration, per day (administrations per day from
the interval), per week for SC (dose × 7 ÷ interval days) and per stated course (``timing.repeat.count``,
or frequency × the bounded days of ``boundsDuration`` or ``boundsPeriod``, both read into
``Timing.bounds_days`` by the mapper). Doses are always per administration: a split regimen (half the
dose twice as often) is judged per infusion, never summed over a month. The arithmetic lives apart from
the record and from the card text so that the limit checks can re-run it on a candidate dose
(``Plan.with_dose``) before suggesting it.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from fhir_mappings.model import MedicationFact, Timing

#: From this interval (days) up a dose is maintenance; a shorter interval with a count is a stated course.
MAINTENANCE_MIN_INTERVAL_DAYS = 7


@dataclass(frozen=True, slots=True)
class Plan:
    """An order's dose schedule in mg/kg of dosing weight."""

    per_admin: float
    interval_days: float | None = None
    #: Stated course: number of administrations (> 1, interval < 7 days), else None.
    administrations: int | None = None
    course_days: float | None = None

    @property
    def per_day_count(self) -> int:
        if self.interval_days and self.interval_days < 1:
            return max(1, round(1 / self.interval_days))
        return 1

    @property
    def per_day(self) -> float:
        return self.per_admin * self.per_day_count

    @property
    def weekly(self) -> float | None:
        return self.per_admin * 7 / self.interval_days if self.interval_days else None

    @property
    def course_total(self) -> float | None:
        return self.per_admin * self.administrations if self.administrations else None

    @property
    def maintenance(self) -> bool:
        return self.interval_days is not None and self.interval_days >= MAINTENANCE_MIN_INTERVAL_DAYS

    def with_dose(self, per_admin: float) -> Plan:
        return dataclasses.replace(self, per_admin=per_admin)


def plan_of(order: MedicationFact, weight_kg: float) -> Plan | None:
    if order.dose is None:
        return None
    per_kg = order.dose.mg_per_kg(weight_kg)
    if per_kg is None:
        return None
    timing = order.timing or Timing()
    interval = timing.interval_days
    count = timing.administrations
    course = (
        count
        if count and count > 1 and (interval is None or interval < MAINTENANCE_MIN_INTERVAL_DAYS)
        else None
    )
    days: float | None = None
    if course:
        if timing.bounds_days:
            days = timing.bounds_days
        elif interval:
            days = (course - 1) * interval + 1 if interval >= 1 else course * interval
    return Plan(per_kg, interval, course, days)
