"""The three igcds CDS services, declared once; discovery is derived from these declarations.

``SERVICES`` is resolved lazily so that importing a leaf module of this package (``prefetch``,
which ``hooks.facts`` needs) does not import the services, which import ``hooks.facts``.
"""

from __future__ import annotations

from typing import Any

__all__ = ["SERVICES", "ORDER_SELECT", "ORDER_SIGN", "PATIENT_VIEW"]


def __getattr__(name: str) -> Any:
    if name not in __all__:
        raise AttributeError(name)
    from .order_select import SERVICE as ORDER_SELECT
    from .order_sign import SERVICE as ORDER_SIGN
    from .patient_view import SERVICE as PATIENT_VIEW

    found = {"ORDER_SELECT": ORDER_SELECT, "ORDER_SIGN": ORDER_SIGN, "PATIENT_VIEW": PATIENT_VIEW,
             "SERVICES": (ORDER_SELECT, ORDER_SIGN, PATIENT_VIEW)}
    globals().update(found)
    return found[name]
