"""The dose regimen table of docs/clinical-rules.md ("Dose regimens"), as frozen rows with their sources.

All doses are mg/kg of dosing weight. Ranges are inclusive at both ends (docs/clinical-rules.md "Resolved details").
``hard`` limits give ``order-dose-out-of-range`` (warning); ``usual`` ranges give
``order-dose-atypical`` (information), for replacement regimens only. Immunomodulatory rows judge
the per-day maximum always, a course total only when the order states one, and a maintenance range
for repeating (interval >= 7 days) orders.

Seed-only numbers (docs/clinical-rules.md "Sources and provenance") are site policy: the HIGM usual floor (300) and
the SIgMD usual range (400–600) are defaults of ``Policy`` and applied by :func:`regimen_for`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from enum import StrEnum

from ..catalog import Citation
from ..policy import Policy
from .thresholds import COURSE_TOLERANCE


class Basis(StrEnum):
    ADMINISTRATION = "per infusion"
    WEEK = "per week"


@dataclass(frozen=True, slots=True)
class Range:
    """An inclusive mg/kg (or day) range; None = unbounded on that side."""

    low: float | None = None
    high: float | None = None

    def contains(self, value: float) -> bool:
        eps = 1e-9
        return (self.low is None or value >= self.low - eps) and (
            self.high is None or value <= self.high + eps
        )

    def text(self, unit: str = "mg/kg") -> str:
        from ..text import num

        if self.low is not None and self.high is not None:
            return f"{num(self.low)}–{num(self.high)} {unit}"
        if self.high is not None:
            return f"at most {num(self.high)} {unit}"
        return f"at least {num(self.low or 0)} {unit}"


@dataclass(frozen=True, slots=True)
class Regimen:
    id: str
    #: Regimen group: "higm", "sigmd", "other-antibody-deficiency", "replacement-sc", or a condition concept.
    indication: str
    title: str
    #: "iv", "sc" or "any" (HyQvia is judged on the IV rows).
    route: str
    replacement: bool
    basis: Basis
    usual: Range | None
    usual_text: str
    usual_source: Citation
    hard: Range | None
    hard_text: str
    hard_source: Citation
    #: No day above this (mg/kg/day).
    max_per_day: float | None = None
    #: Stated course total (mg/kg) and length (days).
    course: Range | None = None
    course_days: Range | None = None
    #: Per administration for repeating regimens (interval >= 7 days).
    maintenance: Range | None = None
    #: One dose (Kawasaki), when the order is not a stated multi-day course.
    single_dose: Range | None = None
    #: Replacement interval in days.
    interval: Range | None = None
    interval_text: str = ""
    #: Seed-only numbers in ``usual`` (shown as site policy).
    usual_is_policy: bool = False


_TOL = COURSE_TOLERANCE.value
_COURSE_2G = Range(2000 * (1 - _TOL), 2000 * (1 + _TOL))
_PRIVIGEN_PI = Citation(
    "Privigen prescribing information: 200–800 mg/kg every 3–4 weeks (PI)", "https://www.privigen.com/"
)
_AAAAI = Citation(
    "AAAAI/IDF consensus on IgG replacement (P&T 2011, PMC3171818)",
    "https://pmc.ncbi.nlm.nih.gov/articles/PMC3171818/",
)
_IV_INTERVAL = Range(21, 31)
_IV_INTERVAL_TEXT = "every 3–4 weeks (21–31 days)"
_ONE_G_DAY = "no day above 1 g/kg"

REGIMENS: tuple[Regimen, ...] = (
    Regimen(
        "higm-iv",
        "higm",
        "Hyper-IgM syndrome, IV",
        "iv",
        True,
        Basis.ADMINISTRATION,
        Range(300, 600),
        "300–600 mg/kg every 3–4 weeks",
        Citation(
            "GeneReviews NBK1402 (0.4–0.6 g/kg); floor 300 mg/kg from seed document 000 — no primary "
            "source found; site policy",
            "https://www.ncbi.nlm.nih.gov/books/NBK1402/",
        ),
        Range(200, 800),
        "200–800 mg/kg per infusion",
        _PRIVIGEN_PI,
        interval=_IV_INTERVAL,
        interval_text=_IV_INTERVAL_TEXT,
        usual_is_policy=True,
    ),
    Regimen(
        "sigmd-iv",
        "sigmd",
        "Selective IgM deficiency, IV",
        "iv",
        True,
        Basis.ADMINISTRATION,
        Range(400, 600),
        "400–600 mg/kg every 3–4 weeks",
        Citation("seed document 001 — no primary source found; site policy"),
        Range(200, 800),
        "200–800 mg/kg per infusion",
        _PRIVIGEN_PI,
        interval=_IV_INTERVAL,
        interval_text=_IV_INTERVAL_TEXT,
        usual_is_policy=True,
    ),
    Regimen(
        "other-antibody-deficiency-iv",
        "other-antibody-deficiency",
        "Antibody deficiency, IV",
        "iv",
        True,
        Basis.ADMINISTRATION,
        Range(400, 600),
        "400–600 mg/kg every 3–4 weeks",
        _AAAAI,
        Range(200, 800),
        "200–800 mg/kg per infusion",
        _PRIVIGEN_PI,
        interval=_IV_INTERVAL,
        interval_text=_IV_INTERVAL_TEXT,
    ),
    Regimen(
        "replacement-sc",
        "replacement-sc",
        "Ig replacement, SC (not switching)",
        "sc",
        True,
        Basis.WEEK,
        Range(100, 200),
        "100–200 mg/kg per week",
        _AAAAI,
        Range(68, 274),
        "68–274 mg/kg per week (the IV label range per 4 weeks × 1.37 ÷ 4)",
        Citation(
            "derived from the IV label range (Privigen PI 200–800 mg/kg per 4 weeks × 1.37 ÷ 4); "
            "docs/clinical-rules.md Dose regimens"
        ),
        interval=Range(1, 14),
        interval_text="daily to every 14 days (1–14 days)",
    ),
    Regimen(
        "gbs",
        "gbs",
        "Guillain-Barré syndrome",
        "any",
        False,
        Basis.ADMINISTRATION,
        None,
        "course 2 g/kg (±10%) over 2–5 days, usually 0.4 g/kg/day × 5",
        Citation("Privigen SmPC; MSD Manual Professional (GBS)"),
        None,
        _ONE_G_DAY,
        Citation("Privigen SmPC; MSD Manual Professional (GBS)"),
        max_per_day=1000,
        course=_COURSE_2G,
        course_days=Range(2, 5),
    ),
    Regimen(
        "myasthenia-gravis",
        "myasthenia-gravis",
        "Myasthenia gravis",
        "any",
        False,
        Basis.ADMINISTRATION,
        None,
        "exacerbation course 2 g/kg (±10%) over 2–5 days; maintenance 0.4–1 g/kg per administration",
        Citation("Ontario IGUM (ivig.transfusionontario.org); international MG guidance"),
        None,
        _ONE_G_DAY,
        Citation("Ontario IGUM (ivig.transfusionontario.org); international MG guidance"),
        max_per_day=1000,
        course=_COURSE_2G,
        course_days=Range(2, 5),
        maintenance=Range(400, 1000),
    ),
    Regimen(
        "autoimmune-encephalitis",
        "autoimmune-encephalitis",
        "Autoimmune encephalitis",
        "any",
        False,
        Basis.ADMINISTRATION,
        None,
        "course 2 g/kg (±10%), usually 0.4 g/kg/day × 5",
        Citation("Ontario IGUM; seed document 003 (5 days)"),
        None,
        _ONE_G_DAY,
        Citation("Ontario IGUM; seed document 003"),
        max_per_day=1000,
        course=_COURSE_2G,
    ),
    Regimen(
        "cidp-iv",
        "cidp",
        "CIDP, IV",
        "iv",
        False,
        Basis.ADMINISTRATION,
        None,
        "loading course 2 g/kg over 2–5 days; maintenance 0.4–1 g/kg per administration",
        Citation("Privigen label (1 g/kg every 3 weeks); EAN/PNS 2021 (0.4–1 g/kg)"),
        None,
        _ONE_G_DAY,
        Citation("Privigen label; EAN/PNS 2021"),
        max_per_day=1000,
        course=_COURSE_2G,
        course_days=Range(2, 5),
        maintenance=Range(400, 1000),
    ),
    Regimen(
        "cidp-sc",
        "cidp",
        "CIDP, SC (Hizentra)",
        "sc",
        False,
        Basis.WEEK,
        Range(200, 400),
        "0.2–0.4 g/kg per week",
        Citation("Hizentra prescribing information (CIDP)"),
        Range(200, 400),
        "0.2–0.4 g/kg per week",
        Citation("Hizentra prescribing information (CIDP)"),
    ),
    Regimen(
        "mmn",
        "mmn",
        "Multifocal motor neuropathy",
        "any",
        False,
        Basis.ADMINISTRATION,
        None,
        "0.5–2.4 g/kg per 4 weeks",
        Citation("Gammagard Liquid prescribing information (MMN)"),
        Range(None, 2400),
        "at most 2.4 g/kg per administration",
        Citation("Gammagard Liquid prescribing information (MMN)"),
    ),
    Regimen(
        "itp",
        "itp",
        "Immune thrombocytopenia",
        "any",
        False,
        Basis.ADMINISTRATION,
        None,
        "0.4–1 g/kg per day; course at most 2 g/kg",
        Citation("US Privigen label (1 g/kg × 2 days); NHS England (single 1 g/kg, repeat only if needed)"),
        None,
        _ONE_G_DAY,
        Citation("US Privigen label (1 g/kg × 2 days); NHS England (single 1 g/kg, repeat only if needed)"),
        max_per_day=1000,
        course=Range(None, 2000),
    ),
    Regimen(
        "kawasaki",
        "kawasaki",
        "Kawasaki disease",
        "any",
        False,
        Basis.ADMINISTRATION,
        None,
        "2 g/kg (±10%) as one dose",
        Citation("AHA scientific statement (Kawasaki disease); Privigen SmPC"),
        Range(None, 2200),
        "at most 2.2 g/kg",
        Citation("AHA scientific statement (Kawasaki disease); Privigen SmPC"),
        course=_COURSE_2G,
        single_dose=_COURSE_2G,
    ),
)

REGIMENS_BY_ID: dict[str, Regimen] = {r.id: r for r in REGIMENS}


def _envelope(sc_weekly: bool) -> Regimen:
    """The range of every regimen of one route, derived from the rows above (docs/clinical-rules.md Resolved details
    "Ig order without an indication"): the lowest hard floor and the highest hard ceiling. IV (and HyQvia)
    per administration: 200–2,400 mg/kg (the replacement label floor; the MMN ceiling); SC per week:
    68–400 mg/kg (the SC replacement floor; the CIDP SC ceiling). A new row moves the envelope with it."""
    routes = ("sc",) if sc_weekly else ("iv", "any")
    hards = [(r.hard, r) for r in REGIMENS if r.route in routes and r.hard is not None]
    low, floor = min(((h.low, r) for h, r in hards if h.low is not None), key=lambda pair: pair[0])
    high, ceiling = max(((h.high, r) for h, r in hards if h.high is not None), key=lambda pair: pair[0])
    hard = Range(low, high)

    def whose(row: Regimen) -> str:
        return f"{row.route.upper()} replacement" if row.replacement else row.title

    basis = Basis.WEEK if sc_weekly else Basis.ADMINISTRATION
    unit = "mg/kg per week" if sc_weekly else "mg/kg per administration"
    text = (
        f"{hard.text(unit)} (the lowest floor of any {'SC' if sc_weekly else 'IV'} regimen: {whose(floor)}; "
        f"the highest ceiling: {whose(ceiling)})"
    )
    source = Citation(f"floor: {floor.hard_source.label}; ceiling: {ceiling.hard_source.label}")
    return Regimen(
        f"no-indication-{'sc' if sc_weekly else 'iv'}",
        "no-indication",
        f"No indication: any {'SC' if sc_weekly else 'IV'} regimen",
        "sc" if sc_weekly else "iv",
        False,
        basis,
        None,
        "none: without an indication there is no usual range",
        source,
        hard,
        text,
        source,
    )


#: Without an indication (``order-indication-missing``) a dose is judged only against these envelopes;
#: outside them ``order-dose-out-of-range`` fires without a suggestion (docs/clinical-rules.md Resolved details).
NO_INDICATION_ENVELOPES: tuple[Regimen, Regimen] = (_envelope(sc_weekly=False), _envelope(sc_weekly=True))


def no_indication_envelope(*, sc_weekly: bool) -> Regimen:
    """The envelope an order without an indication is judged on (SC per week; IV and HyQvia per
    administration)."""
    return NO_INDICATION_ENVELOPES[1 if sc_weekly else 0]


#: SCIG loading course (docs/clinical-rules.md Resolved details "SCIG loading regimen"): its numbers are the
#: ``scig_loading_*`` keys of ``hooks.policy.Policy`` (150 mg/kg/day ± 10%, at most 5 days).
SCIG_LOADING_SOURCE = Citation("seed document 003 — no primary source found; site policy")

#: Reasons that justify a replacement dose above the usual range (docs/clinical-rules.md Dose regimens).
JUSTIFYING_REASONS = (
    "recurrent severe infections (2 or more episodes in 12 months)",
    "bronchiectasis",
    "a trough IgG below target in the last 90 days",
)

#: Immunomodulatory indications whose suggestions may never exceed 1 g/kg in a day (docs/clinical-rules.md).
ONE_G_PER_DAY_CAP = ("gbs", "myasthenia-gravis", "autoimmune-encephalitis", "cidp", "itp")


def regimen_group(concept: str) -> str:
    """The regimen group of an indication concept (replacement IV rows by specificity)."""
    if concept == "hyper-igm":
        return "higm"
    if concept == "selective-igm-deficiency":
        return "sigmd"
    if concept in (
        "cvid",
        "agammaglobulinemia",
        "hypogammaglobulinemia",
        "specific-antibody-deficiency",
        "igg-subclass-deficiency",
    ):
        return "other-antibody-deficiency"
    return concept


def regimen_for(concept: str, *, replacement: bool, sc_weekly: bool, policy: Policy) -> Regimen | None:
    """The regimen row an order is judged on, with site-policy numbers applied.

    ``sc_weekly``: an SC order judged per week (SC, not HyQvia; HyQvia uses the IV rows).
    """
    group = regimen_group(concept)
    if replacement:
        row = (
            REGIMENS_BY_ID["replacement-sc"]
            if sc_weekly
            else next((r for r in REGIMENS if r.indication == group and r.route == "iv"), None)
        )
    elif group == "cidp":
        row = REGIMENS_BY_ID["cidp-sc" if sc_weekly else "cidp-iv"]
    else:
        row = next((r for r in REGIMENS if r.indication == group and r.route == "any"), None)
    if row is None:
        return None
    if row.id == "higm-iv":
        low = policy.higm_usual_low_mg_kg
        row = dataclasses.replace(row, usual=Range(low, 600), usual_text=f"{low:g}–600 mg/kg every 3–4 weeks")
    elif row.id == "sigmd-iv":
        low, high = policy.sigmd_usual_low_mg_kg, policy.sigmd_usual_high_mg_kg
        row = dataclasses.replace(
            row, usual=Range(low, high), usual_text=f"{low:g}–{high:g} mg/kg every 3–4 weeks"
        )
    return row
