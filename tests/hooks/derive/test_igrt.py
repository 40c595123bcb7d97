"""hooks.derive.igrt: recorded doses, on IgRT, trough and pre-treatment IgG, courses."""

from __future__ import annotations

from fhir_mappings.model import Route
from hooks.derive import igrt
from tests.hooks.pv_builders import (
    NOW,
    ago,
    concepts,
    condition,
    facts,
    ig_given,
    ig_request,
    igg,
    record,
    weight,
)


def test_an_order_alone_is_not_a_dose() -> None:
    rec = record(medications=[ig_request(10)])
    assert igrt.ig_doses(rec) == ()


def test_dose_mg_per_kg_uses_newest_weight_on_or_before_the_dose() -> None:
    rec = record(
        measurements=[weight(70, 100), weight(80, 20), weight(90, 5)], medications=[ig_given(10, 28)]
    )
    (dose,) = igrt.ig_doses(rec)
    assert dose.weight_kg == 80 and dose.mg_per_kg == 350 and dose.grams == 28
    assert dose.source == "MedicationAdministration"


def test_not_done_administration_is_ignored() -> None:
    rec = record(medications=[ig_given(10, status="not-done")])
    assert igrt.ig_doses(rec) == ()


def test_on_igrt_needs_a_replacement_indication() -> None:
    meds = [ig_given(20)]
    assert igrt.on_igrt(facts(record(conditions=[condition("cvid")], medications=meds)))
    assert not igrt.on_igrt(facts(record(conditions=[condition("gbs")], medications=meds)))


def test_on_igrt_by_active_order_or_dose_within_56_days() -> None:
    cvid = [condition("cvid")]
    assert igrt.on_igrt(facts(record(conditions=cvid, medications=[ig_request(300)])))
    assert igrt.on_igrt(facts(record(conditions=cvid, medications=[ig_given(56)])))
    assert not igrt.on_igrt(facts(record(conditions=cvid, medications=[ig_given(57)])))
    assert not igrt.on_igrt(facts(record(conditions=cvid, medications=[ig_request(300, status="completed")])))


def test_ig_for_an_immunomodulatory_reason_does_not_make_on_igrt() -> None:
    rec = record(conditions=[condition("cvid")], medications=[ig_given(10, reason=concepts("itp"))])
    assert not igrt.on_igrt(facts(rec))


def test_trough_is_an_igg_with_a_dose_in_the_56_days_before() -> None:
    rec = record(
        measurements=[igg(600, 10), igg(700, 100), igg(300, 400)], medications=[ig_given(66), ig_given(156)]
    )
    troughs = igrt.trough_iggs(facts(rec))
    assert [m.value for m in troughs] == [600, 700]  # 56 days after a dose (inclusive); 400-day one has none
    rec57 = record(measurements=[igg(600, 10)], medications=[ig_given(67)])
    assert igrt.trough_iggs(facts(rec57)) == ()


def test_statement_period_covering_the_draw_makes_a_trough() -> None:
    statement = ig_given(300, source="MedicationStatement", status="active", until_days=None)
    rec = record(measurements=[igg(650, 5)], medications=[statement])
    assert [m.value for m in igrt.trough_iggs(facts(rec))] == [650]


def test_pretreatment_igg_is_newest_without_ig_in_previous_90_days() -> None:
    rec = record(measurements=[igg(800, 10), igg(420, 200), igg(380, 400)], medications=[ig_given(100)])
    pre = igrt.pretreatment_igg(facts(rec))
    assert pre is not None and pre.value == 420
    rec2 = record(measurements=[igg(800, 10)], medications=[ig_given(100)])
    assert igrt.pretreatment_igg(facts(rec2)) is None  # drawn 90 days after a dose: not washed out


def test_courses_group_doses_within_7_days_and_total_mg_per_kg() -> None:
    rec = record(
        measurements=[weight(70, 60)],
        medications=[ig_given(30, 28), ig_given(29, 28), ig_given(22, 28), ig_given(10, 28)],
    )
    courses = igrt.ig_courses(facts(rec))
    assert len(courses) == 2
    assert courses[0].total_mg_per_kg == 1200 and courses[0].last == ago(22)
    assert courses[1].total_mg_per_kg == 400


def test_last_iv_dose_and_ig_given_within() -> None:
    rec = record(medications=[ig_given(20), ig_given(5, route=Route.SC, rid="sc")])
    f = facts(rec)
    last = igrt.last_iv_ig_dose(f)
    assert last is not None and last.when == ago(20)
    assert igrt.ig_given_within(f, 14)
    assert not igrt.ig_given_within(f, 14, route=Route.IV)
    assert igrt.ig_given_within(f, 20, route=Route.IV)
    assert NOW > last.when
