"""The one mapping error: a resource the rules would read but that cannot be used."""

from __future__ import annotations


class MappingError(ValueError):
    """Raised by a mapper for a structurally unusable resource. The message is a short stable reason
    code (``unsupported-unit``, ``missing-date``, ``unknown-medication``...) and never carries PHI (no
    values, names or identifiers), because it is recorded in ``Skipped.reason``, returned in the
    response extension and logged."""
