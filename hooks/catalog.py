"""The rule catalog: every rule of docs/clinical-rules.md with its hooks, indicator and source.

This table is what ``igcds rules`` and ``GET /rules`` publish, and what the catalog-drift test
compares with docs/clinical-rules.md and with the rule functions, so the catalog and the code cannot drift
apart silently. Sources: the primary source docs/clinical-rules.md names; seed-only numbers are labelled as
site policy (docs/clinical-rules.md "Sources and provenance").
"""

from __future__ import annotations

from dataclasses import dataclass

ORDER_SERVICES = ("ig-order-select", "ig-order-sign")
PATIENT_VIEW = ("ig-patient-view",)


@dataclass(frozen=True, slots=True)
class Citation:
    label: str
    url: str | None = None


GENEREVIEWS_XHIGM = Citation("GeneReviews: X-linked hyper IgM syndrome (NBK1402)",
                             "https://www.ncbi.nlm.nih.gov/books/NBK1402/")
PRIVIGEN_LABEL = Citation("Privigen prescribing information (CSL Behring)", "https://www.privigen.com/")
AAAAI_CONSENSUS = Citation("AAAAI/IDF consensus on IgG replacement (P&T 2011, PMC3171818)",
                           "https://pmc.ncbi.nlm.nih.gov/articles/PMC3171818/")
AAAAI_PID_2015 = Citation("AAAAI/ACAAI practice parameter for primary immunodeficiency (Bonilla 2015)")
SEED_POLICY = Citation("seed document — no primary source found; site policy")
IVIG_BOXED_WARNING = Citation("Immune globulin boxed warning: thrombosis, renal dysfunction (product labels)")
ACIP_INTERVALS = Citation("CDC/ACIP General Best Practice: antibody-containing products and live vaccines")
ACIP_ALTERED_IMMUNO = Citation("CDC/ACIP General Best Practice: altered immunocompetence")
FDA_ANTI_CD20_HBV = Citation("FDA Drug Safety Communication (25 Sep 2013): anti-CD20 and hepatitis B reactivation")
MSD_GBS = Citation("MSD Manual Professional: Guillain-Barré syndrome; seed document 003")
NBA_ADJUSTED_WEIGHT = Citation("NBA BloodSTAR: adjusting Ig dose for ideal body weight",
                               "https://nba.gov.au/bloodstar-calculator-adjusting-ig-dose-ideal-body-weight")
SCIG_LABELS = Citation("SCIG product labels (Hizentra, Cuvitru, Xembify, Cutaquig, HyQvia)")
XEMBIFY_LABEL = Citation("Xembify prescribing information (SC infusion limits)")


@dataclass(frozen=True, slots=True)
class RuleSpec:
    id: str
    title: str
    services: tuple[str, ...]
    #: As docs/clinical-rules.md gives it: "info", "warning", "critical", or e.g. "critical / warning".
    indicator: str
    source: Citation
    #: The hooks module that implements it (dosing, indications, safety, interactions, monitoring).
    theme: str


CATALOG: tuple[RuleSpec, ...] = (
    # Order rules -------------------------------------------------------------------------------
    RuleSpec("order-weight-missing", "No recent weight for a weight-based Ig dose", ORDER_SERVICES, "warning",
             PRIVIGEN_LABEL, "dosing"),
    RuleSpec("order-indication-missing", "Ig order without a recognised indication", ORDER_SERVICES, "warning",
             AAAAI_CONSENSUS, "indications"),
    RuleSpec("order-dose-out-of-range", "Ig dose outside the label or course limits", ORDER_SERVICES, "warning",
             PRIVIGEN_LABEL, "dosing"),
    RuleSpec("order-dose-unchecked", "Ig dose not checked: unreadable dose", ORDER_SERVICES, "info",
             PRIVIGEN_LABEL, "dosing"),
    RuleSpec("order-dose-atypical", "Replacement dose outside the usual range", ORDER_SERVICES, "info",
             AAAAI_CONSENSUS, "dosing"),
    RuleSpec("order-interval-out-of-range", "Replacement interval outside the expected range", ORDER_SERVICES,
             "warning", AAAAI_CONSENSUS, "dosing"),
    RuleSpec("order-dosing-weight", "Adjusted dosing weight applies", ORDER_SERVICES, "info",
             NBA_ADJUSTED_WEIGHT, "dosing"),
    RuleSpec("order-igm-deficiency-not-indicated", "IgRT criteria for selective IgM deficiency not met",
             ORDER_SERVICES, "warning", SEED_POLICY, "indications"),
    RuleSpec("order-not-first-line", "IVIG is not first-line therapy for this indication", ORDER_SERVICES, "info",
             Citation("seed document 003 (first-line therapies)"), "indications"),
    RuleSpec("order-anaphylaxis-history", "History of anaphylaxis to immune globulin", ORDER_SERVICES, "critical",
             PRIVIGEN_LABEL, "safety"),
    RuleSpec("order-iga-deficiency", "IgA deficiency: anaphylaxis risk", ORDER_SERVICES, "critical / warning",
             PRIVIGEN_LABEL, "safety"),
    RuleSpec("order-thrombosis-risk", "Thrombosis risk factors (boxed warning)", ORDER_SERVICES, "warning",
             IVIG_BOXED_WARNING, "safety"),
    RuleSpec("order-renal-risk", "Renal risk factors for IV immune globulin (boxed warning)", ORDER_SERVICES,
             "warning", IVIG_BOXED_WARNING, "safety"),
    RuleSpec("order-renal-baseline-missing", "No recent creatinine before IV immune globulin", ORDER_SERVICES,
             "info", IVIG_BOXED_WARNING, "safety"),
    RuleSpec("order-scig-conversion", "IV to SC immune globulin dose conversion", ORDER_SERVICES,
             "info / warning", SCIG_LABELS, "dosing"),
    RuleSpec("order-scig-administration", "SC infusion volume, sites and rate", ORDER_SERVICES, "info",
             SCIG_LABELS, "dosing"),
    RuleSpec("order-plasma-exchange-after-ivig", "Plasma exchange would remove recent IVIG", ORDER_SERVICES,
             "warning", MSD_GBS, "interactions"),
    RuleSpec("order-live-vaccine", "Live vaccine with antibody deficiency or recent Ig", ORDER_SERVICES,
             "critical / warning", ACIP_INTERVALS, "interactions"),
    RuleSpec("order-ig-after-live-vaccine", "Ig soon after a measles- or varicella-containing vaccine",
             ORDER_SERVICES, "info", ACIP_INTERVALS, "interactions"),
    RuleSpec("order-anti-cd20-hbv", "Hepatitis B screening before anti-CD20 therapy", ORDER_SERVICES, "warning",
             FDA_ANTI_CD20_HBV, "interactions"),
    RuleSpec("order-trough-due", "Trough IgG due", ORDER_SERVICES, "info", AAAAI_CONSENSUS, "monitoring"),
    RuleSpec("order-trough-below-target", "Trough IgG below target", ORDER_SERVICES, "warning", SEED_POLICY,
             "monitoring"),
    # Patient-view rules ------------------------------------------------------------------------
    RuleSpec("pv-higm-no-igrt", "Hyper-IgM syndrome without Ig replacement", PATIENT_VIEW, "warning",
             GENEREVIEWS_XHIGM, "monitoring"),
    RuleSpec("pv-higm-no-pjp-prophylaxis", "Hyper-IgM syndrome without PJP prophylaxis", PATIENT_VIEW,
             "warning / info", AAAAI_PID_2015, "monitoring"),
    RuleSpec("pv-higm-hsct", "X-linked hyper-IgM: stem cell transplant evaluation", PATIENT_VIEW, "info",
             GENEREVIEWS_XHIGM, "monitoring"),
    RuleSpec("pv-igm-deficiency-workup", "Selective IgM deficiency work-up incomplete", PATIENT_VIEW, "info",
             SEED_POLICY, "monitoring"),
    RuleSpec("pv-igm-deficiency-igrt-review", "Selective IgM deficiency on IgRT without criteria", PATIENT_VIEW,
             "warning", SEED_POLICY, "monitoring"),
    RuleSpec("pv-igm-deficiency-monitor", "Selective IgM deficiency: IgG monitoring due", PATIENT_VIEW, "info",
             SEED_POLICY, "monitoring"),
    RuleSpec("pv-trough-due", "Trough IgG due", PATIENT_VIEW, "info", AAAAI_CONSENSUS, "monitoring"),
    RuleSpec("pv-trough-below-target", "Trough IgG below target", PATIENT_VIEW, "warning", SEED_POLICY,
             "monitoring"),
    RuleSpec("pv-anti-cd20-hbv", "Hepatitis B screening on anti-CD20 therapy", PATIENT_VIEW, "warning",
             FDA_ANTI_CD20_HBV, "interactions"),
)

RULES_BY_ID: dict[str, RuleSpec] = {r.id: r for r in CATALOG}


def catalog_json() -> list[dict[str, object]]:
    """The catalog as published by ``GET /rules`` and ``igcds rules --json``."""
    return [
        {
            "id": r.id,
            "title": r.title,
            "services": list(r.services),
            "indicator": r.indicator,
            "source": {"label": r.source.label, **({"url": r.source.url} if r.source.url else {})},
            "theme": r.theme,
        }
        for r in CATALOG
    ]
