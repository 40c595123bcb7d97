"""Dose plans: the weight, dose, vials, label rates and SC sites a pharmacist checks before preparing Ig.

Expected figures are computed here from the knowledge tables (products, label rates) and the weight
formulas, never typed in as results.
"""

from __future__ import annotations

import math

import pytest

from fhir_mappings.model import MedClass, Route
from hooks.companion.data import active_ig_orders
from hooks.companion.dose_plan import build_dose_plan, label_use, ml_per_hour, rate_steps
from hooks.derive.indications import Kind
from hooks.knowledge.infusion import IV_RATES, LabelUse, iv_rate
from hooks.knowledge.products import PRODUCTS_BY_KEY
from hooks.policy import Policy
from tests.hooks.builders import condition, creatinine, facts, height, ig_given, ig_order, medication, patient, weight


def plan_for(*items, policy=None):
    f = facts(*items, policy=policy)
    (order,) = f.record.draft_orders
    return build_dose_plan(f, order)


def test_privigen_70_g_for_a_70_kg_man_with_higm_is_1000_mg_kg_three_vials_and_the_pi_label_rates():
    plan = plan_for(patient(34, "male"), weight(70), height(178), condition("hyper-igm"),
                    ig_order(70, every_days=28, product="privigen"))
    assert plan.grams == 70 and plan.mg_per_kg == pytest.approx(1000)
    assert plan.weight.dosing_kg == 70 and plan.weight.basis == "actual"
    assert plan.vials.total_g == 70 and plan.vials.count == 3
    row = iv_rate("privigen", LabelUse.PI)
    concentration = PRODUCTS_BY_KEY["privigen"].concentration_g_per_ml
    assert [s.mg_kg_min for s in plan.rates.steps] == [row.initial_mg_kg_min, row.max_mg_kg_min]
    assert [s.ml_per_h for s in plan.rates.steps] == pytest.approx(
        [r * 70 * 60 / (concentration * 1000) for r in (row.initial_mg_kg_min, row.max_mg_kg_min)])
    assert plan.rates.risk_factors == () and plan.rates.at_risk_cap is None
    assert plan.grams_per_week == pytest.approx(70 * 7 / 28)
    assert plan.sc is None and plan.regimen is not None


def test_panzyga_for_itp_in_a_woman_on_estrogen_stops_at_the_labels_at_risk_maximum():
    plan = plan_for(patient(30, "female"), weight(60), condition("itp"),
                    medication("ethinyl estradiol", MedClass.ESTROGEN),
                    ig_order(60, every_days=1, count=2, product="panzyga", reason=("itp",)))
    row = iv_rate("panzyga", LabelUse.ITP)
    assert plan.rates.use is LabelUse.ITP and plan.rates.risk_factors
    assert plan.rates.at_risk_cap == row.at_risk_max_mg_kg_min < row.max_mg_kg_min
    assert [s.mg_kg_min for s in plan.rates.steps] == [row.initial_mg_kg_min, row.at_risk_max_mg_kg_min]
    assert all(s.ml_per_h is None for s in plan.rates.steps)  # Panzyga's concentration is not on file
    assert plan.vials is None and plan.vial_sizes == ()  # nor are its vials


def test_a_renal_risk_without_a_label_number_keeps_the_label_steps_and_lists_the_risk():
    plan = plan_for(patient(70, "male"), weight(80), condition("cvid"), creatinine(2.0, high=1.2),
                    ig_order(40, every_days=28, product="privigen"))
    assert plan.rates.risk_factors and plan.rates.at_risk_cap is None
    assert plan.rates.steps[-1].mg_kg_min == iv_rate("privigen", LabelUse.PI).max_mg_kg_min


def test_gbs_has_no_labelled_rate_on_file_so_none_is_invented():
    plan = plan_for(patient(60, "male"), weight(80), condition("gbs"),
                    ig_order(32, every_days=1, count=5, product="privigen", reason=("gbs",)))
    assert plan.rates.row is None and plan.rates.steps == () and plan.rates.use is None
    assert plan.administrations == 5 and plan.course_mg_kg == pytest.approx(5 * 32000 / 80)


def test_bivigam_steps_up_by_the_labels_0_8_every_20_minutes_to_its_maximum():
    row = iv_rate("bivigam", LabelUse.PI)
    steps = rate_steps(row, row.max_mg_kg_min, 50, 0.10)
    values = [s.mg_kg_min for s in steps]
    assert values[0] == row.initial_mg_kg_min and values[-1] == row.max_mg_kg_min
    assert all(b - a == pytest.approx(row.step_mg_kg_min) for a, b in zip(values, values[1:-1], strict=False))
    assert all(s.minutes == row.step_minutes for s in steps[:-1]) and steps[-1].minutes is None
    assert steps[1].ml_per_h == pytest.approx(ml_per_hour(values[1], 50, 0.10))


def test_gammagard_starts_at_its_initial_rate_for_30_minutes():
    row = iv_rate("gammagard-liquid", LabelUse.PI)
    steps = rate_steps(row, row.max_mg_kg_min, 70, 0.10)
    assert steps[0].minutes == row.initial_minutes == 30 and len(steps) == 2


def test_a_cap_below_the_initial_rate_is_the_only_step():
    row = iv_rate("privigen", LabelUse.PI)
    assert [s.mg_kg_min for s in rate_steps(row, 0.3, 70, 0.10)] == [0.3]


def test_every_rate_row_names_a_product_on_file_and_a_source():
    for row in IV_RATES:
        assert row.product in PRODUCTS_BY_KEY and row.source.label
        assert row.max_mg_kg_min is None or row.max_mg_kg_min > row.initial_mg_kg_min


def test_the_labelled_use_follows_the_indication():
    assert label_use(Kind.REPLACEMENT, "cvid") is LabelUse.PI
    assert label_use(Kind.IMMUNOMODULATORY, "itp") is LabelUse.ITP
    assert label_use(Kind.IMMUNOMODULATORY, "cidp") is LabelUse.CIDP
    assert label_use(Kind.IMMUNOMODULATORY, "gbs") is None and label_use(None, None) is None


def test_an_obese_woman_under_an_adjusted_weight_policy_is_dosed_on_adjusted_weight():
    plan = plan_for(patient(52, "female"), weight(120), height(165), condition("cvid"),
                    ig_order(50, every_days=28, product="gammagard-liquid"), policy=Policy(dosing_weight="adjusted"))
    ibw = 45.5 + 2.3 * (165 * 0.393701 - 60)
    adjusted = ibw + 0.4 * (120 - ibw)
    assert plan.weight.assessment.applies and plan.weight.basis == "adjusted"
    assert plan.weight.dosing_kg == pytest.approx(adjusted)
    assert plan.mg_per_kg == pytest.approx(50_000 / adjusted)
    assert plan.rates.steps[0].ml_per_h == pytest.approx(ml_per_hour(0.8, adjusted, 0.10))


def test_hizentra_weekly_for_cidp_gets_volume_sites_and_the_first_infusions_limits():
    plan = plan_for(patient(50, "male"), weight(70), condition("cidp"),
                    ig_order(10, every_days=7, product="hizentra", reason=("cidp",)))
    hizentra = PRODUCTS_BY_KEY["hizentra"]
    first = next(lim for lim in hizentra.sc_limits if lim.applies(50, 70, 1))
    volume = 10 / hizentra.concentration_g_per_ml
    assert plan.rates is None and plan.sc.volume_ml == pytest.approx(volume)
    assert plan.sc.sites == math.ceil(volume / first.max_ml_per_site)
    assert plan.sc.ml_per_site == pytest.approx(volume / plan.sc.sites)
    assert plan.sc.ml_per_h_per_site == first.max_ml_per_hour_per_site
    assert plan.grams_per_week == pytest.approx(10)


def test_the_sixth_hizentra_infusion_has_the_larger_per_site_limit():
    given = [ig_given(10, days_ago=7 * n, product="hizentra", id=f"adm-{n}") for n in range(1, 6)]
    plan = plan_for(patient(50, "male"), weight(70), condition("cidp"), *given,
                    ig_order(10, every_days=7, product="hizentra", reason=("cidp",)))
    sixth = next(lim for lim in PRODUCTS_BY_KEY["hizentra"].sc_limits if lim.applies(50, 70, 6))
    assert plan.sc.max_ml_per_site == sixth.max_ml_per_site


def test_an_order_whose_dose_cannot_be_read_gets_a_plan_without_grams_vials_or_rates():
    """order-dose-unchecked links to the plan too: with no readable dose there is nothing to round or pace,
    and the page must still answer (weight and product facts), not fail."""
    plan = plan_for(patient(34, "male"), weight(70), condition("hyper-igm"), ig_order(None, every_days=28))
    assert plan.grams is None and plan.mg_per_kg is None
    assert plan.weight.dosing_kg == 70


def test_the_orders_offered_when_none_was_launched_are_the_active_ig_orders_it_can_plan():
    """Mrs Ortiz's chart: an active IVIG order, an active SCIG order, an intramuscular Ig order (post-exposure,
    not an Ig order igcds judges), a completed IVIG order, and a draft. Only the first two are offered: the
    IM one used to be listed and then open on "not an order igcds can plan"."""
    record = facts(
        weight(70),
        ig_order(30, id="iv-active", status="active", draft=False),
        ig_order(10, id="sc-active", product="hizentra", status="active", draft=False),
        ig_order(5, id="im-active", route=Route.IM, status="active", draft=False),
        ig_order(30, id="iv-done", status="completed", draft=False),
        ig_order(30, id="iv-draft"),
    )
    assert [o.id for o in active_ig_orders(record)] == ["iv-active", "sc-active"]
