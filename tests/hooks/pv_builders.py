"""Clinical-vignette builders for the interactions and monitoring tests: plain model dataclasses.

Everything is dated relative to ``NOW`` in whole days, so a test reads like a vignette
("IVIG 35 g 14 days ago, weight 70 kg"). The clock (``NOW``, ``ago``) and the rule runners (``run``,
``one``) are those of ``tests/hooks/builders.py``, the order-rule vocabulary, so every hooks test
shares one "now" and one check that a rule's own summary fits the CDS Hooks limit.
"""

from __future__ import annotations

from datetime import date, datetime

from fhir_mappings.drugs import classify_drug
from fhir_mappings.model import (
    AllergyFact,
    ClinicalRecord,
    Code,
    ConditionFact,
    Dose,
    DoseUnit,
    Measure,
    Measurement,
    MedClass,
    MedicationFact,
    PatientInfo,
    ProcedureFact,
    Route,
    Sex,
)
from hooks.facts import Facts
from hooks.policy import Policy
from tests.hooks.builders import IG_CLASSES
from tests.hooks.builders import NOW as NOW
from tests.hooks.builders import ago as ago
from tests.hooks.builders import one as one
from tests.hooks.builders import run as run
from tests.hooks.coded import concepts


def patient(age: int = 40, sex: Sex = Sex.MALE, pid: str = "p1") -> PatientInfo:
    born = (
        date(NOW.year - age, 1, 1) if NOW.date() >= date(NOW.year, 1, 1) else date(NOW.year - age - 1, 1, 1)
    )
    return PatientInfo(pid, born, sex)


def condition(
    *names: str, status: str = "active", text: str | None = None, days: float = 400
) -> ConditionFact:
    return ConditionFact(
        concepts(*names),
        (Code("http://snomed.info/sct", "0", text or names[0]),),
        status,
        "confirmed",
        ago(days),
        ago(days),
        text=text or names[0],
    )


def igg(value: float, days: float) -> Measurement:
    return Measurement(Measure.IGG, ago(days), value=value, unit="mg/dL")


def weight(kg: float, days: float) -> Measurement:
    return Measurement(Measure.WEIGHT, ago(days), value=kg, unit="kg")


def qual(measure: Measure, positive: bool, days: float = 30) -> Measurement:
    return Measurement(measure, ago(days), positive=positive)


def ig_given(
    days: float,
    grams: float | None = 35,
    *,
    route: Route = Route.IV,
    source: str = "MedicationAdministration",
    status: str = "completed",
    until_days: float | None = None,
    rid: str | None = None,
    reason: frozenset[str] = frozenset(),
    mg_per_kg: float | None = None,
) -> MedicationFact:
    dose = None
    if mg_per_kg is not None:
        dose = Dose(mg_per_kg, DoseUnit.MG_PER_KG)
    elif grams is not None:
        dose = Dose(grams, DoseUnit.G)
    return MedicationFact(
        source,
        rid or f"adm-{days}",
        IG_CLASSES,
        "Privigen",
        (),
        status,
        ago(days),
        until=ago(until_days) if until_days is not None else None,
        product="privigen",
        route=route,
        dose=dose,
        reason_concepts=reason,
    )


def ig_request(
    days: float = 200,
    *,
    status: str = "active",
    route: Route = Route.IV,
    rid: str = "mr-ig",
    reason: frozenset[str] = frozenset(),
) -> MedicationFact:
    return MedicationFact(
        "MedicationRequest",
        rid,
        IG_CLASSES,
        "Privigen",
        (),
        status,
        ago(days),
        product="privigen",
        route=route,
        dose=Dose(35, DoseUnit.G),
        reason_concepts=reason,
    )


def ig_draft(
    rid: str = "ig-draft",
    *,
    grams: float | None = 35,
    mg_per_kg: float | None = None,
    route: Route = Route.IV,
    reason: frozenset[str] = frozenset(),
) -> MedicationFact:
    dose = (
        Dose(mg_per_kg, DoseUnit.MG_PER_KG)
        if mg_per_kg is not None
        else (Dose(grams, DoseUnit.G) if grams is not None else None)
    )
    return MedicationFact(
        "MedicationRequest",
        rid,
        IG_CLASSES,
        "Privigen",
        (),
        "draft",
        NOW,
        product="privigen",
        route=route,
        dose=dose,
        reason_concepts=reason,
        draft=True,
    )


def globulin_draft(name: str, *, route: Route = Route.IM, rid: str = "globulin-draft") -> MedicationFact:
    """A draft order for any globulin product, classified by its name as the mapper does
    (``fhir_mappings.drugs.classify_drug``): hyperimmune, IM, anti-D, anti-thymocyte..."""
    profile = classify_drug((), name.lower(), route=route)
    return MedicationFact(
        "MedicationRequest", rid, profile.classes, name, (), "draft", NOW, route=route, draft=True
    )


_VACCINES = {
    "mmr": ("MMR vaccine", "03", {MedClass.LIVE_VACCINE, MedClass.MEASLES_VARICELLA_VACCINE}),
    "varicella": ("varicella vaccine", "21", {MedClass.LIVE_VACCINE, MedClass.MEASLES_VARICELLA_VACCINE}),
    "yellow-fever": ("yellow fever vaccine", "37", {MedClass.LIVE_VACCINE, MedClass.OPV_BCG_YELLOW_FEVER}),
    "rotavirus": ("rotavirus vaccine", "116", {MedClass.LIVE_VACCINE}),
}


def vaccine_draft(
    kind: str = "mmr", rid: str = "vax-draft", resource_type: str = "Immunization"
) -> MedicationFact:
    name, cvx, classes = _VACCINES[kind]
    return MedicationFact(
        resource_type,
        rid,
        frozenset(classes),
        name,
        (Code("http://hl7.org/fhir/sid/cvx", cvx, name),),
        "draft",
        NOW,
        draft=True,
    )


def vaccine_given(days: float, kind: str = "mmr") -> MedicationFact:
    name, cvx, classes = _VACCINES[kind]
    return MedicationFact(
        "Immunization",
        f"imm-{days}",
        frozenset(classes),
        name,
        (Code("http://hl7.org/fhir/sid/cvx", cvx, name),),
        "completed",
        ago(days),
    )


def med(
    classes: set[MedClass],
    name: str,
    *,
    status: str = "active",
    resource_type: str = "MedicationRequest",
    draft: bool = False,
    rid: str | None = None,
    days: float = 30,
) -> MedicationFact:
    return MedicationFact(
        resource_type,
        rid or name.replace(" ", "-"),
        frozenset(classes),
        name,
        (),
        "draft" if draft else status,
        NOW if draft else ago(days),
        draft=draft,
    )


def rituximab_draft(rid: str = "rtx") -> MedicationFact:
    return med({MedClass.ANTI_CD20}, "rituximab", draft=True, rid=rid)


def procedure(
    *names: str,
    draft: bool = False,
    rid: str = "pr1",
    resource_type: str = "ServiceRequest",
    days: float = 0,
    status: str | None = None,
) -> ProcedureFact:
    return ProcedureFact(
        resource_type,
        rid,
        frozenset(names),
        (Code("http://www.ama-assn.org/go/cpt", "36514"),),
        status or ("draft" if draft else "completed"),
        ago(days),
        text=names[0],
        draft=draft,
    )


def sulfa_allergy() -> AllergyFact:
    return AllergyFact(
        frozenset({"sulfonamide"}), (), "Sulfonamide antibiotics", "active", "confirmed", "high"
    )


def record(
    *,
    age: int = 40,
    sex: Sex = Sex.MALE,
    measurements=(),
    conditions=(),
    medications=(),
    allergies=(),
    procedures=(),
    drafts=(),
    selections=(),
    unavailable=(),
) -> ClinicalRecord:
    return ClinicalRecord(
        patient(age, sex),
        tuple(measurements),
        tuple(conditions),
        tuple(medications),
        tuple(allergies),
        tuple(procedures),
        tuple(drafts),
        tuple(selections),
        unavailable=frozenset(unavailable),
    )


def facts(
    rec: ClinicalRecord, *, hook: str = "order-sign", policy: Policy | None = None, now: datetime = NOW
) -> Facts:
    return Facts(rec, now, policy or Policy(), hook)


def resource(suggestion) -> dict:  # noqa: ANN001
    return dict(suggestion.actions[0].resource)


def loinc(suggestion) -> str | None:  # noqa: ANN001
    coding = resource(suggestion)["code"].get("coding")
    return coding[0]["code"] if coding else None
