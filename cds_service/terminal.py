"""Text for an operator's terminal: what the CLI prints never acts on the terminal.

The CLI prints data that clients wrote (an override reason's ``display``, a code, a hook name in an
error). An escape sequence in it (ANSI colours, OSC 8 hyperlinks, OSC 52 clipboard writes, cursor
moves), a carriage return or a newline would be executed or would start a new line: issue 15,
finding 7 forged a whole row of ``igcds report`` that way. So every text output goes through
:func:`printable` (a table cell, a message) or :func:`terminal_json` (a JSON document), which show
those characters as escapes (``\\x1b``, ``\\n``, ``\\u202e``) instead of sending them.
"""

from __future__ import annotations

#: C0 and C1 controls, DEL, line/paragraph separators and bidirectional controls: shown, not sent.
_CONTROL = frozenset((*range(0x00, 0x20), *range(0x7F, 0xA0), 0x2028, 0x2029, 0x061C, 0x200E, 0x200F,
                      *range(0x202A, 0x202F), *range(0x2066, 0x206A)))
_PRINTABLE = {c: f"\\x{c:02x}" if c < 0x100 else f"\\u{c:04x}" for c in _CONTROL}
#: In a JSON document, the same characters as JSON escapes (still valid JSON, same value).
_JSON = {c: f"\\u{c:04x}" for c in _CONTROL if c >= 0x20}


def printable(value: object) -> str:
    """``str(value)`` with every control character written as an escape: one line, inert."""
    return str(value).translate(_PRINTABLE)


def terminal_json(document_text: str) -> str:
    """JSON text (already serialised, control characters below 0x20 escaped by any serialiser) with
    DEL, C1 controls and the separators/bidi controls escaped too: they are legal raw in JSON strings,
    and a terminal may act on them."""
    return document_text.translate(_JSON)
