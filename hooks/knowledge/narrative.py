"""The catalog's prose, as reviewable data: titled entries with their sources, and the short texts
that introduce each part of ``docs/clinical-rules.md``.

The text of an entry uses a small, safe subset of Markdown that every catalog renderer understands:
``**strong**``, ``*emphasis*``, ```code```, ``[text](#anchor)`` or ``[text](https://...)``, a
backslash before a character to take it literally, paragraphs separated by a blank line, and list
items on lines starting with ``- `` (two more spaces of indent per nesting level). A number that is
*site policy* is written ``{policy:<key>}`` (``{policy:trough_target_mg_dl.higm}``): the catalog shows
the value in effect under the current configuration, highlighted, with its default when it differs.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..catalog import Citation


@dataclass(frozen=True, slots=True)
class Entry:
    """One titled entry of the catalog's narrative (a term, a resolved detail).

    ``id`` is the entry's anchor in the catalog (``#actual-weight``); ``sources`` are what a reviewer
    checks the text against (the primary source where one exists, else the decision of this catalog).
    """

    id: str
    title: str
    text: str
    sources: tuple[Citation, ...]


@dataclass(frozen=True, slots=True)
class RuleText:
    """What the catalog says about one rule: when it fires, and what its card says or suggests.

    ``indicator_note`` refines the registry's indicator where it depends on the case
    ("info if the SC dose matches, else warning").
    """

    trigger: str
    card: str
    indicator_note: str = ""


#: Sources of narrative that is a decision of this catalog rather than a fact from a publication.
CATALOG_DECISION = Citation("igcds clinical catalog: a decision of this catalog, reviewed for patient safety")
SEED_DOCUMENTS = Citation("seed documents 000 (HIGM), 001 (SIgMD), 003 (immunomodulatory use) — AI-written summaries")
CDS_HOOKS_CARDS = Citation("HL7 CDS Hooks 2.0, CDS Service Response: Card attributes",
                           "https://cds-hooks.hl7.org/2.0/#card-attributes")

TITLE = "Immunoglobulin therapy rules: the clinical catalog"

PREAMBLE = """\
This is the product's clinical specification: every rule the service evaluates, what triggers it, \
what card it returns, and where the rule comes from, with every regimen, threshold, code list and \
product fact the rules use. It is generated from the rule registry and the knowledge tables of the \
code (`hooks/catalog.py`, `hooks/knowledge/`, `hooks/policy.py`, `fhir_mappings/`), so the catalog and \
the code cannot disagree; a reviewer who finds an error here has found it in the code.

Numbers marked *policy* are site-configurable (the `[policy]` section of the configuration, see \
[Site policy](#site-policy)); the catalog shows the value in effect and, where a site changed it, \
the default. The section [Resolved details](#resolved-details) settles bounds, windows and edge \
cases: it wins over a table cell.

Every card the service returns carries its rule in `card.source.topic`: \
`{"system": "urn:igcds:rule", "code": "<rule id>", "display": "<short title>"}`. Rule ids are stable, \
lower-case, hyphenated, and published by `igcds rules` and `GET /rules`."""

DOSE_REGIMENS_INTRO = """\
Replacement doses are judged in two tiers: outside the **label range** (hard limits) is a warning \
(`order-dose-out-of-range`, usually a unit, weight or product error); inside it but outside the \
**usual range** is information (`order-dose-atypical`), unless a documented reason explains it. \
All doses are mg/kg of dosing weight and every range includes both ends."""

JUSTIFYING_REASONS_NOTE = """\
Reasons that justify a replacement dose above the usual range (up to the hard limit; nothing \
silences the information card for a dose below the usual range): recurrent severe infections \
({policy:recurrent_infections_min} or more episodes in {policy:infection_window_days} days), \
bronchiectasis (J47.x; SNOMED 12295008), or a trough IgG below target in the last 90 days."""

ORDER_RULES_INTRO = """\
Hooks order-select and order-sign. order-select evaluates the selected orders; order-sign evaluates \
every draft order. A rule fires at most once per order; each card names the order it is about."""

PATIENT_VIEW_INTRO = "Hook patient-view: the chart the clinician opened."

CARDS = (
    Entry("summary", "Summary",
          'Under 140 characters, specific ("IVIG 70 g = 1,000 mg/kg: above the 800 mg/kg label limit"), '
          'never generic ("Dose warning").', (CDS_HOOKS_CARDS, CATALOG_DECISION)),
    Entry("detail", "Detail",
          "In Markdown: the numbers used (with dates and units), the reasoning, and the source.",
          (CDS_HOOKS_CARDS, CATALOG_DECISION)),
    Entry("source", "Source",
          "`source.label` names the rule's source (see [Sources and provenance](#sources-and-provenance)), "
          "`source.url` where one exists, `source.topic` the rule id.", (CDS_HOOKS_CARDS, CATALOG_DECISION)),
    Entry("override-reasons", "Override reasons",
          "On every warning and critical card, coded, with display ([Override reason codes](#override-reason-codes)).",
          (CDS_HOOKS_CARDS, CATALOG_DECISION)),
    Entry("suggestions", "Suggestions",
          "Carry full FHIR resources; an `update` keeps the order's id and changes only what it must.",
          (CDS_HOOKS_CARDS, CATALOG_DECISION)),
    Entry("indicator", "Indicator",
          "Ranks critical > warning > info; cards are returned in that order.", (CDS_HOOKS_CARDS,)),
    Entry("missing-data", "Missing data",
          "No card fires on missing data that the request simply did not contain: missing data is reported "
          "only where a rule says so (`order-weight-missing`, `...-due`, `...-missing`, work-up rules).",
          (CATALOG_DECISION,)),
)

PROVENANCE = """\
The seed documents are AI-written summaries. A number that comes only from a seed is shown as such: \
`source.label` names the primary source where one exists (GeneReviews, ACIP, CDC, the product label, \
EAN/PNS, AAAAI), and otherwise says "seed document — no primary source found; site policy". \
Seed-only numbers: the HIGM usual range floor of {policy:higm_usual_low_mg_kg} mg/kg and the adult \
300–400; the HIGM trough target of {policy:trough_target_mg_dl.higm} mg/dL; the SIgMD IgG threshold \
(< {policy:sigmd_igg_threshold_mg_dl} mg/dL; the seed says < 400–500) and trough target \
({policy:trough_target_mg_dl.sigmd} mg/dL; the seed says 600–800) and its \
{policy:sigmd_usual_low_mg_kg}–{policy:sigmd_usual_high_mg_kg} mg/kg regimen; autoimmune encephalitis \
"over 5 days"; SCIG troughs every 2 weeks for 8 weeks; SCIG loading of 150 mg/kg/day × 5. Every such \
number is a *policy* default a site can change.

Codes carry a verification tag: **V** verified (code and display appear together in a cited value set \
or code table, mostly VSAC eCQM expansions), **C** corroborated (the same code and meaning in two or \
more independent public repositories), **S** single source, **R** written in this reviewed catalog, \
**UNVERIFIED** (kept as documentation only and never matched). Bracketed tags name where a code was \
read: **[CANVAS]** the VSAC eCQM value-set expansions copied in `canvas-medical/canvas-plugins` \
(each with its VSAC OID), **[GMSDE]** the OpenSAFELY-derived SNOMED immunosuppression codelist of \
`UoM-Data-Science-Platforms/gm-sde`, **[LOGICA]** the COVID-19 value sets of `logicahealth/covid-19`, \
**[FS]** exact-string hits in independent public repositories. "clinical-facts §N" names the section \
of the project's sourced fact sheet (`docs/clinical-facts.md`) a row was checked against: §1.1 LOINC, \
§1.2 conditions (ICD-10-CM, SNOMED CT), §1.3 immune globulin products (ATC, CVX, NDC, RxNorm), \
§1.4 other medications, §1.5 live vaccines (CVX), §1.6 procedures, §2.2 adjusted-weight policies, \
§2.3 vial sizes, §2.4 IV rates, §2.5 SC limits and conversion, §2.6 IgA content and stabilisers, \
§3 guideline sources, §5 items still to verify.

The table below lists every source the catalog cites, and where."""
