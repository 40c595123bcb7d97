"""The catalog's "Resolved details": bounds, windows and edge cases the rule tables leave open.

They win over a table cell. Each is an :class:`~hooks.knowledge.narrative.Entry` with its sources;
``docs/clinical-rules.md`` renders them in this order, each under its own anchor.
"""

from __future__ import annotations

from ..catalog import (
    ACIP_ALTERED_IMMUNO,
    ACIP_INTERVALS,
    FDA_ANTI_CD20_HBV,
    IVIG_BOXED_WARNING,
    MSD_GBS,
    PRIVIGEN_LABEL,
    SCIG_LABELS,
    SEED_POLICY,
    Citation,
)
from .narrative import CATALOG_DECISION, Entry

_SEED_003 = Citation("seed document 003 (immunomodulatory use, SCIG loading, HBV screening)")
_GENEREVIEWS = Citation("GeneReviews: X-linked hyper IgM syndrome (NBK1402)",
                        "https://www.ncbi.nlm.nih.gov/books/NBK1402/")
_HYQVIA_LABEL = Citation("HyQvia prescribing information (facilitated SC, ramp-up)")
_FHIR_R4 = Citation("FHIR R4 Observation, Condition and Timing data types", "https://hl7.org/fhir/R4/")

RESOLVED_DETAILS: tuple[Entry, ...] = (
    Entry(
        "bounds-are-inclusive",
        "Bounds are inclusive",
        "A dose exactly at a range edge, an interval of exactly 21 or 31 days, a weight exactly "
        '{policy:weight_max_age_days_adult} days old, is in range. "Below 500" means < 500.',
        (CATALOG_DECISION,),
    ),
    Entry(
        "dates",
        "Dates",
        '"Now" is the time of the call; ages are whole years at "now"; windows count whole days back from '
        '"now" and include both ends. 12 months = 365 days, 2 years = 730 days, 8 weeks = 56 days; the CDC '
        "vaccine intervals (8/10/11 months) are calendar months added to the Ig date.",
        (CATALOG_DECISION, ACIP_INTERVALS),
    ),
    Entry(
        "replacement-interval-iv",
        "Replacement interval (IV)",
        '21–31 days ("every 4 weeks" and "monthly" are both fine; a `periodUnit` of `mo` counts as 30 '
        "days). Doses are always judged per administration: a split regimen (half the dose every 2 weeks) "
        "gets the interval card and is judged per infusion.",
        (PRIVIGEN_LABEL, CATALOG_DECISION),
    ),
    Entry(
        "which-observations-count",
        "Which observations count",
        "Every Observation the rules read (weight, height, IgG/IgA/IgM, creatinine, eGFR, HBV tests) counts "
        "only with status `final`, `amended` or `corrected` and a value; its date is `effectiveDateTime`, "
        "else the end (or start) of `effectivePeriod`, else `issued`.",
        (_FHIR_R4, CATALOG_DECISION),
    ),
    Entry(
        "concentration-of-a-dose-in-ml",
        "Concentration of a dose in mL",
        "The strength stated on the order's Medication (`ingredient.strength`) or in the product name "
        '("10%", "20%") wins over the product table; with neither, the dose is unreadable (no guess: '
        "Octagam and Gammagard exist in two strengths).",
        (Citation("Immune globulin product labels (concentrations), clinical-facts §2.3"), CATALOG_DECISION),
    ),
    Entry(
        "working-diagnoses-count",
        "Working diagnoses count",
        "A Condition that is `provisional`, `differential` or `unconfirmed` is an indication like a "
        "confirmed one (urgent IVIG is ordered on a working diagnosis); `refuted` and `entered-in-error` "
        "never count.",
        (_FHIR_R4, CATALOG_DECISION),
    ),
    Entry(
        "several-codings-on-one-condition",
        "Several codings on one Condition",
        "The most specific one decides (a SNOMED subtype such as 783249007 or 403836001 wins over ICD-10-CM "
        "D80.5 on the same Condition).",
        (CATALOG_DECISION,),
    ),
    Entry(
        "sc-dose-per-week",
        "SC dose per week",
        "Dose × 7 ÷ interval in days (daily to every 14 days), before any weekly check.",
        (SCIG_LABELS, CATALOG_DECISION),
    ),
    Entry(
        "sc-during-a-switch",
        "SC during a switch",
        "While `order-scig-conversion` applies, it alone judges the SC dose; the weekly ranges are not "
        "checked.",
        (CATALOG_DECISION,),
    ),
    Entry(
        "hyqvia",
        "HyQvia",
        "Facilitated SC: checked like IV replacement (per-infusion ranges, 21–31 days), factor 1.0 in a "
        "switch, no `order-scig-administration`. During its ramp-up (the first 6 weeks after the first "
        "HyQvia on record) its dose and interval are not checked; `order-scig-conversion` still is. HyQvia "
        "is SC for the IV-only renal rules.",
        (_HYQVIA_LABEL, CATALOG_DECISION),
    ),
    Entry(
        "immunomodulatory-courses",
        "Immunomodulatory courses",
        "A course total is judged only when the order states one (`timing.repeat.count`, or frequency × the "
        "bounded days: `boundsDuration`, or a `boundsPeriod` with start and end — its days counted with both "
        "ends for dates, rounded up for date-times); otherwise only the per-day limits and, for maintenance "
        "regimens, the per-administration range apply. `order-interval-out-of-range` does not judge "
        "immunomodulatory orders.",
        (CATALOG_DECISION,),
    ),
    Entry(
        "suggested-dose",
        "Suggested dose",
        "The nearest edge of the usual range for a replacement dose, or of the violated range for an "
        "immunomodulatory one (per administration; for a stated course the per-day dose changes and the "
        "number of days is kept), times the dosing weight, rounded to the policy step ({policy:rounding_step_g} "
        "g from {policy:rounding_threshold_g} g up, {policy:rounding_step_small_g} g below) toward the inside "
        "of the range. For SC, the weekly edge is scaled to the ordered interval (× interval days ÷ 7). A "
        "suggestion must itself pass every dose limit (for GBS, MG, autoimmune encephalitis, CIDP and ITP "
        'never above 1 g/kg in a day). No suggestion — only the card, saying "check product and unit" — when '
        "the ordered dose per kg is above 3 times the hard upper limit or below a third of the hard lower "
        "limit (a probable unit, decimal or product error).",
        (Citation("Ontario IVIG dosing (rounding to vial sizes)", "https://ivig.transfusionontario.org/dose"),
         CATALOG_DECISION),
    ),
    Entry(
        "suggested-dose-with-a-justifying-reason",
        "Suggested dose with a justifying reason",
        "When a reason that justifies a replacement dose above the usual range is on record (see "
        "[Dose regimens](#dose-regimens)), an overdose is brought back to the hard upper limit, not to the "
        "usual range (the suggestion must not contradict `order-trough-below-target`), and the card names "
        "the reason.",
        (CATALOG_DECISION,),
    ),
    Entry(
        "ig-order-without-an-indication",
        "Ig order without an indication",
        "When `order-indication-missing` fires, the dose is still judged, against the envelope of every "
        "regimen in the table: IV (and HyQvia) 200–2,400 mg/kg per administration (the lowest replacement "
        "floor; the MMN ceiling); SC 68–400 mg/kg per week (the SC replacement floor; the CIDP SC ceiling). "
        "Outside it, `order-dose-out-of-range` fires, says that no indication was found and which envelope "
        "was used, and carries **no suggestion** (without an indication there is no safe target). Inside "
        "it, no dose card.",
        (CATALOG_DECISION, PRIVIGEN_LABEL),
    ),
    Entry(
        "scig-loading-regimen",
        "SCIG loading regimen",
        "Seed 003, seed-only, *policy*: an SC replacement order given daily for at most 5 days (`count` ≤ 5, "
        "or `boundsDuration`/`boundsPeriod` ≤ 5 days) at 150 mg/kg/day (±10%), for a patient not on IgRT "
        "and not switching from IV, is a loading course: neither the weekly SC ranges nor the SC interval "
        "rule judge it. Any other daily SC order is judged as usual.",
        (_SEED_003, SEED_POLICY),
    ),
    Entry(
        "pre-treatment-igg",
        "Pre-treatment IgG",
        "SIgMD criteria: the newest IgG drawn when no Ig had been given in the preceding 90 days (before "
        "the first Ig, or after a washout). None on record: the IgG branch of the criteria is not met (the "
        "pneumococcal branch still can be).",
        (CATALOG_DECISION,),
    ),
    Entry(
        "trough-igg",
        "Trough IgG",
        "An IgG drawn while the patient was on IgRT: a recorded Ig dose (a MedicationAdministration, or a "
        "MedicationStatement whose effective period covers the day) in the 8 weeks before the draw; an "
        "order alone is not a dose. Used by the `...-trough-...` rules, which apply only to patients on "
        "replacement IgRT now.",
        (CATALOG_DECISION,),
    ),
    Entry(
        "severe-infection",
        "Severe infection",
        "A Condition, any clinical status (resolved episodes count), not refuted or entered-in-error, with "
        "onset (or, lacking onset, recordedDate) in the last {policy:infection_window_days} days, coded as "
        "pneumonia (ICD-10-CM J13–J18; SNOMED 233604007), sepsis (A40–A41, R65.2x; 91302008), bacteremia "
        "(R78.81; 5758002), bacterial meningitis (G00; 95883001), meningococcal disease (A39.x; 23511006) "
        "or osteomyelitis (M86; 60168000). Severe-infection conditions (of any of these kinds) with onsets "
        "within 14 days of each other are one episode (a pneumonia with bacteremia in one admission is "
        'one). "Recurrent" = {policy:recurrent_infections_min} or more episodes.',
        (CATALOG_DECISION,),
    ),
    Entry(
        "stem-cell-transplant-on-record",
        "Stem cell transplant on record",
        "Z94.84 or Z94.81, or a Procedure or Condition naming haematopoietic stem cell or bone marrow "
        "transplantation; it silences the HIGM patient-view rules.",
        (_GENEREVIEWS, CATALOG_DECISION),
    ),
    Entry(
        "corticosteroids",
        "Corticosteroids",
        "Autoimmune encephalitis check: methylprednisolone, prednisolone, prednisone, dexamethasone, "
        "ordered in the same draft orders, active, or given in the last 30 days.",
        (_SEED_003,),
    ),
    Entry(
        "order-iga-deficiency",
        "order-iga-deficiency",
        "Critical when anti-IgA antibodies are documented (an Observation whose code names anti-IgA "
        "antibodies with a positive value or interpretation, or a Condition saying so) *and* there is a "
        "hypersensitivity history to immune globulin or blood products (any AllergyIntolerance to them, "
        "any severity). Warning, without that combination, when there is a selective IgA deficiency "
        "diagnosis (D80.2; SNOMED 190979003, 29260007), or when the newest IgA was measured in the last "
        "{policy:iga_max_age_days} days, is < 7 mg/dL, the patient is older than 4 years now, and has no "
        "severe antibody deficiency (HIGM, CVID, agammaglobulinemia, hypogammaglobulinemia — where absent "
        "IgA is expected and the critical branch covers the real risk).",
        (PRIVIGEN_LABEL, CATALOG_DECISION),
    ),
    Entry(
        "renal-risk-factors",
        "Renal risk factors",
        "IV only: newest eGFR (90 days) < 60; newest creatinine (90 days) above its reference range; "
        "diabetes (E08–E13; SNOMED 73211009); age > 65; volume depletion (E86.x); active sepsis (A40–A41, "
        "R65.2x); paraproteinemia (D47.2, C90.0x, C88.0); an active nephrotoxic drug (aminoglycosides, "
        "vancomycin, amphotericin B, cisplatin, by ingredient name or code).",
        (IVIG_BOXED_WARNING,),
    ),
    Entry(
        "thrombosis-risk-factors",
        "Thrombosis risk factors",
        "Age ≥ 65; venous thrombosis (I26.x, I82.x, Z86.71x; SNOMED 128053003, 59282003); arterial "
        "thrombosis (I21.x, I25.2, I63.x, Z86.73); thrombophilia (D68.5x, D68.6x); an active "
        "estrogen-containing medication (estradiol, ethinyl estradiol, conjugated estrogens, by name or "
        "code); immobility (Z74.0x, Z99.3); central venous catheter (Z45.2, Z95.828); paraproteinemia "
        "(D47.2, C90.0x, C88.0); hypertension (I10–I16), diabetes (E08–E13), hyperlipidemia (E78.x), "
        "coronary disease (I25.x), nicotine dependence (F17.2x).",
        (IVIG_BOXED_WARNING,),
    ),
    Entry(
        "order-live-vaccine",
        "order-live-vaccine",
        "Draft live vaccines arrive as MedicationRequest (or Immunization) coded with a live-vaccine CVX "
        "code or named.\n"
        "- Critical, any live vaccine: a *severe* antibody deficiency, or on replacement IgRT (seed 000; "
        "ACIP altered-immunocompetence guidance: live vaccines are contraindicated or ineffective there).\n"
        "- Critical, oral polio, BCG and yellow fever only: a *less severe* antibody deficiency, not on IgRT "
        "(ACIP). Its other live vaccines get no deficiency card.\n"
        "- Otherwise, measles- or varicella-containing vaccines only: warning when Ig was given within the "
        "CDC interval, banded by the course total in mg/kg (all Ig given within 7 days counts as one course; "
        "weight = the newest on or before it): ≤ 400 mg/kg: 8 months; ≤ 1 g/kg: 10 months; more: 11 months, "
        "counted from the last dose of that course. Otherwise quiet.",
        (ACIP_ALTERED_IMMUNO, ACIP_INTERVALS),
    ),
    Entry(
        "order-plasma-exchange-after-ivig",
        "order-plasma-exchange-after-ivig",
        "An IV Ig administration in the last 14 days, an IV Ig MedicationRequest authored in the last 14 "
        "days, or an IV Ig order among the same draft orders.",
        (MSD_GBS,),
    ),
    Entry(
        "hbv-conditions",
        "HBV conditions",
        "`order-anti-cd20-hbv`, `pv-anti-cd20-hbv`: fires when HBsAg or anti-HBc has no result on record "
        "(each missing test gets its own suggestion), or when either is positive with no active antiviral "
        "(entecavir, tenofovir, lamivudine). When anti-HBc is positive, HBsAg negative, and Ig was given in "
        "the last 6 months, say that anti-HBc may be passively transferred by Ig and suggest HBV DNA rather "
        "than asserting infection.",
        (FDA_ANTI_CD20_HBV, _SEED_003),
    ),
    Entry(
        "pv-igm-deficiency-workup",
        "pv-igm-deficiency-workup",
        "A pneumococcal response assessment is an Observation whose code names pneumococcal (Streptococcus "
        "pneumoniae) antibodies, or a specific antibody deficiency diagnosis; a B-cell count is an "
        "Observation whose code names CD19. The IgG suggestion belongs to `pv-igm-deficiency-monitor` "
        "alone: one suggestion per test per response.",
        (SEED_POLICY, CATALOG_DECISION),
    ),
    Entry(
        "order-select",
        "order-select",
        "Judges only the selected orders; the other draft orders are context (e.g. an IV Ig order in the "
        "same session for `order-plasma-exchange-after-ivig`).",
        (Citation("HL7 CDS Hooks library 1.0: order-select (selections are the newly selected orders)"),),
    ),
)
