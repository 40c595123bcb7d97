"""How EHR data is read decides which cards fire: vignettes from FHIR JSON to findings.

docs/clinical-rules.md Resolved details: "Which observations count" (status final/amended/corrected with a value; the
date is effectiveDateTime, else the end or start of effectivePeriod, else issued), "Working diagnoses
count" (provisional, differential, unconfirmed count; refuted, entered-in-error never), "Several codings
on one Condition" (the most specific decides) and "Immunomodulatory courses" (a boundsPeriod with start
and end states the course days). Each detail has a vignette that fires and one that stays quiet.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from cds_service import HookRequest
from hooks.facts import facts_from_request
from hooks.services.common import run_rules
from hooks.services.rulesets import ORDER_RULES, PATIENT_VIEW_RULES

NOW = datetime(2026, 6, 15, 12, 0, tzinfo=UTC)
UCUM = "http://unitsofmeasure.org"
LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"
ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"


def day(days_ago: float) -> str:
    return (NOW - timedelta(days=days_ago)).strftime("%Y-%m-%dT%H:%M:%SZ")


def date(days_ago: float) -> str:
    return (NOW - timedelta(days=days_ago)).date().isoformat()


def patient(gender: str = "female", age: int = 40) -> dict[str, Any]:
    return {"resourceType": "Patient", "id": "p1", "gender": gender, "birthDate": f"{NOW.year - age}-01-01"}


def observation(loinc: str, value: float, unit: str, *, rid: str, status: str = "final",
                dates: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    resource = {"resourceType": "Observation", "id": rid, "status": status,
                "code": {"coding": [{"system": LOINC, "code": loinc}]}, "subject": {"reference": "Patient/p1"},
                "valueQuantity": {"value": value, "unit": unit, "system": UCUM, "code": unit}}
    resource.update(dates if dates is not None else {"effectiveDateTime": day(10)})
    resource.update(extra)
    return resource


def weight(kg: float = 70, **kw: Any) -> dict[str, Any]:
    return observation("29463-7", kg, "kg", rid=kw.pop("rid", "w1"), **kw)


def condition(*codings: tuple[str, str], rid: str = "c1", verification: str | None = "confirmed") -> dict[str, Any]:
    resource: dict[str, Any] = {
        "resourceType": "Condition", "id": rid, "subject": {"reference": "Patient/p1"},
        "clinicalStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
                                       "code": "active"}]},
        "code": {"coding": [{"system": system, "code": code} for system, code in codings]}}
    if verification:
        resource["verificationStatus"] = {"coding": [{
            "system": "http://terminology.hl7.org/CodeSystem/condition-ver-status", "code": verification}]}
    return resource


def ivig(dose: dict[str, Any], repeat: dict[str, Any], name: str = "Privigen") -> dict[str, Any]:
    return {"resourceType": "MedicationRequest", "id": "d1", "status": "draft", "intent": "order",
            "subject": {"reference": "Patient/p1"}, "authoredOn": date(0), "medicationCodeableConcept": {"text": name},
            "dosageInstruction": [{"timing": {"repeat": repeat}, "doseAndRate": [{"doseQuantity": dose}]}]}


def g_per_kg(value: float) -> dict[str, Any]:
    return {"value": value, "unit": "g/kg", "system": UCUM, "code": "g/kg"}


EVERY_4_WEEKS = {"frequency": 1, "period": 4, "periodUnit": "wk"}
CVID = (ICD10CM, "D83.9")


def fired(*resources: dict[str, Any], draft: dict[str, Any] | None = None, pv: bool = False,
          who: dict[str, Any] | None = None) -> set[tuple[str, str]]:
    context: dict[str, Any] = {"userId": "Practitioner/x", "patientId": "p1"}
    if not pv:
        context["draftOrders"] = {"resourceType": "Bundle", "entry": [{"resource": draft}] if draft else []}
    bundle = {"resourceType": "Bundle", "type": "searchset", "entry": [{"resource": r} for r in resources]}
    request = HookRequest("ig-patient-view" if pv else "ig-order-sign", "patient-view" if pv else "order-sign",
                          "00000000-0000-4000-8000-000000000000", context,
                          {"patient": who or patient(), "vitals": bundle}, frozenset(), NOW)
    findings, failed = run_rules(facts_from_request(request), PATIENT_VIEW_RULES if pv else ORDER_RULES)
    assert failed == []
    return {(f.rule, f.indicator.value) for f in findings}


def cvid_order(*resources: dict[str, Any]) -> set[str]:
    rules = fired(condition(CVID), *resources, draft=ivig(g_per_kg(0.4), EVERY_4_WEEKS))
    return {rule for rule, _ in rules}


# --- Which observations count -------------------------------------------------------------------------


@pytest.mark.parametrize("status", ["final", "amended", "corrected"])
def test_a_final_amended_or_corrected_weight_counts(status: str) -> None:
    assert "order-weight-missing" not in cvid_order(weight(status=status))


@pytest.mark.parametrize("status", ["preliminary", "entered-in-error", "registered", "cancelled"])
def test_a_preliminary_or_entered_in_error_weight_does_not_count(status: str) -> None:
    assert "order-weight-missing" in cvid_order(weight(status=status))


def test_a_weight_with_a_data_absent_reason_does_not_count() -> None:
    absent = weight()
    del absent["valueQuantity"]
    absent["dataAbsentReason"] = {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/data-absent-reason",
                                              "code": "not-performed"}]}
    assert "order-weight-missing" in cvid_order(absent)


@pytest.mark.parametrize(
    ("dates", "counts"),
    [({"effectivePeriod": {"start": day(100), "end": day(80)}}, True),  # the end of the period dates it
     ({"effectivePeriod": {"start": day(100)}}, False),  # no end: the start, 100 days ago, is too old
     ({"issued": day(20)}, True),  # no effective date: issued
     ({"issued": day(120)}, False)],
)
def test_the_date_of_a_weight_is_the_end_or_start_of_its_period_else_issued(dates: dict[str, Any], counts: bool) -> None:
    assert ("order-weight-missing" not in cvid_order(weight(dates=dates))) is counts


def test_an_amended_low_iga_warns_and_a_preliminary_one_does_not() -> None:
    """IgA 5 mg/dL (0.05 g/L) in a 40-year-old with ITP: the IgA-deficiency caution (docs/clinical-rules.md)."""
    itp = condition((ICD10CM, "D69.3"), rid="c2")
    order = ivig(g_per_kg(1), {"count": 1})
    amended = observation("2458-8", 0.05, "g/L", rid="iga", status="amended")
    assert ("order-iga-deficiency", "warning") in fired(itp, weight(), amended, draft=order)
    preliminary = observation("2458-8", 0.05, "g/L", rid="iga", status="preliminary")
    assert "order-iga-deficiency" not in {r for r, _ in fired(itp, weight(), preliminary, draft=order)}


# --- Working diagnoses count ----------------------------------------------------------------------------


@pytest.mark.parametrize("verification", ["provisional", "differential", "unconfirmed", "confirmed"])
def test_a_working_diagnosis_of_gbs_is_the_indication_and_its_course_is_judged(verification: str) -> None:
    """Urgent IVIG is ordered on a working diagnosis: 0.5 g/kg/day × 5 = 2.5 g/kg is above the GBS course."""
    gbs = condition((SNOMED, "40956001"), (ICD10CM, "G61.0"), verification=verification)
    rules = fired(gbs, weight(), draft=ivig(g_per_kg(0.5), {"frequency": 1, "period": 1, "periodUnit": "d", "count": 5}))
    assert ("order-dose-out-of-range", "warning") in rules
    assert "order-indication-missing" not in {r for r, _ in rules}


@pytest.mark.parametrize("verification", ["refuted", "entered-in-error"])
def test_a_refuted_diagnosis_is_no_indication(verification: str) -> None:
    gbs = condition((SNOMED, "40956001"), (ICD10CM, "G61.0"), verification=verification)
    rules = fired(gbs, weight(), draft=ivig(g_per_kg(0.4), {"frequency": 1, "period": 1, "periodUnit": "d", "count": 5}))
    assert ("order-indication-missing", "warning") in rules


# --- Several codings on one Condition -------------------------------------------------------------------

MAN_34 = patient("male", 34)


@pytest.mark.parametrize(
    ("codings", "expected"),
    [([(ICD10CM, "D80.5")], {("pv-higm-no-pjp-prophylaxis", "warning")}),  # no subtype: CD40L possible
     ([(ICD10CM, "D80.5"), (SNOMED, "403836001")], {("pv-higm-no-pjp-prophylaxis", "info")}),
     ([(ICD10CM, "D80.5"), (SNOMED, "783249007")], set()),  # without susceptibility to opportunistic infection
     ([(ICD10CM, "D80.5"), (SNOMED, "403835002")],
      {("pv-higm-no-pjp-prophylaxis", "warning"), ("pv-higm-hsct", "info")})],
)
def test_the_snomed_subtype_on_a_dual_coded_higm_condition_decides(
        codings: list[tuple[str, str]], expected: set[tuple[str, str]]) -> None:
    rules = fired(condition(*codings), pv=True, who=MAN_34)
    higm_rules = {(r, i) for r, i in rules if r in ("pv-higm-no-pjp-prophylaxis", "pv-higm-hsct")}
    assert higm_rules == expected


# --- Immunomodulatory courses: boundsPeriod -------------------------------------------------------------

GBS = condition((SNOMED, "40956001"), (ICD10CM, "G61.0"))
DAILY = {"frequency": 1, "period": 1, "periodUnit": "d"}


@pytest.mark.parametrize(
    ("per_day", "bounds", "out_of_range"),
    [(0.5, {"start": date(-1), "end": date(-5)}, True),  # 5 days counted with both ends: 2.5 g/kg
     (0.4, {"start": date(-1), "end": date(-5)}, False),  # 2.0 g/kg over 5 days
     (0.5, {"start": "2026-06-16T08:00:00Z", "end": "2026-06-20T08:00:00Z"}, False),  # 4 days exactly: 2.0
     (0.5, {"start": "2026-06-16T08:00:00Z", "end": "2026-06-20T10:00:00Z"}, True),  # rounded up to 5: 2.5
     (0.3, {"start": date(-1), "end": date(-7)}, True)],  # 7 days: longer than a 2-5 day course
)
def test_a_bounds_period_states_the_course(per_day: float, bounds: dict[str, str], out_of_range: bool) -> None:
    rules = fired(GBS, weight(), draft=ivig(g_per_kg(per_day), {**DAILY, "boundsPeriod": bounds}))
    assert (("order-dose-out-of-range", "warning") in rules) is out_of_range


def test_a_bounds_period_without_an_end_states_no_course() -> None:
    """Only the per-day limit applies: 0.5 g/kg/day is within it, and no course total is invented."""
    rules = fired(GBS, weight(), draft=ivig(g_per_kg(0.5), {**DAILY, "boundsPeriod": {"start": date(-1)}}))
    assert "order-dose-out-of-range" not in {r for r, _ in rules}
