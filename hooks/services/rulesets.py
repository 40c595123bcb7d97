"""Which rules each hook runs: the theme modules' rule lists, in catalog order."""

from __future__ import annotations

from .. import dosing, indications, interactions, monitoring, safety

_THEMES = (indications, dosing, safety, interactions, monitoring)

ORDER_RULES = tuple(rule for theme in _THEMES for rule in theme.ORDER_RULES)
PATIENT_VIEW_RULES = tuple(rule for theme in _THEMES for rule in theme.PATIENT_VIEW_RULES)
