"""The code lists of ``fhir_mappings`` as catalog tables: condition value sets, medication classes,
immune globulin product recognition, observation codes and the other codes the rules read.

Every code is listed with its verification tag and source as the mapping modules record them; the
tables iterate the mappers' own tuples and mappings, so a code added there appears here on the
next regeneration.
"""

from __future__ import annotations

from collections.abc import Iterable
from types import ModuleType

from fhir_mappings import allergies, condition_sets, drugs, medications, observations, procedures, units
from fhir_mappings.codings import ATC, CPT, CVX, ICD10, ICD10CM, LOINC, NDC, RXNORM, SNOMED, UCUM
from fhir_mappings.model import Measure
from fhir_mappings.valuesets import Match, Member, Tag, ValueSet

from .comments import attribute_comments, rst_to_markup
from .markup import code, plain, slug
from .model import Row, Table, row, table
from .values import NONE, Sources, number, remaining_fields

SYSTEM_NAMES = {ICD10CM: "ICD-10-CM", ICD10: "ICD-10", SNOMED: "SNOMED CT", LOINC: "LOINC", RXNORM: "RxNorm",
                CVX: "CVX", NDC: "NDC", ATC: "ATC", CPT: "CPT", UCUM: "UCUM"}


def system_name(system: str) -> str:
    return SYSTEM_NAMES.get(system, system)


def member_code(member: Member) -> str:
    """``D80.5``, ``I26.x`` (every code starting I26), ``J13–J18`` (a category span)."""
    if member.match is Match.PREFIX:
        return f"{member.code}.x" if "." not in member.code else f"{member.code}x"
    if member.match is Match.RANGE:
        return f"{member.code}–{member.high}"
    return member.code


def _by_system(codes: Iterable[tuple[str, str]]) -> str:
    """``(system, code markup)`` pairs as ``ICD-10-CM: a, b; SNOMED CT: c``, systems in first-seen order."""
    grouped: dict[str, list[str]] = {}
    for system, shown in codes:
        grouped.setdefault(system_name(system), []).append(shown)
    return "; ".join(f"{system}: {', '.join(found)}" for system, found in grouped.items()) or NONE


def _codes_by_system(members: Iterable[Member]) -> str:
    return _by_system((m.system, code(member_code(m)) + ("" if m.verified else " (unverified, not matched)"))
                      for m in members)


def condition_set_table(sources: Sources) -> Table:
    title = "Condition value sets"
    rows = [row(
        f"{code(vs.name)}: {plain(vs.title)}",
        _codes_by_system(vs.members),
        ", ".join(code(k.pattern) for k in vs.keywords) or NONE,
        ", ".join(code(name) for name in vs.includes) or NONE,
        sources.cite_text(vs.source, slug(title)),
        anchor=f"valueset-{vs.name}") for vs in condition_sets.CONDITION_SETS]
    return table(title, ("Value set", "Codes", "Recognised by words", "Includes", "Source"), rows,
                 "From `fhir_mappings/condition_sets.py`. A Condition carries every set its codes match and "
                 "the groupers that include them. ICD-10 codes match without dots; `X.x` is every code "
                 "starting with X, `A–B` a span of categories. Each code's tag and source: "
                 "[Condition codes](#condition-codes).")


def condition_code_table(sources: Sources) -> Table:
    title = "Condition codes"
    rows = [_member_row(vs, member, sources, slug(title))
            for vs in condition_sets.CONDITION_SETS for member in vs.members]
    return table(title, ("Value set", "System", "Code", "Display", "Tag", "Source"), rows,
                 "Every code of the condition value sets with its verification tag (see "
                 "[Sources and provenance](#sources-and-provenance)).")


def _member_row(vs: ValueSet, member: Member, sources: Sources, where: str) -> Row:
    tag = member.tag.value + ("" if member.tag is not Tag.UNVERIFIED else " (not matched)")
    return row(
        code(vs.name),
        plain(system_name(member.system)),
        code(member_code(member)),
        plain(member.display) if member.display else NONE,
        plain(tag),
        sources.cite_text(member.source, where),
    )


def medication_class_table(sources: Sources) -> Table:
    title = "Medication classes"
    rows = []
    for drug_set in drugs.DRUG_SETS:
        codes = sorted(drug_set.codes, key=lambda c: (system_name(c[0]), c[1].zfill(12)))
        rows.append(row(
            code(drug_set.med_class.value),
            _by_system((system, code(value)) for system, value in codes),
            code(drug_set.pattern) if drug_set.pattern else NONE,
            code(drug_set.needs_vaccine_context) if drug_set.needs_vaccine_context else NONE,
            sources.cite_text(drug_set.source, slug(title)),
            anchor=f"medication-{drug_set.med_class.value}"))
    return table(title, ("Class", "Codes", "Names (lower-case pattern)", "Names in a vaccine context", "Source"),
                 rows, "From `fhir_mappings/drugs.py`. Names are matched as regular expressions on the lower-cased "
                 "medication text; the last column matches only on an Immunization, a CVX-coded medication or a "
                 "text saying vaccine.")


def ig_product_table(sources: Sources) -> Table:
    title = "Ig product recognition"
    rows = [row(
        code(p.key),
        code(p.pattern),
        ", ".join(code(n) for n in p.ndc) or NONE,
        "SC" if p.subcutaneous else "IV (unless the order says SC)",
        sources.cite_text(p.source, slug(title)),
        _other_ig_fields(p, sources, slug(title)),
        anchor=f"ig-product-{p.key}") for p in drugs.IG_PRODUCTS]
    other = getattr(drugs, "_IG_NDC_OTHER", ())
    excluded = [("NDC", n) for n in getattr(drugs, "_EXCLUDED_NDC", ())]
    excluded += [(system_name(s), c) for s, c in sorted(getattr(drugs, "EXCLUDED_RXNORM", ()), key=str)]
    comments = attribute_comments(drugs)
    for name in ("_EXCLUDED_NDC", "EXCLUDED_RXNORM"):
        if name in comments:
            sources.cite_text(rst_to_markup(comments[name]), slug(title))
    never = ", ".join(f"{system} {code(c)}" for system, c in excluded) or NONE
    note = ("From `fhir_mappings/drugs.py`: normal human immune globulin is recognised by ATC J06BA01/J06BA02, "
            "CVX 87, these NDC product codes (labeler-product; any package), the site's RxNorm list, then these "
            "names and the generic words of [Terms, Ig order](#ig-order). NDC codes of Ig products without a "
            f"product row: {', '.join(code(n) for n in other) or NONE}. Codes that are never an Ig order "
            f"(intramuscular Ig, anti-thymocyte globulins; their sources are in [Sources cited](#sources-cited)): "
            f"{never}.")
    return table(title, ("Product", "Name (pattern)", "NDC product codes", "Route by label", "Source", "Other"),
                 rows, note)


def _other_ig_fields(product: drugs.IgProduct, sources: Sources, where: str) -> str:
    return remaining_fields(product, ("key", "pattern", "ndc", "subcutaneous", "source"), sources, where)


def observation_table(sources: Sources) -> Table:
    title = "Observation codes"
    by_measure: dict[str, list[str]] = {}
    for loinc, measure in observations.LOINC_MEASURES.items():
        by_measure.setdefault(measure.value, []).append(loinc)
    words = {measure.value: pattern.pattern for pattern, measure in observations.TEXT_MEASURES}
    conversions = units.CONVERSIONS
    rows = []
    for measure in Measure:
        loincs = by_measure.get(measure.value, [])
        if not loincs and measure.value not in words:
            continue
        factors = conversions.get(measure, {})
        rows.append(row(
            code(measure.value),
            ", ".join(code(c) for c in loincs) or NONE,
            code(words[measure.value]) if measure.value in words else NONE,
            ", ".join(f"{code(unit)} × {number(f)}" for unit, f in factors.items()) or NONE,
        ))
    statuses = ", ".join(code(s) for s in sorted(observations.USABLE_STATUSES))
    note = ("From `fhir_mappings/observations.py` (LOINC rows checked against clinical-facts §1.1; each code's "
            "tag is written beside it in the code) and `fhir_mappings/units.py` (factors to the unit the rules "
            f"compare in). A result counts only with status {statuses} and a value.")
    sources.cite_text("clinical-facts §1.1 (LOINC)", slug(title))
    return table(title, ("Measure", "LOINC", "Recognised by words (no verified code)", "Units converted"), rows,
                 note)


def other_code_table(sources: Sources) -> Table:
    title = "Other codes"
    where = slug(title)

    def comment(module: ModuleType, name: str) -> str:
        return rst_to_markup(attribute_comments(module).get(name, f"{module.__name__}.{name}"))

    routes = ", ".join(f"{code(c)} {plain(r.value.upper())}" for c, r in medications.ROUTE_CODES.items())
    rows = [
        row("Route", "SNOMED CT", routes, sources.cite_text(comment(medications, "ROUTE_CODES"), where)),
        row("Plasma exchange", "CPT", ", ".join(code(c) for c in sorted(procedures.PLASMA_EXCHANGE_CPT)),
            sources.cite_text(comment(procedures, "PLASMA_EXCHANGE_CPT"), where)),
        row("Anaphylaxis (allergy reaction)", "SNOMED CT", code(allergies.ANAPHYLAXIS_SNOMED),
            sources.cite_text(comment(allergies, "ANAPHYLAXIS_SNOMED"), where)),
    ]
    return table(title, ("Concept", "System", "Codes", "Source"), rows,
                 "Single codes the mappers read outside the value sets (`fhir_mappings/medications.py`, "
                 "`procedures.py`, `allergies.py`).")
