"""Small builders of FHIR R4 JSON for the fhir_mappings tests (valid R4 unless a test says otherwise)."""

from __future__ import annotations

from typing import Any

LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"
ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"
UCUM = "http://unitsofmeasure.org"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
CVX = "http://hl7.org/fhir/sid/cvx"
NDC = "http://hl7.org/fhir/sid/ndc"
ATC = "http://www.whocc.no/atc"
CPT = "http://www.ama-assn.org/go/cpt"
PATIENT_REF = {"reference": "Patient/p1"}

Json = dict[str, Any]


def concept(system: str | None = None, code: str | None = None, display: str | None = None, text: str | None = None) -> Json:
    result: Json = {}
    if system and code:
        coding: Json = {"system": system, "code": code}
        if display:
            coding["display"] = display
        result["coding"] = [coding]
    if text:
        result["text"] = text
    return result


def patient(pid: str = "p1", birth: str | None = "1980-04-02", gender: str = "female") -> Json:
    resource: Json = {"resourceType": "Patient", "id": pid, "gender": gender}
    if birth:
        resource["birthDate"] = birth
    return resource


def observation(loinc: str, value: float | None, unit: str | None = "mg/dL", *, rid: str = "o1", status: str = "final",
                when: str = "2024-05-03T10:00:00Z", display: str | None = None, **extra: Any) -> Json:
    resource: Json = {"resourceType": "Observation", "id": rid, "status": status,
                      "code": concept(LOINC, loinc, display), "subject": PATIENT_REF, "effectiveDateTime": when}
    if value is not None:
        quantity: Json = {"value": value}
        if unit is not None:
            quantity.update({"unit": unit, "system": UCUM, "code": unit})
        resource["valueQuantity"] = quantity
    resource.update(extra)
    return resource


def condition(system: str | None, code: str | None, *, rid: str = "c1", clinical: str | None = "active",
              verification: str | None = "confirmed", text: str | None = None, onset: str | None = "2024-01-10") -> Json:
    resource: Json = {"resourceType": "Condition", "id": rid, "subject": PATIENT_REF, "code": concept(system, code, text=text)}
    if clinical:
        resource["clinicalStatus"] = concept("http://terminology.hl7.org/CodeSystem/condition-clinical", clinical)
    if verification:
        resource["verificationStatus"] = concept("http://terminology.hl7.org/CodeSystem/condition-ver-status", verification)
    if onset:
        resource["onsetDateTime"] = onset
    return resource


def med_request(med: Json, *, rid: str = "mr1", status: str = "draft", dose: Json | None = None, route: Json | None = None,
                repeat: Json | None = None, **extra: Any) -> Json:
    resource: Json = {"resourceType": "MedicationRequest", "id": rid, "status": status, "intent": "order",
                      "subject": PATIENT_REF, "authoredOn": "2024-06-01", "medicationCodeableConcept": med}
    dosage: Json = {}
    if dose is not None:
        dosage["doseAndRate"] = [{"doseQuantity": dose}]
    if route is not None:
        dosage["route"] = route
    if repeat is not None:
        dosage["timing"] = {"repeat": repeat}
    if dosage:
        resource["dosageInstruction"] = [dosage]
    resource.update(extra)
    return resource


def dose(value: float, unit: str) -> Json:
    return {"value": value, "unit": unit, "system": UCUM, "code": unit}


def bundle(*resources: Json) -> Json:
    return {"resourceType": "Bundle", "type": "searchset",
            "entry": [{"resource": r, "search": {"mode": "match"}} for r in resources]}
