"""``order-interval-out-of-range`` (``hooks/dosing/interval.py``).

A vignette where it fires and a boundary vignette where it nearly applies and stays quiet (docs/clinical-rules.md
"Resolved details": bounds inclusive, whole days).
"""

from __future__ import annotations

import pytest

from cds_service import Indicator
from fhir_mappings.model import Route
from hooks import dosing
from tests.hooks.builders import condition, cvid, facts, ig_given, ig_order, one, run, weight

GBS = condition("gbs", days_ago=2)


# --- order-interval-out-of-range ----------------------------------------------------------------


class TestInterval:
    @pytest.mark.parametrize("days", [21, 31])
    def test_iv_21_and_31_days_are_in_range(self, days):
        assert run(dosing.order_interval_out_of_range, cvid(ig_order(28, every_days=days))) == []

    @pytest.mark.parametrize("days", [20, 32])
    def test_iv_20_and_32_days_warn(self, days):
        found = one(dosing.order_interval_out_of_range, cvid(ig_order(28, every_days=days)))
        assert found.rule == "order-interval-out-of-range"
        assert found.indicator is Indicator.WARNING
        assert f"every {days} days" in found.summary and "21–31 days" in found.summary

    def test_an_interval_of_about_a_day_is_said_once(self):
        """Every 25 h rounds to "every 1 day": the detail said it twice, "every 1 day (1 day)"."""
        found = one(dosing.order_interval_out_of_range, cvid(ig_order(28, every_days=25 / 24)))
        assert "IVIG every 1 day:" in found.summary
        assert "**Ordered interval**: every 1 day." in found.detail
        daily = one(dosing.order_interval_out_of_range, cvid(ig_order(28, every_days=1)))
        assert "**Ordered interval**: daily (1 day)." in daily.detail

    def test_monthly_counts_as_30_days(self):
        assert run(dosing.order_interval_out_of_range, cvid(ig_order(28, period=(1, "mo")))) == []
        assert run(dosing.order_interval_out_of_range, cvid(ig_order(28, period=(4, "wk")))) == []

    def test_sc_1_to_14_days(self):
        assert (
            run(dosing.order_interval_out_of_range, cvid(ig_order(20, every_days=14, product="hizentra")))
            == []
        )
        found = one(dosing.order_interval_out_of_range, cvid(ig_order(20, every_days=15, product="hizentra")))
        assert "1–14 days" in found.summary

    def test_immunomodulatory_orders_are_not_judged(self):
        assert (
            run(dosing.order_interval_out_of_range, facts(weight(70), GBS, ig_order(28, every_days=1))) == []
        )

    def test_hyqvia_is_judged_like_iv_after_ramp_up(self):
        f = cvid(
            ig_given(30, days_ago=60, route=Route.SC, product="hyqvia"),
            ig_order(30, every_days=14, product="hyqvia"),
        )
        assert "21–31 days" in one(dosing.order_interval_out_of_range, f).summary
