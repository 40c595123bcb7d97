"""Condition concepts the rules read, as named value sets (codes from clinical-facts §1.2 and docs/clinical-rules.md).

A Condition carries every concept its codes match (``CONDITION_INDEX.concepts_for``), plus the
groupers that include them (``replacement-severe``, ``immunomodulatory``, ``severe-infection``, ...).
Keyword (text) recognition is used only where docs/clinical-rules.md asks for it: stem cell transplant and
anti-IgA antibodies.
"""

from __future__ import annotations

from .codings import ICD10CM, SNOMED
from .valuesets import Keyword, Match, Member, Tag, ValueSet, ValueSetIndex

_CF = "clinical-facts §1.2"
_IMMUNE = f"{_CF} [CANVAS] VSAC 2.16.840.1.113883.3.464.1003.120.12.1001 / 2.16.840.1.113883.3.666.5.1940"
_GMSDE = f"{_CF} [GMSDE] gm-sde immunosuppression SNOMED codelist"
_NEURO = f"{_CF} [CANVAS] v2026 VSAC 'Neuromuscular Disorder' 2.16.840.1.113762.1.4.1248.239"
_FS = f"{_CF} [FS] exact-string hits in independent repositories"
_LOGICA = f"{_CF} [LOGICA] COVID-19 underlying-conditions value sets"
_HCC = f"{_CF} [CANVAS] hcc2018.py"
_TERMS = "docs/clinical-rules.md Terms: indications"
_SEVERE = "docs/clinical-rules.md Resolved details: severe infection"
_THROMB = "docs/clinical-rules.md Resolved details: thrombosis risk factors"
_RENAL = "docs/clinical-rules.md Resolved details: renal risk factors"
_IGA = "docs/clinical-rules.md Resolved details: order-iga-deficiency"
_HSCT = "docs/clinical-rules.md Resolved details: stem cell transplant on record"


def _icd(code: str, tag: Tag, source: str) -> Member:
    return Member(ICD10CM, code, tag, source)


def _family(prefix: str, tag: Tag, source: str) -> Member:
    """An ICD-10 family written "X.x" / "X.yx" in the sources: every code starting with it."""
    return Member(ICD10CM, prefix, tag, source, Match.PREFIX)


def _span(low: str, high: str, tag: Tag, source: str) -> Member:
    """An ICD-10 category span written "low–high" in the sources (inclusive)."""
    return Member(ICD10CM, low, tag, source, Match.RANGE, high)


def _sct(code: str, tag: Tag, source: str, display: str | None = None) -> Member:
    return Member(SNOMED, code, tag, source, display=display)


V, C, S, R, U = Tag.V, Tag.C, Tag.S, Tag.R, Tag.UNVERIFIED

_HIGM_X = (_sct("403835002", V, _IMMUNE, "X-linked hyper-immunoglobulin M syndrome"),)
_HIGM_AR = (_sct("403836001", V, _IMMUNE, "Autosomal recessive hyper-IgM"),)
_HIGM_NO_OI = (_sct("783249007", V, _IMMUNE, "HIGM without susceptibility to opportunistic infection"),)
_CDI_RECURRENT = (
    _icd("A04.71", V, f"{_CF} [CANVAS] VSAC 2.16.840.1.113883.3.464.1003.102.12.1017"),
    _sct("789685005", V, f"{_CF} [CANVAS] VSAC 2.16.840.1.113883.3.464.1003.102.12.1017"),
)

CONDITION_SETS: tuple[ValueSet, ...] = (
    # --- antibody deficiencies (replacement indications) ---
    ValueSet("hyper-igm", "Hyper-IgM syndrome (any subtype)", _TERMS, (
        _icd("D80.5", V, _IMMUNE), _sct("82286005", V, _IMMUNE, "Hyperimmunoglobulin M syndrome"),
        _sct("783248004", V, _IMMUNE, "HIGM with susceptibility to opportunistic infection"),
    ) + _HIGM_X + _HIGM_AR + _HIGM_NO_OI),
    ValueSet("higm-x-linked", "X-linked HIGM (CD40L deficiency)",
             "docs/clinical-rules.md pv-higm-no-pjp-prophylaxis", _HIGM_X),
    ValueSet("higm-autosomal-recessive", "Autosomal recessive HIGM",
             "docs/clinical-rules.md pv-higm-no-pjp-prophylaxis", _HIGM_AR),
    ValueSet("higm-no-opportunistic-infection", "HIGM without susceptibility to opportunistic infection",
             "docs/clinical-rules.md pv-higm-no-pjp-prophylaxis", _HIGM_NO_OI),
    ValueSet("selective-igm-deficiency", "Selective IgM deficiency", _TERMS, (
        _icd("D80.4", V, _IMMUNE), _sct("190980000", V, _IMMUNE, "Selective immunoglobulin M deficiency"))),
    ValueSet("selective-iga-deficiency", "Selective IgA deficiency", _IGA, (
        _icd("D80.2", V, _IMMUNE), _sct("190979003", V, _IMMUNE, "Selective immunoglobulin A deficiency"),
        _sct("29260007", S, _GMSDE, "Immunoglobulin A deficiency"))),
    ValueSet("cvid", "Common variable immunodeficiency", _TERMS, (
        _icd("D83.0", V, _IMMUNE), _icd("D83.1", V, _IMMUNE), _icd("D83.2", V, _IMMUNE),
        _icd("D83.8", V, _IMMUNE), _icd("D83.9", V, _IMMUNE),
        _sct("23238000", V, _IMMUNE, "Common variable agammaglobulinemia"), _sct("191011000", V, _IMMUNE),
        _sct("191012007", V, _IMMUNE), _sct("191013002", V, _IMMUNE))),
    ValueSet("agammaglobulinemia", "X-linked / congenital agammaglobulinemia", _TERMS, (
        _icd("D80.0", V, _IMMUNE), _sct("65880007", V, _IMMUNE, "X-linked agammaglobulinemia"),
        _sct("234416002", V, _IMMUNE, "X-linked hypogammaglobulinemia"),
        _sct("116133005", S, _GMSDE, "Congenital agammaglobulinemia"),
        _sct("119249001", S, _GMSDE, "Agammaglobulinemia"),
        _sct("764858009", S, _GMSDE, "Isolated agammaglobulinemia"))),
    ValueSet("hypogammaglobulinemia", "Hypogammaglobulinemia", _TERMS, (
        _icd("D80.1", V, _IMMUNE), _icd("D80.0", V, _IMMUNE),
        _sct("417167007", S, _GMSDE, "Immunoglobulin deficiency"),
        _sct("12631000119106", S, _GMSDE, "Immunoglobulin G deficiency"),
        _sct("267460002", S, _GMSDE, "Congenital hypogammaglobulinemia"))),
    # Transient hypogammaglobulinemia of infancy: named for completeness, in no grouper (docs/clinical-rules.md does not
    # list it as a replacement indication).
    ValueSet("transient-hypogammaglobulinemia-infancy", "Transient hypogammaglobulinemia of infancy", _IMMUNE,
             (_icd("D80.7", V, _IMMUNE), _sct("88714009", V, _IMMUNE))),
    ValueSet("igg-subclass-deficiency", "IgG subclass deficiency", _TERMS, (
        _icd("D80.3", V, _IMMUNE), _sct("234544003", V, _IMMUNE, "Immunoglobulin subclass deficiency"),
        _sct("190981001", S, _GMSDE, "Selective immunoglobulin G deficiency"))),
    ValueSet("specific-antibody-deficiency", "Specific antibody deficiency (impaired pneumococcal response)",
             "docs/clinical-rules.md order-igm-deficiency-not-indicated (D80.6 / SNOMED 234556002, 234559009)", (
        _icd("D80.6", V, _IMMUNE), _sct("234556002", S, _GMSDE, "Specific antibody deficiency"),
        _sct("234559009", S, _GMSDE, "Anti-pneumococcal polysaccharide antibody deficiency"))),
    # --- immunomodulatory indications ---
    ValueSet("gbs", "Guillain-Barré syndrome", _TERMS, (
        _icd("G61.0", V, _NEURO), _sct("40956001", V, _NEURO), _sct("716723000", V, _NEURO),
        _sct("716722005", V, _NEURO))),
    ValueSet("myasthenia-gravis", "Myasthenia gravis", _TERMS, (
        _icd("G70.00", V, _NEURO), _icd("G70.01", V, _NEURO), _sct("91637004", V, _NEURO),
        _sct("77461000119109", V, _NEURO), _sct("77471000119103", V, _NEURO), _sct("80976008", V, _NEURO))),
    ValueSet("cidp", "Chronic inflammatory demyelinating polyneuropathy", _TERMS, (
        _icd("G61.81", V, f"{_CF} ICD-10-CM"), _sct("128209004", C, _FS))),
    ValueSet("mmn", "Multifocal motor neuropathy", _TERMS, (_icd("G61.82", R, _TERMS),)),
    ValueSet("autoimmune-encephalitis", "Autoimmune encephalitis", _TERMS, (_icd("G04.81", C, _FS),)),
    ValueSet("itp", "Immune thrombocytopenia", _TERMS, (
        _icd("D69.3", V, f"{_CF} [CANVAS] VSAC 2.16.840.1.113762.1.4.1248.23"),
        _sct("2897005", S, f"{_CF} single project"))),
    ValueSet("kawasaki", "Kawasaki disease", _TERMS, (
        _icd("M30.3", V, f"{_CF} [CANVAS] VSAC 2.16.840.1.113762.1.4.1029.311"),
        _sct("75053002", C, f"{_CF} [LOGICA] + Databricks codelist"))),
    # --- regimen-less indications (count only as the order's own reason) ---
    ValueSet("anti-gbm", "Anti-GBM disease / Goodpasture", _TERMS, (
        _sct("788613004", V, f"{_CF} [CANVAS] VSAC 2.16.840.1.113883.3.464.1003.109.12.1018"),
        _sct("236506009", V, f"{_CF} [CANVAS] VSAC 2.16.840.1.113883.3.464.1003.109.12.1018"),
        _sct("62853008", V, f"{_CF} [CANVAS] VSAC 2.16.840.1.113883.3.464.1003.109.12.1018"),
        _icd("M31.0", U, f"{_CF}: Goodpasture indexed to M31.0 'from memory (UNVERIFIED)'"))),
    ValueSet("mgus", "Monoclonal gammopathy of uncertain significance", _TERMS, (
        _icd("D47.2", V, f"{_CF} [CANVAS] VSAC 2.16.840.1.113883.3.526.3.1010"),
        _sct("277577000", V, f"{_CF} [CANVAS] VSAC 2.16.840.1.113883.3.526.3.1010"))),
    ValueSet("cdi", "Clostridioides difficile infection", _TERMS, (
        _icd("A04.7", V, f"{_CF} [CANVAS] (pre-FY2017 parent)"),
        _icd("A04.72", V, f"{_CF} [CANVAS] VSAC 2.16.840.1.113883.3.464.1003.102.12.1017"),
        _sct("186431008", V, f"{_CF} [CANVAS]"), _sct("423590009", V, f"{_CF} [CANVAS]"),
        _sct("5891000119102", V, f"{_CF} [CANVAS]")) + _CDI_RECURRENT),
    ValueSet("cdi-recurrent", "Recurrent C. difficile infection", "docs/clinical-rules.md order-not-first-line",
             _CDI_RECURRENT),
    ValueSet("bronchiectasis", "Bronchiectasis", "docs/clinical-rules.md Dose regimens: justifying reasons", (
        _family("J47", R, "docs/clinical-rules.md Dose regimens (J47.x)"),
        _sct("12295008", R, "docs/clinical-rules.md Dose regimens"))),
    # --- severe infections (docs/clinical-rules.md Resolved details) ---
    ValueSet("pneumonia", "Pneumonia", _SEVERE, (_span("J13", "J18", R, _SEVERE), _sct("233604007", R, _SEVERE))),
    ValueSet("sepsis", "Sepsis", _SEVERE, (
        _span("A40", "A41", R, _SEVERE), _family("R65.2", R, _SEVERE), _sct("91302008", R, _SEVERE))),
    ValueSet("bacteremia", "Bacteremia", _SEVERE, (_icd("R78.81", R, _SEVERE), _sct("5758002", R, _SEVERE))),
    ValueSet("bacterial-meningitis", "Bacterial meningitis", _SEVERE, (
        _family("G00", R, _SEVERE), _sct("95883001", R, _SEVERE))),
    ValueSet("meningococcal-disease", "Meningococcal disease", _SEVERE, (
        _family("A39", R, _SEVERE), _sct("23511006", R, _SEVERE))),
    ValueSet("osteomyelitis", "Osteomyelitis", _SEVERE, (_family("M86", R, _SEVERE), _sct("60168000", R, _SEVERE))),
    # --- renal and thrombosis risk factors ---
    ValueSet("diabetes", "Diabetes mellitus", f"{_RENAL}; {_THROMB}", (
        _span("E08", "E13", R, _RENAL), _sct("73211009", R, _RENAL))),
    ValueSet("volume-depletion", "Volume depletion", _RENAL, (_family("E86", R, _RENAL),)),
    ValueSet("paraproteinemia", "Paraproteinemia", f"{_RENAL}; {_THROMB}", (
        _icd("D47.2", R, _RENAL), _family("C90.0", R, _RENAL), _icd("C88.0", R, _RENAL))),
    ValueSet("venous-thrombosis", "Venous thrombosis or embolism (current or history)", _THROMB, (
        _family("I26", R, _THROMB), _family("I82", R, _THROMB), _family("Z86.71", R, _THROMB),
        _sct("128053003", R, _THROMB, "Deep venous thrombosis"), _sct("59282003", R, _THROMB, "Pulmonary embolism"),
        _sct("132281000119108", S, f"{_CF} (DVT)", "Acute deep venous thrombosis"),
        _sct("706870000", C, f"{_CF} (PE)", "Acute pulmonary embolism"),
        _sct("161508001", S, _LOGICA, "History of - deep vein thrombosis"),
        _sct("161512007", S, _LOGICA, "History of - pulmonary embolus"))),
    ValueSet("arterial-thrombosis", "Arterial thrombosis", _THROMB, (
        _family("I21", R, _THROMB), _icd("I25.2", R, _THROMB), _family("I63", R, _THROMB),
        _icd("Z86.73", R, _THROMB))),
    ValueSet("thrombophilia", "Thrombophilia", _THROMB, (_family("D68.5", R, _THROMB), _family("D68.6", R, _THROMB))),
    ValueSet("immobility", "Immobility", _THROMB, (_family("Z74.0", R, _THROMB), _icd("Z99.3", R, _THROMB))),
    ValueSet("central-venous-catheter", "Central venous catheter", _THROMB, (
        _icd("Z45.2", R, _THROMB), _icd("Z95.828", R, _THROMB))),
    ValueSet("hypertension", "Hypertension", _THROMB, (_span("I10", "I16", R, _THROMB),)),
    ValueSet("hyperlipidemia", "Hyperlipidemia", _THROMB, (_family("E78", R, _THROMB),)),
    ValueSet("coronary-disease", "Coronary disease", _THROMB, (_family("I25", R, _THROMB),)),
    ValueSet("nicotine-dependence", "Nicotine dependence", _THROMB, (_family("F17.2", R, _THROMB),)),
    ValueSet("pregnancy", "Pregnancy", "docs/clinical-rules.md order-dosing-weight (not pregnant)", (
        _icd("Z33.1", V, f"{_CF} [CANVAS] VSAC 'Pregnancy' 2.16.840.1.113883.3.526.3.378"),
        _family("O09", V, f"{_CF} [CANVAS] VSAC 'Pregnancy' 2.16.840.1.113883.3.526.3.378"),
        _sct("77386006", V, f"{_CF} [CANVAS] VSAC 'Pregnancy' 2.16.840.1.113883.3.526.3.378", "Pregnant"))),
    ValueSet("stem-cell-transplant", "Haematopoietic stem cell / bone marrow transplant", _HSCT, (
        _icd("Z94.84", R, _HSCT), _icd("Z94.81", R, _HSCT)), (
        Keyword(r"\b(?:stem[- ]cell|bone[- ]marrow)\s+transplant", _HSCT),
        Keyword(r"\bhsct\b", _HSCT))),
    ValueSet("anti-iga-antibodies", "Anti-IgA antibodies documented", _IGA, (), (
        Keyword(r"\banti[- ]?iga\b", _IGA),
        Keyword(r"\bantibod(?:y|ies) (?:to|against) iga\b", _IGA))),
    # --- groupers (docs/clinical-rules.md Terms) ---
    ValueSet("replacement-severe", "Severe antibody deficiency", _TERMS,
             includes=("hyper-igm", "cvid", "agammaglobulinemia", "hypogammaglobulinemia")),
    ValueSet("replacement-less-severe", "Less severe antibody deficiency", _TERMS,
             includes=("selective-igm-deficiency", "specific-antibody-deficiency", "igg-subclass-deficiency")),
    ValueSet("replacement", "Replacement indication (any antibody deficiency)", _TERMS,
             includes=("replacement-severe", "replacement-less-severe")),
    ValueSet("immunomodulatory", "Immunomodulatory indication", _TERMS,
             includes=("gbs", "myasthenia-gravis", "cidp", "mmn", "autoimmune-encephalitis", "itp", "kawasaki")),
    ValueSet("regimen-less", "Regimen-less indication (order's own reason only)", _TERMS,
             includes=("anti-gbm", "mgus", "cdi")),
    ValueSet("severe-infection", "Severe infection", _SEVERE,
             includes=("pneumonia", "sepsis", "bacteremia", "bacterial-meningitis", "meningococcal-disease",
                       "osteomyelitis")),
)

#: The default index (unverified members left out).
CONDITION_INDEX = ValueSetIndex(CONDITION_SETS)
