"""The rule registry (``hooks/catalog.py``) as the catalog's two rule tables.

Every rule of the registry is listed, in registry order, with its text from
``hooks/knowledge/rule_text.py``: patient-view rules (those run by a patient-view service) in one
table, order rules in the other.
"""

from __future__ import annotations

from ..catalog import CATALOG, PATIENT_VIEW, RuleSpec
from ..knowledge.narrative import RuleText
from ..knowledge.rule_text import RULE_TEXT
from .markup import code, plain, slug
from .model import Table, row
from .values import Sources

COLUMNS = ("Rule", "Card", "Services", "Trigger", "Content / suggestion", "Source")


class MissingRuleText(LookupError):
    """A rule of the registry has no entry in ``hooks/knowledge/rule_text.py``."""


def rule_text(rule_id: str) -> RuleText:
    try:
        return RULE_TEXT[rule_id]
    except KeyError:
        raise MissingRuleText(
            f"rule {rule_id!r} has no trigger and card text: add it to hooks/knowledge/rule_text.py"
        ) from None


def is_patient_view(rule: RuleSpec) -> bool:
    return any(service in PATIENT_VIEW for service in rule.services)


def rule_table(title: str, rules: tuple[RuleSpec, ...], sources: Sources) -> Table:
    rows = []
    for rule in rules:
        text = rule_text(rule.id)
        card = plain(rule.indicator) + (f" ({plain(text.indicator_note)})" if text.indicator_note else "")
        rows.append(row(
            f"{code(rule.id)}: {plain(rule.title)}",
            card,
            ", ".join(code(s) for s in rule.services),
            text.trigger,
            text.card,
            sources.cite(rule.source, slug(title)),
            anchor=f"rule-{rule.id}"))
    return Table(f"{slug(title)}-table", title, COLUMNS, tuple(rows))


def order_rules(sources: Sources) -> Table:
    return rule_table("Order rules", tuple(r for r in CATALOG if not is_patient_view(r)), sources)


def patient_view_rules(sources: Sources) -> Table:
    return rule_table("Patient-view rules", tuple(r for r in CATALOG if is_patient_view(r)), sources)
