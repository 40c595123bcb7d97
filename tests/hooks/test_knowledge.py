"""Knowledge tables: every row has a source; every regimen is internally consistent."""

from __future__ import annotations

import pytest

from fhir_mappings.drugs import IG_PRODUCTS
from hooks.knowledge import products, regimens, thresholds
from hooks.policy import Policy


@pytest.mark.parametrize("row", regimens.REGIMENS, ids=lambda r: r.id)
def test_every_regimen_has_sources_and_usual_within_hard(row):
    assert row.usual_source.label.strip() and row.hard_source.label.strip()
    assert row.usual_text and row.hard_text
    if row.usual and row.hard:
        assert row.hard.contains(row.usual.low) and row.hard.contains(row.usual.high)
    if row.interval:
        assert row.replacement and row.interval.low <= row.interval.high
    if row.maintenance and row.max_per_day:
        assert row.maintenance.high <= row.max_per_day
    if row.course and row.max_per_day and row.course_days:
        # a course at the low edge fits in the longest course length without breaking the day limit
        assert row.course.low / row.course_days.high <= row.max_per_day
    if row.single_dose and row.hard:
        assert row.hard.contains(row.single_dose.high)


def test_regimen_table_covers_every_indication():
    for concept in (
        "hyper-igm",
        "selective-igm-deficiency",
        "cvid",
        "agammaglobulinemia",
        "hypogammaglobulinemia",
        "specific-antibody-deficiency",
        "igg-subclass-deficiency",
    ):
        assert regimens.regimen_for(concept, replacement=True, sc_weekly=False, policy=Policy()).interval
        assert (
            regimens.regimen_for(concept, replacement=True, sc_weekly=True, policy=Policy()).basis.value
            == "per week"
        )
    for concept in ("gbs", "myasthenia-gravis", "cidp", "mmn", "autoimmune-encephalitis", "itp", "kawasaki"):
        assert regimens.regimen_for(concept, replacement=False, sc_weekly=False, policy=Policy()) is not None


def test_policy_regimen_numbers_stay_inside_the_label_range():
    higm = regimens.regimen_for("hyper-igm", replacement=True, sc_weekly=False, policy=Policy())
    sigmd = regimens.regimen_for(
        "selective-igm-deficiency", replacement=True, sc_weekly=False, policy=Policy()
    )
    assert (higm.usual.low, higm.usual.high) == (300, 600)
    assert (sigmd.usual.low, sigmd.usual.high) == (400, 600)
    for row in (higm, sigmd):
        assert row.usual_is_policy and "site policy" in row.usual_source.label


def test_sc_hard_range_is_the_iv_label_range_converted():
    sc = regimens.REGIMENS_BY_ID["replacement-sc"]
    assert sc.hard.low == pytest.approx(200 * 1.37 / 4, abs=0.6)
    assert sc.hard.high == pytest.approx(800 * 1.37 / 4, abs=0.6)


def test_no_indication_envelopes_span_every_regimen():
    """docs/clinical-rules.md Resolved details: IV (and HyQvia) 200–2,400 mg/kg per administration (the lowest
    replacement floor, the MMN ceiling); SC 68–400 mg/kg per week (the SC replacement floor, the CIDP SC
    ceiling) — derived from the regimen rows, so a new row would move them."""
    iv = regimens.no_indication_envelope(sc_weekly=False)
    sc = regimens.no_indication_envelope(sc_weekly=True)
    assert (iv.hard.low, iv.hard.high, iv.basis) == (200, 2400, regimens.Basis.ADMINISTRATION)
    assert (sc.hard.low, sc.hard.high, sc.basis) == (68, 400, regimens.Basis.WEEK)
    assert "Privigen" in iv.hard_source.label and "Gammagard" in iv.hard_source.label
    assert "Hizentra" in sc.hard_source.label
    assert not iv.usual and not sc.usual  # without an indication there is no target dose
    assert set(regimens.NO_INDICATION_ENVELOPES) == {iv, sc}


def test_scig_loading_numbers_are_seed_site_policy_defaults():
    policy = Policy()
    assert (policy.scig_loading_mg_kg_per_day, policy.scig_loading_max_days, policy.scig_loading_tolerance) == (
        150,
        5,
        0.10,
    )


@pytest.mark.parametrize("row", products.PRODUCTS, ids=lambda p: p.key)
def test_every_product_row_has_a_source(row):
    assert row.source.label.strip()
    for limit in row.sc_limits:
        assert limit.source.label.strip()
    if row.concentration_g_per_ml is not None:
        assert 0 < row.concentration_g_per_ml <= 0.2
    if row.sc_factor is not None:
        assert row.sc_factor in (1.0, 1.30, 1.37)


def test_product_keys_match_the_mapper():
    mapper_keys = {p.key for p in IG_PRODUCTS}
    assert mapper_keys <= set(products.PRODUCTS_BY_KEY)
    for key, product in products.PRODUCTS_BY_KEY.items():
        assert key in mapper_keys or not product.marketed


def test_scig_factors_from_rules_md():
    for key in ("hizentra", "gammagard-liquid", "gamunex-c", "xembify"):
        assert products.sc_conversion_factor(key, "label") == 1.37
    for key in ("cuvitru", "cutaquig"):
        assert products.sc_conversion_factor(key, "label") == 1.30
    assert products.sc_conversion_factor("hyqvia", "label") == 1.0
    assert products.sc_conversion_factor("hizentra", "one") == 1.0


def test_seed_sc_limits_are_the_xembify_label():
    assert [(lim.max_ml_per_site, lim.max_ml_per_hour_per_site) for lim in products.SEED_SC_LIMITS] == [
        (25, 25),
        (25, 35),
    ]


def test_low_iga_products_sorted():
    assert [p.key for p in products.low_iga_products()] == [
        "privigen",
        "gammagard-liquid",
        "flebogamma",
        "xembify",
    ]


@pytest.mark.parametrize("row", thresholds.ALL, ids=lambda t: t.id)
def test_every_threshold_has_a_source(row):
    assert row.source.label.strip() and row.meaning.strip()


def test_threshold_ids_unique():
    ids = [t.id for t in thresholds.ALL]
    assert len(ids) == len(set(ids))
