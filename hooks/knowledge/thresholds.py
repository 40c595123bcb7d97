"""Named clinical thresholds that are guideline or catalog facts, not site policy.

Site-configurable numbers (docs/clinical-rules.md *policy*) live in ``hooks.policy.Policy``; these are fixed by
docs/clinical-rules.md or a primary source. Every row has a source. Bounds are stated on each row ("<", "<=").
"""

from __future__ import annotations

from dataclasses import dataclass

from ..catalog import Citation

RULES_MD = "docs/clinical-rules.md"
_RENAL = Citation(
    "Immune globulin boxed warning: renal dysfunction (drugs.com AHFS monograph); docs/clinical-rules.md "
    "Resolved details, renal risk factors"
)
_THROMB = Citation(
    "Immune globulin boxed warning: thrombosis (Xembify, Panzyga labels); docs/clinical-rules.md Resolved "
    "details, thrombosis risk factors"
)


@dataclass(frozen=True, slots=True)
class Threshold:
    id: str
    value: float
    unit: str
    #: How the value is compared, in words ("eGFR < value is a risk factor").
    meaning: str
    source: Citation


RENAL_BASELINE_DAYS = Threshold(
    "renal-baseline-days",
    30,
    "days",
    "creatinine or eGFR drawn within this many days before an IV Ig order",
    Citation(
        "docs/clinical-rules.md order-renal-baseline-missing; a payer requires baseline BUN/creatinine within 30 days "
        "(clinical-facts §2.6)"
    ),
)
RENAL_LAB_DAYS = Threshold(
    "renal-lab-days",
    90,
    "days",
    "newest eGFR / creatinine counts as a renal risk factor only within this window",
    _RENAL,
)
EGFR_LOW = Threshold("egfr-low", 60, "mL/min/1.73m2", "eGFR < value is a renal risk factor", _RENAL)
RENAL_AGE = Threshold("renal-age", 65, "years", "age > value is a renal risk factor", _RENAL)
THROMBOSIS_AGE = Threshold("thrombosis-age", 65, "years", "age >= value is a thrombosis risk factor", _THROMB)
IGA_ABSENT = Threshold(
    "iga-absent",
    7,
    "mg/dL",
    "IgA < value counts as IgA deficiency (order-iga-deficiency)",
    Citation("docs/clinical-rules.md Resolved details, order-iga-deficiency"),
)
IGA_MIN_AGE = Threshold(
    "iga-min-age",
    4,
    "years",
    "the IgA-level branch applies only when age > value",
    Citation("docs/clinical-rules.md Resolved details, order-iga-deficiency"),
)
IGM_LOW = Threshold(
    "igm-low",
    40,
    "mg/dL",
    "IgM < value is low (order-igm-deficiency-not-indicated, branch b)",
    Citation(
        "Medscape: selective IgM deficiency, IgM < 40 mg/dL (clinical-facts §3); docs/clinical-rules.md "
        "order-igm-deficiency-not-indicated"
    ),
)
ADULT_AGE = Threshold(
    "adult-age",
    18,
    "years",
    "age >= value is an adult (weight freshness, SIgMD branch b)",
    Citation("docs/clinical-rules.md Terms, Actual weight; order-igm-deficiency-not-indicated"),
)
COURSE_TOLERANCE = Threshold(
    "course-tolerance",
    0.10,
    "fraction",
    "a 2 g/kg course is in range within +/- this fraction",
    Citation("docs/clinical-rules.md Dose regimens (2 g/kg (±10%))"),
)
UNIT_ERROR_FACTOR = Threshold(
    "unit-error-factor",
    3,
    "times",
    "ordered mg/kg > value x the hard upper limit, or < the hard lower limit "
    "/ value: probable unit, decimal or product error, no suggestion",
    Citation("docs/clinical-rules.md Suggested dose"),
)
HYQVIA_RAMP_UP_DAYS = Threshold(
    "hyqvia-ramp-up-days",
    42,
    "days",
    "HyQvia dose and interval are not checked within this many days of the first HyQvia on record",
    Citation("docs/clinical-rules.md Resolved details, HyQvia (first 6 weeks)"),
)
SCIG_SWITCH_DAYS = Threshold(
    "scig-switch-days",
    56,
    "days",
    "an SC order within this many days of IV Ig is a switch",
    Citation("docs/clinical-rules.md order-scig-conversion (8 weeks = 56 days)"),
)
SCIG_MATCH_TOLERANCE = Threshold(
    "scig-match-tolerance",
    0.10,
    "fraction",
    "ordered weekly SC dose within +/- this fraction of the target matches",
    Citation("docs/clinical-rules.md order-scig-conversion (within 10%)"),
)
SC_MAX_SITES = Threshold(
    "sc-max-sites",
    6,
    "sites",
    "at most this many simultaneous SC infusion sites",
    Citation("Xembify prescribing information (up to 6 sites), via seed document 003"),
)
TROUGH_JUSTIFY_DAYS = Threshold(
    "trough-justify-days",
    90,
    "days",
    "a trough IgG below target this recent justifies a higher replacement dose",
    Citation("docs/clinical-rules.md Dose regimens, justifying reasons"),
)
CORTICOSTEROID_DAYS = Threshold(
    "corticosteroid-days",
    30,
    "days",
    "a corticosteroid given this recently counts as first-line therapy tried",
    Citation("docs/clinical-rules.md Resolved details, corticosteroids"),
)
INFECTION_EPISODE_MERGE_DAYS = Threshold(
    "infection-episode-merge-days",
    14,
    "days",
    "severe infections dated within this many days are one episode",
    Citation("docs/clinical-rules.md Resolved details, severe infection"),
)
SC_CHILD_RATE_AGE = Threshold(
    "sc-child-rate-age",
    10,
    "years",
    "Xembify/seed SC rate: 25 mL/h/site for age 2 to < value, 35 mL/h/site from value",
    Citation("Xembify prescribing information (clinical-facts §2.5); seed document 003"),
)

ALL: tuple[Threshold, ...] = (
    RENAL_BASELINE_DAYS,
    RENAL_LAB_DAYS,
    EGFR_LOW,
    RENAL_AGE,
    THROMBOSIS_AGE,
    IGA_ABSENT,
    IGA_MIN_AGE,
    IGM_LOW,
    ADULT_AGE,
    COURSE_TOLERANCE,
    UNIT_ERROR_FACTOR,
    HYQVIA_RAMP_UP_DAYS,
    SCIG_SWITCH_DAYS,
    SCIG_MATCH_TOLERANCE,
    SC_MAX_SITES,
    TROUGH_JUSTIFY_DAYS,
    CORTICOSTEROID_DAYS,
    INFECTION_EPISODE_MERGE_DAYS,
    SC_CHILD_RATE_AGE,
)
