"""The vial combination that makes up a dose (clinical-facts §2.3 "Rounding practice").

Among the totals that whole vials of the product can make, the one closest to the ordered dose within
the tolerance (10%, up or down); on a tie the one with fewer vials, then the smaller total (less waste,
which Medicare DME also asks for). Sizes are counted in tenths of a gram, exact for every size on file
(0.5, 1, 2, 2.5, 4, ... g).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

_TENTHS = 10


@dataclass(frozen=True, slots=True)
class VialCombination:
    #: (vial size in g, number of vials), largest size first.
    vials: tuple[tuple[float, int], ...]
    total_g: float
    ordered_g: float

    @property
    def count(self) -> int:
        return sum(n for _, n in self.vials)

    @property
    def difference_pct(self) -> float:
        return (self.total_g - self.ordered_g) / self.ordered_g * 100


def vial_combination(ordered_g: float, sizes_g: tuple[float, ...], tolerance: float) -> VialCombination | None:
    """The best whole-vial total within ``tolerance`` of ``ordered_g``; None when none is."""
    units = sorted({round(s * _TENTHS) for s in sizes_g if s > 0}, reverse=True)
    if not units or ordered_g <= 0:
        return None
    target = ordered_g * _TENTHS
    low = max(1, math.ceil(target * (1 - tolerance) - 1e-9))
    high = math.floor(target * (1 + tolerance) + 1e-9)
    if high < low:
        return None
    # fewest vials for every total up to ``high`` (unbounded knapsack), with the last vial added
    fewest = [0] + [math.inf] * high
    last = [0] * (high + 1)
    for total in range(1, high + 1):
        for unit in units:
            if unit <= total and fewest[total - unit] + 1 < fewest[total]:
                fewest[total] = fewest[total - unit] + 1
                last[total] = unit
    reachable = [t for t in range(low, high + 1) if fewest[t] != math.inf]
    if not reachable:
        return None
    best = min(reachable, key=lambda t: (abs(t - target), fewest[t], t))
    counts: dict[int, int] = {}
    rest = best
    while rest:
        counts[last[rest]] = counts.get(last[rest], 0) + 1
        rest -= last[rest]
    vials = tuple((unit / _TENTHS, counts[unit]) for unit in units if unit in counts)
    return VialCombination(vials, best / _TENTHS, ordered_g)
