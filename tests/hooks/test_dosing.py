"""Dosing rules as a whole (``hooks.dosing.ORDER_RULES``): orders no dosing rule judges, and HyQvia.

HyQvia is checked like IV replacement after its ramp-up, by several rules at once; the rules of each
module have their own test file (``test_dosing_<module>.py``, after ``hooks/dosing/<module>.py``).
"""

from __future__ import annotations

from fhir_mappings.model import MedClass, Route
from hooks import dosing
from tests.hooks.builders import condition, facts, ig_given, ig_order, one, patient, run, weight

CVID = condition("cvid")


def cvid(*items, kg=70, **kw):
    return facts(patient(age=45), weight(kg), CVID, *items, **kw)


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
