"""The catalog's "Terms": what the rules mean by an Ig order, a dose, a weight, an indication.

Each term is an :class:`~hooks.knowledge.narrative.Entry` with its sources; ``docs/clinical-rules.md``
renders them in this order. The codes a term names are listed with their own sources in the
catalog's code tables (``fhir_mappings``), which the links point to.
"""

from __future__ import annotations

from ..catalog import NBA_ADJUSTED_WEIGHT, SCIG_LABELS, Citation
from .narrative import CATALOG_DECISION, Entry

_RECOGNITION = Citation("WHO ATC J06BA (normal human immunoglobulins); CDC CVX 86/87; FDA NDC directory "
                        "(openFDA), clinical-facts §1.3")
_PRODUCT_LABELS = Citation("Immune globulin product labels (concentration, route), clinical-facts §2.3")
_DEVINE = Citation("Devine ideal body weight formula; NBA BloodSTAR adjusted-weight method",
                   NBA_ADJUSTED_WEIGHT.url)
_UCUM = Citation("UCUM units of measure; igcds unit tables (fhir_mappings/units.py)")
_FHIR_STATUS = Citation("FHIR R4 Observation.status and Condition.verificationStatus value sets",
                        "https://hl7.org/fhir/R4/observation.html")
_INDICATIONS = Citation("AAAAI/IDF consensus (replacement); product labels and neurology guidance "
                        "(immunomodulatory); seed document 003 (regimen-less), clinical-facts §1.2")

TERMS: tuple[Entry, ...] = (
    Entry(
        "ig-order",
        "Ig order",
        "A draft `MedicationRequest` for **normal human immune globulin for IV or SC use**, recognised by "
        "ATC J06BA01/J06BA02, CVX 87 (IGIV), NDC product codes (see [Ig product recognition]"
        "(#ig-product-recognition)), a configurable RxNorm list (site policy `ig_rxnorm_codes`: "
        "{policy:ig_rxnorm_codes}), or, as a last resort, by name in `medicationCodeableConcept.text` / "
        "`Medication.code` (Privigen, Gammagard, Gamunex, Gammaked, Octagam, Flebogamma, Panzyga, Bivigam, "
        'Gammaplex, Asceniv, Alyglo, Yimmugo, Hizentra, Cuvitru, Xembify, Cutaquig, HyQvia, "immune '
        'globulin", "immunoglobulin", IVIG, SCIG).\n\n'
        "**Never an Ig order**, and never judged by these rules: specific (hyperimmune) globulins, anti-D, "
        "anti-thymocyte or anti-lymphocyte globulins, and intramuscular immune globulin — recognised by "
        "CVX 86, route IM, ATC outside J06BA, or a name containing anti-D, Rho(D), WinRho, RhoGAM, "
        "Rhophylac, hepatitis B, HBIG, HepaGam, Nabi-HB, rabies, HyperRAB, Imogam, Kedrab, tetanus, "
        "HyperTET, cytomegalovirus, CytoGam, varicella, VariZIG, botulism, BabyBIG, anthrax, vaccinia, "
        "thymocyte, Thymoglobulin, Atgam, lymphocyte, GamaSTAN. These exclusions win over any recognition "
        "above (only `order-ig-after-live-vaccine` looks at them too: it concerns every "
        "antibody-containing product but anti-D).\n\n"
        "`medicationReference` must be resolved (contained resource, draftOrders bundle, or FHIR read).",
        (_RECOGNITION, CATALOG_DECISION),
    ),
    Entry(
        "route",
        "Route",
        "IV or SC, from `dosageInstruction.route` (SNOMED 47625008 IV, 34206005 SC), else from the product "
        "(Hizentra, Cuvitru, Xembify, Cutaquig, HyQvia are SC; J06BA01 is extravascular), else IV.",
        (SCIG_LABELS, _RECOGNITION),
    ),
    Entry(
        "ordered-dose",
        "Ordered dose",
        "`doseAndRate.doseQuantity` in g, mg, g/kg or mg/kg (UCUM), or in mL of a product whose "
        "concentration is known (10%, 20%, 16.5%, 5% → g = mL × concentration; see [Products](#products) "
        "and the resolved detail [Concentration of a dose in mL](#concentration-of-a-dose-in-ml)). With "
        "`timing.repeat` (frequency/period/periodUnit, count, boundsDuration, boundsPeriod) it gives the "
        "dose per administration, the interval, and — only when the order states it — the number of days "
        "and the course total. Any other unit (`{pill}`, `{vial}`, `[iU]`), mL of a product of unknown "
        "concentration, or no dose at all is an **unreadable dose** (`order-dose-unchecked`).",
        (_UCUM, _PRODUCT_LABELS, CATALOG_DECISION),
    ),
    Entry(
        "reading-ehr-data",
        "Reading EHR data",
        "A resource is judged on the elements the rules read. A malformed element that no rule reads (e.g. "
        "`category` sent as one object instead of a list, a missing `intent` on a draft, an unknown "
        "extension) never drops the resource; a malformed element a rule needs makes that fact unknown, and "
        "the rule that needed it says so where this catalog gives it a card (weight, dose).",
        (CATALOG_DECISION,),
    ),
    Entry(
        "actual-weight",
        "Actual weight",
        "Newest body-weight Observation (LOINC 29463-7, 3141-9 and variants; see "
        "[Observation codes](#observation-codes)) not older than {policy:weight_max_age_days_adult} days for "
        "adults, {policy:weight_max_age_days_child} days under 18. Units kg, g, \\[lb_av\\] are converted.",
        (Citation("Product labels: dose per kg of body weight"), CATALOG_DECISION),
    ),
    Entry(
        "dosing-weight",
        "Dosing weight",
        "Actual weight, unless the adjusted-weight policy applies (rule `order-dosing-weight`; site policy "
        "`dosing_weight`: {policy:dosing_weight}). IBW (Devine): male 50 kg, female 45.5 kg, + 2.3 kg per "
        "inch of height over 60 in. Adjusted weight = IBW + 0.4 × (actual − IBW).",
        (_DEVINE,),
    ),
    Entry(
        "immunoglobulin-levels",
        "Immunoglobulin levels",
        "IgG, IgA and IgM are compared in mg/dL after unit conversion (g/L × 100, mg/L ÷ 10). Observations "
        "count only with status `final`, `amended` or `corrected` and a value (no `dataAbsentReason`).",
        (_UCUM, _FHIR_STATUS),
    ),
    Entry(
        "replacement-indication",
        "Replacement indication",
        "An antibody deficiency. *Severe*: hyper-IgM syndrome (HIGM), CVID, X-linked/congenital "
        "agammaglobulinemia, hypogammaglobulinemia. *Less severe*: selective IgM deficiency (SIgMD), "
        "specific antibody deficiency, IgG subclass deficiency. Codes: [Condition value sets]"
        "(#condition-value-sets).",
        (_INDICATIONS,),
    ),
    Entry(
        "immunomodulatory-indication",
        "Immunomodulatory indication",
        "GBS, myasthenia gravis, CIDP, multifocal motor neuropathy (MMN, G61.82), autoimmune encephalitis, "
        "ITP, Kawasaki disease.",
        (_INDICATIONS,),
    ),
    Entry(
        "regimen-less-indication",
        "Regimen-less indication",
        "IVIG is not standard therapy (see `order-not-first-line`): anti-GBM disease, MGUS, C. difficile "
        "infection — these count only as the order's own reason.",
        (_INDICATIONS,),
    ),
    Entry(
        "indication-of-an-order",
        "Indication of an order",
        "`reasonCode`/`reasonReference` of the order if it maps to an indication; otherwise the patient's "
        "active conditions that map to a replacement or immunomodulatory one (the most specific wins: "
        "HIGM > SIgMD > other antibody deficiency; an immunomodulatory reason on the order wins over a "
        "chronic condition list). Conditions that are `entered-in-error`, `refuted`, or not active are not "
        '"active" (see [Working diagnoses count](#working-diagnoses-count)).',
        (CATALOG_DECISION,),
    ),
    Entry(
        "on-igrt",
        "On IgRT",
        "Replacement IgRT: the patient has a replacement indication and an active Ig "
        "MedicationRequest/MedicationStatement or an Ig administration in the last 8 weeks. Ig given for an "
        'immunomodulatory indication does not make a patient "on IgRT".',
        (CATALOG_DECISION,),
    ),
    Entry(
        "severe-infection-pre-treatment-igg-trough-igg",
        "Severe infection, pre-treatment IgG, trough IgG",
        "See [Severe infection](#severe-infection), [Pre-treatment IgG](#pre-treatment-igg) and "
        "[Trough IgG](#trough-igg) in Resolved details.",
        (CATALOG_DECISION,),
    ),
)
