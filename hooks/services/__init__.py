"""The three igcds CDS services, declared once; discovery is derived from these declarations."""

from .order_select import SERVICE as ORDER_SELECT
from .order_sign import SERVICE as ORDER_SIGN
from .patient_view import SERVICE as PATIENT_VIEW

SERVICES = (ORDER_SELECT, ORDER_SIGN, PATIENT_VIEW)

__all__ = ["SERVICES", "ORDER_SELECT", "ORDER_SIGN", "PATIENT_VIEW"]
