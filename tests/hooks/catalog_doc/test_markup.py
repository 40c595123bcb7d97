"""The catalog's inline markup: what authors write, what data values become, and anchors."""

from __future__ import annotations

from hooks.catalog_doc.markup import (
    BulletList,
    Code,
    Emphasis,
    Item,
    Link,
    Paragraph,
    PolicyRef,
    Strong,
    Text,
    parse_blocks,
    parse_inline,
    plain,
    policy_keys,
    slug,
)


def test_authored_markup_is_read_as_markup():
    nodes = parse_inline("**Never** an *Ig order*: see [Terms](#terms), `doseQuantity`, {policy:trough_max_age_days}")
    assert nodes == (
        Strong((Text("Never"),)), Text(" an "), Emphasis((Text("Ig order"),)), Text(": see "),
        Link((Text("Terms"),), "#terms"), Text(", "), Code("doseQuantity"), Text(", "),
        PolicyRef("trough_max_age_days"),
    )


def test_data_values_escaped_with_plain_come_back_unchanged_whatever_they_hold():
    for value in ("a|b", "**x**", "[x](#y)", "{policy:mode}", "`tick`", "<script>", r"\bmmrv?\b", "lb_av", ""):
        assert parse_inline(plain(value)) == ((Text(value),) if value else ())


def test_only_anchors_and_web_addresses_become_links():
    assert parse_inline("[x](javascript:alert(1))") == (Text("[x](javascript:alert(1))"),)
    assert parse_inline("[x](https://example.org/a)") == (Link((Text("x"),), "https://example.org/a"),)


def test_an_unclosed_delimiter_is_text():
    assert parse_inline("2 * 3 and **open") == (Text("2 * 3 and **open"),)


def test_policy_keys_are_found_but_not_when_escaped():
    assert policy_keys("{policy:a} and \\{policy:b} and {policy:trough_target_mg_dl.higm}") == [
        "a", "trough_target_mg_dl.higm"]


def test_paragraphs_and_nested_lists():
    text = "Intro line\ncontinued.\n- first\n  - nested\n- second\nwraps on\n\nNext paragraph."
    assert parse_blocks(text) == (
        Paragraph("Intro line continued."),
        BulletList((Item("first", (Item("nested"),)), Item("second wraps on"))),
        Paragraph("Next paragraph."),
    )


def test_slugs_are_githubs_heading_anchors():
    assert slug("Concentration of a dose in mL") == "concentration-of-a-dose-in-ml"
    assert slug("Replacement interval (IV)") == "replacement-interval-iv"
    assert slug("Severe infection, pre-treatment IgG, trough IgG") == "severe-infection-pre-treatment-igg-trough-igg"
