"""Build the catalog document from the rule registry, the knowledge tables and a site policy.

One :class:`~hooks.catalog_doc.model.Catalog` feeds every format (``render.py``): the committed
``docs/clinical-rules.md`` is this built with the default policy; ``igcds rules --format ...`` and
``GET /rules`` build it with the policy in effect.
"""

from __future__ import annotations

from ..findings import OVERRIDE_REASONS
from ..knowledge import narrative
from ..knowledge.resolved_details import RESOLVED_DETAILS
from ..knowledge.terms import TERMS
from ..policy import Policy
from .code_tables import (
    condition_code_table,
    condition_set_table,
    ig_product_table,
    medication_class_table,
    observation_table,
    other_code_table,
)
from .knowledge_tables import (
    drug_table,
    lab_test_table,
    other_knowledge,
    product_table,
    regimen_table,
    sc_limit_table,
    threshold_table,
    vaccine_contraindication_table,
    vaccine_interval_table,
)
from .markup import code, linked, plain, policy_keys, slug
from .model import Block, Catalog, Entries, Prose, Section, Table, row, table
from .policy_table import policy_settings, policy_table
from .rule_tables import order_rules, patient_view_rules
from .values import Sources

#: How ``docs/clinical-rules.md`` is regenerated (the Makefile target runs ``igcds rules --format
#: markdown --output docs/clinical-rules.md`` with a clean environment, so the default policy applies).
REGENERATE = "make catalog"


def build_catalog(policy: Policy) -> Catalog:
    sources = Sources()
    settings = policy_settings(policy, sources, "site-policy")

    def section(title: str, *blocks: Block) -> Section:
        for block in blocks:
            if isinstance(block, Entries):
                for entry in block.entries:
                    sources.cite_all(entry.sources, entry.id)
        return Section(slug(title), title, blocks)

    sections = [
        section("Terms", Entries(TERMS)),
        section("Dose regimens", Prose(narrative.DOSE_REGIMENS_INTRO), regimen_table(policy, sources),
                Prose(narrative.JUSTIFYING_REASONS_NOTE)),
        section("Order rules", Prose(narrative.ORDER_RULES_INTRO), order_rules(sources)),
        section("Patient-view rules", Prose(narrative.PATIENT_VIEW_INTRO), patient_view_rules(sources)),
        section("Resolved details", Prose("These settle questions the tables leave open; they win over a table cell."),
                Entries(RESOLVED_DETAILS)),
        section("Thresholds", threshold_table(sources)),
        section("Site policy", policy_table(settings)),
        section("Code lists and value sets", condition_set_table(sources), condition_code_table(sources),
                medication_class_table(sources), ig_product_table(sources), observation_table(sources),
                other_code_table(sources)),
        section("Products", product_table(sources), sc_limit_table(sources)),
        section("Live vaccines and immune globulin", vaccine_interval_table(sources),
                vaccine_contraindication_table(sources)),
        section("Tests and drugs the rules suggest", lab_test_table(sources), drug_table(sources)),
        section("Other named values", *other_knowledge(policy, sources)),
        section("Cards", Entries(narrative.CARDS), _override_reason_table()),
    ]
    titles = _anchor_titles(sections)
    sections.append(section("Sources and provenance", Prose(narrative.PROVENANCE), _bibliography(sources, titles)))
    catalog = Catalog(narrative.TITLE, narrative.PREAMBLE, tuple(sections), settings, REGENERATE)
    _check_policy_references(catalog)
    return catalog


def _override_reason_table() -> Table:
    rows = [row(code(c.system), code(c.code), plain(c.display or "")) for c in OVERRIDE_REASONS]
    return table("Override reason codes", ("System", "Code", "Display"), rows,
                 "Offered on every warning and critical card (`hooks/findings.py`).")


def _anchor_titles(sections: list[Section]) -> dict[str, str]:
    """What each place that cites a source is called: sections, tables, entries."""
    titles = {s.id: s.title for s in sections}
    for sec in sections:
        for block in sec.blocks:
            if isinstance(block, Table):
                titles.setdefault(block.id, block.title)
            elif isinstance(block, Entries):
                titles.update({e.id: e.title for e in block.entries})
    return titles


def _bibliography(sources: Sources, titles: dict[str, str]) -> Table:
    rows = []
    for (label, url), places in sorted(sources.used.items(), key=lambda item: item[0][0].lower()):
        cited_in = ", ".join(linked(titles.get(place, place), f"#{place}") for place in places)
        rows.append(row(linked(label, url), cited_in))
    return table("Sources cited", ("Source", "Cited in"), rows)


def texts(catalog: Catalog) -> list[str]:
    """Every markup text of the catalog (for checks that must see all of it)."""
    found = [catalog.preamble, *(s.description for s in catalog.policy)]
    for sec in catalog.sections:
        for block in sec.blocks:
            if isinstance(block, Prose):
                found.append(block.text)
            elif isinstance(block, Entries):
                found.extend(e.text for e in block.entries)
            else:
                found.append(block.note)
                found.extend(cell.text for row in block.rows for cell in row.cells)
    return found


def _check_policy_references(catalog: Catalog) -> None:
    known = {s.key for s in catalog.policy}
    unknown = sorted({key for text in texts(catalog) for key in policy_keys(text)} - known)
    if unknown:
        raise ValueError(f"the catalog text names unknown policy keys {unknown} (hooks/policy.py has {sorted(known)})")

