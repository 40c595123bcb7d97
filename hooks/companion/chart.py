"""Geometry of the IgG trend chart: every mark's position, computed here; the template only draws.

One SVG, three bands sharing the time axis: severe infections on top, the IgG panel (values, troughs
filled, the target line) with the Ig doses under it (a marker per dose, mg/kg beside it; a
MedicationStatement's period as a bar), and body weight below. Positions are plain numbers, so the
template needs no logic and the tests can read the marks' data attributes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

from .. import text
from .trend import Trend

WIDTH = 960
LEFT, RIGHT = 70, 24
INFECTION_Y = 18
IGG_TOP, IGG_BOTTOM = 40, 300
DOSE_Y = 318
DOSE_LABEL_Y = (336, 350)
WEIGHT_TOP, WEIGHT_BOTTOM = 378, 470
AXIS_Y = 488
HEIGHT = 500


@dataclass(frozen=True, slots=True)
class Tick:
    pos: float
    label: str


@dataclass(frozen=True, slots=True)
class Mark:
    x: float
    y: float
    title: str
    #: Extra data for the page and its tests (kept as strings).
    data: dict[str, str]
    label: str = ""
    label_y: float = 0.0
    x2: float | None = None
    kind: str = ""


@dataclass(frozen=True, slots=True)
class TrendChart:
    width: int
    height: int
    left: int
    right: int
    igg_top: int
    igg_bottom: int
    weight_top: int
    weight_bottom: int
    axis_y: int
    x_ticks: tuple[Tick, ...]
    igg_ticks: tuple[Tick, ...]
    weight_ticks: tuple[Tick, ...]
    target_y: float
    target_label: str
    igg_points: tuple[Mark, ...]
    igg_path: str
    doses: tuple[Mark, ...]
    infections: tuple[Mark, ...]
    weights: tuple[Mark, ...]
    weight_path: str


def nice_step(span: float, count: int) -> float:
    raw = span / max(count, 1)
    magnitude = 10 ** math.floor(math.log10(raw)) if raw > 0 else 1
    for factor in (1, 2, 2.5, 5, 10):
        if raw <= factor * magnitude:
            return factor * magnitude
    return 10 * magnitude


def _month_ticks(start: datetime, end: datetime, x: Scale) -> tuple[Tick, ...]:
    """The first day of each month in the range, at most about eight of them labelled."""
    months: list[datetime] = []
    year, month = start.year, start.month
    while True:
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
        moment = datetime(year, month, 1, tzinfo=start.tzinfo)
        if moment > end:
            break
        months.append(moment)
    every = max(1, math.ceil(len(months) / 8))
    return tuple(Tick(x(m), f"{m.year}-{m.month:02d}") for i, m in enumerate(months) if i % every == 0)


class Scale:
    """Linear map from a value (a datetime's timestamp, or a number) onto pixels."""

    def __init__(self, low: float, high: float, out_low: float, out_high: float) -> None:
        self.low, self.high = low, high if high > low else low + 1
        self.out_low, self.out_high = out_low, out_high

    def __call__(self, value: float | datetime) -> float:
        v = value.timestamp() if isinstance(value, datetime) else value
        return round(self.out_low + (v - self.low) / (self.high - self.low) * (self.out_high - self.out_low), 1)


def _value_ticks(scale: Scale, low: float, high: float, step: float) -> tuple[Tick, ...]:
    """A tick every ``step`` from ``low`` to ``high`` on a value axis, labelled in whole units."""
    return tuple(Tick(scale(low + i * step), text.num(low + i * step, 0))
                 for i in range(int(round((high - low) / step)) + 1))


def _path(points: list[tuple[float, float]]) -> str:
    return " ".join(f"{'M' if i == 0 else 'L'}{x},{y}" for i, (x, y) in enumerate(points))


def build_chart(trend: Trend) -> TrendChart:
    x = Scale(trend.start.timestamp(), trend.end.timestamp(), LEFT, WIDTH - RIGHT)
    top_value = max([v.mg_dl for v in trend.igg] + [trend.target_mg_dl]) * 1.15
    igg_step = nice_step(top_value, 5)
    igg_max = math.ceil(top_value / igg_step) * igg_step
    y = Scale(0, igg_max, IGG_BOTTOM, IGG_TOP)
    igg_ticks = _value_ticks(y, 0, igg_max, igg_step)
    points = []
    for value in trend.igg:
        kind = "trough" if value.trough else "other"
        points.append(Mark(
            x(value.when), y(value.mg_dl),
            f"{text.day(value.when)}: IgG {text.num(value.mg_dl, 0)} mg/dL" + (" (trough)" if value.trough else ""),
            {"mg-dl": f"{value.mg_dl:g}", "date": text.day(value.when), "kind": kind}, kind=kind,
        ))
    doses = []
    for index, dose in enumerate(trend.doses):
        per_kg = text.num(dose.mg_per_kg, 0) if dose.mg_per_kg is not None else "?"
        grams = text.grams(dose.grams) if dose.grams is not None else "dose not recorded"
        title = (f"{text.day(dose.when)}: {dose.product} {dose.route} {grams}"
                 + (f" = {per_kg} mg/kg ({text.kg(dose.weight_kg)})" if dose.mg_per_kg is not None and dose.weight_kg
                    else "") + f" — {dose.source}")
        data = {"date": text.day(dose.when), "source": dose.source,
                "mg-per-kg": f"{dose.mg_per_kg:.1f}" if dose.mg_per_kg is not None else "",
                "grams": f"{dose.grams:g}" if dose.grams is not None else "",
                "changed": "true" if dose.changed else "false"}
        x2 = x(dose.until) if dose.until is not None and dose.until > dose.when else None
        doses.append(Mark(x(dose.when), DOSE_Y, title, data, label=per_kg,
                          label_y=DOSE_LABEL_Y[index % 2], x2=x2, kind="changed" if dose.changed else "same"))
    infections = tuple(
        Mark(x(when), INFECTION_Y, f"{text.day(when)}: severe infection", {"date": text.day(when)})
        for when in trend.infections
    )
    weights: list[Mark] = []
    weight_ticks: tuple[Tick, ...] = ()
    if trend.weights:
        low = min(w.kg for w in trend.weights)
        high = max(w.kg for w in trend.weights)
        step = nice_step(max(high - low, 4.0), 3)
        w_low, w_high = math.floor((low - 1) / step) * step, math.ceil((high + 1) / step) * step
        wy = Scale(w_low, w_high, WEIGHT_BOTTOM, WEIGHT_TOP)
        weight_ticks = _value_ticks(wy, w_low, w_high, step)
        weights = [Mark(x(w.when), wy(w.kg), f"{text.day(w.when)}: {text.kg(w.kg)}",
                        {"kg": f"{w.kg:.1f}", "date": text.day(w.when)}) for w in trend.weights]
    return TrendChart(
        width=WIDTH, height=HEIGHT, left=LEFT, right=RIGHT,
        igg_top=IGG_TOP, igg_bottom=IGG_BOTTOM, weight_top=WEIGHT_TOP, weight_bottom=WEIGHT_BOTTOM, axis_y=AXIS_Y,
        x_ticks=_month_ticks(trend.start, trend.end, x),
        igg_ticks=igg_ticks,
        weight_ticks=weight_ticks,
        target_y=y(trend.target_mg_dl),
        target_label=f"target {text.num(trend.target_mg_dl, 0)} mg/dL ({trend.target_for}, site policy)",
        igg_points=tuple(points),
        igg_path=_path([(p.x, p.y) for p in points]),
        doses=tuple(doses),
        infections=infections,
        weights=tuple(weights),
        weight_path=_path([(w.x, w.y) for w in weights]),
    )
