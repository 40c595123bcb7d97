"""What the CLI prints cannot act on the operator's terminal (issue 15, finding 7)."""

from __future__ import annotations

import json

import orjson

from cds_service.terminal import printable, terminal_json

HOSTILE = "a\x1b[2J\x1b]8;;https://evil.example\x07b\r\nc\x9b31m\u202ed\u2028e\x7f"


def test_printable_shows_every_control_character_as_an_escape() -> None:
    shown = printable(HOSTILE)
    assert shown == "a\\x1b[2J\\x1b]8;;https://evil.example\\x07b\\x0d\\x0ac\\x9b31m\\u202ed\\u2028e\\x7f"
    assert shown.isprintable()
    assert printable("Privigen 10% — 35 g, Zürich") == "Privigen 10% — 35 g, Zürich"


def test_terminal_json_is_the_same_document_with_nothing_raw_for_a_terminal() -> None:
    document = {"message": HOSTILE, "cards": [{"summary": "é ✓ " + HOSTILE}]}
    text = terminal_json(orjson.dumps(document, option=orjson.OPT_INDENT_2).decode())
    assert json.loads(text) == document
    assert all(c.isprintable() or c == "\n" for c in text), repr(text)
