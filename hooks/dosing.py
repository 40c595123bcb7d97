"""Rules of the dosing theme (RULES.md). Populated by the rule modules' authors."""

from __future__ import annotations

ORDER_RULES: tuple = ()
PATIENT_VIEW_RULES: tuple = ()
