"""Vignette builders for the order-time Ig rule tests: plain model dataclasses, no mapper.

Everything is dated in whole days before ``NOW``::

    f = facts(patient(age=45, sex="female"), weight(70, days_ago=10), condition("cvid"),
              ig_order(grams=30, every_days=28, product="privigen"))
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from typing import Any

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
    Timing,
)
from hooks.facts import Facts
from hooks.findings import Finding, render_card
from hooks.policy import Policy
from tests.hooks.coded import concepts

NOW = datetime(2025, 6, 15, 12, 0, tzinfo=UTC)
#: The classes the mapper gives a normal human Ig product (``fhir_mappings.drugs.classify_drug``).
IG_CLASSES = frozenset({MedClass.IMMUNE_GLOBULIN, MedClass.ANTIBODY_CONTAINING})


def ago(days: float) -> datetime:
    return NOW - timedelta(days=days)


def patient(
    age: int = 45, sex: str = "female", pid: str = "p1", *, birthday_in_days: int | None = None
) -> PatientInfo:
    """A patient of ``age`` whole years at NOW (birthday 1 January unless ``birthday_in_days``)."""
    if birthday_in_days is not None:
        nxt = NOW.date() + timedelta(days=birthday_in_days)
        born = date(nxt.year - age - 1, nxt.month, nxt.day)
    else:
        born = date(NOW.year - age, 1, 1)
    return PatientInfo(pid, born, Sex(sex))


def measurement(measure: Measure, value: float | None, days_ago: float = 10, **kw: Any) -> Measurement:
    return Measurement(measure, ago(days_ago), value=value, **kw)


def weight(kg: float, days_ago: float = 10) -> Measurement:
    return measurement(Measure.WEIGHT, kg, days_ago, unit="kg")


def height(cm: float, days_ago: float = 10) -> Measurement:
    return measurement(Measure.HEIGHT, cm, days_ago, unit="cm")


def bmi(value: float, days_ago: float = 10) -> Measurement:
    return measurement(Measure.BMI, value, days_ago, unit="kg/m2")


def igg(mg_dl: float, days_ago: float = 10) -> Measurement:
    return measurement(Measure.IGG, mg_dl, days_ago, unit="mg/dL")


def iga(mg_dl: float, days_ago: float = 10) -> Measurement:
    return measurement(Measure.IGA, mg_dl, days_ago, unit="mg/dL")


def igm(mg_dl: float, days_ago: float = 10) -> Measurement:
    return measurement(Measure.IGM, mg_dl, days_ago, unit="mg/dL")


def egfr(value: float, days_ago: float = 10) -> Measurement:
    return measurement(Measure.EGFR, value, days_ago)


def creatinine(mg_dl: float, days_ago: float = 10, high: float | None = 1.2) -> Measurement:
    return measurement(Measure.CREATININE, mg_dl, days_ago, unit="mg/dL", reference_high=high)


def anti_iga(positive: bool = True, days_ago: float = 30) -> Measurement:
    return Measurement(Measure.ANTI_IGA, ago(days_ago), positive=positive)


def pneumococcal_titres(days_ago: float = 100) -> Measurement:
    return Measurement(Measure.PNEUMOCOCCAL_AB, ago(days_ago), value=1.0)


def condition(
    concept: str,
    *,
    days_ago: float = 400,
    status: str = "active",
    verification: str = "confirmed",
    recorded_only: bool = False,
) -> ConditionFact:
    when = ago(days_ago)
    return ConditionFact(
        concepts(concept),
        (Code("urn:test", concept),),
        status,
        verification,
        None if recorded_only else when,
        when,
        text=concept,
    )


def infection(days_ago: float, kind: str = "pneumonia", status: str = "resolved") -> ConditionFact:
    """A severe-infection episode (resolved episodes count)."""
    return condition(kind, days_ago=days_ago, status=status)


def _timing(
    every_days: float | None,
    period: tuple[float, str] | None,
    frequency: int | None,
    count: int | None,
    bounds_days: float | None,
) -> Timing | None:
    if every_days is None and period is None and frequency is None and count is None and bounds_days is None:
        return None
    if period is None and every_days is not None:
        period = (every_days, "d")
    return Timing(
        frequency=frequency,
        period=period[0] if period else None,
        period_unit=period[1] if period else None,
        count=count,
        bounds_days=bounds_days,
    )


def _dose(
    grams: float | None, mg: float | None, mg_per_kg: float | None, g_per_kg: float | None
) -> Dose | None:
    if grams is not None:
        return Dose(grams, DoseUnit.G)
    if mg is not None:
        return Dose(mg, DoseUnit.MG)
    if mg_per_kg is not None:
        return Dose(mg_per_kg, DoseUnit.MG_PER_KG)
    if g_per_kg is not None:
        return Dose(g_per_kg, DoseUnit.G_PER_KG)
    return None


_SC_PRODUCTS = ("hizentra", "cuvitru", "xembify", "cutaquig", "hyqvia")


def ig_order(
    grams: float | None = None,
    *,
    mg: float | None = None,
    mg_per_kg: float | None = None,
    g_per_kg: float | None = None,
    every_days: float | None = None,
    period: tuple[float, str] | None = None,
    frequency: int | None = None,
    count: int | None = None,
    bounds_days: float | None = None,
    product: str | None = "privigen",
    route: Route | None = None,
    reason: Iterable[str] = (),
    id: str = "ivig-1",
    name: str | None = None,
    classes: frozenset[MedClass] = IG_CLASSES,
    draft: bool = True,
    status: str = "draft",
    days_ago: float = 0,
) -> MedicationFact:
    """A draft Ig MedicationRequest (route from the product when not given, as the mapper does)."""
    if route is None:
        route = Route.SC if product in _SC_PRODUCTS else Route.IV
    dose = _dose(grams, mg, mg_per_kg, g_per_kg)
    raw: dict[str, Any] = {
        "resourceType": "MedicationRequest",
        "id": id,
        "status": status,
        "intent": "order",
        "subject": {"reference": "Patient/p1"},
        "medicationCodeableConcept": {"text": name or product or "immune globulin"},
        "dosageInstruction": [
            {"doseAndRate": [{"doseQuantity": {"value": dose.value, "unit": dose.unit.value}}]}
            if dose
            else {}
        ],
    }
    return MedicationFact(
        "MedicationRequest",
        id,
        classes,
        name or product or "immune globulin",
        (),
        status,
        ago(days_ago),
        product=product,
        route=route,
        dose=dose,
        timing=_timing(every_days, period, frequency, count, bounds_days),
        reason_concepts=concepts(*reason),
        draft=draft,
        raw=raw,
    )


def ig_given(
    grams: float | None,
    days_ago: float,
    *,
    route: Route = Route.IV,
    product: str | None = "privigen",
    reason: Iterable[str] = (),
    id: str | None = None,
) -> MedicationFact:
    """A recorded Ig dose (MedicationAdministration)."""
    return MedicationFact(
        "MedicationAdministration",
        id or f"adm-{days_ago}",
        IG_CLASSES,
        product or "immune globulin",
        (),
        "completed",
        ago(days_ago),
        product=product,
        route=route,
        dose=Dose(grams, DoseUnit.G) if grams is not None else None,
        reason_concepts=concepts(*reason),
    )


def ig_active_order(
    grams: float,
    every_days: float = 28,
    *,
    product: str = "privigen",
    route: Route = Route.IV,
    id: str = "ivig-active",
    days_ago: float = 200,
) -> MedicationFact:
    """An active (signed, not draft) Ig MedicationRequest."""
    return ig_order(
        grams,
        every_days=every_days,
        product=product,
        route=route,
        id=id,
        draft=False,
        status="active",
        days_ago=days_ago,
    )


def medication(
    name: str,
    med_class: MedClass,
    *,
    status: str = "active",
    resource_type: str = "MedicationStatement",
    days_ago: float = 20,
    draft: bool = False,
    id: str | None = None,
) -> MedicationFact:
    return MedicationFact(
        resource_type, id or name, frozenset({med_class}), name, (), status, ago(days_ago), draft=draft
    )


def allergy(
    *names: str,
    criticality: str | None = None,
    severities: tuple[str, ...] = (),
    anaphylaxis: bool = False,
    status: str = "active",
    text: str | None = None,
) -> AllergyFact:
    return AllergyFact(
        frozenset(names),
        (),
        text or ", ".join(names),
        status,
        "confirmed",
        criticality,
        severities,
        anaphylaxis,
    )


def facts(
    *items: object,
    policy: Policy | None = None,
    hook: str = "order-sign",
    unavailable: Iterable[str] = (),
    selections: tuple[str, ...] = (),
) -> Facts:
    """Facts from vignette items; a default 45-year-old woman when no patient is given."""
    pat: PatientInfo | None = next((i for i in items if isinstance(i, PatientInfo)), None) or patient()
    meas = tuple(i for i in items if isinstance(i, Measurement))
    conds = tuple(i for i in items if isinstance(i, ConditionFact))
    meds = tuple(i for i in items if isinstance(i, MedicationFact) and not i.draft)
    drafts = tuple(i for i in items if isinstance(i, (MedicationFact, ProcedureFact)) and i.draft)
    alls = tuple(i for i in items if isinstance(i, AllergyFact))
    procs = tuple(i for i in items if isinstance(i, ProcedureFact) and not i.draft)
    record = ClinicalRecord(
        pat, meas, conds, meds, alls, procs, drafts, selections, unavailable=frozenset(unavailable)
    )
    return Facts(record=record, now=NOW, policy=policy or Policy(), hook=hook)


#: CVID: the replacement indication most dosing vignettes use.
CVID = condition("cvid")


def cvid(*items: object, kg: float = 70, **kw: Any) -> Facts:
    """Facts of a 45-year-old with CVID and a ``kg`` weight, plus ``items`` (``facts`` keywords pass through)."""
    return facts(patient(age=45), weight(kg), CVID, *items, **kw)


def run(rule: Any, f: Facts) -> list[Finding]:
    """Run one rule; also render every finding as a card (catches card-model errors). A rule's own
    summary must fit the CDS Hooks limit: render_card's cut is a safety net for client text, not a
    way to write long summaries."""
    found = list(rule(f))
    for finding in found:
        render_card(finding)
        assert len(finding.summary) < 140, finding.summary
    return found


def one(rule: Any, f: Facts) -> Finding:
    found = run(rule, f)
    assert len(found) == 1, [x.summary for x in found]
    return found[0]


def suggested_grams(finding: Finding) -> float:
    (suggestion,) = finding.suggestions
    (action,) = suggestion.actions
    assert action.resource is not None
    return action.resource["dosageInstruction"][0]["doseAndRate"][0]["doseQuantity"]["value"]
