"""Live vaccines and immune globulin: intervals and contraindications, as reviewable data.

Sources (docs/clinical-facts.md §3 "Live vaccines after IVIG", §1.5; docs/clinical-rules.md
``order-live-vaccine``, ``order-ig-after-live-vaccine``):

- CDC/ACIP General Best Practice Guidelines, "Timing and spacing of immunobiologics": the table of
  intervals between antibody-containing products and measles- or varicella-containing vaccines
  (IGIV 300–400 mg/kg 8 months; 1 g/kg 10 months; 2 g/kg 11 months), and the 14-day rule (Ig given
  within 14 days after such a vaccine: revaccinate after the interval, or test serology).
- CDC/ACIP General Best Practice Guidelines, "Altered immunocompetence": live vaccines in primary
  B-lymphocyte (humoral) defects. Severe antibody deficiencies (X-linked agammaglobulinemia, CVID):
  live vaccines contraindicated (and ineffective on IgRT); less severe deficiencies (IgA
  deficiency, IgG subclass deficiency): oral polio, BCG and yellow fever contraindicated, other
  live vaccines not (docs/clinical-rules.md).

The interval bands are calendar months added to the day of the last dose of the Ig course
(docs/clinical-rules.md "Dates"); upper bounds are inclusive (≤ 400 mg/kg → 8 months).
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date

from ..catalog import ACIP_ALTERED_IMMUNO, ACIP_INTERVALS, Citation


@dataclass(frozen=True, slots=True)
class DeferralBand:
    """Ig course total up to ``max_mg_per_kg`` (inclusive; None = any above) → wait ``months``."""

    id: str
    max_mg_per_kg: float | None
    months: int
    example: str
    source: Citation


#: docs/clinical-rules.md ``order-live-vaccine``; CDC/ACIP antibody–live-vaccine interval table (clinical-facts §3).
DEFERRAL_BANDS: tuple[DeferralBand, ...] = (
    DeferralBand(
        "ig-live-vaccine-interval-400",
        400.0,
        8,
        "IGIV 300–400 mg/kg (replacement; ITP or post-exposure prophylaxis 400 mg/kg)",
        ACIP_INTERVALS,
    ),
    DeferralBand("ig-live-vaccine-interval-1000", 1000.0, 10, "IGIV 1 g/kg", ACIP_INTERVALS),
    DeferralBand(
        "ig-live-vaccine-interval-max", None, 11, "IGIV 2 g/kg (Kawasaki disease, MIS-C)", ACIP_INTERVALS
    ),
)

#: Ig given within this many days AFTER a measles- or varicella-containing vaccine may blunt the
#: response (inclusive: day 14 is inside). docs/clinical-rules.md ``order-ig-after-live-vaccine``; ACIP.
IG_AFTER_VACCINE_WINDOW_DAYS = 14
IG_AFTER_VACCINE_SOURCE = ACIP_INTERVALS

#: mg/kg values are compared after rounding to this many decimals, so 28 g / 70 kg is exactly 400.
MG_PER_KG_DECIMALS = 1


@dataclass(frozen=True, slots=True)
class LiveVaccineContraindication:
    """Which live vaccines ACIP contraindicates in which antibody deficiency."""

    id: str
    deficiency: str  # condition grouper (fhir_mappings.condition_sets)
    vaccines: str  # "all live vaccines" or the subset
    text: str
    source: Citation


ACIP_LIVE_VACCINE_CATEGORIES: tuple[LiveVaccineContraindication, ...] = (
    LiveVaccineContraindication(
        "live-vaccine-severe-deficiency",
        "replacement-severe",
        "all live vaccines",
        "Severe antibody deficiency (e.g. X-linked agammaglobulinemia, CVID, hyper-IgM) or on Ig "
        "replacement: live vaccines are contraindicated (risk of vaccine-strain disease) or "
        "ineffective (the replacement Ig neutralises the vaccine virus).",
        ACIP_ALTERED_IMMUNO,
    ),
    LiveVaccineContraindication(
        "live-vaccine-less-severe-deficiency",
        "replacement-less-severe",
        "oral polio, BCG, yellow fever",
        "Less severe antibody deficiency (selective IgM, IgG subclass or specific antibody "
        "deficiency): oral polio, BCG and yellow fever vaccines are contraindicated; other live "
        "vaccines are not.",
        ACIP_ALTERED_IMMUNO,
    ),
)


def deferral_band(course_mg_per_kg: float | None) -> DeferralBand:
    """The CDC band for a course total; unknown totals get the longest interval (conservative)."""
    if course_mg_per_kg is None:
        return DEFERRAL_BANDS[-1]
    value = round(course_mg_per_kg, MG_PER_KG_DECIMALS)
    for band in DEFERRAL_BANDS:
        if band.max_mg_per_kg is None or value <= band.max_mg_per_kg:
            return band
    return DEFERRAL_BANDS[-1]


def add_months(day: date, months: int) -> date:
    """Calendar months later; the day is clamped to the month's end (31 Jan + 1 month = 28/29 Feb)."""
    index = day.month - 1 + months
    year, month = day.year + index // 12, index % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))
