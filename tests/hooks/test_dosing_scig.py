"""SC rules: ``order-scig-conversion`` (IV-to-SC switch) and ``order-scig-administration`` (SC sites).

Each rule has a vignette where it fires (indicator, numbers, suggestion) and a boundary vignette where
it nearly applies and stays quiet (docs/clinical-rules.md "Resolved details": bounds inclusive, whole days).
"""

from __future__ import annotations

from cds_service import Indicator
from fhir_mappings.model import Route
from hooks import dosing
from hooks.policy import Policy
from tests.hooks.builders import (
    CVID,
    cvid,
    facts,
    ig_active_order,
    ig_given,
    ig_order,
    one,
    patient,
    run,
    suggested_grams,
    weight,
)

# --- order-scig-conversion ----------------------------------------------------------------------


def _switch(sc_order, *extra, policy=None):
    return facts(
        patient(),
        weight(70),
        CVID,
        ig_given(40, days_ago=20),
        ig_active_order(40, every_days=28),
        sc_order,
        *extra,
        policy=policy,
    )


class TestScigConversion:
    def test_matching_weekly_dose_is_information(self):
        found = one(dosing.order_scig_conversion, _switch(ig_order(14, every_days=7, product="hizentra")))
        assert found.rule == "order-scig-conversion"
        assert found.indicator is Indicator.INFO
        assert (
            "13.7 g/week" in found.summary and "trough IgG" in found.detail and "2–3 months" in found.detail
        )

    def test_mismatch_warns_and_suggests_the_weekly_target(self):
        found = one(dosing.order_scig_conversion, _switch(ig_order(10, every_days=7, product="hizentra")))
        assert found.indicator is Indicator.WARNING
        assert "40 g ÷ 4 weeks × 1.37 = 13.7 g per week" in found.detail
        assert suggested_grams(found) == 14

    def test_target_scaled_to_the_ordered_interval(self):
        found = one(dosing.order_scig_conversion, _switch(ig_order(20, every_days=14, product="hizentra")))
        assert suggested_grams(found) == 27  # 13.7 × 2 = 27.4 -> 27 g

    def test_within_10_percent_matches(self):
        # target 13.7 g/week: 12.33–15.07 matches
        assert (
            one(
                dosing.order_scig_conversion, _switch(ig_order(15, every_days=7, product="hizentra"))
            ).indicator
            is Indicator.INFO
        )
        assert (
            one(
                dosing.order_scig_conversion, _switch(ig_order(15.2, every_days=7, product="hizentra"))
            ).indicator
            is Indicator.WARNING
        )

    def test_cuvitru_factor_and_site_policy_factor_one(self):
        found = one(dosing.order_scig_conversion, _switch(ig_order(10, every_days=7, product="cuvitru")))
        assert "× 1.3 = 13 g per week" in found.detail
        one_policy = one(
            dosing.order_scig_conversion,
            _switch(ig_order(10, every_days=7, product="hizentra"), policy=Policy(scig_conversion="one")),
        )
        assert one_policy.indicator is Indicator.INFO and "site policy" in one_policy.detail

    def test_iv_56_days_ago_is_a_switch_57_is_not(self):
        sc = ig_order(10, every_days=7, product="hizentra")
        assert (
            len(run(dosing.order_scig_conversion, facts(weight(70), CVID, ig_given(40, days_ago=56), sc)))
            == 1
        )
        assert run(dosing.order_scig_conversion, facts(weight(70), CVID, ig_given(40, days_ago=57), sc)) == []

    def test_iv_given_for_itp_is_not_a_switch(self):
        sc = ig_order(10, every_days=7, product="hizentra")
        f = facts(weight(70), CVID, ig_given(70, days_ago=20, reason=("itp",)), sc)
        assert run(dosing.order_scig_conversion, f) == []

    def test_interval_from_the_last_two_iv_doses(self):
        f = facts(
            weight(70),
            CVID,
            ig_given(42, days_ago=49),
            ig_given(42, days_ago=21),
            ig_order(10, every_days=7, product="hizentra"),
        )
        found = one(dosing.order_scig_conversion, f)
        assert "42 g ÷ 4 weeks × 1.37 = 14.39 g per week" in found.detail and suggested_grams(found) == 14


# --- order-scig-administration ------------------------------------------------------------------


class TestScigAdministration:
    def test_hizentra_first_infusion_limits(self):
        found = one(dosing.order_scig_administration, cvid(ig_order(10, every_days=7, product="hizentra")))
        assert found.rule == "order-scig-administration"
        assert found.indicator is Indicator.INFO
        assert found.summary == "Hizentra 10 g = 50 mL: 4 sites of ≤15 mL at ≤15 mL/h/site"
        assert "Hizentra label" in found.detail

    def test_hizentra_sixth_infusion_onward(self):
        given = [
            ig_given(10, days_ago=7 * i, route=Route.SC, product="hizentra", id=f"h{i}") for i in range(1, 6)
        ]
        found = one(
            dosing.order_scig_administration, cvid(*given, ig_order(10, every_days=7, product="hizentra"))
        )
        assert found.summary == "Hizentra 10 g = 50 mL: 2 sites of ≤25 mL at ≤25 mL/h/site"

    def test_xembify_child_and_adult_rates(self):
        order = ig_order(5, every_days=7, product="xembify")
        child = one(dosing.order_scig_administration, facts(patient(age=9), weight(30), CVID, order))
        adult = one(dosing.order_scig_administration, facts(patient(age=10), weight(30), CVID, order))
        assert "at ≤25 mL/h/site" in child.summary and "at ≤35 mL/h/site" in adult.summary

    def test_more_than_six_sites(self):
        found = one(dosing.order_scig_administration, cvid(ig_order(40, every_days=14, product="xembify")))
        assert "needs 8 sites" in found.summary and "More than 6 sites" in found.detail

    def test_product_without_limits_uses_the_seed_limits_and_says_whose(self):
        found = one(dosing.order_scig_administration, cvid(ig_order(10, every_days=7, product="cuvitru")))
        assert "concentration is not on file" in found.summary
        assert "seed document (Xembify label limits)" in found.detail

    def test_iv_orders_get_no_sc_card(self):
        assert run(dosing.order_scig_administration, cvid(ig_order(28, every_days=28))) == []
