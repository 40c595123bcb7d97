"""Indication of an Ig order, severe-infection episodes and the SIgMD criteria (docs/clinical-rules.md Terms)."""

from __future__ import annotations

from fhir_mappings.model import MedClass, Route
from hooks.derive.indications import (
    Kind,
    ig_orders,
    infection_episodes,
    order_indication,
    sigmd_criteria,
)
from hooks.policy import Policy
from tests.hooks.builders import (
    condition,
    facts,
    ig_given,
    ig_order,
    igg,
    infection,
    pneumococcal_titres,
)


def _indication(*items, order=None):
    order = order or ig_order(30, every_days=28)
    f = facts(order, *items)
    return order_indication(f, order)


def test_order_reason_wins_over_conditions():
    ind = _indication(condition("cvid"), order=ig_order(70, reason=("itp",)))
    assert (ind.concept, ind.kind, ind.from_order) == ("itp", Kind.IMMUNOMODULATORY, True)


def test_most_specific_condition_wins_higm_over_sigmd_over_other():
    assert (
        _indication(condition("cvid"), condition("selective-igm-deficiency")).concept
        == "selective-igm-deficiency"
    )
    assert (
        _indication(
            condition("cvid"), condition("higm-x-linked"), condition("selective-igm-deficiency")
        ).concept
        == "hyper-igm"
    )


def test_inactive_refuted_and_regimen_less_conditions_are_not_indications():
    assert _indication(condition("cvid", status="resolved")) is None
    assert _indication(condition("cvid", verification="refuted")) is None
    assert _indication(condition("mgus")) is None
    assert _indication(order=ig_order(30, reason=("mgus",))).kind is Kind.REGIMEN_LESS


def test_anti_d_hyperimmune_and_im_are_never_ig_orders():
    winrho = ig_order(
        1,
        name="WinRho SDF",
        product=None,
        classes=frozenset({MedClass.IMMUNE_GLOBULIN, MedClass.IG_EXCLUDED}),
    )
    im = ig_order(2, product=None, route=Route.IM, name="immune globulin IM", id="im-1")
    normal = ig_order(30, id="ivig-2")
    assert ig_orders(facts(winrho, im, normal)) == (normal,)


def test_infections_within_14_days_are_one_episode():
    f = facts(infection(100), infection(100, kind="bacteremia"), infection(86, kind="sepsis"), infection(10))
    assert len(infection_episodes(f)) == 2  # 100 + 100 + 86 (14 days later) is one; 10 is another
    g = facts(infection(100), infection(85))
    assert len(infection_episodes(g)) == 2  # 15 days apart


def test_infection_window_is_365_days_inclusive():
    assert len(infection_episodes(facts(infection(365)))) == 1
    assert len(infection_episodes(facts(infection(366)))) == 0


def test_refuted_infections_do_not_count_recorded_date_does():
    assert infection_episodes(facts(condition("pneumonia", days_ago=30, verification="refuted"))) == []
    assert len(infection_episodes(facts(condition("pneumonia", days_ago=30, recorded_only=True)))) == 1


def test_sigmd_criteria_met_with_low_pretreatment_igg_and_recurrent_infections():
    c = sigmd_criteria(facts(igg(499, days_ago=200), infection(200), infection(50)))
    assert c.igg_low and c.met and c.missing == ()
    assert c.infection_episodes == 2


def test_sigmd_igg_500_is_not_low():
    c = sigmd_criteria(facts(igg(500, days_ago=200), infection(200), infection(50)))
    assert not c.igg_low and not c.met
    assert any(m.startswith("IgG not low") for m in c.missing)
    assert "no pneumococcal vaccine response assessment on record" in c.missing


def test_sigmd_pneumococcal_branch_and_one_infection():
    c = sigmd_criteria(facts(condition("specific-antibody-deficiency"), infection(40)))
    assert c.pneumococcal_impaired and c.pneumococcal_assessed and not c.met
    assert len(c.missing) == 1 and c.missing[0].startswith("fewer than 2 severe infections")


def test_sigmd_igg_on_treatment_is_not_pretreatment():
    f = facts(ig_given(30, days_ago=60), igg(450, days_ago=20), infection(200), infection(50))
    c = sigmd_criteria(f)
    assert c.pretreatment_igg is None and not c.igg_low and c.igg_on_record
    assert c.missing[0].startswith("no pre-treatment IgG")


def test_sigmd_titres_without_impairment_count_as_assessed():
    c = sigmd_criteria(facts(pneumococcal_titres(), igg(700, days_ago=300)))
    assert c.pneumococcal_assessed and not c.pneumococcal_impaired
    assert "pneumococcal vaccine response not documented as impaired" in c.missing


def test_sigmd_threshold_is_policy():
    c = sigmd_criteria(
        facts(
            igg(450, days_ago=200),
            infection(200),
            infection(50),
            policy=Policy(sigmd_igg_threshold_mg_dl=400),
        )
    )
    assert not c.igg_low
