"""Number, date and dose formatting for card text, so every card speaks the same way."""

from __future__ import annotations

from datetime import datetime


def num(value: float, digits: int = 1) -> str:
    """``1000`` -> ``1,000``; ``12.5`` -> ``12.5``; ``12.0`` -> ``12`` (no trailing zeros)."""
    rounded = round(value, digits)
    if float(rounded).is_integer():
        return f"{int(rounded):,}"
    return f"{rounded:,.{digits}f}".rstrip("0").rstrip(".")


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
