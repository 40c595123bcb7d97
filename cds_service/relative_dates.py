"""Relative-date markers for fixtures: JSON that stays clinically valid on any day it is used.

Clinical windows (a weight at most 90 days old, a trough in the last 90 days, a live vaccine within
14 days of Ig...) are measured from "now", and tests run on any future day, so fixtures and demo
requests never hold absolute dates for clinically relevant events. They hold markers instead, which
:func:`expand` turns into dates relative to a given ``now``:

=================  =====================================================  ==========================
Marker             Meaning                                                Expands to
=================  =====================================================  ==========================
``@now``           the instant ``now``                                    ``2026-11-12T10:00:00Z``
``@now-10d``       ``now`` minus 10 days (also ``+``)                     ISO-8601 UTC dateTime
``@now-12h``       hours; ``min`` minutes; ``w`` weeks                    ISO-8601 UTC dateTime
``@now-6mo``       calendar months                                        ISO-8601 UTC dateTime
``@now-2y``        calendar years                                         ISO-8601 UTC dateTime
``@today``         ``now``'s UTC date                                     ``2026-11-12``
``@today-40y``     date arithmetic with ``d``, ``w``, ``mo``, ``y``       ``YYYY-MM-DD``
=================  =====================================================  ==========================

Rules:

* A marker is a whole JSON string; markers inside longer text are not touched.
* DateTimes are UTC with seconds precision and a ``Z`` suffix (sub-second parts of ``now`` are
  dropped before the arithmetic).
* Months and years are calendar arithmetic: the day is clamped to the end of the target month
  (``2026-03-31`` minus 1 month is ``2026-02-28``; ``2024-02-29`` plus 1 year is ``2025-02-28``).
  Days, weeks, hours and minutes are exact durations.
* A string that starts like a marker (``@now`` or ``@today`` followed by ``+`` or ``-``) but does
  not parse (``@now-3x``, ``@today-12h``) raises :class:`ValueError`: a typo in a fixture must fail
  loudly, not become a literal. Anything else (``"@nowhere"``, ``"now"``, ``"@now "``) is left alone.

Everything here is pure: :func:`expand` returns a new structure and never mutates its input.
"""

from __future__ import annotations

import calendar
import re
from datetime import UTC, date, datetime, timedelta
from typing import Any

__all__ = ["expand", "expand_marker", "has_markers", "is_marker"]

_MARKER = re.compile(r"@(?P<base>now|today)(?:(?P<sign>[+-])(?P<amount>\d+)(?P<unit>mo|min|y|w|d|h))?")
#: Anything that claims to be a marker: ``@now``/``@today`` alone or followed by an offset sign.
_CLAIMS = re.compile(r"@(?:now|today)(?:[+-].*)?", re.DOTALL)

_DATE_UNITS = frozenset({"d", "w", "mo", "y"})


def is_marker(value: Any) -> bool:
    """True when ``value`` is a string that :func:`expand` would replace (or reject as malformed)."""
    return isinstance(value, str) and _CLAIMS.fullmatch(value) is not None


def has_markers(value: Any) -> bool:
    """True when ``value`` (a JSON-like structure of dicts, lists and scalars) holds any marker."""
    if isinstance(value, str):
        return is_marker(value)
    if isinstance(value, dict):
        return any(has_markers(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return any(has_markers(v) for v in value)
    return False


def expand(value: Any, now: datetime) -> Any:
    """Return a copy of ``value`` with every marker string replaced by its date relative to ``now``.

    Walks dicts (values only, never keys), lists and tuples; other values are returned untouched.
    ``now`` must be timezone-aware; it is converted to UTC.
    """
    utc_now = _utc_seconds(now)
    return _expand(value, utc_now)


def expand_marker(marker: str, now: datetime) -> str:
    """Expand a single marker string; raise :class:`ValueError` when it is not a valid marker."""
    if not is_marker(marker):
        raise ValueError(f"not a relative-date marker: {marker!r}")
    return _expand_one(marker, _utc_seconds(now))


def _utc_seconds(now: datetime) -> datetime:
    if not isinstance(now, datetime):
        raise TypeError(f"now must be a datetime, not {type(now).__name__}")
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be timezone-aware (e.g. datetime.now(timezone.utc))")
    return now.astimezone(UTC).replace(microsecond=0)


def _expand(value: Any, now: datetime) -> Any:
    if isinstance(value, str):
        return _expand_one(value, now) if is_marker(value) else value
    if isinstance(value, dict):
        return {k: _expand(v, now) for k, v in value.items()}
    if isinstance(value, list):
        return [_expand(v, now) for v in value]
    if isinstance(value, tuple):
        return tuple(_expand(v, now) for v in value)
    return value


def _expand_one(marker: str, now: datetime) -> str:
    m = _MARKER.fullmatch(marker)
    if m is None:
        raise ValueError(
            f"malformed relative-date marker {marker!r}: expected @now or @today, optionally followed "
            "by +N or -N and a unit (d, w, h, min, mo, y; @today takes d, w, mo, y)"
        )
    base, unit = m.group("base"), m.group("unit")
    amount = 0 if unit is None else int(m.group("amount")) * (-1 if m.group("sign") == "-" else 1)
    if base == "today":
        if unit is not None and unit not in _DATE_UNITS:
            raise ValueError(f"malformed relative-date marker {marker!r}: @today takes d, w, mo or y")
        return _shift_date(now.date(), amount, unit).isoformat()
    return _shift_datetime(now, amount, unit).strftime("%Y-%m-%dT%H:%M:%SZ")


def _shift_datetime(now: datetime, amount: int, unit: str | None) -> datetime:
    if unit in ("mo", "y"):
        day = _shift_date(now.date(), amount, unit)
        return now.replace(year=day.year, month=day.month, day=day.day)
    if unit is None:
        return now
    return now + _duration(amount, unit)


def _shift_date(day: date, amount: int, unit: str | None) -> date:
    if unit is None:
        return day
    if unit == "y":
        return _add_months(day, 12 * amount)
    if unit == "mo":
        return _add_months(day, amount)
    return day + _duration(amount, unit)


def _duration(amount: int, unit: str) -> timedelta:
    return {
        "d": timedelta(days=amount),
        "w": timedelta(weeks=amount),
        "h": timedelta(hours=amount),
        "min": timedelta(minutes=amount),
    }[unit]


def _add_months(day: date, months: int) -> date:
    """Calendar month arithmetic, clamping the day to the end of the target month."""
    index = day.year * 12 + (day.month - 1) + months
    year, month = divmod(index, 12)
    month += 1
    if not 1 <= year <= 9999:
        raise ValueError(f"date out of range: {day.isoformat()} shifted by {months} months")
    last = calendar.monthrange(year, month)[1]
    return date(year, month, min(day.day, last))
