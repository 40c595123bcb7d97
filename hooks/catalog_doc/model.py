"""The catalog as one structured document, rendered to Markdown, JSON and HTML alike.

Text fields hold the catalog's inline markup (``hooks/knowledge/narrative.py``): the renderers agree
on it, escape everything else, and resolve ``{policy:<key>}`` through :attr:`Catalog.policy`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from ..knowledge.narrative import Entry
from .markup import slug


@dataclass(frozen=True, slots=True)
class PolicySetting:
    """One ``[policy]`` value: its key (``trough_target_mg_dl.higm``), default and value in effect."""

    key: str
    default: str
    value: str
    description: str

    @property
    def changed(self) -> bool:
        return self.value != self.default


@dataclass(frozen=True, slots=True)
class Cell:
    """A table cell. ``policy``: the value is site policy (highlighted); ``default``: what it would be
    without this site's configuration, given only when the value in effect differs."""

    text: str
    policy: bool = False
    default: str | None = None


@dataclass(frozen=True, slots=True)
class Row:
    cells: tuple[Cell, ...]
    #: Anchor of the row (``rule-order-dose-out-of-range``), None for most rows.
    anchor: str | None = None


@dataclass(frozen=True, slots=True)
class Table:
    id: str
    title: str
    columns: tuple[str, ...]
    rows: tuple[Row, ...]
    #: Markup shown before the table (what it is, where it comes from).
    note: str = ""


def table(title: str, columns: Sequence[str], rows: Iterable[Row], note: str = "") -> Table:
    """A table anchored at its title's slug."""
    return Table(slug(title), title, tuple(columns), tuple(rows), note)


def row(*cells: str | Cell, anchor: str | None = None) -> Row:
    """A table row of markup texts (or ready cells, for site-policy values)."""
    return Row(tuple(c if isinstance(c, Cell) else Cell(c) for c in cells), anchor)


@dataclass(frozen=True, slots=True)
class Prose:
    text: str


@dataclass(frozen=True, slots=True)
class Entries:
    entries: tuple[Entry, ...]


Block = Table | Prose | Entries


@dataclass(frozen=True, slots=True)
class Section:
    id: str
    title: str
    blocks: tuple[Block, ...]


@dataclass(frozen=True, slots=True)
class Catalog:
    title: str
    preamble: str
    sections: tuple[Section, ...]
    policy: tuple[PolicySetting, ...]
    #: The command that regenerates ``docs/clinical-rules.md`` (printed in its header).
    regenerate: str

    def setting(self, key: str) -> PolicySetting:
        for setting in self.policy:
            if setting.key == key:
                return setting
        raise KeyError(f"unknown policy key {key!r} in the catalog text")

    @property
    def changed_policy(self) -> tuple[PolicySetting, ...]:
        return tuple(s for s in self.policy if s.changed)
