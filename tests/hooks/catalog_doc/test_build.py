"""The catalog built from the code holds every rule, regimen, threshold, code list, product and policy
key, each number with its source, and shows a site's policy in effect beside the default."""

from __future__ import annotations

import dataclasses
import importlib.util
import textwrap

import pytest

from fhir_mappings.condition_sets import CONDITION_SETS
from fhir_mappings.drugs import DRUG_SETS, IG_PRODUCTS
from hooks.catalog import CATALOG
from hooks.catalog_doc import build_catalog
from hooks.catalog_doc.build import texts
from hooks.catalog_doc.knowledge_tables import other_knowledge
from hooks.catalog_doc.markup import slug
from hooks.catalog_doc.model import Catalog, Entries, Table
from hooks.catalog_doc.values import Sources
from hooks.knowledge import products, regimens, thresholds
from hooks.knowledge.resolved_details import RESOLVED_DETAILS
from hooks.knowledge.terms import TERMS
from hooks.policy import Policy, TroughTargets


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return build_catalog(Policy())


def tables(catalog: Catalog) -> dict[str, Table]:
    return {b.id: b for s in catalog.sections for b in s.blocks if isinstance(b, Table)}


def anchors(catalog: Catalog) -> set[str]:
    return {row.anchor for t in tables(catalog).values() for row in t.rows if row.anchor}


def test_the_sections_the_code_comments_cite_are_there_in_order(catalog):
    titles = [s.title for s in catalog.sections]
    cited = ["Terms", "Dose regimens", "Order rules", "Patient-view rules", "Resolved details",
             "Sources and provenance"]
    assert [t for t in titles if t in cited] == cited
    assert {"Thresholds", "Site policy", "Code lists and value sets", "Products", "Cards"} <= set(titles)


def test_every_rule_of_the_registry_has_a_row_with_its_trigger_and_card(catalog):
    assert {f"rule-{r.id}" for r in CATALOG} <= anchors(catalog)
    order = tables(catalog)["order-rules-table"]
    patient_view = tables(catalog)["patient-view-rules-table"]
    assert len(order.rows) + len(patient_view.rows) == len(CATALOG)
    for row in (*order.rows, *patient_view.rows):
        trigger, card = row.cells[3].text, row.cells[4].text
        assert trigger and card, row.anchor
    assert all(r.anchor.startswith("rule-pv-") for r in patient_view.rows)


def test_every_knowledge_row_is_in_its_table(catalog):
    found = anchors(catalog)
    assert {f"regimen-{r.id}" for r in regimens.REGIMENS} <= found
    assert {f"threshold-{t.id}" for t in thresholds.ALL} <= found
    assert {f"product-{p.key}" for p in products.PRODUCTS} <= found
    assert {f"valueset-{vs.name}" for vs in CONDITION_SETS} <= found
    assert {f"medication-{d.med_class.value}" for d in DRUG_SETS} <= found
    assert {f"ig-product-{p.key}" for p in IG_PRODUCTS} <= found
    members = sum(len(vs.members) for vs in CONDITION_SETS)
    assert len(tables(catalog)["condition-codes"].rows) == members
    limits = sum(len(p.sc_limits) for p in products.PRODUCTS) + len(products.SEED_SC_LIMITS)
    assert len(tables(catalog)["sc-infusion-limits"].rows) == limits


def test_every_policy_key_is_listed_with_a_meaning(catalog):
    keys = [s.key for s in catalog.policy]
    fields = [f.name for f in dataclasses.fields(Policy) if f.name != "trough_target_mg_dl"]
    nested = [f"trough_target_mg_dl.{f.name}" for f in dataclasses.fields(TroughTargets)]
    assert set(keys) == set(fields) | set(nested)
    assert all(s.description and s.description != "—" for s in catalog.policy), "a policy key has no meaning"
    assert len(tables(catalog)["site-policy-table"].rows) == len(keys)


def test_narrative_entries_are_complete_and_anchored_by_their_titles(catalog):
    entries = [e for s in catalog.sections for b in s.blocks if isinstance(b, Entries) for e in b.entries]
    assert {e.id for e in TERMS} | {e.id for e in RESOLVED_DETAILS} <= {e.id for e in entries}
    for entry in entries:
        assert entry.id == slug(entry.title), f"{entry.id}: the Markdown heading anchor would differ"
        assert entry.sources, f"{entry.id} has no source"


def test_every_internal_link_points_at_an_anchor_of_the_catalog(catalog):
    import re

    targets = {s.id for s in catalog.sections} | set(tables(catalog)) | anchors(catalog)
    targets |= {e.id for s in catalog.sections for b in s.blocks if isinstance(b, Entries) for e in b.entries}
    links = {m for text in texts(catalog) for m in re.findall(r"\]\(#([a-z0-9_-]+)\)", text)}
    assert links and not links - targets, sorted(links - targets)


def test_every_source_is_listed_with_where_it_is_cited(catalog):
    bibliography = tables(catalog)["sources-cited"]
    labels = " ".join(row.cells[0].text for row in bibliography.rows)
    for spec in CATALOG:
        assert spec.source.label.split(" (")[0] in labels.replace("\\", ""), spec.id
    assert all(row.cells[1].text for row in bibliography.rows)


def test_the_catalog_is_built_the_same_way_every_time(catalog):
    assert build_catalog(Policy()) == catalog


def test_a_sites_policy_is_shown_in_effect_beside_the_default():
    site = Policy(trough_max_age_days=120, higm_usual_low_mg_kg=400.0,
                  trough_target_mg_dl=TroughTargets(higm=600.0))
    catalog = build_catalog(site)
    changed = {s.key: (s.value, s.default) for s in catalog.changed_policy}
    assert changed == {"trough_max_age_days": ("120", "90"), "higm_usual_low_mg_kg": ("400", "300"),
                       "trough_target_mg_dl.higm": ("600", "500")}
    higm = next(r for r in tables(catalog)["regimens"].rows if r.anchor == "regimen-higm-iv")
    usual = higm.cells[2]
    assert usual.policy and usual.text.startswith("400–600") and usual.default.startswith("300–600")
    sigmd = next(r for r in tables(catalog)["regimens"].rows if r.anchor == "regimen-sigmd-iv")
    assert sigmd.cells[2].policy and sigmd.cells[2].default is None  # policy, not changed


def test_a_text_naming_an_unknown_policy_key_fails_the_build(monkeypatch):
    from hooks.knowledge import narrative

    monkeypatch.setattr(narrative, "PREAMBLE", "{policy:no_such_key}")
    with pytest.raises(ValueError, match="no_such_key"):
        build_catalog(Policy())


def test_a_value_or_table_added_to_a_knowledge_module_is_listed_without_a_catalog_change(tmp_path):
    source = textwrap.dedent('''
        from dataclasses import dataclass

        #: Days a loading course may last (seed document 003).
        LOADING_MAX_DAYS = 5


        @dataclass(frozen=True)
        class Loading:
            id: str
            mg_per_kg_day: float


        #: Loading regimens (seed document 003).
        LOADING = (Loading("scig-loading", 150.0),)
        _PRIVATE = 1
    ''')
    path = tmp_path / "loading.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("loading_under_test", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)

    values, table = other_knowledge(Policy(), Sources(), [("loading", module)])
    rows = {r.cells[0].text: r for r in values.rows}
    assert set(rows) == {"`loading.LOADING_MAX_DAYS`"}
    assert rows["`loading.LOADING_MAX_DAYS`"].cells[1].text == "5"
    assert "seed document 003" in rows["`loading.LOADING_MAX_DAYS`"].cells[2].text
    assert table.title == "loading.LOADING" and table.columns == ("Id", "Mg per kg day")
    assert [c.text for c in table.rows[0].cells] == ["scig-loading", "150"]


def test_regimens_added_as_a_new_table_are_shown_like_the_regimen_table(tmp_path):
    path = tmp_path / "envelopes.py"
    path.write_text(textwrap.dedent('''
        from hooks.catalog import Citation
        from hooks.knowledge.regimens import Basis, Range, Regimen

        #: Without an indication, a dose is judged against the envelope of every regimen.
        ENVELOPES = (Regimen("no-indication-iv", "no-indication", "No indication: any IV regimen", "iv", False,
                             Basis.ADMINISTRATION, None, "none", Citation("catalog"), Range(200, 2400),
                             "200–2,400 mg/kg per administration", Citation("label floor; MMN ceiling")),)
    '''))
    spec = importlib.util.spec_from_file_location("envelopes_under_test", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)

    _, envelopes = other_knowledge(Policy(), Sources(), [("regimens", module)])
    assert envelopes.title == "regimens.ENVELOPES"
    assert envelopes.columns == tables(build_catalog(Policy()))["regimens"].columns
    assert envelopes.rows[0].anchor == "regimen-no-indication-iv"
    assert "200–2,400 mg/kg per administration" in envelopes.rows[0].cells[3].text
    assert "judged against the envelope" in envelopes.note
