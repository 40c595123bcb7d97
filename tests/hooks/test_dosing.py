"""Dosing rules as a whole (``hooks.dosing.ORDER_RULES``): orders no dosing rule judges, HyQvia, the
SCIG loading course and split IV regimens.

HyQvia is checked like IV replacement after its ramp-up, an SCIG loading course is judged by neither the
weekly SC ranges nor the SC interval rule, and a split IV regimen is judged per infusion — each by several
rules at once; the rules of each module have their own test file (``test_dosing_<module>.py``, after
``hooks/dosing/<module>.py``).
"""

from __future__ import annotations

import dataclasses

import pytest

from fhir_mappings.model import MedClass, Route, Timing
from hooks import dosing
from hooks.policy import Policy
from tests.hooks.builders import (
    CVID,
    condition,
    cvid,
    facts,
    ig_active_order,
    ig_given,
    ig_order,
    one,
    run,
    suggested_grams,
    weight,
)


class TestHyQvia:
    def test_checked_like_iv_after_ramp_up(self):
        f = cvid(
            ig_given(30, days_ago=60, route=Route.SC, product="hyqvia"),
            ig_order(70, every_days=28, product="hyqvia"),
        )
        assert "above the 800 mg/kg label limit" in one(dosing.order_dose_out_of_range, f).summary

    def test_not_checked_during_ramp_up(self):
        for first in (42, 10):
            f = cvid(
                ig_given(10, days_ago=first, route=Route.SC, product="hyqvia"),
                ig_order(70, every_days=14, product="hyqvia"),
            )
            assert run(dosing.order_dose_out_of_range, f) == []
            assert run(dosing.order_interval_out_of_range, f) == []
        assert run(dosing.order_dose_out_of_range, cvid(ig_order(70, every_days=28, product="hyqvia"))) == []

    def test_no_sc_administration_card(self):
        assert (
            run(dosing.order_scig_administration, cvid(ig_order(30, every_days=28, product="hyqvia"))) == []
        )


class TestNeverJudged:
    def test_anti_d_order_gets_no_dose_card(self):
        winrho = ig_order(
            150,
            name="WinRho SDF",
            product=None,
            reason=("itp",),
            classes=frozenset({MedClass.IMMUNE_GLOBULIN, MedClass.IG_EXCLUDED}),
        )
        f = facts(weight(70), condition("itp"), winrho)
        for rule in dosing.ORDER_RULES:
            assert run(rule, f) == []

    def test_intramuscular_immune_globulin_gets_no_dose_card(self):
        gamastan = ig_order(50, product=None, route=Route.IM, name="immune globulin (human) IM")
        f = facts(weight(70), CVID, gamastan)
        for rule in dosing.ORDER_RULES:
            assert run(rule, f) == []


# --- SCIG loading regimen (docs/clinical-rules.md Resolved details; seed document 003, site policy) -------------

WEEKLY_SC_RULES = (dosing.order_dose_out_of_range, dosing.order_dose_atypical, dosing.order_interval_out_of_range)


def _judged(f) -> list[str]:
    return [finding.rule for rule in WEEKLY_SC_RULES for finding in run(rule, f)]


def _hizentra_daily(mg_per_kg_day: float = 150, **timing) -> object:
    return ig_order(mg_per_kg=mg_per_kg_day, every_days=1, product="hizentra", **timing)


class TestScigLoading:
    @pytest.mark.parametrize("timing", [{"count": 5}, {"count": 3}, {"bounds_days": 5}])
    def test_new_patient_loading_150_mg_per_kg_daily_for_5_days_is_not_judged_weekly(self, timing):
        # Newly diagnosed CVID, no Ig yet: Hizentra 150 mg/kg daily × 5 (1,050 mg/kg/week if it went on).
        f = cvid(_hizentra_daily(**timing))
        assert dosing.dose_context(f, f.record.draft_orders[0]).loading
        assert _judged(f) == []

    @pytest.mark.parametrize("mg_per_kg_day", [135, 165])
    def test_150_mg_per_kg_within_10_percent_is_a_loading_course(self, mg_per_kg_day):
        assert _judged(cvid(_hizentra_daily(mg_per_kg_day, count=5))) == []

    @pytest.mark.parametrize("mg_per_kg_day", [134, 166])
    def test_outside_10_percent_is_judged_as_usual(self, mg_per_kg_day):
        assert _judged(cvid(_hizentra_daily(mg_per_kg_day, count=5))) == ["order-dose-out-of-range"]

    @pytest.mark.parametrize("timing", [{"count": 6}, {"bounds_days": 6}, {}])
    def test_longer_or_open_ended_daily_orders_are_judged_as_usual(self, timing):
        assert _judged(cvid(_hizentra_daily(**timing))) == ["order-dose-out-of-range"]

    def test_not_daily_is_not_a_loading_course(self):
        f = cvid(ig_order(mg_per_kg=150, every_days=2, count=3, product="hizentra"))
        assert not dosing.dose_context(f, f.record.draft_orders[0]).loading
        assert _judged(f) == ["order-dose-out-of-range"]  # 525 mg/kg/week

    def test_patient_on_igrt_is_judged_as_usual(self):
        f = cvid(ig_given(10, days_ago=7, route=Route.SC, product="hizentra"), _hizentra_daily(count=5))
        assert _judged(f) == ["order-dose-out-of-range"]

    def test_switching_from_iv_is_not_a_loading_course(self):
        f = cvid(ig_given(40, days_ago=20), ig_active_order(40, every_days=28), _hizentra_daily(count=5))
        assert not dosing.dose_context(f, f.record.draft_orders[0]).loading
        assert [x.rule for x in run(dosing.order_scig_conversion, f)] == ["order-scig-conversion"]

    def test_immunomodulatory_sc_order_is_not_a_loading_course(self):
        f = facts(weight(70), condition("cidp"), _hizentra_daily(count=5))
        assert _judged(f) == ["order-dose-out-of-range"]  # 1,050 mg/kg/week: CIDP SC is 0.2–0.4 g/kg/week

    def test_hyqvia_is_never_an_scig_loading_course(self):
        f = cvid(ig_order(mg_per_kg=150, every_days=1, count=5, product="hyqvia"))
        assert not dosing.dose_context(f, f.record.draft_orders[0]).loading

    def test_loading_numbers_are_site_policy(self):
        order = _hizentra_daily(count=5)
        assert _judged(cvid(order, policy=Policy(scig_loading_mg_kg_per_day=200))) == ["order-dose-out-of-range"]
        assert _judged(cvid(_hizentra_daily(200, count=5), policy=Policy(scig_loading_mg_kg_per_day=200))) == []
        assert _judged(cvid(order, policy=Policy(scig_loading_max_days=0))) == ["order-dose-out-of-range"]
        assert _judged(cvid(_hizentra_daily(170, count=5), policy=Policy(scig_loading_tolerance=0.2))) == []

    def test_loading_course_still_gets_the_sc_administration_card_which_says_why_no_dose_card(self):
        card = one(dosing.order_scig_administration, cvid(_hizentra_daily(count=5)))
        assert "Loading course (150 mg/kg daily for at most 5 days" in card.detail
        assert "seed document 003 — no primary source found; site policy" in card.detail
        usual = one(dosing.order_scig_administration, cvid(ig_order(14, every_days=7, product="hizentra")))
        assert "Loading course" not in usual.detail


# --- split IV regimens: judged per infusion (docs/clinical-rules.md Resolved details) ---------------------------


class TestSplitIvRegimen:
    def test_replacement_half_dose_every_2_weeks_gets_the_interval_card_and_is_judged_per_infusion(self):
        # CVID, 70 kg: 35 g every 2 weeks = 500 mg/kg per infusion (1,000 mg/kg per 4 weeks).
        f = cvid(ig_order(35, every_days=14))
        assert [x.rule for x in run(dosing.order_interval_out_of_range, f)] == ["order-interval-out-of-range"]
        assert run(dosing.order_dose_out_of_range, f) == []
        assert run(dosing.order_dose_atypical, f) == []

    def test_split_replacement_overdose_is_judged_on_the_infusion_not_the_month(self):
        found = one(dosing.order_dose_out_of_range, cvid(ig_order(63, every_days=14)))
        assert found.summary == "IVIG 63 g = 900 mg/kg: above the 800 mg/kg label limit"

    def test_immunomodulatory_split_maintenance_is_judged_per_infusion_without_an_interval_card(self):
        # MMN: 1.2 g/kg every 2 weeks (2.4 g/kg per 4 weeks); CIDP: 0.5 g/kg every 10 days.
        for indication, order in (
            ("mmn", ig_order(g_per_kg=1.2, every_days=14)),
            ("cidp", ig_order(g_per_kg=0.5, every_days=10)),
        ):
            f = facts(weight(70), condition(indication), order)
            assert run(dosing.order_dose_out_of_range, f) == []
            assert run(dosing.order_interval_out_of_range, f) == []
        too_much = facts(weight(70), condition("cidp"), ig_order(g_per_kg=1.1, every_days=10))
        found = one(dosing.order_dose_out_of_range, too_much)
        assert found.summary == "IVIG 77 g = 1.1 g/kg/day: above the 1 g/kg/day limit for CIDP"
        assert "maintenance dose: 1.1 g/kg (limit 0.4–1 g/kg)" in found.detail


# --- course totals from the bounded days (boundsDuration or boundsPeriod) -------------------------


def _with_timing(order, timing: Timing):
    """The order with ``timing`` as the mapper builds it (a boundsPeriod read into ``bounds_days``)."""
    return dataclasses.replace(order, timing=timing)


class TestCourseFromBoundedDays:
    # GBS, 70 kg: an order "0.5 g/kg daily" bounded by a 5-day boundsPeriod (2025-06-15 to 2025-06-19,
    # both ends counted) reads as Timing(frequency 1 per 1 d, bounds_days 5).
    DAILY_5_DAYS = Timing(frequency=1, period=1, period_unit="d", bounds_days=5)

    def test_bounded_daily_course_total_above_2_2_g_per_kg_warns_and_keeps_the_days(self):
        order = _with_timing(ig_order(g_per_kg=0.5), self.DAILY_5_DAYS)
        found = one(dosing.order_dose_out_of_range, facts(weight(70), condition("gbs"), order))
        assert "course 5 × 35 g = 2.5 g/kg: above the 2.2 g/kg course limit" in found.summary
        assert suggested_grams(found) == 30

    def test_bounded_daily_course_of_2_g_per_kg_is_quiet(self):
        order = _with_timing(ig_order(g_per_kg=0.4), self.DAILY_5_DAYS)
        assert run(dosing.order_dose_out_of_range, facts(weight(70), condition("gbs"), order)) == []

    def test_twice_daily_for_3_bounded_days_counts_6_administrations(self):
        timing = Timing(frequency=2, period=1, period_unit="d", bounds_days=3)
        plan = dosing.plan_of(_with_timing(ig_order(g_per_kg=0.4), timing), 70)
        assert plan is not None and plan.administrations == 6 and plan.course_days == 3
        found = one(
            dosing.order_dose_out_of_range,
            facts(weight(70), condition("gbs"), _with_timing(ig_order(g_per_kg=0.4), timing)),
        )
        assert "2.4 g/kg: above the 2.2 g/kg course limit" in found.summary
        quiet = _with_timing(ig_order(g_per_kg=0.3), timing)  # 6 × 0.3 = 1.8 g/kg, 0.6 g/kg a day
        assert run(dosing.order_dose_out_of_range, facts(weight(70), condition("gbs"), quiet)) == []

    def test_unbounded_daily_order_is_judged_only_per_day(self):
        # No count and no bounds: no course total is stated, so 0.5 g/kg daily passes (≤ 1 g/kg a day).
        order = _with_timing(ig_order(g_per_kg=0.5), Timing(frequency=1, period=1, period_unit="d"))
        assert run(dosing.order_dose_out_of_range, facts(weight(70), condition("gbs"), order)) == []
