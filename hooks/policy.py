"""Site policy: the ``[policy]`` configuration section.

Every number here is marked *policy* in the clinical catalog, docs/clinical-rules.md (or is a seed-only
number the catalog says must be site-configurable): the defaults are the catalog's, and a card that relies
on one says "site policy".
Guideline facts with a primary source are not here; they live in ``hooks/knowledge``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal


@dataclass(frozen=True)
class TroughTargets:
    """Trough IgG targets in mg/dL (docs/clinical-rules.md ``order-trough-below-target``; HIGM and SIgMD from seeds)."""

    higm: float = 500.0
    sigmd: float = 600.0
    other: float = 500.0


@dataclass(frozen=True)
class Policy:
    #: ``advise``: card only; ``adjusted``: dose rules use adjusted weight when the criteria hold
    #: and the adjusted-weight suggestion is recommended; ``actual``: never adjust, no card.
    dosing_weight: Literal["advise", "adjusted", "actual"] = "advise"
    #: Adjusted-weight criteria (docs/clinical-rules.md ``order-dosing-weight``; NBA/Ontario, clinical-facts §2.2).
    adjusted_weight_min_age: int = 18
    adjusted_weight_min_height_cm: float = 152.0
    adjusted_weight_min_bmi: float = 30.0
    #: Freshness of the actual weight, in days (docs/clinical-rules.md Terms "Actual weight").
    weight_max_age_days_adult: int = 90
    weight_max_age_days_child: int = 30
    #: Rounding of suggested doses: ``rounding_step_g`` from ``rounding_threshold_g`` up,
    #: ``rounding_step_small_g`` below (docs/clinical-rules.md "Suggested dose"; Ontario rounds to 5 g).
    rounding_step_g: float = 5.0
    rounding_threshold_g: float = 20.0
    rounding_step_small_g: float = 1.0
    trough_target_mg_dl: TroughTargets = field(default_factory=TroughTargets)
    #: A trough IgG older than this is "due" (docs/clinical-rules.md ``order-trough-due``).
    trough_max_age_days: int = 90
    #: SIgMD criteria: pre-treatment IgG below this is "low" (seed-only number; payers use 500).
    sigmd_igg_threshold_mg_dl: float = 500.0
    #: "Recurrent" severe infections: this many episodes within ``infection_window_days``.
    recurrent_infections_min: int = 2
    infection_window_days: int = 365
    #: IgA measurements older than this are not used for ``order-iga-deficiency``.
    iga_max_age_days: int = 730
    #: SC conversion factor: ``label`` uses each product's label factor (1.37 / 1.30 / 1.0);
    #: ``one`` uses 1.0 for all products (EU and Ontario practice).
    scig_conversion: Literal["label", "one"] = "label"
    #: Site RxNorm codes that identify normal human immune globulin products (none is verified
    #: in the reference, so the default is empty; NDC, ATC, CVX and names still recognise Ig).
    ig_rxnorm_codes: tuple[str, ...] = ()
    #: Site SNOMED CT codes for plasma exchange (none verified; CPT 36514 and names still match).
    plasma_exchange_snomed_codes: tuple[str, ...] = ()
    #: ``silent``: cards are recorded for audit but not returned (piloting a rule set).
    mode: Literal["normal", "silent"] = "normal"
    #: Rules silenced individually while the others are shown.
    silent_rules: tuple[str, ...] = ()
    #: Site LOINC codes for work-up tests the reference could not verify (clinical-facts §1.1, §5):
    #: None orders them by ``code.text`` only (docs/clinical-rules.md ``pv-igm-deficiency-workup``,
    #: "HBV conditions").
    pneumococcal_ab_loinc: str | None = None
    cd19_loinc: str | None = None
    hbv_dna_loinc: str | None = None
    #: Seed-only replacement regimen numbers (docs/clinical-rules.md "Sources and provenance": site policy), mg/kg per
    #: infusion: the HIGM usual-range floor (seed 000) and the SIgMD usual range (seed 001).
    higm_usual_low_mg_kg: float = 300.0
    sigmd_usual_low_mg_kg: float = 400.0
    sigmd_usual_high_mg_kg: float = 600.0
    #: SCIG loading regimen (docs/clinical-rules.md Resolved details "SCIG loading regimen"; seed document 003 — no
    #: primary source found; site policy): an SC replacement order given daily for at most
    #: ``scig_loading_max_days`` days at ``scig_loading_mg_kg_per_day`` (± ``scig_loading_tolerance``,
    #: a fraction), for a patient not on IgRT and not switching from IV, is a loading course that
    #: neither the weekly SC ranges nor the SC interval rule judge. 0 days turns the exemption off.
    scig_loading_mg_kg_per_day: float = 150.0
    scig_loading_max_days: int = 5
    scig_loading_tolerance: float = 0.10

    def is_silent(self, rule_id: str) -> bool:
        return self.mode == "silent" or rule_id in self.silent_rules
