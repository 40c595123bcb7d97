"""The IgG trend and its chart: every IgG value, troughs as the rules see them, the policy target, every dose."""

from __future__ import annotations

import pytest

from hooks.companion.chart import IGG_BOTTOM, IGG_TOP, LEFT, RIGHT, WIDTH, build_chart
from hooks.companion.trend import build_trend
from hooks.policy import Policy, TroughTargets
from tests.hooks.builders import condition, facts, ig_given, igg, infection, patient, weight


def vignette(**policy):
    """A man with X-linked HIGM on Privigen every 4 weeks: a pre-treatment IgG, two troughs, one old value."""
    return facts(
        patient(34, "male"), condition("hyper-igm"),
        igg(120, days_ago=200), igg(510, days_ago=120), igg(420, days_ago=40), igg(300, days_ago=900),
        *[ig_given(30, days_ago=d) for d in (180, 152, 124, 96, 68)], ig_given(35, days_ago=42),
        infection(300), weight(69, days_ago=190), weight(70, days_ago=20),
        policy=Policy(**policy),
    )


def test_the_trend_holds_every_igg_in_the_window_with_troughs_marked_and_the_older_one_counted():
    trend = build_trend(vignette(), days=730)
    assert [v.mg_dl for v in trend.igg] == [120, 510, 420]
    assert [v.trough for v in trend.igg] == [False, True, True]
    assert trend.older_igg == 1


def test_the_target_is_the_site_policys_for_the_patients_indication():
    trend = build_trend(vignette(trough_target_mg_dl=TroughTargets(higm=650)), days=730)
    assert trend.target_mg_dl == 650 and trend.target_for == "hyper-IgM syndrome"


def test_every_recorded_dose_is_a_marker_with_mg_per_kg_of_the_weight_of_its_day_and_changes_are_flagged():
    trend = build_trend(vignette(), days=730)
    assert len(trend.doses) == 6
    assert trend.doses[0].mg_per_kg == pytest.approx(30_000 / 69)
    assert trend.doses[-1].mg_per_kg == pytest.approx(35_000 / 69)
    assert [d.changed for d in trend.doses] == [False] * 5 + [True]


def test_severe_infections_and_weights_in_the_window_are_kept():
    trend = build_trend(vignette(), days=730)
    assert len(trend.infections) == 1 and [w.kg for w in trend.weights] == [69, 70]


def test_a_short_window_keeps_only_its_own_values():
    trend = build_trend(vignette(), days=60)
    assert [v.mg_dl for v in trend.igg] == [420] and trend.older_igg == 3 and len(trend.doses) == 1


def test_the_chart_places_every_mark_inside_its_panel_and_the_target_at_its_height():
    trend = build_trend(vignette(), days=730)
    chart = build_chart(trend)
    assert len(chart.igg_points) == 3 and len(chart.doses) == 6 and len(chart.infections) == 1
    assert all(LEFT <= p.x <= WIDTH - RIGHT and IGG_TOP <= p.y <= IGG_BOTTOM for p in chart.igg_points)
    by_value = {float(p.data["mg-dl"]): p.y for p in chart.igg_points}
    assert by_value[510] < chart.target_y < by_value[420]  # 510 above the 500 line, 420 below
    assert [p.kind for p in chart.igg_points] == ["other", "trough", "trough"]
    assert [d.label for d in chart.doses][:1] == ["435"] and chart.x_ticks
    assert sorted(p.x for p in chart.igg_points) == [p.x for p in chart.igg_points]  # oldest first


def test_a_patient_without_any_data_still_gets_a_chart_with_the_target():
    trend = build_trend(facts(patient(40), condition("cvid")), days=730)
    chart = build_chart(trend)
    assert trend.igg == () and chart.igg_points == () and IGG_TOP <= chart.target_y <= IGG_BOTTOM
