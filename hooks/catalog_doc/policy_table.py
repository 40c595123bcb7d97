"""Site policy in the catalog: every ``[policy]`` key, its default and the value in effect.

The keys are the fields of ``hooks.policy.Policy`` (nested tables dotted: ``trough_target_mg_dl.higm``),
listed in the order the class declares them, so a key added there is listed on the next
regeneration; its meaning comes from ``hooks/knowledge/policy_notes.py`` or, failing that, from the
``#:`` comment above the field.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

from ..knowledge.policy_notes import POLICY_NOTES
from ..policy import Policy
from .comments import attribute_comments, rst_to_markup
from .markup import code, plain
from .model import Cell, PolicySetting, Table, row
from .values import NONE, Sources, number


def format_setting(value: Any) -> str:
    """A policy value as the configuration file writes it, in words a reader can compare."""
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return number(value)
    if isinstance(value, tuple):
        return ", ".join(str(v) for v in value) if value else "none"
    return str(value)


def _leaves(instance: Any, prefix: str = "") -> Iterator[tuple[str, Any, Any]]:
    """(dotted key, value, owning class) for every leaf field of a policy dataclass."""
    for f in dataclasses.fields(instance):
        value = getattr(instance, f.name)
        key = f"{prefix}{f.name}"
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            yield from _leaves(value, f"{key}.")
        else:
            yield key, value, type(instance)


def policy_settings(policy: Policy, sources: Sources, where: str) -> tuple[PolicySetting, ...]:
    defaults = {key: value for key, value, _ in _leaves(Policy())}
    settings = []
    for key, value, owner in _leaves(policy):
        note = POLICY_NOTES.get(key)
        if note is not None:
            meaning = f"{note.meaning} *Source:* {sources.cite_all(note.sources, where)}"
        else:
            comment = attribute_comments(owner).get(key.rsplit(".", 1)[-1], "")
            meaning = rst_to_markup(comment) if comment else NONE
        settings.append(PolicySetting(key, format_setting(defaults.get(key)), format_setting(value), meaning))
    return tuple(settings)


def policy_table(settings: tuple[PolicySetting, ...]) -> Table:
    rows = [row(
        code(s.key),
        Cell(plain(s.value), policy=True, default=plain(s.default) if s.changed else None),
        plain(s.default),
        s.description,
        anchor=f"policy-{s.key.replace('.', '-').replace('_', '-')}") for s in settings]
    return Table("site-policy-table", "Site policy", ("Key", "In effect", "Default", "Meaning and source"), tuple(rows),
                 "The `[policy]` section of the configuration (`hooks/policy.py`). Changed values are marked "
                 "with their default.")
