"""What each ``[policy]`` key means and where its default comes from, for the catalog's policy table.

Kept beside ``hooks/policy.py`` (whose field names are configuration keys and never change): the
catalog lists every field of ``Policy``; a field without a note here is described by the ``#:``
comment above it in ``hooks/policy.py``. Nested keys are dotted (``trough_target_mg_dl.higm``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from ..catalog import NBA_ADJUSTED_WEIGHT, SCIG_LABELS, Citation
from .narrative import CATALOG_DECISION


@dataclass(frozen=True, slots=True)
class PolicyNote:
    meaning: str
    sources: tuple[Citation, ...]


_ADJUSTED = (NBA_ADJUSTED_WEIGHT, Citation("Ontario IVIG dosing (adjusted weight); clinical-facts §2.2",
                                           "https://ivig.transfusionontario.org/dose"))
_ROUNDING = (Citation("Ontario IVIG dosing: doses rounded to the nearest 5 g", "https://ivig.transfusionontario.org/dose"),
             CATALOG_DECISION)
_SEED_000 = Citation("seed document 000 (HIGM) — no primary source found; site policy")
_SEED_001 = Citation("seed document 001 (selective IgM deficiency) — no primary source found; site policy")
_UNVERIFIED_CODES = Citation("clinical-facts §1.1, §1.3, §1.6, §5: no code verified for this concept")

POLICY_NOTES: Mapping[str, PolicyNote] = {
    "dosing_weight": PolicyNote(
        "Which weight the dose rules use: `advise` (actual weight; `order-dosing-weight` shows the dose on "
        "adjusted weight as information), `adjusted` (adjusted weight when the criteria hold, and the "
        "suggestion is recommended), `actual` (never adjusted, no card).", _ADJUSTED),
    "adjusted_weight_min_age": PolicyNote("`order-dosing-weight` applies from this age (years).", _ADJUSTED),
    "adjusted_weight_min_height_cm": PolicyNote("… and from this height (cm).", _ADJUSTED),
    "adjusted_weight_min_bmi": PolicyNote("… and from this BMI (kg/m²).", _ADJUSTED),
    "weight_max_age_days_adult": PolicyNote(
        "An adult's actual weight counts when at most this many days old (Terms, Actual weight).",
        (CATALOG_DECISION,)),
    "weight_max_age_days_child": PolicyNote("… and a child's (under 18).", (CATALOG_DECISION,)),
    "rounding_step_g": PolicyNote("Suggested doses are rounded to this step (g) …", _ROUNDING),
    "rounding_threshold_g": PolicyNote("… from this dose (g) up …", _ROUNDING),
    "rounding_step_small_g": PolicyNote("… and to this step (g) below it.", _ROUNDING),
    "trough_target_mg_dl.higm": PolicyNote("Trough IgG target for HIGM (mg/dL).", (_SEED_000,)),
    "trough_target_mg_dl.sigmd": PolicyNote(
        "Trough IgG target for selective IgM deficiency (mg/dL; the seed says 600–800).", (_SEED_001,)),
    "trough_target_mg_dl.other": PolicyNote(
        "Trough IgG target for other antibody deficiencies (mg/dL).", (CATALOG_DECISION,)),
    "trough_max_age_days": PolicyNote(
        "A trough IgG older than this many days is due (`order-trough-due`, `pv-trough-due`) and is not "
        "used by the `...-trough-below-target` rules.", (CATALOG_DECISION,)),
    "sigmd_igg_threshold_mg_dl": PolicyNote(
        "Selective IgM deficiency criteria: a pre-treatment IgG below this is low (mg/dL; the seed says "
        "< 400–500, payers use 500).", (_SEED_001,)),
    "recurrent_infections_min": PolicyNote(
        '"Recurrent" severe infections: at least this many episodes …', (CATALOG_DECISION,)),
    "infection_window_days": PolicyNote("… within this many days.", (CATALOG_DECISION,)),
    "iga_max_age_days": PolicyNote(
        "An IgA result older than this many days is not used by `order-iga-deficiency`.", (CATALOG_DECISION,)),
    "scig_conversion": PolicyNote(
        "IV-to-SC conversion factor: `label` uses each product's label factor (1.37 / 1.30 / 1.0), `one` "
        "uses 1.0 for every product (EU and Ontario practice).", (SCIG_LABELS,)),
    "ig_rxnorm_codes": PolicyNote(
        "Site RxNorm codes that identify normal human immune globulin products (none verified, so none by "
        "default; NDC, ATC, CVX and names still recognise Ig).", (_UNVERIFIED_CODES,)),
    "plasma_exchange_snomed_codes": PolicyNote(
        "Site SNOMED CT codes for plasma exchange (none verified; CPT 36514 and names still match).",
        (_UNVERIFIED_CODES,)),
    "mode": PolicyNote(
        "`normal` returns cards; `silent` records them for audit but returns none (piloting a rule set).",
        (CATALOG_DECISION,)),
    "silent_rules": PolicyNote("Rules silenced one by one while the others are shown.", (CATALOG_DECISION,)),
    "pneumococcal_ab_loinc": PolicyNote(
        "Site LOINC code for the pneumococcal antibody response test; none: ordered by text only.",
        (_UNVERIFIED_CODES,)),
    "cd19_loinc": PolicyNote(
        "Site LOINC code for the B-cell (CD19) count; none: ordered by text only.", (_UNVERIFIED_CODES,)),
    "hbv_dna_loinc": PolicyNote(
        "Site LOINC code for HBV DNA; none: ordered by text only.", (_UNVERIFIED_CODES,)),
    "higm_usual_low_mg_kg": PolicyNote(
        "Floor of the HIGM usual range (mg/kg per infusion; GeneReviews gives 400).", (_SEED_000,)),
    "sigmd_usual_low_mg_kg": PolicyNote(
        "Selective IgM deficiency usual range, low end (mg/kg per infusion).", (_SEED_001,)),
    "sigmd_usual_high_mg_kg": PolicyNote("… and high end.", (_SEED_001,)),
}
