"""The catalog as GitHub-flavoured Markdown: what ``docs/clinical-rules.md`` holds.

Deterministic (no dates, no paths, no versions): the same code and policy give the same bytes, which
is what lets a test say the committed file is stale. Headings are the anchors the catalog links to.
"""

from __future__ import annotations

import re

from ..knowledge.narrative import Entry
from .markup import Item, Writer
from .model import Catalog, Cell, Entries, Prose, Section, Table

_ESCAPE = re.compile(r"([\\`*\[\]<|])")
_UNDERSCORE = re.compile(r"(?<![A-Za-z0-9])_|_(?![A-Za-z0-9])")


class MarkdownWriter(Writer):
    """Markdown for the catalog's markup; ``in_table``: inside a table cell (one line, pipes escaped)."""

    def __init__(self, catalog: Catalog, *, in_table: bool = False) -> None:
        self.catalog = catalog
        self.in_table = in_table

    def text(self, value: str) -> str:
        escaped = _UNDERSCORE.sub(r"\\_", _ESCAPE.sub(r"\\\1", value))
        return escaped.replace("\n", " ") if self.in_table else escaped

    def code(self, value: str) -> str:
        return f"`{value.replace('|', chr(92) + '|') if self.in_table else value}`"

    def strong(self, inner: str) -> str:
        return f"**{inner}**"

    def emphasis(self, inner: str) -> str:
        return f"*{inner}*"

    def link(self, inner: str, href: str) -> str:
        return f"[{inner}]({href})"

    def policy(self, key: str) -> str:
        setting = self.catalog.setting(key)
        return _marked(f"**{self.text(setting.value)}**", self.text(setting.default) if setting.changed else None)

    def paragraph(self, inner: str) -> str:
        return inner

    def bullets(self, items: tuple[Item, ...], depth: int = 0) -> str:
        lines = []
        for item in items:
            lines.append(f"{'  ' * depth}- {self.inline(item.text)}")
            if item.children:
                lines.append(self.bullets(item.children, depth + 1))
        return "\n".join(lines)


def _marked(value: str, default: str | None) -> str:
    """A site-policy value tagged as such; with ``default``, changed and its default given."""
    return f"{value} *(policy)*" if default is None else f"{value} *(policy; default {default})*"


def render_markdown(catalog: Catalog) -> str:
    writer = MarkdownWriter(catalog)
    out = [f"# {writer.text(catalog.title)}", ""]
    out += [f"> Generated from the code by `igcds rules --format markdown`: do not edit by hand. Regenerate "
            f"with `{catalog.regenerate}`.", ">", f"> {_policy_line(catalog, writer)}", ""]
    out += _blocks(catalog.preamble, writer)
    out += ["## Contents", ""]
    out += [f"- [{writer.text(s.title)}](#{s.id})" for s in catalog.sections]
    out.append("")
    for section in catalog.sections:
        out += _section(section, writer)
    return "\n".join(out).rstrip("\n") + "\n"


def _policy_line(catalog: Catalog, writer: MarkdownWriter) -> str:
    changed = catalog.changed_policy
    if not changed:
        return "Site policy in effect: the defaults."
    listed = ", ".join(f"`{s.key}` = {writer.text(s.value)} (default {writer.text(s.default)})" for s in changed)
    return f"Site policy in effect: {len(changed)} value(s) changed by this site's configuration: {listed}."


def _blocks(text: str, writer: MarkdownWriter) -> list[str]:
    return [line for block in writer.blocks(text) for line in (block, "")]


def _section(section: Section, writer: MarkdownWriter) -> list[str]:
    out = [f"## {writer.text(section.title)}", ""]
    for block in section.blocks:
        if isinstance(block, Prose):
            out += _blocks(block.text, writer)
        elif isinstance(block, Entries):
            for entry in block.entries:
                out += _entry(entry, writer)
        else:
            out += _table(block, writer, heading=block.title != section.title)
    return out


def _entry(entry: Entry, writer: MarkdownWriter) -> list[str]:
    out = [f"### {writer.text(entry.title)}", ""]
    out += _blocks(entry.text, writer)
    if entry.sources:
        cited = "; ".join(writer.citation(c.label, c.url) for c in entry.sources)
        out += [f"*Sources:* {cited}", ""]
    return out


def _table(table: Table, writer: MarkdownWriter, *, heading: bool) -> list[str]:
    cells = MarkdownWriter(writer.catalog, in_table=True)
    out = [f"### {cells.text(table.title)}", ""] if heading else []
    if table.note:
        out += [writer.inline(table.note), ""]
    if not table.rows:
        return [*out, "(none)", ""]
    out.append("| " + " | ".join(cells.text(c) for c in table.columns) + " |")
    out.append("|" + "---|" * len(table.columns))
    for row in table.rows:
        out.append("| " + " | ".join(_cell(c, cells) for c in row.cells) + " |")
    return [*out, ""]


def _cell(cell: Cell, writer: MarkdownWriter) -> str:
    text = writer.inline(cell.text)
    if not cell.policy:
        return text
    return _marked(text, writer.inline(cell.default) if cell.default is not None else None)


def inline(text: str, catalog: Catalog) -> str:
    """``text`` as Markdown (the JSON document's texts)."""
    return MarkdownWriter(catalog).inline(text)
