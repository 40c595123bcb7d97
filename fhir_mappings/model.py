"""Domain inputs: the plain, typed facts the clinical rules read.

Everything here is frozen and canonical: immunoglobulin levels in mg/dL, weight in kg, height in
cm, creatinine in mg/dL, eGFR in mL/min/1.73 m2, datetimes timezone-aware (UTC when the source
gave no offset). Rules never see FHIR JSON; they see these types. The mappers that build them live
beside this module, one per resource family.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from typing import Any, NamedTuple


class Code(NamedTuple):
    """A coding as found in the record (system URI, code, optional display).

    A named tuple rather than a frozen dataclass: a record holds about a hundred of them, they key the
    value-set and drug memos, and a tuple is built and hashed in C (0.37 against 0.78 µs measured).
    """

    system: str
    code: str
    display: str | None = None


class Sex(StrEnum):
    MALE = "male"
    FEMALE = "female"
    OTHER = "other"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class PatientInfo:
    id: str
    birth_date: date | None
    sex: Sex

    def age_at(self, when: datetime) -> int | None:
        """Age in whole years at ``when`` (None without a birth date)."""
        if self.birth_date is None:
            return None
        day = when.date()
        years = day.year - self.birth_date.year
        if (day.month, day.day) < (self.birth_date.month, self.birth_date.day):
            years -= 1
        return years


class Measure(StrEnum):
    """What an Observation measures, after code mapping (value set: fhir_mappings.valuesets)."""

    IGG = "igg"                      # mg/dL
    IGA = "iga"                      # mg/dL
    IGM = "igm"                      # mg/dL
    WEIGHT = "weight"                # kg
    HEIGHT = "height"                # cm
    BMI = "bmi"                      # kg/m2
    CREATININE = "creatinine"        # mg/dL
    EGFR = "egfr"                    # mL/min/1.73m2
    ANTI_IGA = "anti-iga"            # qualitative (positive True/False)
    PNEUMOCOCCAL_AB = "pneumococcal-antibody"  # any result counts as an assessment
    CD19 = "cd19"                    # any result counts as a B-cell count
    HBSAG = "hbsag"                  # qualitative
    ANTI_HBC = "anti-hbc"            # qualitative
    HBV_DNA = "hbv-dna"


CANONICAL_UNITS: Mapping[Measure, str] = {
    Measure.IGG: "mg/dL",
    Measure.IGA: "mg/dL",
    Measure.IGM: "mg/dL",
    Measure.WEIGHT: "kg",
    Measure.HEIGHT: "cm",
    Measure.BMI: "kg/m2",
    Measure.CREATININE: "mg/dL",
    Measure.EGFR: "mL/min/{1.73_m2}",
}


@dataclass(frozen=True, slots=True)
class Measurement:
    """One usable Observation result (status final/amended/corrected, with a value).

    ``value`` is in the canonical unit of ``measure`` (``CANONICAL_UNITS``) for quantitative
    results; ``positive`` carries qualitative results (True = positive/detected/reactive).
    """

    measure: Measure
    when: datetime
    value: float | None = None
    unit: str | None = None
    positive: bool | None = None
    #: Reference range in the canonical unit, when the result carried one.
    reference_low: float | None = None
    reference_high: float | None = None
    #: Interpretation codes as given (e.g. "H", "L", "POS", "NEG").
    interpretation: tuple[str, ...] = ()
    code: Code | None = None
    resource_id: str | None = None

    @property
    def above_reference(self) -> bool:
        if self.value is not None and self.reference_high is not None and self.value > self.reference_high:
            return True
        return any(i in ("H", "HH", "HU", ">") for i in self.interpretation)


@dataclass(frozen=True, slots=True)
class ConditionFact:
    """A Condition with the named value sets its codes belong to."""

    concepts: frozenset[str]
    codes: tuple[Code, ...]
    clinical_status: str | None
    verification_status: str | None
    onset: datetime | None
    recorded: datetime | None
    text: str | None = None
    resource_id: str | None = None

    @property
    def refuted_or_error(self) -> bool:
        return self.verification_status in ("refuted", "entered-in-error")

    @property
    def active(self) -> bool:
        """Active per docs/clinical-rules.md Terms: clinical status active (or recurrence/relapse), not refuted."""
        if self.refuted_or_error:
            return False
        return self.clinical_status in ("active", "recurrence", "relapse")

    @property
    def start(self) -> datetime | None:
        """Onset, or lacking onset, recordedDate (severe-infection episode dating)."""
        return self.onset or self.recorded


class Route(StrEnum):
    IV = "iv"
    SC = "sc"
    IM = "im"
    ORAL = "oral"
    OTHER = "other"


class MedClass(StrEnum):
    """Medication classes rules care about (value sets in fhir_mappings.valuesets)."""

    IMMUNE_GLOBULIN = "immune-globulin"          # normal human Ig for IV/SC use
    IG_EXCLUDED = "ig-excluded"                  # anti-D, hyperimmune, ATG, IM Ig: never an Ig order
    ANTIBODY_CONTAINING = "antibody-containing"  # any human Ig (IV, SC, IM, hyperimmune) but anti-D (ACIP)
    TMP_SMX = "tmp-smx"
    PJP_PROPHYLAXIS = "pjp-prophylaxis"          # TMP-SMX, dapsone, atovaquone, pentamidine
    ANTI_CD20 = "anti-cd20"
    ESTROGEN = "estrogen"
    LIVE_VACCINE = "live-vaccine"
    MEASLES_VARICELLA_VACCINE = "measles-varicella-vaccine"   # MMR, MMRV, varicella
    OPV_BCG_YELLOW_FEVER = "opv-bcg-yellow-fever"            # the ACIP less-severe-deficiency set
    HBV_ANTIVIRAL = "hbv-antiviral"
    CORTICOSTEROID = "corticosteroid"
    NEPHROTOXIC = "nephrotoxic"
    SULFONAMIDE = "sulfonamide"


class DoseUnit(StrEnum):
    G = "g"
    MG = "mg"
    G_PER_KG = "g/kg"
    MG_PER_KG = "mg/kg"


@dataclass(frozen=True, slots=True)
class Dose:
    """One administration's dose as ordered (in g, mg, g/kg or mg/kg).

    A dose ordered in mL becomes a dose in g once its concentration is known (docs/clinical-rules.md Resolved details,
    "Concentration of a dose in mL"): ``volume_ml`` and ``concentration`` then say how it was obtained.
    """

    value: float
    unit: DoseUnit
    #: The volume ordered, when the dose was ordered in mL.
    volume_ml: float | None = None
    #: g/mL used to convert ``volume_ml`` (0.10 = 10%).
    concentration: float | None = None

    @property
    def weight_based(self) -> bool:
        return self.unit in (DoseUnit.G_PER_KG, DoseUnit.MG_PER_KG)

    def grams(self, weight_kg: float | None) -> float | None:
        """Dose in g (None when weight-based and no weight)."""
        if self.unit is DoseUnit.G:
            return self.value
        if self.unit is DoseUnit.MG:
            return self.value / 1000.0
        if weight_kg is None:
            return None
        per_kg_g = self.value if self.unit is DoseUnit.G_PER_KG else self.value / 1000.0
        return per_kg_g * weight_kg

    def mg_per_kg(self, weight_kg: float | None) -> float | None:
        if self.unit is DoseUnit.MG_PER_KG:
            return self.value
        if self.unit is DoseUnit.G_PER_KG:
            return self.value * 1000.0
        grams = self.grams(None)
        if grams is None or not weight_kg:
            return None
        return grams * 1000.0 / weight_kg


@dataclass(frozen=True, slots=True)
class GivenDose:
    """A dose Quantity as given: its number (None when it has no usable one) and its unit as written
    (the UCUM code, else the unit text; capped, and None when absent)."""

    value: float | None
    unit: str | None

    @property
    def millilitres(self) -> float | None:
        """The volume when the dose is a number of mL, else None."""
        return self.value if self.unit in ("mL", "ml") and self.value is not None and self.value > 0 else None


_PERIOD_DAYS = {"s": 1 / 86400, "min": 1 / 1440, "h": 1 / 24, "d": 1.0, "wk": 7.0, "mo": 30.0, "a": 365.0}


@dataclass(frozen=True, slots=True)
class Timing:
    """``dosageInstruction.timing.repeat`` in the parts rules use. ``mo`` counts as 30 days."""

    frequency: int | None = None
    period: float | None = None
    period_unit: str | None = None
    count: int | None = None
    #: The bounded days of the course: ``boundsDuration`` in days, or a ``boundsPeriod`` with start and
    #: end (its days counted with both ends for dates, rounded up for date-times; docs/clinical-rules.md Resolved
    #: details, "Immunomodulatory courses").
    bounds_days: float | None = None

    @property
    def interval_days(self) -> float | None:
        """Days between administrations (period ÷ frequency), None when not stated."""
        if self.period is None or self.period_unit not in _PERIOD_DAYS:
            return None
        return self.period * _PERIOD_DAYS[self.period_unit] / (self.frequency or 1)

    @property
    def administrations(self) -> int | None:
        """Number of administrations in the course, only when the order states it."""
        if self.count:
            return self.count
        interval = self.interval_days
        if self.bounds_days and interval:
            return max(1, round(self.bounds_days / interval))
        return None


@dataclass(frozen=True, slots=True)
class MedicationFact:
    """A MedicationRequest, MedicationStatement, MedicationAdministration or Immunization."""

    resource_type: str
    id: str | None
    classes: frozenset[MedClass]
    name: str | None
    codes: tuple[Code, ...]
    status: str | None
    #: When: authoredOn (request), effective start (statement/administration), occurrence (immunization).
    when: datetime | None
    #: End of the effective period (MedicationStatement/Administration), when given.
    until: datetime | None = None
    #: Recognised Ig product key from the knowledge tables (e.g. "hizentra"), when known.
    product: str | None = None
    route: Route | None = None
    dose: Dose | None = None
    #: The dose Quantity as the resource states it when it could not be read as a ``Dose`` (a dose in
    #: mL, in ``{pill}``, without a number), for converting mL and for saying why a dose is unchecked;
    #: None when the dose was read or no dose Quantity is stated.
    dose_given: GivenDose | None = None
    #: For an Ig dose in mL: the g/mL the medication itself states (its Medication's
    #: ``ingredient.strength``, or a strength in its name: "10%", "200 MG/ML"); None when none is stated
    #: or the statements disagree.
    stated_concentration: float | None = None
    timing: Timing | None = None
    reason_concepts: frozenset[str] = frozenset()
    reason_codes: tuple[Code, ...] = ()
    #: True for entries of the request's draftOrders bundle.
    draft: bool = False
    #: The resource as read (elements the mappers read normalised to R4 shape, the rest as sent), for
    #: ``update`` suggestions that keep everything else.
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)
    #: Where the resource was in the call's data (``draftOrders.entry[0]``), for reports.
    position: str | None = field(default=None, compare=False, repr=False)

    @property
    def reference(self) -> str | None:
        return f"{self.resource_type}/{self.id}" if self.id else None

    @property
    def is_ig(self) -> bool:
        """Normal human Ig for IV/SC use; exclusions win (docs/clinical-rules.md Terms)."""
        return MedClass.IMMUNE_GLOBULIN in self.classes and MedClass.IG_EXCLUDED not in self.classes


@dataclass(frozen=True, slots=True)
class AllergyFact:
    concepts: frozenset[str]             # e.g. "immune-globulin", "blood-product", "sulfonamide"
    codes: tuple[Code, ...]
    text: str | None
    clinical_status: str | None
    verification_status: str | None
    criticality: str | None
    #: Reaction severities as given (mild/moderate/severe).
    severities: tuple[str, ...] = ()
    anaphylaxis: bool = False
    resource_id: str | None = None

    @property
    def active(self) -> bool:
        if self.verification_status in ("refuted", "entered-in-error"):
            return False
        return self.clinical_status in (None, "active")


@dataclass(frozen=True, slots=True)
class ProcedureFact:
    """A Procedure or ServiceRequest (plasma exchange, stem cell transplant, ...)."""

    resource_type: str
    id: str | None
    concepts: frozenset[str]
    codes: tuple[Code, ...]
    status: str | None
    when: datetime | None
    text: str | None = None
    draft: bool = False


#: The R4 ``id`` datatype: only such an id is echoed back in a report (anything else may be free text).
_FHIR_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")


def reportable_id(value: object) -> str | None:
    """``value`` when it is a valid FHIR id, else None."""
    return value if isinstance(value, str) and _FHIR_ID.fullmatch(value) else None


class Outcome(StrEnum):
    """What a problem cost: the whole resource (skipped) or one fact of it (degraded)."""

    SKIPPED = "skipped"
    DEGRADED = "degraded"


@dataclass(frozen=True, slots=True)
class Skipped:
    """A resource the rules could not use (skipped), or used without one of its facts (degraded).

    Reported without its content: its type, where it was (its id when it has a valid FHIR id, and its
    position in the call's data, e.g. ``draftOrders.entry[0]`` or ``labs.entry[3]``), a short stable
    reason code (``malformed-element:category``, ``invalid-dose-unit``, ``unknown-medication``,
    ``unresolved-reference:medicationReference``, ``invalid-status``, ...) and the outcome.
    """

    resource_type: str
    reason: str
    outcome: Outcome = Outcome.SKIPPED
    resource_id: str | None = None
    position: str | None = None


@dataclass(frozen=True, slots=True)
class ClinicalRecord:
    """Everything the rules know about one patient at one moment.

    ``draft_orders`` are the request's draftOrders (``draft=True``); ``selections`` are the
    references (``Type/id``) the clinician selected (order-select) — empty means "judge all".
    ``unavailable`` names data categories that could not be obtained ("observations",
    "conditions", "medications", "allergies", "immunizations", "procedures"): rules that need a
    category stay quiet when it is unavailable instead of reporting it missing.
    """

    patient: PatientInfo | None
    measurements: tuple[Measurement, ...] = ()
    conditions: tuple[ConditionFact, ...] = ()
    medications: tuple[MedicationFact, ...] = ()
    allergies: tuple[AllergyFact, ...] = ()
    procedures: tuple[ProcedureFact, ...] = ()
    draft_orders: tuple[MedicationFact | ProcedureFact, ...] = ()
    selections: tuple[str, ...] = ()
    skipped: tuple[Skipped, ...] = ()
    unavailable: frozenset[str] = frozenset()
    #: ``measurements`` grouped by measure, newest first: rules ask ``measured()`` a dozen times a call.
    _by_measure: Mapping[Measure, tuple[Measurement, ...]] = field(
        init=False, repr=False, compare=False, default_factory=dict)

    def __post_init__(self) -> None:
        groups: dict[Measure, list[Measurement]] = {}
        for m in self.measurements:
            groups.setdefault(m.measure, []).append(m)
        object.__setattr__(self, "_by_measure", {
            measure: tuple(sorted(found, key=lambda m: m.when, reverse=True)) for measure, found in groups.items()
        })

    def has(self, category: str) -> bool:
        return category not in self.unavailable

    def measured(self, measure: Measure) -> list[Measurement]:
        """Results of one kind, newest first."""
        return list(self._by_measure.get(measure, ()))

    def active_conditions(self) -> list[ConditionFact]:
        return [c for c in self.conditions if c.active]

    def has_active(self, concept: str) -> bool:
        return any(concept in c.concepts for c in self.conditions if c.active)

    def orders_to_judge(self) -> list[MedicationFact | ProcedureFact]:
        """The selected draft orders (order-select) or all of them (order-sign)."""
        if not self.selections:
            return list(self.draft_orders)
        chosen = set(self.selections)
        return [o for o in self.draft_orders if o.id and f"{o.resource_type}/{o.id}" in chosen]
