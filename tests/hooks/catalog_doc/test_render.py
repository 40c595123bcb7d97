"""One catalog, three formats: Markdown for the repository, HTML for clinicians, JSON for tools.

Whatever a table holds is escaped: a hostile value in a knowledge row shows as text in every format.
"""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser

import pytest

from hooks.catalog import CATALOG
from hooks.catalog_doc import build_catalog, render_html, render_json, render_markdown
from hooks.catalog_doc.markup import plain
from hooks.catalog_doc.model import Catalog, Cell, PolicySetting, Row, Section, Table
from hooks.policy import Policy

HOSTILE = '<script>alert("x")</script> | **bold** [link](javascript:alert(1)) {policy:mode}'


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return build_catalog(Policy())


def tiny(value: str, *, changed: bool = False) -> Catalog:
    setting = PolicySetting("mode", "normal", "silent" if changed else "normal", "Whether cards are returned.")
    table = Table("t", "T", ("Value", "Policy"), (
        Row((Cell(plain(value)), Cell("{policy:mode}")), anchor="row-1"),
        Row((Cell("500", policy=True, default="300" if changed else None), Cell("x"))),
    ))
    return Catalog("Title", "Intro with {policy:mode}.", (Section("s", "S", (table,)),), (setting,), "make catalog")


class Page(HTMLParser):
    """What a browser would build from the page: elements, ids, and the text outside markup."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parse(html: str) -> Page:
    page = Page()
    page.feed(html)
    return page


def test_markdown_shows_a_hostile_value_as_text_and_keeps_the_table_intact():
    text = render_markdown(tiny(HOSTILE))
    row = next(line for line in text.splitlines() if "alert" in line)
    assert row.count(" | ") == 1, "a pipe in a value must not open a new column"
    assert not re.search(r"(?<!\\)<script>", text) and "\\<script>" in text
    assert "](javascript" not in text.replace("\\]", "")


def test_html_escapes_every_value_and_links_nowhere_but_anchors_and_the_web():
    html = render_html(tiny(HOSTILE))
    page = parse(html)
    assert "script" not in {tag for tag, _ in page.tags}
    assert HOSTILE in "".join(page.text)
    hrefs = [attrs.get("href") or "" for tag, attrs in page.tags if tag == "a"]
    assert all(h.startswith(("#", "https://", "http://")) for h in hrefs), hrefs


def test_the_page_needs_nothing_from_elsewhere(catalog):
    html = render_html(catalog)
    page = parse(html)
    tags = {tag for tag, _ in page.tags}
    assert not tags & {"script", "link", "img", "iframe", "object", "embed", "form"}
    assert not re.search(r"url\(|@import", html), "the inline style must not fetch anything"
    ids = [attrs["id"] for _, attrs in page.tags if attrs.get("id")]
    assert len(ids) == len(set(ids)), sorted({i for i in ids if ids.count(i) > 1})


def test_every_rule_has_its_own_row_on_the_page(catalog):
    ids = {attrs.get("id") for _, attrs in parse(render_html(catalog)).tags}
    assert {f"rule-{r.id}" for r in CATALOG} <= ids


def test_policy_is_highlighted_and_a_changed_value_shows_its_default():
    quiet = parse(render_html(tiny("v")))
    marks = [attrs.get("class") for tag, attrs in quiet.tags if tag == "mark"]
    assert marks[:2] == ["policy", "policy changed"]  # the legend shows both kinds
    assert set(marks[2:]) == {"policy"}
    changed = render_html(tiny("v", changed=True))
    assert '<mark class="policy changed">500</mark> <span class="policy-tag">(default 300)</span>' in changed
    assert "silent</mark>" in changed and "(default normal)" in changed
    assert "1 value(s) changed" in changed
    markdown = render_markdown(tiny("v", changed=True))
    assert "**silent** *(policy; default normal)*" in markdown and "500 *(policy; default 300)*" in markdown


def test_markdown_and_html_carry_the_same_rules_and_tables(catalog):
    markdown, html = render_markdown(catalog), render_html(catalog)
    for spec in CATALOG:
        assert f"`{spec.id}`" in markdown and f"<code>{spec.id}</code>" in html
    table_titles = [b.title for s in catalog.sections for b in s.blocks if isinstance(b, Table)]
    for title in table_titles:
        assert title in html


def test_json_is_the_same_catalog_as_data(catalog):
    document = json.loads(render_json(catalog))
    assert [s["title"] for s in document["sections"]] == [s.title for s in catalog.sections]
    assert {p["key"] for p in document["policy"]} == {s.key for s in catalog.policy}
    rules = next(b for s in document["sections"] for b in s["blocks"] if b.get("id") == "order-rules-table")
    assert rules["rows"][0]["anchor"].startswith("rule-order-")


def test_every_format_is_deterministic(catalog):
    again = build_catalog(Policy())
    assert render_markdown(again) == render_markdown(catalog)
    assert render_html(again) == render_html(catalog)
    assert render_json(again) == render_json(catalog)
