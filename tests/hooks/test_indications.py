"""Indication rules: missing indication, SIgMD criteria, not first-line therapy."""

from __future__ import annotations

from cds_service import Indicator
from fhir_mappings.model import MedClass
from hooks import indications
from tests.hooks.builders import (
    condition,
    facts,
    ig_order,
    igg,
    igm,
    infection,
    medication,
    one,
    patient,
    pneumococcal_titres,
    run,
    weight,
)

SIGMD = condition("selective-igm-deficiency")


class TestIndicationMissing:
    def test_order_without_reason_or_condition_warns_and_lists_indications(self):
        found = one(indications.order_indication_missing, facts(weight(70), ig_order(30, every_days=28)))
        assert found.rule == "order-indication-missing"
        assert found.indicator is Indicator.WARNING
        assert found.about == "MedicationRequest/ivig-1"
        assert (
            "common variable immunodeficiency (CVID)" in found.detail and "Kawasaki disease" in found.detail
        )
        assert "anti-GBM disease" in found.detail

    def test_active_condition_or_order_reason_is_enough(self):
        assert run(indications.order_indication_missing, facts(condition("cvid"), ig_order(30))) == []
        assert run(indications.order_indication_missing, facts(ig_order(30, reason=("itp",)))) == []
        assert run(indications.order_indication_missing, facts(ig_order(30, reason=("mgus",)))) == []

    def test_regimen_less_condition_counts_only_as_the_order_reason(self):
        found = one(indications.order_indication_missing, facts(condition("mgus"), ig_order(30)))
        assert "MGUS" in found.detail

    def test_resolved_condition_is_not_an_indication(self):
        assert (
            len(
                run(
                    indications.order_indication_missing,
                    facts(condition("cvid", status="inactive"), ig_order(30)),
                )
            )
            == 1
        )

    def test_quiet_when_conditions_could_not_be_read(self):
        assert (
            run(indications.order_indication_missing, facts(ig_order(30), unavailable=("conditions",))) == []
        )


class TestIgmDeficiencyNotIndicated:
    def test_sigmd_with_normal_igg_names_the_missing_criteria(self):
        f = facts(patient(age=40), SIGMD, igg(620, days_ago=200), infection(100), ig_order(28, every_days=28))
        found = one(indications.order_igm_deficiency_not_indicated, f)
        assert found.rule == "order-igm-deficiency-not-indicated"
        assert found.indicator is Indicator.WARNING
        assert found.summary == "IgRT for low IgM: criteria not met — IgG not low (+2 more)"
        assert "620 mg/dL" in found.detail and "not below 500 mg/dL (site policy)" in found.detail
        assert "no pneumococcal vaccine response assessment" in found.detail
        assert "fewer than 2 severe infections" in found.detail and "1 episode" in found.detail
        # IgG was done: only the pneumococcal assessment is suggested.
        (suggestion,) = found.suggestions
        assert "pneumococcal" in suggestion.label.lower()

    def test_sigmd_criteria_met_is_quiet_igg_499_vs_500(self):
        met = facts(SIGMD, igg(499, days_ago=200), infection(200), infection(60), ig_order(28, every_days=28))
        assert run(indications.order_igm_deficiency_not_indicated, met) == []
        unmet = facts(
            SIGMD, igg(500, days_ago=200), infection(200), infection(60), ig_order(28, every_days=28)
        )
        assert "IgG not low" in one(indications.order_igm_deficiency_not_indicated, unmet).summary

    def test_impaired_pneumococcal_response_with_recurrent_infections_is_quiet(self):
        f = facts(
            SIGMD,
            condition("specific-antibody-deficiency"),
            infection(200),
            infection(60),
            ig_order(28, every_days=28),
        )
        # specific antibody deficiency is a less specific indication; SIgMD wins and its criteria are met
        assert run(indications.order_igm_deficiency_not_indicated, f) == []

    def test_isolated_low_igm_without_indication_suggests_igg_and_pneumococcal_tests(self):
        f = facts(patient(age=30), igm(39), ig_order(28, every_days=28))
        found = one(indications.order_igm_deficiency_not_indicated, f)
        assert "isolated low IgM" in found.detail and "39 mg/dL" in found.detail
        labels = sorted(s.label for s in found.suggestions)
        assert labels == ["Order pneumococcal vaccine response assessment", "Order serum IgG"]
        igg_action = next(s for s in found.suggestions if s.label == "Order serum IgG").actions[0]
        assert igg_action.resource["code"]["coding"][0]["code"] == "2465-3"

    def test_igm_40_is_not_low(self):
        assert run(indications.order_igm_deficiency_not_indicated, facts(igm(40), ig_order(28))) == []

    def test_under_18_branch_b_does_not_apply(self):
        assert (
            run(indications.order_igm_deficiency_not_indicated, facts(patient(age=17), igm(20), ig_order(10)))
            == []
        )
        assert (
            len(
                run(
                    indications.order_igm_deficiency_not_indicated,
                    facts(patient(age=18), igm(20), ig_order(10)),
                )
            )
            == 1
        )

    def test_low_pretreatment_igg_on_record_is_not_an_isolated_low_igm(self):
        f = facts(igm(20), igg(450, days_ago=30), ig_order(28))
        assert run(indications.order_igm_deficiency_not_indicated, f) == []

    def test_other_indications_are_not_judged(self):
        assert (
            run(
                indications.order_igm_deficiency_not_indicated,
                facts(condition("cvid"), igm(20), ig_order(28)),
            )
            == []
        )

    def test_pneumococcal_titres_on_record_are_not_re_ordered(self):
        f = facts(SIGMD, pneumococcal_titres(), igg(700, days_ago=300), ig_order(28))
        found = one(indications.order_igm_deficiency_not_indicated, f)
        assert found.suggestions == () and "not documented as impaired" in found.detail


class TestNotFirstLine:
    def test_anti_gbm_reason(self):
        found = one(indications.order_not_first_line, facts(ig_order(30, reason=("anti-gbm",))))
        assert found.rule == "order-not-first-line"
        assert found.indicator is Indicator.INFO
        assert "cyclophosphamide + corticosteroids + plasma exchange" in found.summary

    def test_mgus_reason(self):
        found = one(indications.order_not_first_line, facts(ig_order(30, reason=("mgus",))))
        assert "treat the clone" in found.summary

    def test_cdi_not_recurrent_fires_recurrent_is_quiet(self):
        assert (
            "adjunct" in one(indications.order_not_first_line, facts(ig_order(30, reason=("cdi",)))).summary
        )
        assert run(indications.order_not_first_line, facts(ig_order(30, reason=("cdi-recurrent",)))) == []

    def test_mgus_condition_alone_is_not_the_orders_reason(self):
        assert run(indications.order_not_first_line, facts(condition("mgus"), ig_order(30))) == []

    def test_autoimmune_encephalitis_without_corticosteroid(self):
        ae = condition("autoimmune-encephalitis", days_ago=3)
        found = one(indications.order_not_first_line, facts(ae, ig_order(28)))
        assert "methylprednisolone first" in found.summary

    def test_corticosteroid_ordered_active_or_given_in_30_days(self):
        ae = condition("autoimmune-encephalitis", days_ago=3)
        draft = medication(
            "methylprednisolone 1 g IV",
            MedClass.CORTICOSTEROID,
            draft=True,
            status="draft",
            resource_type="MedicationRequest",
        )
        active = medication("prednisone", MedClass.CORTICOSTEROID)
        given_30 = medication(
            "methylprednisolone",
            MedClass.CORTICOSTEROID,
            status="completed",
            resource_type="MedicationAdministration",
            days_ago=30,
        )
        given_31 = medication(
            "methylprednisolone",
            MedClass.CORTICOSTEROID,
            status="completed",
            resource_type="MedicationAdministration",
            days_ago=31,
        )
        for steroid in (draft, active, given_30):
            assert run(indications.order_not_first_line, facts(ae, steroid, ig_order(28))) == []
        assert len(run(indications.order_not_first_line, facts(ae, given_31, ig_order(28)))) == 1
