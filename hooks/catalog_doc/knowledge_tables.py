"""The knowledge tables of ``hooks/knowledge`` as catalog tables: regimens, thresholds, products,
vaccine intervals, monitoring tests and drugs, and every other named value of those modules.

Each builder walks its table row by row; fields no column shows are listed in the row's last
column, and a table or value added to a knowledge module later is picked up by
:func:`other_knowledge` — so after a change to the knowledge, regenerating the catalog is enough.
"""

from __future__ import annotations

import dataclasses
import importlib
import pkgutil
from collections.abc import Sequence
from types import ModuleType
from typing import Any

from .. import knowledge
from ..catalog import Citation
from ..knowledge import monitoring, products, regimens, thresholds, vaccines
from ..knowledge.regimens import Basis, Regimen, regimen_for
from ..knowledge.thresholds import Threshold
from ..policy import Policy
from .comments import assignment_order, attribute_comments, rst_to_markup
from .markup import code, plain, slug
from .model import Cell, Row, Table, row, table
from .values import NONE, Sources, describe, number, range_text, remaining_fields, words

#: Modules of ``hooks/knowledge`` that hold the catalog's prose, rendered as sections of their own.
NARRATIVE_MODULES = frozenset({"narrative", "terms", "resolved_details", "rule_text", "policy_notes"})


# Regimens -----------------------------------------------------------------------------------------

_REGIMEN_SHOWN = ("id", "indication", "title", "route", "replacement", "basis", "usual", "usual_text",
                  "usual_source", "hard", "hard_text", "hard_source", "usual_is_policy", "interval_text",
                  "max_per_day", "course", "course_days", "maintenance", "single_dose", "interval")


_ROUTES = {"iv": "IV", "sc": "SC", "any": "IV or SC"}


_REGIMENS_NOTE = ("From `hooks/knowledge/regimens.py`. mg/kg of dosing weight; ranges include both ends. The HIGM "
                  "and SIgMD usual ranges are seed-only numbers and site policy.")


def regimen_table(policy: Policy, sources: Sources, regimen_rows: Sequence[Regimen] = regimens.REGIMENS,
                  title: str = "Regimens", note: str = _REGIMENS_NOTE) -> Table:
    rows = []
    for regimen in regimen_rows:
        effective = _in_effect(regimen, policy)
        usual = Cell(plain(effective.usual_text), policy=regimen.usual_is_policy,
                     default=plain(regimen.usual_text) if effective.usual_text != regimen.usual_text else None)
        rows.append(row(
            f"{plain(regimen.title)} ({code(regimen.id)})",
            plain(", ".join((_ROUTES.get(regimen.route, regimen.route),
                             *(("replacement",) if regimen.replacement else ()), regimen.basis.value))),
            usual,
            plain(regimen.hard_text),
            _other_limits(regimen, sources, slug(title)),
            sources.cite_all(dict.fromkeys((regimen.usual_source, regimen.hard_source)), slug(title)),
            anchor=f"regimen-{regimen.id}"))
    return table(title, ("Regimen", "Route, basis", "Usual range (info outside)",
                         "Hard limits (warning outside)", "Other limits", "Sources"), rows, note)


def _in_effect(row: Regimen, policy: Policy) -> Regimen:
    """The row as the dose rules see it under ``policy`` (the seed-only usual ranges applied)."""
    found = regimen_for(row.indication, replacement=row.replacement, sc_weekly=row.basis is Basis.WEEK,
                        policy=policy)
    return found if found is not None and found.id == row.id else row


def _other_limits(row: Regimen, sources: Sources, where: str) -> str:
    parts = []
    if row.max_per_day is not None:
        parts.append(f"no day above {number(row.max_per_day)} mg/kg")
    if row.course is not None:
        parts.append(f"course {range_text(row.course, 'mg/kg')}")
    if row.course_days is not None:
        parts.append(f"course over {range_text(row.course_days, 'days')}")
    if row.maintenance is not None:
        parts.append(f"maintenance {range_text(row.maintenance, 'mg/kg per administration')}")
    if row.single_dose is not None:
        parts.append(f"one dose {range_text(row.single_dose, 'mg/kg')}")
    if row.interval is not None:
        parts.append(f"interval {plain(row.interval_text) if row.interval_text else range_text(row.interval, 'days')}")
    rest = remaining_fields(row, _REGIMEN_SHOWN, sources, where)
    if rest != NONE:
        parts.append(rest)
    return "; ".join(parts) if parts else NONE


# Thresholds ---------------------------------------------------------------------------------------

def threshold_table(sources: Sources, threshold_rows: Sequence[Threshold] = thresholds.ALL,
                    title: str = "Thresholds",
                    note: str = "From `hooks/knowledge/thresholds.py`: guideline or catalog facts, not site "
                                "policy.") -> Table:
    rows = [row(
        code(t.id),
        number(t.value),
        plain(t.unit),
        plain(t.meaning),
        sources.cite(t.source, slug(title)),
        remaining_fields(t, ("id", "value", "unit", "meaning", "source"), sources, slug(title)),
        anchor=f"threshold-{t.id}") for t in threshold_rows]
    return table(title, ("Threshold", "Value", "Unit", "Meaning", "Source", "Other"), rows, note)


# Products -----------------------------------------------------------------------------------------

_PRODUCT_SHOWN = ("key", "name", "routes", "concentration_g_per_ml", "vial_sizes_g", "iga_ug_per_ml", "iga_note",
                  "sc_factor", "sucrose", "source", "sc_limits", "marketed")


def product_table(sources: Sources) -> Table:
    title = "Products"
    rows = []
    for p in products.PRODUCTS:
        concentration = NONE if p.concentration_g_per_ml is None else f"{number(p.concentration_g_per_ml * 100)}%"
        sucrose = {True: "sucrose-stabilised", False: "not sucrose", None: "not on file"}[p.sucrose]
        name = plain(p.name) + ("" if p.marketed else " (not marketed)")
        rows.append(row(
            f"{name} ({code(p.key)})",
            plain(p.routes.upper()),
            concentration,
            describe(p.vial_sizes_g, sources, slug(title)).replace(";", ","),
            plain(p.iga_note),
            describe(p.sc_factor, sources, slug(title)),
            sucrose,
            sources.cite(p.source, slug(title)),
            remaining_fields(p, _PRODUCT_SHOWN, sources, slug(title)),
            anchor=f"product-{p.key}"))
    return table(title, ("Product", "Routes", "Concentration", "Vial sizes (g)", "IgA content", "SC factor",
                         "Stabiliser", "Source", "Other"), rows,
                 "From `hooks/knowledge/products.py`. A fact not on file is shown as such: the rules then say "
                 "so instead of guessing.")


def sc_limit_table(sources: Sources) -> Table:
    title = "SC infusion limits"
    rows = []
    limits = [(plain(p.name), limit) for p in products.PRODUCTS for limit in p.sc_limits]
    limits += [("seed default (the Xembify label's limits)", limit) for limit in products.SEED_SC_LIMITS]
    for product, limit in limits:
        rows.append(row(
            product,
            _applies_to(limit),
            describe(limit.max_ml_per_site, sources, slug(title)),
            describe(limit.max_ml_per_hour_per_site, sources, slug(title)),
            describe(limit.max_sites, sources, slug(title)),
            plain(limit.note) if limit.note else NONE,
            sources.cite(limit.source, slug(title)),
        ))
    return table(title, ("Product", "Applies to", "mL per site", "mL/h per site", "Sites at most", "Note",
                         "Source"), rows,
                 "From `hooks/knowledge/products.py` (`order-scig-administration`); products without limits of "
                 "their own use the seed default, named as such on the card.")


def _applies_to(limit: Any) -> str:
    parts = []
    for label, low, below, unit in (("age", limit.age_min, limit.age_below, "y"),
                                    ("weight", limit.weight_min_kg, limit.weight_below_kg, "kg")):
        if low is not None and below is not None:
            parts.append(f"{label} {number(low)} to < {number(below)} {unit}")
        elif low is not None:
            parts.append(f"{label} ≥ {number(low)} {unit}")
        elif below is not None:
            parts.append(f"{label} < {number(below)} {unit}")
    low, high = limit.infusion_min, limit.infusion_max
    if low is not None and high is not None:
        parts.append(f"infusion {low}" if low == high else f"infusions {low}–{high}")
    elif low is not None:
        parts.append(f"infusion {low} onward")
    elif high is not None:
        parts.append(f"infusions 1–{high}")
    return plain(", ".join(parts)) if parts else "all"


# Vaccines -----------------------------------------------------------------------------------------

def vaccine_interval_table(sources: Sources) -> Table:
    title = "Live vaccine intervals after Ig"
    rows = [row(
        code(band.id),
        "any higher" if band.max_mg_per_kg is None else f"≤ {number(band.max_mg_per_kg)} mg/kg",
        f"{band.months} months",
        plain(band.example),
        sources.cite(band.source, slug(title)),
    ) for band in vaccines.DEFERRAL_BANDS]
    return table(title, ("Band", "Ig course total", "Wait", "Example", "Source"), rows,
                 "From `hooks/knowledge/vaccines.py` (`order-live-vaccine`): calendar months from the last dose "
                 "of the course; an unknown course total gets the longest wait.")


def vaccine_contraindication_table(sources: Sources) -> Table:
    title = "Live vaccines in antibody deficiency"
    rows = [row(
        code(category.id),
        code(category.deficiency),
        plain(category.vaccines),
        plain(category.text),
        sources.cite(category.source, slug(title)),
    ) for category in vaccines.ACIP_LIVE_VACCINE_CATEGORIES]
    return table(title, ("Row", "Deficiency (value set)", "Vaccines", "Text", "Source"), rows,
                 "From `hooks/knowledge/vaccines.py` (`order-live-vaccine`).")


# Monitoring ---------------------------------------------------------------------------------------

def lab_test_table(sources: Sources) -> Table:
    title = "Tests the rules suggest"
    rows = [row(
        code(test.id),
        plain(test.name),
        code(test.loinc) if test.loinc else "none verified: ordered by text (a site may configure one)",
        sources.cite(test.source, slug(title)),
    ) for test in monitoring.LAB_TESTS]
    return table(title, ("Test", "Name", "LOINC", "Source"), rows, "From `hooks/knowledge/monitoring.py`.")


def drug_table(sources: Sources) -> Table:
    title = "Drugs the rules suggest"
    drugs = (monitoring.TMP_SMX_DS, *monitoring.PJP_ALTERNATIVES)
    rows = [row(
        code(drug.id),
        plain(drug.name),
        code(drug.rxnorm) if drug.rxnorm else NONE,
        plain(drug.dosage_text) if drug.dosage_text else "prescriber chooses",
        sources.cite(drug.source, slug(title)),
    ) for drug in drugs]
    return table(title, ("Drug", "Name", "RxNorm", "Dosage", "Source"), rows,
                 "From `hooks/knowledge/monitoring.py` (`pv-higm-no-pjp-prophylaxis`).")


#: Names the tables above render; every other public value of ``hooks/knowledge`` goes to
#: :func:`other_knowledge`.
CLAIMED = {
    "regimens": {"REGIMENS"},
    "thresholds": {"ALL"},
    "products": {"PRODUCTS", "SEED_SC_LIMITS"},
    "vaccines": {"DEFERRAL_BANDS", "ACIP_LIVE_VACCINE_CATEGORIES"},
    "monitoring": {"LAB_TESTS", "TMP_SMX_DS", "PJP_ALTERNATIVES"},
}


def knowledge_modules() -> list[tuple[str, ModuleType]]:
    """Every module of ``hooks/knowledge`` but the narrative ones, by name."""
    names = sorted(m.name for m in pkgutil.iter_modules(knowledge.__path__) if m.name not in NARRATIVE_MODULES)
    return [(name, importlib.import_module(f"{knowledge.__name__}.{name}")) for name in names]


def other_knowledge(policy: Policy, sources: Sources,
                    modules: Sequence[tuple[str, ModuleType]] | None = None) -> list[Table]:
    """Named values of ``hooks/knowledge`` (or ``modules``) no table above shows (windows, ages, word
    lists, and any table added later), each with the ``#:`` comment that documents it in the code."""
    title = "Other named values"
    values: list[Row] = []
    extra_tables: list[Table] = []
    for name, module in knowledge_modules() if modules is None else modules:
        comments = attribute_comments(module)
        members = _row_members(module)
        for attr in assignment_order(module):
            if attr.startswith("_") or attr in CLAIMED.get(name, set()):
                continue
            value = getattr(module, attr, None)
            if isinstance(value, tuple) and _is_table(value):
                extra_tables.append(_knowledge_table(name, attr, value, comments.get(attr, ""), policy, sources))
            elif _is_named_value(value, attr in comments) and id(value) not in members:
                where = slug(title)
                values.append(row(
                    code(f"{name}.{attr}"),
                    describe(value, sources, where),
                    rst_to_markup(comments.get(attr, "")) or NONE,
                ))
    note = ("Every other public value of `hooks/knowledge`, with the comment that documents it in the code "
            "(its source is named there).")
    return [table(title, ("Name", "Value", "Meaning and source"), values, note), *extra_tables]


def _row_members(module: ModuleType) -> set[int]:
    """Ids of rows that belong to a table of ``module`` (shown with their table, not alone)."""
    return {id(item) for value in vars(module).values() if _is_table(value) for item in value}


def _is_table(value: object) -> bool:
    return (isinstance(value, tuple) and bool(value)
            and all(dataclasses.is_dataclass(v) and not isinstance(v, type) for v in value)
            and not all(isinstance(v, Citation) for v in value))


def _is_named_value(value: object, documented: bool) -> bool:
    if isinstance(value, bool | int | float):
        return True
    if isinstance(value, str):
        return documented
    if isinstance(value, tuple):
        return bool(value) and all(isinstance(v, str | int | float) for v in value)
    return dataclasses.is_dataclass(value) and not isinstance(value, type | Citation)


def _knowledge_table(module: str, name: str, rows: tuple[Any, ...], comment: str, policy: Policy,
                     sources: Sources) -> Table:
    """A table found in a knowledge module: regimens and thresholds in their own layout, any other
    rows with one column per field."""
    title = f"{module}.{name}"
    note = f"From `hooks/knowledge/{module}.py`" + (f": {rst_to_markup(comment)}" if comment else ".")
    if all(isinstance(r, Regimen) for r in rows):
        return regimen_table(policy, sources, rows, title, note)
    if all(isinstance(r, Threshold) for r in rows):
        return threshold_table(sources, rows, title, note)
    fields = [f.name for f in dataclasses.fields(rows[0])]
    body = [Row(tuple(Cell(describe(getattr(r, f, None), sources, slug(title))) for f in fields)) for r in rows]
    return table(title, [words(f) for f in fields], body, note)
