"""Conditions as indications and risk factors; refuted kept but inactive, entered-in-error dropped."""

from datetime import UTC, datetime

import pytest

from fhir_mappings.conditions import map_condition
from tests.fhir_mappings.builders import ICD10CM, SNOMED, condition


def test_x_linked_higm_is_an_active_severe_replacement_indication() -> None:
    fact = map_condition(condition(SNOMED, "403835002", text="X-linked hyper IgM"))
    assert fact is not None and fact.active
    assert {"hyper-igm", "higm-x-linked", "replacement-severe"} <= fact.concepts
    assert fact.text == "X-linked hyper IgM"
    assert fact.onset == datetime(2024, 1, 10, tzinfo=UTC)


def test_refuted_cvid_is_kept_but_not_active() -> None:
    fact = map_condition(condition(ICD10CM, "D83.9", verification="refuted"))
    assert fact is not None and fact.refuted_or_error and not fact.active and "cvid" in fact.concepts


def test_entered_in_error_condition_is_dropped() -> None:
    assert map_condition(condition(ICD10CM, "D83.9", verification="entered-in-error")) is None


def test_resolved_pneumonia_still_dates_an_episode_from_recorded_date() -> None:
    resource = condition(ICD10CM, "J15.9", clinical="resolved", onset=None)
    resource["recordedDate"] = "2024-02-01"
    fact = map_condition(resource)
    assert fact is not None and not fact.active and "severe-infection" in fact.concepts
    assert fact.start == datetime(2024, 2, 1, tzinfo=UTC)


def test_onset_period_start_is_the_onset() -> None:
    resource = condition(ICD10CM, "A41.9", onset=None)
    resource["onsetPeriod"] = {"start": "2024-03-04"}
    fact = map_condition(resource)
    assert fact is not None and fact.onset == datetime(2024, 3, 4, tzinfo=UTC)


def test_a_condition_carries_every_concept_of_all_its_codes() -> None:
    resource = condition(ICD10CM, "D80.4")
    resource["code"]["coding"].append({"system": SNOMED, "code": "234556002"})
    fact = map_condition(resource)
    assert fact is not None
    assert {"selective-igm-deficiency", "specific-antibody-deficiency", "replacement-less-severe"} <= fact.concepts


def test_transplant_named_in_text_only() -> None:
    fact = map_condition(condition(None, None, text="History of bone marrow transplant (2015)"))
    assert fact is not None and "stem-cell-transplant" in fact.concepts


def test_recurrence_counts_as_active() -> None:
    fact = map_condition(condition(ICD10CM, "A04.71", clinical="recurrence"))
    assert fact is not None and fact.active and {"cdi", "cdi-recurrent", "regimen-less"} <= fact.concepts


@pytest.mark.parametrize("verification", ["provisional", "differential", "unconfirmed", "confirmed", None])
def test_a_working_diagnosis_is_active(verification: str | None) -> None:
    """docs/clinical-rules.md Resolved details, "Working diagnoses count": urgent IVIG is ordered on a working diagnosis."""
    fact = map_condition(condition(ICD10CM, "G61.0", verification=verification))
    assert fact is not None and fact.active and "gbs" in fact.concepts


def test_a_refuted_diagnosis_never_counts_and_an_entered_in_error_one_is_dropped() -> None:
    refuted = map_condition(condition(ICD10CM, "G61.0", verification="refuted"))
    assert refuted is not None and not refuted.active
    assert map_condition(condition(ICD10CM, "G61.0", verification="entered-in-error")) is None


def test_a_dual_coded_higm_carries_the_subtype_of_its_snomed_coding() -> None:
    """docs/clinical-rules.md Resolved details, "Several codings on one Condition": the SNOMED subtype is on the fact."""
    resource = condition(ICD10CM, "D80.5")
    resource["code"]["coding"].append({"system": SNOMED, "code": "403836001"})
    fact = map_condition(resource)
    assert fact is not None and {"hyper-igm", "higm-autosomal-recessive"} <= fact.concepts
