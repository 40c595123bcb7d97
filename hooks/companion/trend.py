"""The IgG trend of one patient: what the chart and its tables show, derived as the rules derive it.

- IgG values: every IgG result the mappings keep (``record.measured(Measure.IGG)``, in mg/dL whatever
  unit the lab reported), within the window; a value is a *trough* by ``derive.igrt.trough_iggs``
  (drawn with a recorded Ig dose in the 56 days before), the definition the trough cards use.
- Target line: ``monitoring.trough_target`` (site policy ``[policy] trough_target_mg_dl``, chosen by
  the order's indication, else the most specific active condition), as on the trough cards.
- Ig doses: ``derive.igrt.ig_doses`` (MedicationAdministration and MedicationStatement; orders never
  count), with grams and mg/kg of the weight measured on or before the dose's day.
- Severe infections: ``derive.indications.infection_episodes`` over the chart's window.
- Weights: every body weight (kg) in the window.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime, timedelta

from fhir_mappings.model import Measure, MedicationFact

from ..derive import igrt
from ..derive.indications import infection_episodes
from ..facts import Facts
from ..knowledge.products import product
from ..monitoring import trough_target

#: A dose whose grams differ from the previous one by more than this counts as a dose change.
_SAME_DOSE_G = 0.05


@dataclass(frozen=True, slots=True)
class IggValue:
    when: datetime
    mg_dl: float
    trough: bool


@dataclass(frozen=True, slots=True)
class DoseMark:
    when: datetime
    until: datetime | None
    grams: float | None
    mg_per_kg: float | None
    weight_kg: float | None
    product: str
    route: str
    #: MedicationAdministration, MedicationStatement or Immunization.
    source: str
    #: The grams differ from the previous dose's in the window.
    changed: bool


@dataclass(frozen=True, slots=True)
class WeightValue:
    when: datetime
    kg: float


@dataclass(frozen=True, slots=True)
class Trend:
    start: datetime
    end: datetime
    igg: tuple[IggValue, ...]
    target_mg_dl: float
    target_for: str
    doses: tuple[DoseMark, ...]
    infections: tuple[datetime, ...]
    weights: tuple[WeightValue, ...]
    #: IgG values older than the window (not charted).
    older_igg: int

    @property
    def troughs(self) -> tuple[IggValue, ...]:
        return tuple(v for v in self.igg if v.trough)


def build_trend(facts: Facts, days: int, order: MedicationFact | None = None) -> Trend:
    now = facts.now
    window_start = now - timedelta(days=days)
    record = facts.record
    trough_ids = {id(m) for m in igrt.trough_iggs(facts)}
    all_igg = [m for m in record.measured(Measure.IGG) if m.value is not None]
    igg = tuple(
        IggValue(m.when, float(m.value or 0), id(m) in trough_ids)
        for m in reversed(all_igg) if window_start <= m.when <= now
    )
    doses: list[DoseMark] = []
    previous: float | None = None
    for dose in igrt.ig_doses(record):
        if dose.last_day < window_start or dose.when > now:
            continue
        known = product(dose.product)
        changed = previous is not None and dose.grams is not None and abs(dose.grams - previous) > _SAME_DOSE_G
        previous = dose.grams if dose.grams is not None else previous
        doses.append(DoseMark(
            when=dose.when,
            until=now if dose.ongoing else dose.until,
            grams=dose.grams,
            mg_per_kg=dose.mg_per_kg,
            weight_kg=dose.weight_kg,
            product=known.name if known else "immune globulin",
            route="SC" if not dose.is_iv else "IV",
            source=dose.source,
            changed=changed,
        ))
    window_policy = dataclasses.replace(facts.policy, infection_window_days=days)
    infections = tuple(infection_episodes(dataclasses.replace(facts, policy=window_policy)))
    weights = tuple(
        WeightValue(m.when, float(m.value or 0))
        for m in reversed(record.measured(Measure.WEIGHT))
        if m.value is not None and window_start <= m.when <= now
    )
    target, target_for = trough_target(facts, order)
    dated = [v.when for v in igg] + [d.when for d in doses] + list(infections) + [w.when for w in weights]
    start = max(window_start, min(dated) - timedelta(days=14)) if dated else window_start
    return Trend(
        start=start,
        end=now + timedelta(days=7),
        igg=igg,
        target_mg_dl=target,
        target_for=target_for,
        doses=tuple(doses),
        infections=infections,
        weights=weights,
        older_igg=sum(1 for m in all_igg if m.when < window_start),
    )
