"""``report``: acceptance and override statistics per rule, from the audit and feedback tables.

Generic: a rule is whatever ``source.topic.code`` the cards carried. For the cards *issued* in the
date range (``--since`` inclusive, ``--until`` inclusive of the whole day when a date is given;
times are UTC), per rule:

- ``shown``: cards returned to the EHR; ``silenced``: cards recorded but withheld (silent mode);
- ``accepted`` / ``overridden``: of those cards, how many got at least one feedback item with that
  outcome (a card may get both, FB5); ``feedback_items``: all feedback items on them;
- ``acceptance_rate`` / ``override_rate``: accepted / shown and overridden / shown (null when none shown);
- ``top_override_reasons``: the most frequent override reasons (coded reason, or ``comment only``,
  or ``no reason given``), with counts of feedback items.

Feedback whose card was never recorded (audit off, another database) is counted as
``unmatched_feedback``, filtered by its ``outcomeTimestamp``.
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

from .storage import RuleStatistics, Store
from .terminal import printable


def _parse_bound(text: str, *, end: bool) -> datetime:
    """ISO date (whole day, UTC) or ISO date-time (naive = UTC)."""
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            start = datetime(day.year, day.month, day.day, tzinfo=UTC)
            return start + timedelta(days=1) if end else start
        moment = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO date or date-time: {text!r}") from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def summarise(stats: RuleStatistics, *, top: int = 3) -> list[dict[str, Any]]:
    """Per-rule rows (sorted by rule id) from the grouped counts."""
    rows: dict[str, dict[str, Any]] = defaultdict(
        lambda: {
            "shown": 0,
            "silenced": 0,
            "accepted": 0,
            "overridden": 0,
            "feedback_items": 0,
        }
    )
    for rule, shown, count in stats.cards:
        rows[rule]["shown" if shown else "silenced"] += int(count)
    for rule, outcome, cards, items in stats.outcomes:
        rows[rule][outcome] += int(cards)
        rows[rule]["feedback_items"] += int(items)
    reasons: dict[str, dict[tuple[Any, ...], dict[str, Any]]] = defaultdict(dict)
    for rule, system, code, display, commented, count in stats.reasons:
        if code is not None:
            key: tuple[Any, ...] = (system, code)
            entry = {"system": system, "code": code, "display": display}
        elif commented:
            key, entry = ("comment",), {"display": "comment only"}
        else:
            key, entry = ("none",), {"display": "no reason given"}
        slot = reasons[rule].setdefault(key, {**entry, "count": 0})
        slot["count"] += int(count)
        if display and not slot.get("display"):
            slot["display"] = display
    out = []
    for rule in sorted(rows):
        row = rows[rule]
        ranked = sorted(
            reasons[rule].values(), key=lambda r: (-r["count"], str(r.get("code") or r["display"]))
        )
        out.append(
            {
                "rule": rule,
                **row,
                "acceptance_rate": _rate(row["accepted"], row["shown"]),
                "override_rate": _rate(row["overridden"], row["shown"]),
                "top_override_reasons": ranked[:top],
            }
        )
    return out


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.0f}%"


def _reason_text(reason: dict[str, Any]) -> str:
    label = reason.get("display") or reason.get("code") or "?"
    return f"{printable(label)} ({reason['count']})"


def format_table(document: dict[str, Any]) -> str:
    """The report as a table for a terminal. Rule ids and override reasons are client data (a
    reason's ``display`` is whatever the EHR sent): every cell goes through ``printable``."""
    lines = [f"Cards issued {document['since'] or 'from the start'} .. {document['until'] or 'now'} (UTC)"]
    header = (f"{'RULE':40} {'SHOWN':>6} {'SILENT':>6} {'ACCEPT':>6} {'OVERR':>6} {'ACC%':>5} {'OVR%':>5}"
              "  TOP OVERRIDE REASONS")
    lines += [header, "-" * len(header)]
    if not document["rules"]:
        lines.append("(no cards in this period)")
    for row in document["rules"]:
        reasons = "; ".join(_reason_text(r) for r in row["top_override_reasons"])
        lines.append(
            f"{printable(row['rule']):40} {row['shown']:>6} {row['silenced']:>6} {row['accepted']:>6} "
            f"{row['overridden']:>6} {_percent(row['acceptance_rate']):>5} "
            f"{_percent(row['override_rate']):>5}  {reasons}"
        )
    if document["unmatched_feedback"]:
        lines.append(f"Feedback on cards not in the audit log: {document['unmatched_feedback']}")
    return "\n".join(lines)


def build_report(
    store: Store, since: datetime | None, until: datetime | None, *, top: int = 3
) -> dict[str, Any]:
    stats = store.rule_statistics(since, until)
    return {
        "since": since.isoformat() if since else None,
        "until": until.isoformat() if until else None,
        "rules": summarise(stats, top=top),
        "unmatched_feedback": stats.unmatched_feedback,
    }


def run_report(
    config: Any,
    argv: Sequence[str],
    *,
    prog: str = "report",
    store_factory: Callable[[Any], Store] | None = None,
) -> int:
    """The ``report`` command: parse ``argv``, query the configured store, print; return an exit code."""
    parser = argparse.ArgumentParser(prog=prog, description="Feedback statistics per rule")
    parser.add_argument(
        "--since",
        type=lambda t: _parse_bound(t, end=False),
        default=None,
        help="first day (ISO date, UTC, inclusive) or ISO date-time",
    )
    parser.add_argument(
        "--until",
        type=lambda t: _parse_bound(t, end=True),
        default=None,
        help="last day (ISO date, UTC, inclusive) or ISO date-time (exclusive)",
    )
    parser.add_argument("--top", type=int, default=3, help="override reasons listed per rule (default 3)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = parser.parse_args(list(argv))
    if args.since and args.until and args.since >= args.until:
        parser.error("--since must be before --until")
    store = (store_factory or (lambda c: Store(c.storage.url, salt=None)))(config)
    try:
        document = build_report(store, args.since, args.until, top=max(0, args.top))
    finally:
        store.dispose()
    print(json.dumps(document, indent=2) if args.json else format_table(document))
    return 0
