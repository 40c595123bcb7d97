"""The one mapping error: a resource the rules would read but that cannot be used."""

from __future__ import annotations


class MappingError(ValueError):
    """Raised by a mapper for a structurally unusable resource; the message carries no PHI (no values,
    names or identifiers), because it is recorded in ``Skipped.reason`` and may be logged."""
