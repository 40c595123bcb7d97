"""IV infusion rates from the product labels, and the vial-rounding tolerance (clinical-facts §2.3–2.4).

One row per product and labelled use: the initial rate and the maximum rate in mg/kg/min, the lower
maximum the label gives for patients at risk of renal dysfunction or thrombosis (Panzyga, Octagam), and a
step schedule where the reference gives one (Bivigam: +0.8 mg/kg/min every 20 min; Gammagard Liquid: the
initial rate for 30 min). A value the reference does not give is ``None``: the companion then says the
fact is not on file instead of guessing. Octagam 10% (12 mg/kg/min for ITP) is marked UNVERIFIED in the
reference and is left out. The 5% products' rows are for their 5% presentation (``presentation``).

Generic titration schedules seen in calculators (30 mL/h, +30 mL/h every 15–30 min up to 150–300 mL/h)
are institutional choices, not label limits, and are not here.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from ..catalog import Citation
from .thresholds import Threshold


class LabelUse(StrEnum):
    """The labelled use a rate row belongs to."""

    PI = "primary humoral immunodeficiency"
    ITP = "chronic ITP"
    CIDP = "CIDP"


@dataclass(frozen=True, slots=True)
class IvRate:
    product: str
    use: LabelUse
    initial_mg_kg_min: float
    max_mg_kg_min: float | None
    source: Citation
    #: The label's lower maximum for patients at risk of renal dysfunction or thrombosis.
    at_risk_max_mg_kg_min: float | None = None
    #: Minutes at the initial rate before stepping up (Gammagard Liquid: 30).
    initial_minutes: int | None = None
    #: A label step: +``step_mg_kg_min`` every ``step_minutes`` (Bivigam: 0.8 every 20).
    step_mg_kg_min: float | None = None
    step_minutes: int | None = None
    #: The presentation the row is for, when the product comes in several ("5%").
    presentation: str = ""
    note: str = ""


def _src(text: str) -> Citation:
    return Citation(f"{text} (clinical-facts §2.4)")


_PRIVIGEN = _src("Privigen prescribing information, privigen.com")
_PANZYGA = _src("Panzyga label, prescriberpoint / panzygausa.com")
_SUMMARY = _src("label summary, butalbitalapap.org")

IV_RATES: tuple[IvRate, ...] = (
    IvRate("privigen", LabelUse.PI, 0.5, 8, _PRIVIGEN),
    IvRate("privigen", LabelUse.ITP, 0.5, 4, _PRIVIGEN),
    IvRate("privigen", LabelUse.CIDP, 0.5, None, _PRIVIGEN, note="the maximum CIDP rate is not on file"),
    IvRate("panzyga", LabelUse.PI, 1, 14, _PANZYGA, at_risk_max_mg_kg_min=3.3),
    IvRate("panzyga", LabelUse.ITP, 1, 8, _PANZYGA, at_risk_max_mg_kg_min=3.3),
    IvRate("panzyga", LabelUse.CIDP, 1, 12, _PANZYGA, at_risk_max_mg_kg_min=3.3),
    IvRate(
        "gammagard-liquid", LabelUse.PI, 0.8, 8, _src("Gammagard Liquid, gammagard.com; medscape"),
        initial_minutes=30, note="0.5 mL/kg/h for 30 min, up to 5 mL/kg/h",
    ),
    IvRate("gamunex-c", LabelUse.PI, 0.8, 8, _src("Gamunex-C / Gammaked, medscape")),
    IvRate("gammaked", LabelUse.PI, 0.8, 8, _src("Gamunex-C / Gammaked, medscape")),
    IvRate(
        "bivigam", LabelUse.PI, 0.5, 6, _src("Bivigam, medscape; label summary, butalbitalapap.org"),
        step_mg_kg_min=0.8, step_minutes=20,
    ),
    IvRate("asceniv", LabelUse.PI, 0.5, 8, _SUMMARY),
    IvRate("flebogamma", LabelUse.PI, 0.5, 5, _SUMMARY, presentation="5% DIF"),
    IvRate("gammaplex", LabelUse.PI, 0.5, 4, _SUMMARY, presentation="5%"),
    IvRate(
        "octagam", LabelUse.PI, 0.5, 3.33, _SUMMARY, at_risk_max_mg_kg_min=3.3, presentation="5%",
        note="keep below 3.3 mg/kg/min when at risk of renal dysfunction or thrombosis",
    ),
)


def iv_rate(product: str | None, use: LabelUse | None) -> IvRate | None:
    if product is None or use is None:
        return None
    return next((r for r in IV_RATES if r.product == product and r.use is use), None)


#: Vial rounding stays within this fraction of the ordered dose, up or down.
VIAL_TOLERANCE = Threshold(
    "vial-rounding-tolerance",
    0.10,
    "fraction of the ordered dose",
    "the vial combination's total is within ± value × the ordered dose",
    Citation("J. Siegel, Pharmacy Purchasing & Products 2010, pppmag.com/article/753 (clinical-facts §2.3)"),
)
