"""Client text in cards reads as text (issue 15, finding 8).

A medication, condition or allergy name comes from the EHR's record, and a card quotes it. If the
record says ``Estradiol [x](https://evil.example) ![](https://evil.example/b.png)`` and then a blank
line and ``# CALL``, a card's Markdown ``detail`` must not carry a link, an image (fetched by the
EHR as soon as the card is shown) or a heading, and no line break may start a new paragraph or list
item in it; the plain-text ``summary`` and suggestion labels stay one line.

Each vignette is a fixture request whose rule quotes client text: every name in it (CodeableConcept
text and coding displays, in the draft orders and the prefetch) gets the hostile suffix, the real
service (``hooks.app.build_app``, in-process) answers, and each card is compared with its twin from
the untouched request, rendered by cmark-gfm (GitHub's own GitHub-Flavored Markdown, the format
CDS Hooks names for ``detail``): the same links, images, headings and lines, and the hostile text
visible as characters.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import cmarkgfm
import pytest

from hooks.text import quote

HOSTILE = ("[x](https://evil.example)\n\n# CALL ![](https://evil.example/b.png) <img src=x onerror=alert(1)> "
           "www.evil.example mail@evil.example\r\n---\n- item \x1b[31m\u202e `code` *em* ~~s~~ | a | b | ")
#: What the hostile text must read as once rendered (the escapes gone, the characters there).
VISIBLE = "[x](https://evil.example) # CALL"

#: (service, fixture request, rules that quote client text in that scenario)
VIGNETTES = [
    ("ig-order-select", "anaphylaxis-ig-ivig", {"order-anaphylaxis-history"}),
    ("ig-order-select", "iga-anti-iga-ivig", {"order-iga-deficiency"}),
    ("ig-order-select", "itp-adult-ivig", {"order-thrombosis-risk"}),
    ("ig-order-select", "cdiff-nonrecurrent-ivig", {"order-renal-risk"}),
    ("ig-order-select", "higm-child-mmr", {"order-live-vaccine"}),
    ("ig-order-select", "ivig-then-mmr", {"order-live-vaccine"}),
    ("ig-order-select", "itp-post-mmr-child-ivig", {"order-ig-after-live-vaccine"}),
    ("ig-order-sign", "gbs-plex-with-ivig-draft", {"order-plasma-exchange-after-ivig"}),
    ("ig-order-select", "anti-cd20-hbv-rituximab", {"order-anti-cd20-hbv"}),
    ("ig-patient-view", "anti-cd20-hbv-core-positive", {"pv-anti-cd20-hbv"}),
    ("ig-patient-view", "higm-ar-adult", {"pv-higm-no-pjp-prophylaxis"}),
]

_ELEMENTS = re.compile(r"<(a|img|h[1-6]|hr|script|li|blockquote|pre|code|table|del)\b")


def with_hostile_names(document: Any) -> Any:
    """A copy of ``document`` where every CodeableConcept text and coding display starts with HOSTILE
    (before the name, so that a rule that shows only the part before a gloss " (" still shows it)."""
    document = copy.deepcopy(document)

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            text = node.get("text")
            if isinstance(node.get("coding"), list) or (isinstance(text, str) and "div" not in node):
                first = next((c["display"] for c in node.get("coding", []) if isinstance(c, dict) and c.get("display")),
                             "")
                node["text"] = HOSTILE + (text if isinstance(text, str) else first)
            if isinstance(node.get("display"), str) and "system" in node:
                node["display"] = HOSTILE + node["display"]
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(document)
    return document


def elements(markdown: str) -> list[str]:
    return _ELEMENTS.findall(cmarkgfm.github_flavored_markdown_to_html(markdown))


def card_texts(card: dict[str, Any]) -> Iterator[tuple[str, str]]:
    yield "summary", card["summary"]
    for suggestion in card.get("suggestions", []):
        yield "suggestion label", suggestion["label"]
        for action in suggestion.get("actions", []):
            yield "action description", action["description"]


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Any:
    from hooks.app import build_app, load

    data_dir: Path = tmp_path_factory.mktemp("quoted-text")
    config = load(None, {"dev": True, "server": {"data_dir": str(data_dir)},
                         "storage": {"url": f"sqlite:///{data_dir}/igcds.db"}})
    return build_app(config).test_client()


def cards_by_rule(client: Any, service: str, body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    response = client.post(f"/cds-services/{service}", json=body)
    assert response.status_code == 200, response.data[:500]
    return {card["source"]["topic"]["code"]: card for card in response.get_json()["cards"]}


@pytest.mark.parametrize(("service", "scenario", "rules"), VIGNETTES, ids=[v[1] for v in VIGNETTES])
def test_hostile_names_stay_text_in_every_card_that_quotes_them(
    client: Any, cds_request: Callable[[str, str], dict[str, Any]], service: str, scenario: str, rules: set[str]
) -> None:
    plain = cards_by_rule(client, service, cds_request(service, scenario))
    hostile = cards_by_rule(client, service, with_hostile_names(cds_request(service, scenario)))
    assert rules <= set(plain), f"{scenario}: the vignette no longer fires {rules - set(plain)}"
    assert set(hostile) == set(plain), f"{scenario}: hostile names changed which rules fire"
    for rule, card in hostile.items():
        twin = plain[rule]
        detail = card.get("detail", "")
        assert elements(detail) == elements(twin.get("detail", "")), f"{rule}: {detail}"
        assert detail.count("\n") == twin.get("detail", "").count("\n"), f"{rule}: a line break got in: {detail}"
        assert "\x1b" not in detail and "\u202e" not in detail
        for field, value in card_texts(card):
            assert "\n" not in value and "\r" not in value and "\x1b" not in value, (rule, field, value)
            assert not elements(value), (rule, field, value)
        if rule in rules:  # the rule quoted the hostile name, and it reads as characters
            rendered = cmarkgfm.github_flavored_markdown_to_html(detail + "\n\n" + card["summary"])
            assert VISIBLE in rendered, (rule, detail, card["summary"])


@pytest.mark.parametrize("name", ["Estradiol 2 MG Oral Tablet", "0.9% sodium chloride", "Rituximab (Rituxan) 10 mg/mL",
                                  "Immune globulin, human 10% (Privigen)", "Common variable immunodeficiency",
                                  "Hep B vaccine, 20 mcg/mL - 1 mL", "Penicillin G + probenecid"])
def test_ordinary_names_are_quoted_unchanged(name: str) -> None:
    assert quote(name) == name


def test_quote_makes_one_inert_line_of_any_text() -> None:
    quoted = quote("Estradiol " + HOSTILE + " " + "x" * 500)
    html = cmarkgfm.github_flavored_markdown_to_html(quoted)
    assert "\n" not in quoted and not elements(quoted), quoted
    assert html.startswith("<p>Estradiol [x](https://evil.example)") and html.count("<p>") == 1, html
    assert len(quoted) < 260 and quoted.endswith("…")
    for start in ("# CALL", "- item", "+ item", "1. item", "2) item", "---", "=== x", "> quote"):
        assert not elements(quote(start)) and cmarkgfm.github_flavored_markdown_to_html(quote(start)).startswith("<p>"), start
