"""Monitoring knowledge: the tests, drugs and windows the monitoring and HBV rules use, with sources.

Every row names its source. LOINC / RxNorm codes are emitted only where docs/clinical-rules.md or
docs/clinical-facts.md gives them; tests without a verified code are ordered by text only
(``loinc=None``, marked UNVERIFIED) unless a site configures a code in ``Policy``.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..catalog import (
    AAAAI_PID_2015,
    FDA_ANTI_CD20_HBV,
    GENEREVIEWS_XHIGM,
    MSD_GBS,
    SEED_POLICY,
    Citation,
)

RULES_MD = Citation("igcds docs/clinical-rules.md (clinical specification)")
CF_LOINC_IGG = Citation("docs/clinical-facts.md §1.1 (LOINC 2465-3, tag C)")
CF_RXNORM_TMP_SMX = Citation(
    "docs/clinical-facts.md §1.4 (RxNorm 198335, tag V: VSAC 2.16.840.1.113883.3.464.1003.196.12.1001)"
)
SEED_001 = Citation("seed document 001 (selective IgM deficiency) — no primary source found; site policy")
SEED_003_HBV = Citation("seed document 003 (HBV reactivation prevention); FDA Drug Safety Communication 2013")


@dataclass(frozen=True, slots=True)
class LabTest:
    """A laboratory test the rules may suggest ordering.

    ``loinc`` None means no verified code: the ServiceRequest is coded by ``code.text`` only.
    """

    id: str
    name: str
    loinc: str | None
    source: Citation
    verified: bool = True
    #: Short name for card summaries.
    short: str = ""


IGG = LabTest("igg", "Serum IgG", "2465-3", CF_LOINC_IGG)
CREATININE = LabTest(
    "creatinine",
    "Serum creatinine",
    "2160-0",
    Citation("docs/clinical-facts.md §1.1 (LOINC 2160-0, tag V)"),
)
#: HBsAg and anti-HBc total: the codes docs/clinical-rules.md ``order-anti-cd20-hbv`` prescribes.
HBSAG = LabTest("hbsag", "Hepatitis B surface antigen (HBsAg)", "5196-1", RULES_MD, short="HBsAg")
ANTI_HBC = LabTest(
    "anti-hbc", "Hepatitis B core antibody, total (anti-HBc)", "16933-4", RULES_MD, short="anti-HBc"
)
#: UNVERIFIED: no LOINC code for HBV DNA is given in docs/clinical-rules.md or clinical-facts; ordered by text.
HBV_DNA = LabTest("hbv-dna", "Hepatitis B virus DNA (viral load)", None, SEED_003_HBV, verified=False)
#: UNVERIFIED: no pneumococcal antibody LOINC code was verified (clinical-facts §1.1, §5 item 2).
PNEUMOCOCCAL_AB = LabTest(
    "pneumococcal-ab",
    "Pneumococcal polysaccharide antibody response (serotype-specific IgG before and 4–6 weeks after PPSV23)",
    None,
    SEED_001,
    verified=False,
)
#: UNVERIFIED: no CD19 B-cell count LOINC code in the reference; ordered by text.
CD19 = LabTest("cd19", "B-cell (CD19) count by flow cytometry", None, SEED_001, verified=False)

LAB_TESTS: tuple[LabTest, ...] = (IGG, CREATININE, HBSAG, ANTI_HBC, HBV_DNA, PNEUMOCOCCAL_AB, CD19)


@dataclass(frozen=True, slots=True)
class DrugRow:
    id: str
    name: str
    rxnorm: str | None
    dosage_text: str | None
    source: Citation


#: docs/clinical-rules.md ``pv-higm-no-pjp-prophylaxis``: adults without a sulfonamide allergy.
TMP_SMX_DS = DrugRow(
    "tmp-smx-ds",
    "sulfamethoxazole 800 mg / trimethoprim 160 mg oral tablet",
    "198335",
    "1 tablet (800/160 mg) by mouth once daily (PJP prophylaxis)",
    CF_RXNORM_TMP_SMX,
)
#: The other PJP prophylaxis drugs docs/clinical-rules.md names (no dose given here: prescriber chooses).
PJP_ALTERNATIVES: tuple[DrugRow, ...] = (
    DrugRow("dapsone", "dapsone", None, None, RULES_MD),
    DrugRow("atovaquone", "atovaquone", None, None, RULES_MD),
    DrugRow("pentamidine", "pentamidine (inhaled or IV)", None, None, RULES_MD),
)
#: Adults get the TMP-SMX suggestion; children need a weight-based dose (docs/clinical-rules.md).
ADULT_AGE_YEARS = 18
PJP_SOURCE = AAAAI_PID_2015  # SS41: PCP prophylaxis in known or suspected CD40/CD40L deficiency

#: docs/clinical-rules.md "HBV conditions": an active one of these silences the positive-serology branch.
HBV_ANTIVIRALS: tuple[str, ...] = ("entecavir", "tenofovir", "lamivudine")
#: Ig in this many calendar months before now may passively transfer anti-HBc (docs/clinical-rules.md).
HBV_PASSIVE_TRANSFER_MONTHS = 6
HBV_SOURCE = FDA_ANTI_CD20_HBV

#: docs/clinical-rules.md ``pv-igm-deficiency-monitor``: IgG every 6–12 months (seed 001); "12 months" = 365 days.
SIGMD_IGG_MONITOR_DAYS = 365
SIGMD_SOURCE = SEED_001

#: docs/clinical-rules.md Resolved details: plasma exchange within 14 days (inclusive) of IV Ig.
PLASMA_EXCHANGE_WINDOW_DAYS = 14
PLASMA_EXCHANGE_SOURCE = MSD_GBS

#: GeneReviews NBK1402: HSCT is the only cure, preferably before age 10.
HSCT_PREFERRED_BEFORE_AGE = 10
HSCT_SOURCE = GENEREVIEWS_XHIGM
#: GeneReviews NBK1402 Table 4: IV 0.4–0.6 g/kg every 3–4 weeks; seed 000 adults 300–400 (seed-only).
HIGM_IGRT_TEXT = (
    "IVIG 400–600 mg/kg every 3–4 weeks (or SCIG ≥ 100 mg/kg weekly), titrated to trough IgG "
    "and infections (GeneReviews NBK1402). The seed document gives 300–400 mg/kg for adults "
    "(seed document — no primary source found; site policy)."
)
SEED_TROUGH = SEED_POLICY
