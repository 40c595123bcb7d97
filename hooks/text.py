"""Number, date and dose formatting for card text, so every card speaks the same way; and
:func:`quote`, the one way client text (a medication, condition or allergy name) enters a card."""

from __future__ import annotations

import re
from datetime import datetime

#: Longest client text quoted in a card; longer names are cut at a word and marked "…".
QUOTE_MAX_CHARS = 160

#: Characters that would act on a terminal or a layout rather than read as text: C0/C1 controls,
#: line and paragraph separators, and the bidirectional controls that reorder what is displayed.
_NOT_TEXT = {c: " " for c in (*range(0x00, 0x20), *range(0x7F, 0xA0), 0x2028, 0x2029)}
_NOT_TEXT.update(dict.fromkeys((0x061C, 0x200E, 0x200F, *range(0x202A, 0x202F), *range(0x2066, 0x206A)), ""))
#: GitHub-Flavored Markdown punctuation that can start a construct (emphasis, code, links and
#: images, raw HTML and autolinks, headings, strikethrough, tables, math): backslash-escaped, which
#: CommonMark renders as the character itself.
_MARKDOWN = str.maketrans({c: "\\" + c for c in "\\`*_[]<>#~|$"})
#: What GFM turns into a link without any punctuation of the list above: "https://…", "www.…"
#: (escaped: ``https\://``, ``www\.``) and e-mail addresses (the "@" becomes a full-width "＠").
_AUTOLINK = re.compile(r"(?i):(?=//)|(?<=www)\.")
#: At the start of a line, "-", "+" (lists, thematic breaks), "=" (setext headings) and "1. " / "1) "
#: (ordered lists) start a block: escaped where the quote begins ("0.9% saline" is left alone).
_BLOCK_START = re.compile(r"[-+=]|\d{1,9}[.)](?= |$)")


def quote(value: str) -> str:
    """Client text made safe to place in a card's summary, detail or a suggestion label.

    CDS Hooks clients render ``detail`` as GitHub-Flavored Markdown, and some render the plain-text
    fields the same way: a name such as ``[x](https://evil.example) ![](https://evil.example/b.png)``
    followed by a blank line and ``# CALL`` must read as those characters, not as a link, an image
    (fetched when shown), a heading or a new paragraph. So line breaks and other control characters
    become spaces, whitespace runs one space, the text is cut to :data:`QUOTE_MAX_CHARS`, and every
    Markdown-active character is escaped. Ordinary names (letters, digits, spaces, ``( ) - / . , % +``)
    come out unchanged.
    """
    text = " ".join(value.translate(_NOT_TEXT).split())
    if len(text) > QUOTE_MAX_CHARS:
        text = text[: QUOTE_MAX_CHARS - 1].rsplit(" ", 1)[0] + "…"
    text = _AUTOLINK.sub(lambda m: "\\" + m.group(0), text.translate(_MARKDOWN)).replace("@", "＠")
    block = _BLOCK_START.match(text)
    if block:
        at = 0 if block.end() == 1 else block.end() - 1
        text = text[:at] + "\\" + text[at:]
    return text


def num(value: float, digits: int = 1) -> str:
    """``1000`` -> ``1,000``; ``12.5`` -> ``12.5``; ``12.0`` -> ``12`` (no trailing zeros)."""
    rounded = round(value, digits)
    if float(rounded).is_integer():
        return f"{int(rounded):,}"
    return f"{rounded:,.{digits}f}".rstrip("0").rstrip(".")


def days(count: float) -> str:
    """A number of days as card text says it: ``1 day``, ``21 days``, ``1.5 days``."""
    shown = num(count)
    return f"{shown} day" if shown == "1" else f"{shown} days"


def day(when: datetime) -> str:
    """ISO calendar date, unambiguous across locales."""
    return when.date().isoformat()


def days_ago(when: datetime, now: datetime) -> int:
    return (now.date() - when.date()).days


def grams(value: float) -> str:
    return f"{num(value, 2)} g"


def mg_per_kg(value: float) -> str:
    return f"{num(value, 0)} mg/kg"


def g_per_kg(value_mg_per_kg: float) -> str:
    return f"{num(value_mg_per_kg / 1000.0, 2)} g/kg"


def kg(value: float) -> str:
    return f"{num(value, 1)} kg"
