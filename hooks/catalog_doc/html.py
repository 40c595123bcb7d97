"""The catalog as one self-contained HTML page for clinicians (``GET /rules`` with ``Accept: text/html``).

No external asset and no script: the style is inline, links are anchors within the page or the
sources' own https addresses. Every text, attribute and address is escaped here, whatever it holds.
Site policy is highlighted (``<mark class="policy">``); a value this site changed is marked
``changed`` and shows its default beside it.
"""

from __future__ import annotations

from html import escape

from ..knowledge.narrative import Entry
from .markup import Item, Writer
from .model import Catalog, Cell, Entries, Prose, Section, Table


class HtmlWriter(Writer):
    """HTML for the catalog's markup: every text and address escaped, policy values marked."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog

    def text(self, value: str) -> str:
        return escape(value)

    def code(self, value: str) -> str:
        return f"<code>{escape(value)}</code>"

    def strong(self, inner: str) -> str:
        return f"<strong>{inner}</strong>"

    def emphasis(self, inner: str) -> str:
        return f"<em>{inner}</em>"

    def link(self, inner: str, href: str) -> str:
        return f'<a href="{escape(href)}">{inner}</a>'

    def policy(self, key: str) -> str:
        setting = self.catalog.setting(key)
        return _marked(escape(setting.value), escape(setting.default) if setting.changed else None,
                       title=escape(f"site policy [policy] {setting.key}"))

    def paragraph(self, inner: str) -> str:
        return f"<p>{inner}</p>"

    def bullets(self, items: tuple[Item, ...]) -> str:
        inner = "".join(
            f"<li>{self.inline(i.text)}{self.bullets(i.children) if i.children else ''}</li>" for i in items)
        return f"<ul>{inner}</ul>"


def _marked(value: str, default: str | None, *, title: str = "") -> str:
    """A site-policy value (HTML) highlighted; with ``default`` (HTML), marked changed and its default beside it."""
    attrs = f' title="{title}"' if title else ""
    if default is None:
        return f'<mark class="policy"{attrs}>{value}</mark>'
    return f'<mark class="policy changed"{attrs}>{value}</mark> <span class="policy-tag">(default {default})</span>'


STYLE = """
:root { color-scheme: light; --ink: #1b1f24; --muted: #57606a; --line: #d0d7de; --policy: #fff3b0;
        --changed: #ffd8a8; --head: #f3f5f7; }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--ink); }
header, main, nav { max-width: 1280px; margin: 0 auto; padding: 0 1.5rem; }
header { padding-top: 1.5rem; }
h1 { font-size: 1.7rem; margin: 0 0 .5rem; }
h2 { font-size: 1.35rem; margin: 2.5rem 0 .75rem; padding-bottom: .3rem; border-bottom: 2px solid var(--line); }
h3 { font-size: 1.08rem; margin: 1.6rem 0 .5rem; }
p, li { max-width: 75rem; }
code { font: .88em/1.3 ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; background: #eff1f3;
       padding: .05em .3em; border-radius: 3px; overflow-wrap: anywhere; }
a { color: #0550ae; }
.status { border: 1px solid var(--line); border-left: 5px solid #bf8700; background: #fffbea; padding: .6rem 1rem;
          margin: 1rem 0; }
.legend mark { margin-right: .3rem; }
nav ol { columns: 2; padding-left: 1.4rem; }
.table-wrap { overflow-x: auto; margin: .5rem 0 1rem; }
table { border-collapse: collapse; width: 100%; font-size: .9rem; }
th, td { border: 1px solid var(--line); padding: .35rem .5rem; text-align: left; vertical-align: top; }
th { background: var(--head); position: sticky; top: 0; }
tbody tr:nth-child(even) { background: #fafbfc; }
tr[id^="rule-"] td:first-child { min-width: 14rem; }
tr[id^="rule-"] td:first-child code { white-space: nowrap; }
tr:target, section.entry:target { outline: 3px solid #0969da; }
mark.policy { background: var(--policy); padding: 0 .2em; border-radius: 3px; font-weight: 600; }
mark.policy.changed { background: var(--changed); outline: 1px solid #bc4c00; }
.policy-tag { font-size: .75em; color: var(--muted); font-style: italic; }
.sources { color: var(--muted); font-size: .88rem; }
.note { color: var(--muted); }
@media print { nav { display: none; } th { position: static; } }
"""


def render_html(catalog: Catalog) -> str:
    writer = HtmlWriter(catalog)
    parts = [
        "<!doctype html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{escape(catalog.title)}</title>",
        f"<style>{STYLE}</style>",
        "</head>",
        "<body>",
        "<header>",
        f"<h1>{escape(catalog.title)}</h1>",
        _status(catalog),
        *writer.blocks(catalog.preamble),
        "</header>",
        '<nav aria-label="Contents"><h2>Contents</h2><ol>',
        *(f'<li><a href="#{escape(s.id)}">{escape(s.title)}</a></li>' for s in catalog.sections),
        "</ol></nav>",
        "<main>",
        *(line for section in catalog.sections for line in _section(section, writer)),
        "</main>",
        "</body>",
        "</html>",
    ]
    return "\n".join(parts) + "\n"


def _status(catalog: Catalog) -> str:
    changed = catalog.changed_policy
    legend = ('<p class="legend"><mark class="policy">value</mark> site policy (the <code>[policy]</code> '
              'section of the configuration) &nbsp; <mark class="policy changed">value</mark> changed by this '
              "site's configuration, shown with its default</p>")
    if not changed:
        summary = "<p><strong>Site policy in effect:</strong> the defaults.</p>"
    else:
        items = "".join(f"<li><code>{escape(s.key)}</code> = {_marked(escape(s.value), escape(s.default))}</li>"
                        for s in changed)
        summary = (f"<p><strong>Site policy in effect:</strong> {len(changed)} value(s) changed by this site's "
                   f"configuration:</p><ul>{items}</ul>")
    return f'<div class="status" id="policy-in-effect">{summary}{legend}</div>'


def _section(section: Section, writer: HtmlWriter) -> list[str]:
    out = [f'<section id="{escape(section.id)}">', f"<h2>{escape(section.title)}</h2>"]
    for block in section.blocks:
        if isinstance(block, Prose):
            out += writer.blocks(block.text)
        elif isinstance(block, Entries):
            out += [line for entry in block.entries for line in _entry(entry, writer)]
        else:
            out += _table(block, writer, own_heading=block.title != section.title)
    out.append("</section>")
    return out


def _entry(entry: Entry, writer: HtmlWriter) -> list[str]:
    out = [f'<section class="entry" id="{escape(entry.id)}">', f"<h3>{escape(entry.title)}</h3>"]
    out += writer.blocks(entry.text)
    if entry.sources:
        cited = "; ".join(writer.citation(c.label, c.url) for c in entry.sources)
        out.append(f'<p class="sources">Sources: {cited}</p>')
    out.append("</section>")
    return out


def _table(table: Table, writer: HtmlWriter, *, own_heading: bool) -> list[str]:
    out = [f'<h3 id="{escape(table.id)}">{escape(table.title)}</h3>'] if own_heading else []
    if table.note:
        out.append(f'<p class="note">{writer.inline(table.note)}</p>')
    if not table.rows:
        return [*out, "<p>(none)</p>"]
    head = "".join(f'<th scope="col">{escape(c)}</th>' for c in table.columns)
    out += ['<div class="table-wrap"><table>', f"<thead><tr>{head}</tr></thead>", "<tbody>"]
    for row in table.rows:
        anchor = f' id="{escape(row.anchor)}"' if row.anchor else ""
        out.append(f"<tr{anchor}>" + "".join(f"<td>{_cell(c, writer)}</td>" for c in row.cells) + "</tr>")
    out += ["</tbody>", "</table></div>"]
    return out


def _cell(cell: Cell, writer: HtmlWriter) -> str:
    text = writer.inline(cell.text)
    if not cell.policy:
        return text
    return _marked(text, writer.inline(cell.default) if cell.default is not None else None)
