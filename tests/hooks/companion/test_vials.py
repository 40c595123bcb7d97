"""Vials for a dose: the whole-vial total closest to the order, within 10%, fewest vials on a tie."""

from __future__ import annotations

import pytest

from hooks.companion.vials import vial_combination
from hooks.knowledge.infusion import VIAL_TOLERANCE
from hooks.knowledge.products import PRODUCTS

TOLERANCE = VIAL_TOLERANCE.value


def combinations(sizes, limit):
    """Every multiset of vials whose total is at most ``limit``, as (total, number of vials)."""
    if not sizes:
        yield 0.0, 0
        return
    first, rest = sizes[0], sizes[1:]
    for n in range(int(limit // first + 1e-9) + 1):
        for total, count in combinations(rest, limit - n * first):
            yield total + n * first, count + n


def brute_force(grams, sizes, tolerance):
    """(distance, vials, total) of the best combination, by trying them all."""
    upper = grams * (1 + tolerance) + 1e-9
    candidates = [(round(abs(t - grams), 6), n, round(t, 6)) for t, n in combinations(sorted(sizes), upper)
                  if abs(t - grams) <= tolerance * grams + 1e-9 and n]
    return min(candidates) if candidates else None


def test_a_70_g_privigen_dose_is_one_40_one_20_and_one_10_g_vial():
    found = vial_combination(70, (5, 10, 20, 40), TOLERANCE)
    assert found.vials == ((40, 1), (20, 1), (10, 1)) and found.total_g == 70 and found.difference_pct == 0


def test_a_dose_no_vial_total_is_within_10_percent_of_gets_none():
    assert vial_combination(3, (5, 10), TOLERANCE) is None  # 5 g is 67% over


def test_an_odd_dose_rounds_to_the_closest_total_down_or_up():
    assert vial_combination(23, (5, 10, 20), TOLERANCE).total_g == 25  # 2 g over beats 3 g under
    assert vial_combination(21.5, (5, 10, 20), TOLERANCE).total_g == 20


def test_on_a_tie_the_combination_with_fewer_vials_wins():
    found = vial_combination(40, (10, 20, 40), TOLERANCE)
    assert found.vials == ((40, 1),)


@pytest.mark.parametrize("product", [p for p in PRODUCTS if p.vial_sizes_g], ids=lambda p: p.key)
def test_every_product_matches_an_exhaustive_search_for_doses_from_1_to_45_g(product):
    sizes = product.vial_sizes_g
    for tenths in range(10, 451, 15):
        grams = tenths / 10
        found = vial_combination(grams, sizes, TOLERANCE)
        best = brute_force(grams, sizes, TOLERANCE)
        if best is None:
            assert found is None, (product.key, grams)
            continue
        assert found is not None, (product.key, grams)
        assert (round(abs(found.total_g - grams), 6), found.count, found.total_g) == best, (product.key, grams)
        assert sum(size * n for size, n in found.vials) == pytest.approx(found.total_g)
