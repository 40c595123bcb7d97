"""Benchmark data: one realistic CVID patient with ~60 resources and an IVIG draft order.

Everything is generated here (deterministically, dates relative to ``now``) so the benchmark does
not depend on the fixture files other suites own. Codes the rules read come from the service's own
code lists (docs/clinical-rules.md, "Code lists and value sets"); the rest of the record (other
medications, vaccines and labs the rules ignore) carries common public RxNorm, CVX and LOINC codes,
so the mappers do the work a real record costs. Quantities carry UCUM units.

* :func:`patient_resources` — the stored record (Patient + 61 clinical resources).
* :func:`transaction_bundle` — the same as a transaction Bundle of PUT entries (for sekmet-fhir).
* :func:`request_body` — an ``ig-order-select`` request; ``prefetch=True`` fills every prefetch key
  the way the service's templates search (newest first for Observations), ``prefetch=False``
  leaves them all out so the service fetches from ``fhirServer``.
"""

from __future__ import annotations

import copy
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

PATIENT_ID = "bench-cvid-1"
PATIENT_REF = {"reference": f"Patient/{PATIENT_ID}"}
PRACTITIONER = "Practitioner/bench-dr-1"
DRAFT_ID = "bench-ivig-draft-1"

LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"
ICD10 = "http://hl7.org/fhir/sid/icd-10-cm"
UCUM = "http://unitsofmeasure.org"
NDC = "http://hl7.org/fhir/sid/ndc"
ATC = "http://www.whocc.no/atc"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
CVX = "http://hl7.org/fhir/sid/cvx"
OBS_CAT = "http://terminology.hl7.org/CodeSystem/observation-category"
COND_CLIN = "http://terminology.hl7.org/CodeSystem/condition-clinical"
COND_VER = "http://terminology.hl7.org/CodeSystem/condition-ver-status"


def _iso(t: datetime) -> str:
    return t.replace(microsecond=0).isoformat().replace("+00:00", "Z")


def _qty(value: float, unit: str) -> dict[str, Any]:
    return {"value": value, "unit": unit, "system": UCUM, "code": unit}


def _observation(n: int, code: str, display: str, category: str, value: float, unit: str,
                 when: datetime) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "id": f"bench-obs-{n}",
        "status": "final",
        "category": [{"coding": [{"system": OBS_CAT, "code": category,
                                  "display": "Laboratory" if category == "laboratory" else "Vital Signs"}]}],
        "code": {"coding": [{"system": LOINC, "code": code, "display": display}], "text": display},
        "subject": PATIENT_REF,
        "effectiveDateTime": _iso(when),
        "issued": _iso(when + timedelta(hours=2)),
        "valueQuantity": _qty(value, unit),
    }


def _condition(n: int, codings: list[tuple[str, str, str]], text: str, onset: datetime,
               status: str = "active") -> dict[str, Any]:
    return {
        "resourceType": "Condition",
        "id": f"bench-cond-{n}",
        "clinicalStatus": {"coding": [{"system": COND_CLIN, "code": status}]},
        "verificationStatus": {"coding": [{"system": COND_VER, "code": "confirmed"}]},
        "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-category",
                                  "code": "problem-list-item"}]}],
        "code": {"coding": [{"system": s, "code": c, "display": d} for s, c, d in codings], "text": text},
        "subject": PATIENT_REF,
        "onsetDateTime": _iso(onset),
        "recordedDate": _iso(onset),
    }


_PRIVIGEN = {
    "coding": [
        {"system": NDC, "code": "44206-439", "display": "Privigen 10% immune globulin intravenous (human)"},
        {"system": ATC, "code": "J06BA02", "display": "immunoglobulins, normal human, for intravascular adm."},
    ],
    "text": "Privigen (immune globulin intravenous, human) 10% liquid",
}
_IV = {"coding": [{"system": SNOMED, "code": "47625008", "display": "Intravenous route"}]}
_ORAL = {"coding": [{"system": SNOMED, "code": "26643006", "display": "Oral route"}]}
_CVID_REASON = [{"coding": [{"system": ICD10, "code": "D83.9",
                             "display": "Common variable immunodeficiency, unspecified"}]}]


def _med_request(n: int, med: dict[str, Any], dose: tuple[float, str], route: dict[str, Any],
                 timing: dict[str, Any], authored: datetime, status: str = "active",
                 reason: list[dict[str, Any]] | None = None, rid: str | None = None) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "resourceType": "MedicationRequest",
        "id": rid or f"bench-mr-{n}",
        "status": status,
        "intent": "order",
        "medicationCodeableConcept": med,
        "subject": PATIENT_REF,
        "authoredOn": _iso(authored),
        "requester": {"reference": PRACTITIONER},
        "dosageInstruction": [{
            "text": f"{dose[0]:g} {dose[1]}",
            "timing": {"repeat": timing},
            "route": route,
            "doseAndRate": [{"doseQuantity": _qty(dose[0], dose[1])}],
        }],
    }
    if reason:
        resource["reasonCode"] = reason
    return resource


def _rx(code: str, display: str) -> dict[str, Any]:
    return {"coding": [{"system": RXNORM, "code": code, "display": display}], "text": display}


def patient_resources(now: datetime | None = None) -> list[dict[str, Any]]:
    """Patient + 61 resources: 8 vitals, 24 labs, 6 conditions, 7 MedicationRequests,
    8 MedicationAdministrations, 2 MedicationStatements, 2 allergies, 3 immunizations, 1 procedure."""
    now = (now or datetime.now(UTC)).astimezone(UTC)

    def ago(days: float) -> datetime:
        return now - timedelta(days=days)

    out: list[dict[str, Any]] = [{
        "resourceType": "Patient",
        "id": PATIENT_ID,
        "identifier": [{"system": "urn:oid:2.16.840.1.113883.19.5.99999.1", "value": "IGCDS-BENCH-1"}],
        "active": True,
        "name": [{"use": "official", "family": "Bench", "given": ["Ada"]}],
        "gender": "female",
        "birthDate": (now - timedelta(days=int(48.3 * 365.25))).date().isoformat(),
    }]
    n = 0

    def obs(code: str, display: str, category: str, value: float, unit: str, days: float) -> None:
        nonlocal n
        n += 1
        out.append(_observation(n, code, display, category, value, unit, ago(days)))

    # Vitals (8): weight x4, height x2, BMI x2.
    for days, kg in ((3, 82.4), (31, 83.0), (62, 83.6), (120, 84.1)):
        obs("29463-7", "Body weight", "vital-signs", kg, "kg", days)
    for days, cm in ((3, 167.0), (400, 167.5)):
        obs("8302-2", "Body height", "vital-signs", cm, "cm", days)
    for days, bmi in ((3, 29.5), (120, 30.0)):
        obs("39156-5", "Body mass index (BMI) [Ratio]", "vital-signs", bmi, "kg/m2", days)
    # Labs (24): IgG trough history x6 (mg/dL and g/L mixed), IgA x2, IgM x2, IgG subclasses x2,
    # creatinine x4 (mg/dL and umol/L), eGFR x4, hemoglobin x3, IgE x1.
    for i, (days, value, unit) in enumerate(((5, 640, "mg/dL"), (33, 6.1, "g/L"), (61, 590, "mg/dL"),
                                             (89, 5.7, "g/L"), (180, 410, "mg/dL"), (365, 280, "mg/dL"))):
        obs("2465-3", "IgG [Mass/volume] in Serum or Plasma", "laboratory", value, unit, days + i * 0.01)
    obs("2458-8", "IgA [Mass/volume] in Serum or Plasma", "laboratory", 18, "mg/dL", 365.1)
    obs("2458-8", "IgA [Mass/volume] in Serum or Plasma", "laboratory", 0.21, "g/L", 700)
    obs("2472-9", "IgM [Mass/volume] in Serum or Plasma", "laboratory", 22, "mg/dL", 365.2)
    obs("2472-9", "IgM [Mass/volume] in Serum or Plasma", "laboratory", 0.25, "g/L", 701)
    obs("2466-1", "IgG subclass 1 [Mass/volume] in Serum", "laboratory", 190, "mg/dL", 365.3)
    obs("2467-9", "IgG subclass 2 [Mass/volume] in Serum", "laboratory", 60, "mg/dL", 365.4)
    for days, value, unit in ((5.1, 0.92, "mg/dL"), (33.1, 81, "umol/L"), (89.1, 0.88, "mg/dL"), (180.1, 0.95, "mg/dL")):
        obs("2160-0" if unit == "mg/dL" else "14682-9",
            "Creatinine [Mass/volume] in Serum or Plasma" if unit == "mg/dL"
            else "Creatinine [Moles/volume] in Serum or Plasma", "laboratory", value, unit, days)
    for days, value in ((5.2, 74), (33.2, 78), (89.2, 79), (180.2, 72)):
        obs("98979-8", "GFR/1.73 sq M.predicted by Creatinine-based formula (CKD-EPI 2021)", "laboratory",
            value, "mL/min/{1.73_m2}", days)
    for days, value in ((5.3, 12.9), (89.3, 13.1), (180.3, 12.4)):
        obs("718-7", "Hemoglobin [Mass/volume] in Blood", "laboratory", value, "g/dL", days)
    obs("19113-0", "IgE [Units/volume] in Serum or Plasma", "laboratory", 12, "[IU]/mL", 365.5)

    # Conditions (6).
    out += [
        _condition(1, [(SNOMED, "23238000", "Common variable agammaglobulinemia"),
                       (ICD10, "D83.9", "Common variable immunodeficiency, unspecified")], "CVID", ago(400)),
        _condition(2, [(ICD10, "I10", "Essential (primary) hypertension")], "Hypertension", ago(2900)),
        _condition(3, [(ICD10, "Z86.718", "Personal history of other venous thrombosis and embolism"),
                       (SNOMED, "161508001", "History of - deep vein thrombosis (situation)")],
                   "History of DVT", ago(1500)),
        _condition(4, [(ICD10, "D69.3", "Immune thrombocytopenic purpura"),
                       (SNOMED, "2897005", "Immune thrombocytopenia (disorder)")], "ITP", ago(900), "resolved"),
        _condition(5, [(ICD10, "D80.3", "Selective deficiency of immunoglobulin G [IgG] subclasses")],
                   "IgG subclass deficiency", ago(420)),
        _condition(6, [(ICD10, "E11.9", "Type 2 diabetes mellitus without complications")],
                   "Type 2 diabetes", ago(2000)),
    ]
    # MedicationRequests (7): the current IVIG maintenance order and six others.
    q4w = {"frequency": 1, "period": 4, "periodUnit": "wk"}
    daily = {"frequency": 1, "period": 1, "periodUnit": "d"}
    out += [
        _med_request(1, _PRIVIGEN, (30, "g"), _IV, q4w, ago(200), reason=_CVID_REASON),
        _med_request(2, _rx("314076", "lisinopril 10 MG Oral Tablet"), (10, "mg"), _ORAL, daily, ago(2900)),
        _med_request(3, _rx("860975", "metformin 500 MG Extended Release Oral Tablet"), (500, "mg"), _ORAL,
                     {"frequency": 2, "period": 1, "periodUnit": "d"}, ago(2000)),
        _med_request(4, _rx("198335", "sulfamethoxazole 800 MG / trimethoprim 160 MG Oral Tablet"), (1, "{tbl}"),
                     _ORAL, {"frequency": 3, "period": 1, "periodUnit": "wk"}, ago(300)),
        _med_request(5, _rx("617318", "atorvastatin 20 MG Oral Tablet"), (20, "mg"), _ORAL, daily, ago(1200)),
        _med_request(6, _rx("310798", "hydrochlorothiazide 25 MG Oral Tablet"), (25, "mg"), _ORAL, daily, ago(800),
                     status="stopped"),
        _med_request(7, _PRIVIGEN, (25, "g"), _IV, q4w, ago(400), status="completed", reason=_CVID_REASON),
    ]
    # MedicationAdministrations (8): monthly Privigen infusions.
    for i in range(8):
        start = ago(4 + 28 * i)
        out.append({
            "resourceType": "MedicationAdministration",
            "id": f"bench-ma-{i + 1}",
            "status": "completed",
            "medicationCodeableConcept": _PRIVIGEN,
            "subject": PATIENT_REF,
            "effectivePeriod": {"start": _iso(start), "end": _iso(start + timedelta(hours=3, minutes=30))},
            "request": {"reference": "MedicationRequest/bench-mr-1"},
            "dosage": {"route": _IV, "dose": _qty(30, "g"), "rateQuantity": _qty(200, "mL/h")},
        })
    # MedicationStatements (2).
    for i, (code, display) in enumerate((("198440", "acetaminophen 500 MG Oral Tablet"),
                                         ("1049221", "acetaminophen 325 MG / oxycodone 5 MG Oral Tablet"))):
        out.append({
            "resourceType": "MedicationStatement",
            "id": f"bench-ms-{i + 1}",
            "status": "active" if i == 0 else "completed",
            "medicationCodeableConcept": _rx(code, display),
            "subject": PATIENT_REF,
            "effectiveDateTime": _iso(ago(30 + 300 * i)),
            "dateAsserted": _iso(ago(30 + 300 * i)),
        })
    # AllergyIntolerance (2).
    out += [
        {"resourceType": "AllergyIntolerance", "id": "bench-al-1",
         "clinicalStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical",
                                        "code": "active"}]},
         "verificationStatus": {"coding": [{
             "system": "http://terminology.hl7.org/CodeSystem/allergyintolerance-verification",
             "code": "confirmed"}]},
         "type": "allergy", "category": ["medication"], "criticality": "high",
         "code": {"coding": [{"system": RXNORM, "code": "7980", "display": "penicillin G"}], "text": "Penicillin"},
         "patient": PATIENT_REF, "recordedDate": _iso(ago(5000)),
         "reaction": [{"manifestation": [{"coding": [{"system": SNOMED, "code": "271807003",
                                                      "display": "Eruption of skin"}]}], "severity": "moderate"}]},
        {"resourceType": "AllergyIntolerance", "id": "bench-al-2",
         "clinicalStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical",
                                        "code": "active"}]},
         "type": "intolerance", "category": ["medication"],
         "code": {"text": "Sulfa drugs (nausea)"}, "patient": PATIENT_REF, "recordedDate": _iso(ago(3000))},
    ]
    # Immunizations (3): inactivated vaccines only.
    for i, (code, display, days) in enumerate((("141", "Influenza, seasonal, injectable", 150),
                                               ("133", "Pneumococcal conjugate PCV 13", 700),
                                               ("115", "Tdap", 2000))):
        out.append({
            "resourceType": "Immunization", "id": f"bench-imm-{i + 1}", "status": "completed",
            "vaccineCode": {"coding": [{"system": CVX, "code": code, "display": display}], "text": display},
            "patient": PATIENT_REF, "occurrenceDateTime": _iso(ago(days)), "primarySource": True,
        })
    # Procedure (1).
    out.append({
        "resourceType": "Procedure", "id": "bench-proc-1", "status": "completed",
        "code": {"coding": [{"system": SNOMED, "code": "80146002", "display": "Appendectomy"}], "text": "Appendectomy"},
        "subject": PATIENT_REF, "performedDateTime": _iso(ago(9000)),
    })
    return out


def draft_order(now: datetime | None = None) -> dict[str, Any]:
    """The IVIG order being selected: Privigen 0.4 g/kg (35 g) every 4 weeks for CVID."""
    now = (now or datetime.now(UTC)).astimezone(UTC)
    return _med_request(0, _PRIVIGEN, (35, "g"), _IV, {"frequency": 1, "period": 4, "periodUnit": "wk"},
                        now, status="draft", reason=_CVID_REASON, rid=DRAFT_ID)


def transaction_bundle(resources: list[dict[str, Any]]) -> dict[str, Any]:
    return {"resourceType": "Bundle", "type": "transaction", "entry": [
        {"resource": r, "request": {"method": "PUT", "url": f"{r['resourceType']}/{r['id']}"}} for r in resources]}


def _searchset(resources: list[dict[str, Any]]) -> dict[str, Any]:
    bundle: dict[str, Any] = {"resourceType": "Bundle", "type": "searchset", "total": len(resources)}
    if resources:
        bundle["entry"] = [{"fullUrl": f"http://fhir.example.org/r4/{r['resourceType']}/{r['id']}",
                            "resource": r, "search": {"mode": "match"}} for r in resources]
    return bundle


def _newest_first(resources: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(resources, key=lambda r: r.get("effectiveDateTime", ""), reverse=True)


def prefetch(resources: list[dict[str, Any]]) -> dict[str, Any]:
    """Every ORDER_PREFETCH key answered as its template would be (hooks/services/prefetch.py)."""
    from hooks.services.prefetch import BODY_MEASURE_CODES

    def of(kind: str) -> list[dict[str, Any]]:
        return [r for r in resources if r["resourceType"] == kind]

    observations = of("Observation")
    vitals = [o for o in observations if o["code"]["coding"][0]["code"] in BODY_MEASURE_CODES]
    labs = [o for o in observations if o["category"][0]["coding"][0]["code"] == "laboratory"]
    return {
        "patient": of("Patient")[0],
        "vitals": _searchset(_newest_first(vitals)),
        "labs": _searchset(_newest_first(labs)),
        "conditions": _searchset(of("Condition")),
        "medicationRequests": _searchset(of("MedicationRequest")),
        "medicationStatements": _searchset(of("MedicationStatement")),
        "medicationAdministrations": _searchset(of("MedicationAdministration")),
        "allergies": _searchset(of("AllergyIntolerance")),
        "immunizations": _searchset(of("Immunization")),
        "procedures": _searchset(of("Procedure")),
    }


def request_body(*, now: datetime | None = None, with_prefetch: bool = True,
                 fhir_server: str | None = None) -> dict[str, Any]:
    now = (now or datetime.now(UTC)).astimezone(UTC)
    body: dict[str, Any] = {
        "hook": "order-select",
        "hookInstance": str(uuid.UUID(int=0x1BE7C4)),
        "context": {
            "userId": PRACTITIONER,
            "patientId": PATIENT_ID,
            "encounterId": "bench-enc-1",
            "selections": [f"MedicationRequest/{DRAFT_ID}"],
            "draftOrders": {"resourceType": "Bundle", "type": "collection",
                            "entry": [{"resource": draft_order(now)}]},
        },
    }
    if with_prefetch:
        body["prefetch"] = prefetch(patient_resources(now))
    if fhir_server:
        body["fhirServer"] = fhir_server
    return copy.deepcopy(body)


def count_resources(body: dict[str, Any]) -> int:
    """Resources carried by a request: prefetch resources plus draft orders."""
    total = len(body["context"]["draftOrders"]["entry"])
    for value in (body.get("prefetch") or {}).values():
        if isinstance(value, dict):
            total += len(value.get("entry") or []) if value.get("resourceType") == "Bundle" else 1
    return total


if __name__ == "__main__":
    import json
    import sys

    json.dump(request_body(), sys.stdout, indent=1)
