"""Dose-range rules: ``order-dose-out-of-range`` and ``order-dose-atypical`` (``hooks/dosing/dose_range.py``).

Each rule has a vignette where it fires (indicator, numbers, suggestion) and a boundary vignette where
it nearly applies and stays quiet (docs/clinical-rules.md "Resolved details": bounds inclusive, whole days).
"""

from __future__ import annotations

import pytest

from cds_service import Indicator
from fhir_mappings.model import Route
from hooks import dosing, monitoring
from hooks import indications as indication_rules
from hooks.policy import Policy
from tests.hooks.builders import (
    CVID,
    bmi,
    condition,
    cvid,
    facts,
    height,
    ig_given,
    ig_order,
    igg,
    infection,
    one,
    patient,
    run,
    suggested_grams,
    weight,
)

# --- order-dose-out-of-range: replacement --------------------------------------------------------


class TestReplacementDoseRange:
    def test_above_label_limit_suggests_upper_usual_edge_rounded_down(self):
        found = one(dosing.order_dose_out_of_range, cvid(ig_order(70, every_days=28)))
        assert found.rule == "order-dose-out-of-range"
        assert found.indicator is Indicator.WARNING
        assert found.summary == "IVIG 70 g = 1,000 mg/kg: above the 800 mg/kg label limit"
        assert found.about == "MedicationRequest/ivig-1"
        assert "70 kg actual body weight (measured 2025-06-05" in found.detail
        assert "200–800 mg/kg per infusion" in found.detail and "Privigen" in found.detail
        # 600 mg/kg × 70 kg = 42 g, rounded down to 5 g = 40 g (571 mg/kg)
        assert suggested_grams(found) == 40
        (suggestion,) = found.suggestions
        assert suggestion.is_recommended
        (action,) = suggestion.actions
        assert action.type.value == "update" and action.resource["id"] == "ivig-1"

    def test_exactly_800_mg_per_kg_is_in_range(self):
        assert run(dosing.order_dose_out_of_range, cvid(ig_order(56, every_days=28))) == []
        assert len(run(dosing.order_dose_out_of_range, cvid(ig_order(56.5, every_days=28)))) == 1

    def test_exactly_200_mg_per_kg_is_in_range_below_warns_and_rounds_up(self):
        assert run(dosing.order_dose_out_of_range, cvid(ig_order(14, every_days=28))) == []
        found = one(dosing.order_dose_out_of_range, cvid(ig_order(13, every_days=28)))
        assert "below the 200 mg/kg label limit" in found.summary
        assert suggested_grams(found) == 30  # 400 × 70 = 28 g, rounded up to 30 g

    @pytest.mark.parametrize(
        "order",
        [
            ig_order(mg=70000, every_days=28),
            ig_order(mg_per_kg=1000, every_days=28),
            ig_order(g_per_kg=1.0, every_days=28),
        ],
    )
    def test_units_g_mg_mg_per_kg_g_per_kg(self, order):
        found = one(dosing.order_dose_out_of_range, cvid(order))
        assert "1,000 mg/kg" in found.summary and suggested_grams(found) == 40

    def test_small_doses_round_to_1_g(self):
        # 12 kg child, 1,000 mg/kg = 12 g: 600 × 12 = 7.2 g, rounded down to 7 g.
        f = facts(patient(age=3), weight(12), CVID, ig_order(12, every_days=28))
        assert suggested_grams(one(dosing.order_dose_out_of_range, f)) == 7

    def test_ten_fold_error_gets_card_without_suggestion(self):
        found = one(dosing.order_dose_out_of_range, cvid(ig_order(700, every_days=28)))
        assert found.suggestions == ()
        assert "check product and unit" in found.summary and "check product and unit" in found.detail

    def test_three_times_the_limit_still_gets_a_suggestion(self):
        assert one(dosing.order_dose_out_of_range, cvid(ig_order(mg_per_kg=2400, every_days=28))).suggestions
        assert not one(
            dosing.order_dose_out_of_range, cvid(ig_order(mg_per_kg=2401, every_days=28))
        ).suggestions

    def test_a_third_of_the_lower_limit(self):
        assert one(dosing.order_dose_out_of_range, cvid(ig_order(mg_per_kg=67, every_days=28))).suggestions
        assert not one(
            dosing.order_dose_out_of_range, cvid(ig_order(mg_per_kg=66, every_days=28))
        ).suggestions

    def test_no_indication_inside_the_envelope_no_dose_card(self):
        # 2,000 mg/kg with no indication: inside the 200–2,400 mg/kg envelope of every IV regimen.
        f = facts(weight(70), ig_order(140, every_days=28))
        assert run(dosing.order_dose_out_of_range, f) == []

    def test_adjusted_weight_policy_judges_on_adjusted_weight(self):
        # 110 kg, 165 cm woman: adjusted 78.1 kg. 70 g = 636 mg/kg actual but 896 mg/kg adjusted.
        items = (patient(age=50), weight(110), height(165), bmi(40.4), CVID, ig_order(70, every_days=28))
        assert run(dosing.order_dose_out_of_range, facts(*items)) == []
        found = one(dosing.order_dose_out_of_range, facts(*items, policy=Policy(dosing_weight="adjusted")))
        assert "adjusted body weight" in found.detail and "site policy" in found.detail
        assert suggested_grams(found) == 45  # 600 × 78.1 = 46.9 g -> 45 g


class TestScReplacementDoseRange:
    def test_weekly_dose_above_274_mg_per_kg(self):
        found = one(dosing.order_dose_out_of_range, cvid(ig_order(20, every_days=7, product="hizentra")))
        assert found.summary == "SCIG 20 g weekly = 286 mg/kg/week: above the 274 mg/kg/week limit"
        assert suggested_grams(found) == 14  # 200 mg/kg/week × 70 kg = 14 g (1 g steps below 20 g)

    def test_weekly_edge_and_interval_scaling(self):
        # 50 kg: 274 mg/kg/week = 13.7 g weekly; every 14 days 27.4 g = 274 mg/kg/week.
        f = lambda order: facts(patient(), weight(50), CVID, order)  # noqa: E731
        assert run(dosing.order_dose_out_of_range, f(ig_order(13.7, every_days=7, product="hizentra"))) == []
        assert (
            len(run(dosing.order_dose_out_of_range, f(ig_order(13.8, every_days=7, product="hizentra")))) == 1
        )
        assert run(dosing.order_dose_out_of_range, f(ig_order(27.4, every_days=14, product="hizentra"))) == []
        found = one(dosing.order_dose_out_of_range, f(ig_order(30, every_days=14, product="hizentra")))
        assert suggested_grams(found) == 20  # 200 × 50 × 14/7 = 20 g

    def test_switch_from_iv_is_judged_only_by_the_conversion_rule(self):
        f = cvid(ig_given(40, days_ago=20), ig_order(30, every_days=7, product="hizentra"))
        assert run(dosing.order_dose_out_of_range, f) == []
        assert run(dosing.order_dose_atypical, f) == []


# --- order-dose-out-of-range: no indication (the envelope of every regimen) ---------------------

HYPERTENSION = condition("hypertension")  # conditions on record, none an indication for Ig


def no_indication(*items, kg=70, **kw):
    return facts(patient(age=60), weight(kg), HYPERTENSION, *items, **kw)


class TestNoIndicationEnvelope:
    def test_ten_fold_ivig_without_indication_warns_without_suggestion(self):
        # 700 g for a 70 kg man whose record names no indication: 10,000 mg/kg.
        f = no_indication(ig_order(700, every_days=28))
        assert len(run(indication_rules.order_indication_missing, f)) == 1
        found = one(dosing.order_dose_out_of_range, f)
        assert found.rule == "order-dose-out-of-range" and found.indicator is Indicator.WARNING
        assert found.summary == (
            "IVIG 700 g = 10,000 mg/kg: above the 2,400 mg/kg ceiling of any regimen (no indication found)"
        )
        assert found.suggestions == ()
        assert "**No indication found**" in found.detail
        assert "200–2,400 mg/kg per administration" in found.detail
        assert "Privigen" in found.detail and "Gammagard" in found.detail and "MMN" in found.source.label
        assert "No dose is suggested" in found.detail and "check product and unit" in found.detail

    def test_iv_envelope_edges_200_and_2400_mg_per_kg_are_inclusive(self):
        for mg_per_kg in (200, 2400):
            assert run(dosing.order_dose_out_of_range, no_indication(ig_order(mg_per_kg=mg_per_kg))) == []
        for mg_per_kg, side in ((199, "below the 200 mg/kg floor"), (2401, "above the 2,400 mg/kg ceiling")):
            found = one(dosing.order_dose_out_of_range, no_indication(ig_order(mg_per_kg=mg_per_kg)))
            assert side in found.summary and found.suggestions == ()
            assert "check product and unit" not in found.detail  # within 3× / a third: not a unit error

    def test_sc_envelope_is_68_to_400_mg_per_kg_per_week(self):
        # 70 kg: 400 mg/kg/week = 28 g weekly = 56 g every 14 days; 68 mg/kg/week = 4.76 g weekly.
        for order in (
            ig_order(28, every_days=7, product="hizentra"),
            ig_order(56, every_days=14, product="hizentra"),
            ig_order(4.76, every_days=7, product="hizentra"),
        ):
            assert run(dosing.order_dose_out_of_range, no_indication(order)) == []
        found = one(dosing.order_dose_out_of_range, no_indication(ig_order(29, every_days=7, product="hizentra")))
        assert found.summary == (
            "SCIG 29 g weekly = 414 mg/kg/week: above the 400 mg/kg/week ceiling of any SC regimen "
            "(no indication found)"
        )
        assert "68–400 mg/kg per week" in found.detail and found.suggestions == ()
        low = one(dosing.order_dose_out_of_range, no_indication(ig_order(4, every_days=7, product="hizentra")))
        assert "below the 68 mg/kg/week floor of any SC regimen" in low.summary

    def test_hyqvia_without_indication_is_judged_on_the_iv_envelope(self):
        # 140 g every 4 weeks = 2,000 mg/kg per administration: inside the IV envelope (the SC weekly
        # envelope would say 500 mg/kg/week).
        started = ig_given(30, days_ago=60, route=Route.SC, product="hyqvia")
        assert run(dosing.order_dose_out_of_range, no_indication(started, ig_order(140, every_days=28, product="hyqvia"))) == []
        found = one(
            dosing.order_dose_out_of_range, no_indication(started, ig_order(175, every_days=28, product="hyqvia"))
        )
        assert found.summary.startswith("HyQvia 175 g = 2,500 mg/kg: above the 2,400 mg/kg ceiling")

    def test_quiet_when_the_indication_is_not_reported_missing(self):
        ten_fold = ig_order(700, every_days=28)
        # The conditions could not be read: order-indication-missing does not fire, nor the envelope.
        unread = facts(weight(70), ten_fold, unavailable=("conditions",))
        assert run(indication_rules.order_indication_missing, unread) == []
        assert run(dosing.order_dose_out_of_range, unread) == []
        # No weight: order-weight-missing speaks instead.
        assert run(dosing.order_dose_out_of_range, facts(HYPERTENSION, ten_fold)) == []

    def test_an_indication_on_record_uses_its_regimen_not_the_envelope(self):
        found = one(dosing.order_dose_out_of_range, cvid(ig_order(700, every_days=28)))
        assert "no indication" not in found.summary and "800 mg/kg label limit" in found.summary


# --- order-dose-out-of-range: a reason that justifies a higher replacement dose -------------------


class TestJustifiedOverdose:
    @pytest.mark.parametrize(
        ("reason", "named"),
        [
            ((condition("bronchiectasis"),), "bronchiectasis"),
            ((infection(200), infection(30)), "recurrent severe infections"),
            ((ig_given(35, days_ago=40), igg(450, days_ago=12)), "trough IgG 450 mg/dL on 2025-06-03"),
        ],
    )
    def test_overdose_is_brought_back_to_the_hard_limit_and_the_card_names_the_reason(self, reason, named):
        found = one(dosing.order_dose_out_of_range, cvid(*reason, ig_order(70, every_days=28)))
        # 800 mg/kg × 70 kg = 56 g, rounded down to 55 g (786 mg/kg) — not the usual-range 40 g.
        assert suggested_grams(found) == 55
        assert "upper edge of the hard limit (800 mg/kg" in found.detail
        assert "not to the usual range" in found.detail and named in found.detail

    def test_suggestion_agrees_with_trough_below_target_on_the_same_screen(self):
        f = cvid(ig_given(35, days_ago=40), igg(450, days_ago=12), ig_order(70, every_days=28))
        trough = one(monitoring.order_trough_below_target, f)
        assert "Consider raising the dose (a replacement dose up to 800 mg/kg is then justified)" in trough.detail
        suggested = suggested_grams(one(dosing.order_dose_out_of_range, f))
        assert 600 < suggested * 1000 / 70 <= 800  # above the usual range, within what the trough card allows

    def test_sc_overdose_with_bronchiectasis_goes_to_the_weekly_hard_limit(self):
        f = cvid(condition("bronchiectasis"), ig_order(20, every_days=7, product="hizentra"))
        # 274 mg/kg/week × 70 kg = 19.18 g weekly, rounded down to 19 g (1 g steps below 20 g).
        assert suggested_grams(one(dosing.order_dose_out_of_range, f)) == 19

    def test_without_a_reason_the_usual_range_edge_is_suggested(self):
        found = one(dosing.order_dose_out_of_range, cvid(infection(30), ig_order(70, every_days=28)))
        assert suggested_grams(found) == 40 and "not to the usual range" not in found.detail

    def test_a_reason_does_not_change_the_suggestion_for_an_underdose(self):
        found = one(dosing.order_dose_out_of_range, cvid(condition("bronchiectasis"), ig_order(13, every_days=28)))
        assert suggested_grams(found) == 30 and "not to the usual range" not in found.detail


# --- order-dose-out-of-range: immunomodulatory ---------------------------------------------------

GBS = condition("gbs", days_ago=2)


class TestGbs:
    def test_day_one_2_g_per_kg_capped_at_1_g_per_kg(self):
        found = one(dosing.order_dose_out_of_range, facts(weight(73), GBS, ig_order(g_per_kg=2)))
        assert "2 g/kg/day: above the 1 g/kg/day limit for Guillain-Barré syndrome" in found.summary
        assert suggested_grams(found) == 70  # 1 g/kg × 73 kg = 73 g -> 70 g

    @pytest.mark.parametrize("kg", [18, 23, 37, 49.5, 61, 73, 88, 104, 139])
    @pytest.mark.parametrize("policy", [Policy(), Policy(dosing_weight="adjusted")])
    def test_day_one_order_never_suggests_above_1_g_per_kg_per_day(self, kg, policy):
        f = facts(patient(age=50), weight(kg), height(160), GBS, ig_order(g_per_kg=1.5), policy=policy)
        found = one(dosing.order_dose_out_of_range, f)
        if found.suggestions:
            assert suggested_grams(found) / kg <= 1.0

    def test_1_g_per_kg_in_a_day_is_in_range(self):
        assert run(dosing.order_dose_out_of_range, facts(weight(70), GBS, ig_order(70))) == []

    def test_stated_course_of_2_g_per_kg_over_5_days(self):
        order = ig_order(g_per_kg=0.4, every_days=1, count=5)
        assert run(dosing.order_dose_out_of_range, facts(weight(70), GBS, order)) == []

    def test_course_above_2_2_g_per_kg_keeps_days_changes_daily_dose(self):
        order = ig_order(g_per_kg=0.5, every_days=1, count=5)
        found = one(dosing.order_dose_out_of_range, facts(weight(70), GBS, order))
        assert "course 5 × 35 g = 2.5 g/kg: above the 2.2 g/kg course limit" in found.summary
        assert suggested_grams(found) == 30  # 2.2 g/kg ÷ 5 × 70 kg = 30.8 g -> 30 g; 5 × 30 g = 2.14 g/kg

    def test_course_edge_2_2_g_per_kg_is_in_range(self):
        assert (
            run(
                dosing.order_dose_out_of_range,
                facts(weight(70), GBS, ig_order(g_per_kg=0.44, every_days=1, count=5)),
            )
            == []
        )
        assert (
            len(
                run(
                    dosing.order_dose_out_of_range,
                    facts(weight(70), GBS, ig_order(g_per_kg=0.45, every_days=1, count=5)),
                )
            )
            == 1
        )

    def test_course_by_bounds_duration(self):
        order = ig_order(g_per_kg=0.5, every_days=1, bounds_days=5)
        assert len(run(dosing.order_dose_out_of_range, facts(weight(70), GBS, order))) == 1

    def test_a_one_day_course_says_1_day_in_its_limits_too(self):
        """Two doses 12 h apart: the course length line said "1 days" while the summary said "1 day"."""
        order = ig_order(g_per_kg=1, every_days=0.5, count=2)
        found = one(dosing.order_dose_out_of_range, facts(weight(70), GBS, order))
        assert "course over 1 day:" in found.summary
        assert "- course length: 1 day (limit 2–5 days)" in found.detail and "1 days" not in found.detail

    def test_course_over_10_days_has_no_dose_fix(self):
        order = ig_order(g_per_kg=0.2, every_days=1, count=10)
        found = one(dosing.order_dose_out_of_range, facts(weight(70), GBS, order))
        assert "course over 10 days" in found.summary and found.suggestions == ()

    def test_ten_fold_day_dose_has_no_suggestion(self):
        found = one(dosing.order_dose_out_of_range, facts(weight(70), GBS, ig_order(g_per_kg=4)))
        assert found.suggestions == () and "check product and unit" in found.detail

    def test_twice_daily_counts_per_day(self):
        order = ig_order(g_per_kg=0.6, frequency=2, period=(1, "d"))
        found = one(dosing.order_dose_out_of_range, facts(weight(70), GBS, order))
        assert "1.2 g/kg/day" in found.summary
        assert suggested_grams(found) == 35  # 1 g/kg/day ÷ 2 × 70 = 35 g per administration


class TestOtherImmunomodulatory:
    def test_kawasaki_single_2_g_per_kg_ok_2_3_warns(self):
        child = (patient(age=3), weight(20, days_ago=2), condition("kawasaki", days_ago=1))
        assert run(dosing.order_dose_out_of_range, facts(*child, ig_order(40))) == []
        assert run(dosing.order_dose_out_of_range, facts(*child, ig_order(44))) == []
        found = one(dosing.order_dose_out_of_range, facts(*child, ig_order(46)))
        assert "2.3 g/kg: above the 2.2 g/kg limit for Kawasaki disease" in found.summary
        assert suggested_grams(found) == 40

    def test_kawasaki_low_single_dose(self):
        child = (patient(age=3), weight(20, days_ago=2), condition("kawasaki", days_ago=1))
        found = one(dosing.order_dose_out_of_range, facts(*child, ig_order(20)))
        assert "below the 1.8 g/kg single dose" in found.summary
        assert suggested_grams(found) == 40  # 1.8 × 20 = 36 g -> 40 g (5 g steps), 2 g/kg
        assert run(dosing.order_dose_out_of_range, facts(*child, ig_order(36))) == []

    def test_myasthenia_maintenance_range(self):
        mg = condition("myasthenia-gravis")
        assert run(dosing.order_dose_out_of_range, facts(weight(70), mg, ig_order(28, every_days=28))) == []
        found = one(dosing.order_dose_out_of_range, facts(weight(70), mg, ig_order(27, every_days=28)))
        assert "below the 0.4 g/kg maintenance dose" in found.summary
        assert suggested_grams(found) == 30
        above = one(dosing.order_dose_out_of_range, facts(weight(70), mg, ig_order(84, every_days=28)))
        assert suggested_grams(above) == 70

    def test_mmn_per_administration_at_most_2_4_g_per_kg(self):
        mmn = condition("mmn")
        assert run(dosing.order_dose_out_of_range, facts(weight(50), mmn, ig_order(120, every_days=28))) == []
        found = one(dosing.order_dose_out_of_range, facts(weight(50), mmn, ig_order(125, every_days=28)))
        assert "above the 2.4 g/kg limit for multifocal motor neuropathy" in found.summary
        assert suggested_grams(found) == 120

    def test_itp_course_at_most_2_g_per_kg(self):
        itp = condition("itp")
        assert (
            run(dosing.order_dose_out_of_range, facts(weight(70), itp, ig_order(70, every_days=1, count=2)))
            == []
        )
        found = one(
            dosing.order_dose_out_of_range, facts(weight(70), itp, ig_order(70, every_days=1, count=3))
        )
        assert "3 g/kg: above the 2 g/kg course limit" in found.summary
        assert suggested_grams(found) == 45  # 2 g/kg ÷ 3 × 70 = 46.7 -> 45 g

    def test_cidp_sc_weekly_range(self):
        cidp = condition("cidp")
        assert (
            run(
                dosing.order_dose_out_of_range,
                facts(weight(70), cidp, ig_order(28, every_days=7, product="hizentra")),
            )
            == []
        )
        found = one(
            dosing.order_dose_out_of_range,
            facts(weight(70), cidp, ig_order(30, every_days=7, product="hizentra")),
        )
        assert suggested_grams(found) == 25  # 0.4 g/kg × 70 kg = 28 g -> 25 g (5 g steps from 20 g)

    def test_order_reason_wins_over_chronic_condition(self):
        # CVID patient given 1 g/kg for ITP: judged as ITP, not as replacement.
        f = cvid(ig_order(70, reason=("itp",)))
        assert run(dosing.order_dose_out_of_range, f) == []


# --- order-dose-atypical ------------------------------------------------------------------------


class TestAtypical:
    def test_above_usual_without_reason_is_information(self):
        found = one(dosing.order_dose_atypical, cvid(ig_order(49, every_days=28)))
        assert found.rule == "order-dose-atypical"
        assert found.indicator is Indicator.INFO and found.suggestions == ()
        assert found.summary == (
            "IVIG 49 g = 700 mg/kg: above the usual 400–600 mg/kg for common variable immunodeficiency (CVID)"
        )
        assert "bronchiectasis" in found.detail and "AAAAI" in found.detail

    def test_usual_edges_are_quiet(self):
        assert run(dosing.order_dose_atypical, cvid(ig_order(42, every_days=28))) == []
        assert run(dosing.order_dose_atypical, cvid(ig_order(28, every_days=28))) == []

    def test_no_atypical_card_when_out_of_range(self):
        assert run(dosing.order_dose_atypical, cvid(ig_order(70, every_days=28))) == []

    @pytest.mark.parametrize(
        "reason",
        [
            (condition("bronchiectasis"),),
            (infection(200), infection(30)),
            (ig_given(35, days_ago=40), igg(450, days_ago=12)),
        ],
    )
    def test_justifying_reasons_silence_a_high_dose(self, reason):
        assert run(dosing.order_dose_atypical, cvid(*reason, ig_order(49, every_days=28))) == []

    def test_one_infection_or_an_old_low_trough_do_not_justify(self):
        assert len(run(dosing.order_dose_atypical, cvid(infection(30), ig_order(49, every_days=28)))) == 1
        old_trough = (ig_given(35, days_ago=120), igg(450, days_ago=91))
        assert len(run(dosing.order_dose_atypical, cvid(*old_trough, ig_order(49, every_days=28)))) == 1

    def test_nothing_silences_a_low_dose(self):
        found = one(
            dosing.order_dose_atypical, cvid(condition("bronchiectasis"), ig_order(21, every_days=28))
        )
        assert "below the usual 400–600 mg/kg" in found.summary

    def test_higm_floor_300_is_seed_site_policy(self):
        higm = condition("higm-x-linked")
        f = lambda mgkg, **kw: facts(weight(70), higm, ig_order(mg_per_kg=mgkg, every_days=28), **kw)  # noqa: E731
        assert run(dosing.order_dose_atypical, f(300)) == []
        found = one(dosing.order_dose_atypical, f(299))
        assert "site policy" in found.detail and "seed document" in found.source.label
        assert len(run(dosing.order_dose_atypical, f(300, policy=Policy(higm_usual_low_mg_kg=400)))) == 1

    def test_sc_weekly_usual_range(self):
        found = one(dosing.order_dose_atypical, cvid(ig_order(15, every_days=7, product="hizentra")))
        assert "214 mg/kg/week: above the usual 100–200 mg/kg/week" in found.summary
        assert run(dosing.order_dose_atypical, cvid(ig_order(14, every_days=7, product="hizentra"))) == []
