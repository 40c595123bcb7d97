"""Lab results and vital signs as the rules need them: canonical units, counted only when final."""

from datetime import UTC, datetime

import pytest

from fhir_mappings.errors import MappingError
from fhir_mappings.model import Measure
from fhir_mappings.observations import DEFAULT_CODES, LOINC_MEASURES, map_observation
from tests.fhir_mappings.builders import LOINC, concept, observation


def test_igg_in_g_per_litre_is_reported_in_mg_per_dl_with_its_reference_range() -> None:
    resource = observation("2465-3", 4.2, "g/L", referenceRange=[{"low": {"value": 7, "unit": "g/L"},
                                                                   "high": {"value": 16, "unit": "g/L"}}],
                           interpretation=[concept("http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation", "L")])
    result = map_observation(resource)
    assert result is not None
    assert (result.measure, result.value, result.unit) == (Measure.IGG, pytest.approx(420), "mg/dL")
    assert (result.reference_low, result.reference_high) == (pytest.approx(700), pytest.approx(1600))
    assert result.interpretation == ("L",)
    assert result.when == datetime(2024, 5, 3, 10, tzinfo=UTC)


@pytest.mark.parametrize("loinc", sorted(LOINC_MEASURES))
def test_every_loinc_row_maps_to_its_measure(loinc: str) -> None:
    measure = LOINC_MEASURES[loinc]
    unit = {Measure.WEIGHT: "kg", Measure.HEIGHT: "cm", Measure.BMI: "kg/m2", Measure.EGFR: "mL/min/{1.73_m2}"}.get(measure, "mg/dL")
    result = map_observation(observation(loinc, 10, unit))
    assert result is not None and result.measure is measure


def test_weight_in_pounds_and_creatinine_in_micromoles() -> None:
    weight = map_observation(observation("29463-7", 176, "[lb_av]"))
    assert weight is not None and weight.value == pytest.approx(79.832, abs=0.001) and weight.unit == "kg"
    creatinine = map_observation(observation("14682-9", 133, "umol/L", referenceRange=[{"high": {"value": 110, "unit": "umol/L", "system": "http://unitsofmeasure.org", "code": "umol/L"}}]))
    assert creatinine is not None and creatinine.value == pytest.approx(1.504, abs=0.001)
    assert creatinine.above_reference


def test_igg_in_an_unknown_unit_is_skipped_not_guessed() -> None:
    with pytest.raises(MappingError, match="unsupported-unit"):
        map_observation(observation("2465-3", 6.5, "mmol/L"))
    with pytest.raises(MappingError):
        map_observation(observation("2465-3", 650, None))


@pytest.mark.parametrize("status", ["final", "amended", "corrected"])
def test_usable_statuses(status: str) -> None:
    assert map_observation(observation("2465-3", 650, status=status)) is not None


@pytest.mark.parametrize("status", ["preliminary", "registered", "cancelled", "entered-in-error", "unknown", None])
def test_other_statuses_do_not_count(status: str | None) -> None:
    assert map_observation(observation("2465-3", 650, status=status)) is None


def test_data_absent_reason_means_no_result() -> None:
    resource = observation("2465-3", None, dataAbsentReason=concept("http://terminology.hl7.org/CodeSystem/data-absent-reason", "error"))
    assert map_observation(resource) is None


def test_unrelated_observation_is_ignored() -> None:
    assert map_observation(observation("718-7", 13.2, "g/dL")) is None


def test_result_without_any_date_is_skipped() -> None:
    resource = observation("2465-3", 650)
    del resource["effectiveDateTime"]
    with pytest.raises(MappingError, match="missing-date"):
        map_observation(resource)
    resource["effectivePeriod"] = {"start": "2024-05-01"}
    assert map_observation(resource) is not None


@pytest.mark.parametrize(
    ("value", "expected"),
    [({"valueCodeableConcept": concept(text="Positive")}, True), ({"valueCodeableConcept": concept(text="Negative")}, False),
     ({"valueString": "Not detected"}, False), ({"valueString": "REACTIVE"}, True), ({"valueBoolean": True}, True)],
)
def test_qualitative_hbsag(value: dict, expected: bool) -> None:
    resource = observation("5196-1", None, **value)
    result = map_observation(resource)
    assert result is not None and result.measure is Measure.HBSAG and result.positive is expected


def test_qualitative_by_interpretation_only() -> None:
    resource = observation("16933-4", None, valueString="see report",
                           interpretation=[concept("http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation", "POS")])
    result = map_observation(resource)
    assert result is not None and result.measure is Measure.ANTI_HBC and result.positive is True


@pytest.mark.parametrize(
    ("text", "measure"),
    [("Anti-IgA antibodies", Measure.ANTI_IGA), ("IgA antibodies (anti-IgA), serum", Measure.ANTI_IGA),
     ("Streptococcus pneumoniae Danish serotype 14 IgG Ab", Measure.PNEUMOCOCCAL_AB),
     ("Pneumococcal antibody panel (23 serotypes)", Measure.PNEUMOCOCCAL_AB),
     ("CD19 cells [#/volume] in Blood", Measure.CD19), ("HBV DNA quantitative", Measure.HBV_DNA),
     ("Hepatitis B virus DNA [IU/volume]", Measure.HBV_DNA)],
)
def test_measures_recognised_by_the_words_of_their_code(text: str, measure: Measure) -> None:
    resource = observation("99999-9", 12, "1", display=None)
    resource["code"] = {"coding": [{"system": "http://example.org/lab", "code": "X1"}], "text": text}
    result = map_observation(resource)
    assert result is not None and result.measure is measure


def test_tissue_transglutaminase_iga_antibody_is_not_anti_iga() -> None:
    resource = observation("99999-9", 12, "1")
    resource["code"] = {"text": "Tissue transglutaminase IgA antibody"}
    assert map_observation(resource) is None


def test_site_loinc_codes_extend_the_defaults() -> None:
    codes = DEFAULT_CODES.with_extra({"12345-6": Measure.ANTI_IGA})
    resource = observation("12345-6", None, valueString="positive")
    assert map_observation(resource) is None
    result = map_observation(resource, codes)
    assert result is not None and result.measure is Measure.ANTI_IGA and result.positive


def test_observation_code_other_than_loinc_is_kept() -> None:
    resource = observation("2465-3", 650)
    resource["code"]["coding"].insert(0, {"system": "http://example.org", "code": "LOCAL"})
    result = map_observation(resource)
    assert result is not None and result.code is not None and result.code.system == LOINC


@pytest.mark.parametrize(
    ("dates", "day"),
    [({"effectiveDateTime": "2024-05-03T10:00:00Z", "issued": "2024-05-09T10:00:00Z"}, "2024-05-03"),
     ({"effectivePeriod": {"start": "2024-05-01T08:00:00Z", "end": "2024-05-02T08:00:00Z"}}, "2024-05-02"),
     ({"effectivePeriod": {"start": "2024-05-01T08:00:00Z"}, "issued": "2024-05-09T10:00:00Z"}, "2024-05-01"),
     ({"issued": "2024-05-09T10:00:00.000-05:00"}, "2024-05-09")],
)
def test_the_date_of_a_result_is_effective_then_the_end_or_start_of_its_period_then_issued(
        dates: dict, day: str) -> None:
    """docs/clinical-rules.md Resolved details, "Which observations count"."""
    resource = observation("29463-7", 70.0, "kg")
    del resource["effectiveDateTime"]
    resource.update(dates)
    result = map_observation(resource)
    assert result is not None and result.when.date().isoformat() == day
