"""What the catalog says about each rule: its trigger, and what its card says or suggests.

Keyed by rule id; the registry (``hooks/catalog.py``) gives the hooks, indicator, title and source.
The catalog renders every rule of the registry with its text from here (a registry rule without text
is an error the architecture test names).
"""

from __future__ import annotations

from collections.abc import Mapping

from .narrative import RuleText

RULE_TEXT: Mapping[str, RuleText] = {
    # Order rules ---------------------------------------------------------------------------------
    "order-weight-missing": RuleText(
        "Ig order, no actual weight in the freshness window",
        "Dose cannot be checked; say which weight is missing and how old the newest is. No dose card and no "
        "dose suggestion without a weight.",
    ),
    "order-indication-missing": RuleText(
        "Ig order with no indication from the order or the active conditions",
        "List recognised indications; override reasons.",
    ),
    "order-dose-out-of-range": RuleText(
        "Per-administration dose (per kg of dosing weight), per-day dose, or a stated course total outside "
        "the hard limits or the course rules of the table; with no indication, outside the envelope of every "
        "regimen ([Ig order without an indication](#ig-order-without-an-indication))",
        "Show weight used (and its date), computed mg/kg, course g/kg, the limits and their source. "
        "Suggestion (`isRecommended`): update the MedicationRequest to the nearest safe dose (Resolved "
        "details, [Suggested dose](#suggested-dose)); none without an indication.",
    ),
    "order-dose-unchecked": RuleText(
        'Ig order with an unreadable dose (Terms, [Ordered dose](#ordered-dose))',
        'Say that the dose was not checked and why (quote the unit or "no dose"), and what would make it '
        "checkable (a dose in g or mg/kg); no suggestion.",
    ),
    "order-dose-atypical": RuleText(
        "Replacement dose inside the hard limits but outside the usual range, with no justifying reason on "
        "record",
        "State the usual range and its source, and which reasons would justify the dose; no suggestion.",
    ),
    "order-interval-out-of-range": RuleText(
        "Replacement IV interval outside 21–31 days, or SC interval outside 1–14 days",
        "State ordered and expected interval.",
    ),
    "order-dosing-weight": RuleText(
        "Adult (≥ {policy:adjusted_weight_min_age} y), height ≥ {policy:adjusted_weight_min_height_cm} cm, "
        "not pregnant, BMI ≥ {policy:adjusted_weight_min_bmi} and actual > adjusted weight",
        "Show IBW, adjusted weight, dose on adjusted weight. Suggestion to update the dose (recommended only "
        'when policy `dosing_weight = "adjusted"`, in effect: {policy:dosing_weight}; then the dose rules '
        "also use adjusted weight).",
    ),
    "order-igm-deficiency-not-indicated": RuleText(
        "(a) The indication is SIgMD, or (b) the order has no indication, the patient is ≥ 18 y, the newest "
        "IgM is < 40 mg/dL and no pre-treatment IgG < {policy:sigmd_igg_threshold_mg_dl} mg/dL is on record; "
        "and the criteria are NOT met: \\[(pre-treatment IgG < {policy:sigmd_igg_threshold_mg_dl} mg/dL or a "
        "documented impaired pneumococcal response — D80.6 / SNOMED 234556002, 234559009) AND recurrent "
        "severe infections\\]",
        "Name the criterion that is missing (IgG not low / no pneumococcal assessment / fewer than "
        '{policy:recurrent_infections_min} severe infections), not a generic "isolated low IgM". Where IgG '
        "or the pneumococcal assessment was never done: suggestions to order them (IgG LOINC 2465-3).",
    ),
    "order-not-first-line": RuleText(
        "The order's reason is anti-GBM disease, MGUS, or C. difficile infection not coded recurrent "
        "(A04.71 / SNOMED 789685005); or the indication is autoimmune encephalitis with no corticosteroid "
        "ordered, active or given in the last 30 days",
        "State the first-line therapy (seed 003): anti-GBM: cyclophosphamide + corticosteroids + plasma "
        "exchange; MGUS-related disease: treat the clone (rituximab for IgM); CDI: IVIG only as adjunct in "
        "multiple recurrent or fulminant disease; autoimmune encephalitis: high-dose methylprednisolone "
        "first, IVIG if no improvement or severe.",
    ),
    "order-anaphylaxis-history": RuleText(
        "Active AllergyIntolerance to immune globulin with high criticality, severe reaction, or anaphylaxis",
        "Contraindication; override reasons.",
    ),
    "order-iga-deficiency": RuleText(
        "See Resolved details, [order-iga-deficiency](#order-iga-deficiency)",
        "Contraindication / caution; prefer a low-IgA product (the product IgA contents known in "
        "[Products](#products)).",
        "critical with anti-IgA antibodies and a hypersensitivity history, else warning",
    ),
    "order-thrombosis-risk": RuleText(
        "Ig order (IV or SC) and one or more risk factors listed in Resolved details, "
        "[Thrombosis risk factors](#thrombosis-risk-factors)",
        "Boxed-warning advice: lowest practicable dose and rate, hydrate before, list the factors found.",
    ),
    "order-renal-risk": RuleText(
        "**IV** Ig order and one or more renal risk factors listed in Resolved details, "
        "[Renal risk factors](#renal-risk-factors)",
        "Avoid sucrose-stabilised products, minimum rate, monitor creatinine; list the factors found.",
    ),
    "order-renal-baseline-missing": RuleText(
        "IV Ig order and no creatinine or eGFR in the last 30 days",
        "Suggestion: create a ServiceRequest for serum creatinine (LOINC 2160-0).",
    ),
    "order-scig-conversion": RuleText(
        "SC Ig order while on, or within 8 weeks of, IV Ig for a replacement indication",
        "Weekly SC dose = IV dose (g) ÷ IV interval (weeks) × the product's factor (Hizentra, Gammagard "
        "Liquid, Gamunex-C, Xembify 1.37; Cuvitru, Cutaquig 1.30; HyQvia 1.0; site policy `scig_conversion` "
        '= "one" sets 1.0 for all, as EU and Ontario practice; in effect: {policy:scig_conversion}). Match = '
        "within 10%. The warning carries a suggestion to update the dose to that weekly target rounded to "
        "1 g (scaled to the ordered interval). Advise a trough IgG after the switch (the seed's every 2 weeks "
        "for 8 weeks has no primary source; the Cutaquig label says after 2–3 months).",
        "info if the SC dose matches, else warning",
    ),
    "order-scig-administration": RuleText(
        "SC Ig order (not HyQvia)",
        "Volume (dose ÷ product concentration), number of sites, maximum volume and rate per site from the "
        "product's own label limits ([SC infusion limits](#sc-infusion-limits)); where the product has none "
        "on file, the seed's limits (25 mL/site; ≤ 25 mL/h/site age 2–< 10, ≤ 35 mL/h/site ≥ 10; at most 6 "
        "sites, from the Xembify label), naming whose limits they are; more than 6 sites needed → say so.",
    ),
    "order-plasma-exchange-after-ivig": RuleText(
        "Draft plasma exchange (CPT 36514 or a configured SNOMED code) and IV Ig given or ordered recently "
        "(Resolved details, [order-plasma-exchange-after-ivig](#order-plasma-exchange-after-ivig))",
        "Plasma exchange removes the IVIG just given (seed 003; MSD Manual).",
    ),
    "order-live-vaccine": RuleText(
        "Draft live vaccine ([live-vaccine codes](#medication-classes), or by name: MMR, MMRV, varicella, "
        "live zoster, rotavirus, yellow fever, live attenuated influenza, BCG, oral typhoid, oral polio, "
        "smallpox/vaccinia, adenovirus, live cholera)",
        "See Resolved details, [order-live-vaccine](#order-live-vaccine); the warning gives the first date "
        "the vaccine can be given.",
        "critical for an antibody deficiency or IgRT, warning for recent Ig",
    ),
    "order-ig-after-live-vaccine": RuleText(
        "Any immune globulin order — IV, SC, IM or hyperimmune, but not anti-D (ACIP: postpartum anti-D does "
        "not delay vaccination) — within 14 days after a measles- or varicella-containing vaccine",
        "Vaccine response may be blunted (ACIP, antibody-containing products); revaccinate after the "
        "interval unless serology shows immunity.",
    ),
    "order-anti-cd20-hbv": RuleText(
        "Draft anti-CD20 (rituximab, ofatumumab, ocrelizumab, obinutuzumab) and the HBV conditions of "
        "Resolved details ([HBV conditions](#hbv-conditions))",
        "Screen before starting: suggestions to order HBsAg (LOINC 5196-1) and anti-HBc total (LOINC "
        "16933-4); positive → antiviral prophylaxis and monitoring (seed 003; FDA 2013).",
    ),
    "order-trough-due": RuleText(
        "Replacement Ig order, patient on IgRT, and no trough IgG in the last {policy:trough_max_age_days} "
        "days",
        "Suggestion: ServiceRequest for serum IgG (LOINC 2465-3) drawn before the next dose.",
    ),
    "order-trough-below-target": RuleText(
        "Replacement Ig order, patient on IgRT, newest trough IgG (≤ {policy:trough_max_age_days} days) below "
        "target: HIGM {policy:trough_target_mg_dl.higm}, SIgMD {policy:trough_target_mg_dl.sigmd}, other "
        "{policy:trough_target_mg_dl.other} mg/dL (the HIGM and SIgMD targets come from the seeds)",
        "Show the last three IgG values with dates; advise raising the dose (a higher dose up to 800 mg/kg "
        "is then justified) or shortening the interval.",
    ),
    # Patient-view rules --------------------------------------------------------------------------
    "pv-higm-no-igrt": RuleText(
        "HIGM, not on IgRT, no stem cell transplant on record",
        "IgRT is the cornerstone: IVIG 400–600 mg/kg every 3–4 weeks (GeneReviews; the seed gives adults "
        "300–400), titrated to trough IgG and infections.",
    ),
    "pv-higm-no-pjp-prophylaxis": RuleText(
        "HIGM with no stem cell transplant on record and no active PJP prophylaxis (TMP-SMX, dapsone, "
        "atovaquone or pentamidine): warning for X-linked HIGM (SNOMED 403835002) or HIGM without a subtype "
        "(D80.5 / 82286005 alone) — CD40L deficiency, known or suspected; info for autosomal recessive HIGM "
        "(403836001): prophylaxis is indicated if it is CD40 deficiency, not for AID/UNG deficiency — confirm "
        "the genetic diagnosis. Not for 783249007 (HIGM without susceptibility to opportunistic infection)",
        "PJP prophylaxis (AAAAI 2015 practice parameter SS41; seed 000). Adults without a sulfonamide "
        "allergy: suggestion to create a MedicationRequest for TMP-SMX 800/160 mg (RxNorm 198335) one tablet "
        "daily; children, or a sulfonamide allergy: card without suggestion, naming the alternatives.",
        "warning; info for autosomal recessive HIGM",
    ),
    "pv-higm-hsct": RuleText(
        "X-linked HIGM (SNOMED 403835002), no stem cell transplant on record",
        "Refer for haematopoietic stem cell transplant evaluation; best before age 10 (GeneReviews).",
    ),
    "pv-igm-deficiency-workup": RuleText(
        "Selective IgM deficiency diagnosis, and no pneumococcal response assessment or no B-cell (CD19) "
        "count on record (Resolved details, [pv-igm-deficiency-workup](#pv-igm-deficiency-workup))",
        "One suggestion per missing test (ServiceRequest).",
    ),
    "pv-igm-deficiency-igrt-review": RuleText(
        "SIgMD, on IgRT, and the criteria of `order-igm-deficiency-not-indicated` not met",
        "Reassess; name the missing criterion; IVIG does not correct IgM (seed 001 pitfalls).",
    ),
    "pv-igm-deficiency-monitor": RuleText(
        "SIgMD, not on IgRT, no IgG in 12 months",
        "Monitor IgG every 6–12 months (seed 001); suggestion to order IgG.",
    ),
    "pv-trough-due": RuleText(
        "On replacement IgRT and no trough IgG in {policy:trough_max_age_days} days",
        "Suggestion: order IgG trough.",
    ),
    "pv-trough-below-target": RuleText(
        "On replacement IgRT and newest trough IgG (≤ {policy:trough_max_age_days} days) below target",
        "As `order-trough-below-target`.",
    ),
    "pv-anti-cd20-hbv": RuleText(
        "Active anti-CD20 therapy and the HBV conditions of Resolved details "
        "([HBV conditions](#hbv-conditions))",
        "As `order-anti-cd20-hbv`.",
    ),
}
