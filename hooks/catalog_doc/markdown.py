"""The catalog as GitHub-flavoured Markdown: what ``docs/clinical-rules.md`` holds.

Deterministic (no dates, no paths, no versions): the same code and policy give the same bytes, which
is what lets a test say the committed file is stale. Headings are the anchors the catalog links to.
"""

from __future__ import annotations

import re

from ..knowledge.narrative import Entry
from .markup import (
    BulletList,
    Code,
    Emphasis,
    Inline,
    Item,
    Link,
    PolicyRef,
    Strong,
    Text,
    parse_blocks,
    parse_inline,
)
from .model import Catalog, Cell, Entries, Prose, Section, Table

_ESCAPE = re.compile(r"([\\`*\[\]<|])")
_UNDERSCORE = re.compile(r"(?<![A-Za-z0-9])_|_(?![A-Za-z0-9])")


def render_markdown(catalog: Catalog) -> str:
    out = [f"# {_text(catalog.title)}", ""]
    out += [f"> Generated from the code by `igcds rules --format markdown`: do not edit by hand. Regenerate "
            f"with `{catalog.regenerate}`.", ">", f"> {_policy_line(catalog)}", ""]
    out += _blocks(catalog.preamble, catalog)
    out += ["## Contents", ""]
    out += [f"- [{_text(s.title)}](#{s.id})" for s in catalog.sections]
    out.append("")
    for section in catalog.sections:
        out += _section(section, catalog)
    return "\n".join(out).rstrip("\n") + "\n"


def _policy_line(catalog: Catalog) -> str:
    changed = catalog.changed_policy
    if not changed:
        return "Site policy in effect: the defaults."
    listed = ", ".join(f"`{s.key}` = {_text(s.value)} (default {_text(s.default)})" for s in changed)
    return f"Site policy in effect: {len(changed)} value(s) changed by this site's configuration: {listed}."


def _section(section: Section, catalog: Catalog) -> list[str]:
    out = [f"## {_text(section.title)}", ""]
    for block in section.blocks:
        if isinstance(block, Prose):
            out += _blocks(block.text, catalog)
        elif isinstance(block, Entries):
            for entry in block.entries:
                out += _entry(entry, catalog)
        else:
            out += _table(block, catalog, heading=block.title != section.title)
    return out


def _entry(entry: Entry, catalog: Catalog) -> list[str]:
    out = [f"### {_text(entry.title)}", ""]
    out += _blocks(entry.text, catalog)
    if entry.sources:
        out += [f"*Sources:* {'; '.join(_citation(c.label, c.url) for c in entry.sources)}", ""]
    return out


def _citation(label: str, url: str | None) -> str:
    return f"[{_text(label)}]({url})" if url else _text(label)


def _table(table: Table, catalog: Catalog, *, heading: bool) -> list[str]:
    out = [f"### {_text(table.title)}", ""] if heading else []
    if table.note:
        out += [inline(table.note, catalog), ""]
    if not table.rows:
        return [*out, "(none)", ""]
    out.append("| " + " | ".join(_text(c, in_table=True) for c in table.columns) + " |")
    out.append("|" + "---|" * len(table.columns))
    for row in table.rows:
        out.append("| " + " | ".join(cell_markdown(c, catalog, in_table=True) for c in row.cells) + " |")
    return [*out, ""]


def cell_markdown(cell: Cell, catalog: Catalog, *, in_table: bool = False) -> str:
    text = inline(cell.text, catalog, in_table=in_table)
    if not cell.policy:
        return text
    if cell.default is None:
        return f"{text} *(policy)*"
    return f"{text} *(policy; default {inline(cell.default, catalog, in_table=in_table)})*"


def _blocks(text: str, catalog: Catalog) -> list[str]:
    out: list[str] = []
    for block in parse_blocks(text):
        if isinstance(block, BulletList):
            out += _items(block.items, catalog, 0)
        else:
            out.append(inline(block.text, catalog))
        out.append("")
    return out


def _items(items: tuple[Item, ...], catalog: Catalog, depth: int) -> list[str]:
    out: list[str] = []
    for item in items:
        out.append(f"{'  ' * depth}- {inline(item.text, catalog)}")
        out += _items(item.children, catalog, depth + 1)
    return out


def inline(text: str, catalog: Catalog, *, in_table: bool = False) -> str:
    return "".join(_node(n, catalog, in_table) for n in parse_inline(text))


def _node(node: Inline, catalog: Catalog, in_table: bool) -> str:
    if isinstance(node, Text):
        return _text(node.value, in_table=in_table)
    if isinstance(node, Code):
        value = node.value.replace("|", "\\|") if in_table else node.value
        return f"`{value}`"
    if isinstance(node, Strong):
        return f"**{''.join(_node(n, catalog, in_table) for n in node.children)}**"
    if isinstance(node, Emphasis):
        return f"*{''.join(_node(n, catalog, in_table) for n in node.children)}*"
    if isinstance(node, Link):
        return f"[{''.join(_node(n, catalog, in_table) for n in node.children)}]({node.href})"
    return _policy(node, catalog, in_table)


def _policy(node: PolicyRef, catalog: Catalog, in_table: bool) -> str:
    setting = catalog.setting(node.key)
    value = _text(setting.value, in_table=in_table)
    if setting.changed:
        return f"**{value}** *(policy; default {_text(setting.default, in_table=in_table)})*"
    return f"**{value}** *(policy)*"


def _text(value: str, *, in_table: bool = False) -> str:
    escaped = _UNDERSCORE.sub(r"\\_", _ESCAPE.sub(r"\\\1", value))
    return escaped.replace("\n", " ") if in_table else escaped
