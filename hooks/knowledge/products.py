"""Immune globulin product facts (clinical-facts §2.3–2.6), one row per product key.

Keys are the mapper's product keys (``fhir_mappings.drugs.IG_PRODUCTS``). A value the reference marks
UNVERIFIED, or does not give, is ``None``: rules then say the fact is not on file instead of guessing.
Every row and every SC site-limit row carries its source.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..catalog import Citation

_VIALS = "drugs.com/ppa/immune-globulin; EU SmPCs (clinical-facts §2.3)"
_RULES_FACTOR = "docs/clinical-rules.md order-scig-conversion (factor)"


@dataclass(frozen=True, slots=True)
class ScSiteLimit:
    """One SC per-site limit of a product label, for the patients/infusions it applies to.

    Selectors are inclusive lower / exclusive upper bounds; None = no bound.
    """

    max_ml_per_site: float | None
    max_ml_per_hour_per_site: float | None
    source: Citation
    age_min: int | None = None
    age_below: int | None = None
    weight_min_kg: float | None = None
    weight_below_kg: float | None = None
    #: 1-based number of this product's infusion (Hizentra and Cutaquig ramp per infusion).
    infusion_min: int | None = None
    infusion_max: int | None = None
    max_sites: int | None = None
    note: str = ""

    def applies(self, age: int | None, weight_kg: float | None, infusion: int) -> bool:
        def within(value: float | None, low: float | None, below: float | None) -> bool:
            if low is None and below is None:
                return True
            if value is None:
                return False
            return (low is None or value >= low) and (below is None or value < below)

        return (
            within(age, self.age_min, self.age_below)
            and within(weight_kg, self.weight_min_kg, self.weight_below_kg)
            and (self.infusion_min is None or infusion >= self.infusion_min)
            and (self.infusion_max is None or infusion <= self.infusion_max)
        )


@dataclass(frozen=True, slots=True)
class Product:
    key: str
    name: str
    #: "iv", "sc" or "iv/sc" (label routes).
    routes: str
    #: g of IgG per mL (0.10 = 10%); None when the reference does not give one concentration.
    concentration_g_per_ml: float | None
    vial_sizes_g: tuple[float, ...]
    #: IgA content, µg/mL (maximum, or average where ``iga_note`` says so); None = not on file.
    iga_ug_per_ml: float | None
    iga_note: str
    #: IV-to-SC weekly conversion factor (label); None = not on file.
    sc_factor: float | None
    #: True = sucrose-stabilised; False = stabiliser known and not sucrose; None = not on file.
    sucrose: bool | None
    source: Citation
    sc_limits: tuple[ScSiteLimit, ...] = ()
    marketed: bool = True
    #: True when the name can also mean the brand in another strength, so that a dose in mL of it is
    #: not read without a stated strength (docs/clinical-rules.md Resolved details, "Concentration of a dose in mL":
    #: Octagam and Gammagard exist in two strengths).
    other_strengths: bool = False

    @property
    def facilitated(self) -> bool:
        """HyQvia (facilitated SC with hyaluronidase): checked like IV replacement (docs/clinical-rules.md)."""
        return self.key == "hyqvia"


_XEMBIFY_SRC = Citation(
    "Xembify prescribing information (prescriberpoint label excerpt; clinical-facts §2.5)"
)
_HIZENTRA_SRC = Citation("Hizentra dosage (drugs.com; clinical-facts §2.5)")
_GG_SRC = Citation("Gammagard Liquid SC administration (gammagard.com; clinical-facts §2.5)")
_CUTAQUIG_SRC = Citation("Cutaquig administration (cutaquigus.com; clinical-facts §2.5)")
_GAMUNEX_SRC = Citation("Gamunex-C SC administration (medscape; clinical-facts §2.5)")

#: The seed's SC limits (docs/clinical-rules.md order-scig-administration): they are the Xembify label's.
SEED_SC_LIMITS: tuple[ScSiteLimit, ...] = (
    ScSiteLimit(
        25,
        25,
        Citation("seed document 003 = Xembify label limits (age 2 to < 10 y)"),
        age_min=2,
        age_below=10,
        max_sites=6,
    ),
    ScSiteLimit(
        25, 35, Citation("seed document 003 = Xembify label limits (age >= 10 y)"), age_min=10, max_sites=6
    ),
)

PRODUCTS: tuple[Product, ...] = (
    Product(
        "privigen",
        "Privigen",
        "iv",
        0.10,
        (5, 10, 20, 40),
        25,
        "≤25 µg/mL",
        None,
        False,
        Citation(
            f"{_VIALS}; Privigen EU SmPC / privigen.com: IgA ≤25 µg/mL, proline-stabilised "
            "(clinical-facts §2.6)"
        ),
    ),
    Product(
        "gammagard-liquid",
        "Gammagard Liquid",
        "iv/sc",
        0.10,
        (1, 2.5, 5, 10, 20, 30),
        37,
        "average 37 µg/mL",
        1.37,
        False,
        Citation(
            f"{_VIALS}; gammagard.com: IgA average 37 µg/mL, glycine, no added sugar; SC factor 1.37 "
            "(clinical-facts §2.5–2.6)"
        ),
        sc_limits=(
            ScSiteLimit(30, 20, _GG_SRC, weight_min_kg=40, note="maintenance 20–30 mL/h/site"),
            ScSiteLimit(20, 15, _GG_SRC, weight_below_kg=40, note="maintenance 15–20 mL/h/site"),
        ),
        other_strengths=True,  # "Gammagard" also names Gammagard S/D (docs/clinical-rules.md: two strengths)
    ),
    Product(
        "gamunex-c",
        "Gamunex-C",
        "iv/sc",
        0.10,
        (1, 2.5, 5, 10, 20, 40),
        None,
        "not on file",
        1.37,
        None,
        Citation(f"{_VIALS}; Gamunex-C SC factor 1.37, ≤20 mL/h/site (medscape; clinical-facts §2.5)"),
        sc_limits=(ScSiteLimit(None, 20, _GAMUNEX_SRC),),
    ),
    Product(
        "gammaked",
        "Gammaked",
        "iv",
        0.10,
        (1, 2.5, 5, 10, 20),
        None,
        "not on file",
        None,
        None,
        Citation(_VIALS),
    ),
    Product("bivigam", "Bivigam", "iv", 0.10, (5, 10), None, "not on file", None, None, Citation(_VIALS)),
    # Flebogamma DIF and Octagam and Gammaplex come as 5% and 10%: one concentration is not on file.
    Product(
        "flebogamma",
        "Flebogamma DIF",
        "iv",
        None,
        (0.5, 2.5, 5, 10, 20),
        50,
        "≤50 µg/mL (5% DIF)",
        None,
        False,
        Citation(f"{_VIALS}; Flebogamma DIF EU SmPC: IgA ≤50 µg/mL, 5% D-sorbitol (clinical-facts §2.6)"),
    ),
    Product(
        "octagam",
        "Octagam",
        "iv",
        None,
        (1, 2.5, 5, 10, 25),
        None,
        "not on file",
        None,
        None,
        Citation(f"{_VIALS} (Octagam 5% sizes)"),
    ),
    Product(
        "gammaplex",
        "Gammaplex",
        "iv",
        None,
        (5, 10, 20),
        None,
        "not on file",
        None,
        None,
        Citation(f"{_VIALS} (Gammaplex 5% sizes)"),
    ),
    Product(
        "panzyga",
        "Panzyga",
        "iv",
        None,
        (),
        None,
        "not on file",
        None,
        None,
        Citation("clinical-facts §2.4 (rates only; concentration and vials not on file)"),
    ),
    Product(
        "asceniv",
        "Asceniv",
        "iv",
        None,
        (),
        None,
        "not on file",
        None,
        None,
        Citation("clinical-facts §2.4 (rates only)"),
    ),
    Product(
        "alyglo",
        "Alyglo",
        "iv",
        None,
        (),
        None,
        "not on file",
        None,
        None,
        Citation("docs/clinical-rules.md Terms (name only; no product facts on file)"),
    ),
    Product(
        "yimmugo",
        "Yimmugo",
        "iv",
        None,
        (),
        None,
        "not on file",
        None,
        None,
        Citation("docs/clinical-rules.md Terms (name only; no product facts on file)"),
    ),
    Product(
        "hizentra",
        "Hizentra",
        "sc",
        0.20,
        (4,),
        None,
        "not on file",
        1.37,
        None,
        Citation(
            "Hizentra: 0.2 g/mL, 20 mL vial = 4 g (openFDA NDC 44206-454); factor 1.37 (drugs.com); "
            "clinical-facts §1.3, §2.3, §2.5"
        ),
        sc_limits=(
            ScSiteLimit(15, 15, _HIZENTRA_SRC, infusion_min=1, infusion_max=1, note="1st infusion"),
            ScSiteLimit(15, 25, _HIZENTRA_SRC, infusion_min=2, infusion_max=4, note="2nd–4th infusion"),
            ScSiteLimit(20, 25, _HIZENTRA_SRC, infusion_min=5, infusion_max=5, note="5th infusion"),
            ScSiteLimit(25, 25, _HIZENTRA_SRC, infusion_min=6, note="6th infusion onward"),
        ),
    ),
    Product(
        "cuvitru",
        "Cuvitru",
        "sc",
        None,
        (),
        None,
        "not on file",
        1.30,
        None,
        Citation(
            "Cuvitru conversion factor 1.30 (drugs.com; clinical-facts §2.5); concentration not on file"
        ),
    ),
    Product(
        "xembify",
        "Xembify",
        "sc",
        0.20,
        (1, 2, 4, 10),
        160,
        "≤160 µg/mL",
        1.37,
        None,
        Citation(
            f"Xembify SmPC (20%; vials 1, 2, 4, 10 g; IgA ≤160 µg/mL; clinical-facts §2.3, §2.6); "
            f"{_RULES_FACTOR}"
        ),
        sc_limits=(
            ScSiteLimit(25, 25, _XEMBIFY_SRC, age_min=2, age_below=10, max_sites=6),
            ScSiteLimit(25, 35, _XEMBIFY_SRC, age_min=10, max_sites=6),
        ),
    ),
    Product(
        "cutaquig",
        "Cutaquig",
        "sc",
        0.165,
        (),
        None,
        "not on file",
        1.30,
        None,
        Citation(f"Cutaquig 16.5% (cutaquigus.com; clinical-facts §2.3, §2.5); {_RULES_FACTOR}"),
        sc_limits=(
            ScSiteLimit(
                25,
                20,
                _CUTAQUIG_SRC,
                infusion_min=1,
                infusion_max=6,
                note="15–20 mL/h/site for the first 6 infusions; 25 mL/site when SCIG-naive",
            ),
            ScSiteLimit(
                25, 25, _CUTAQUIG_SRC, infusion_min=7, note="25 mL/h/site; up to 40 mL/site if tolerated"
            ),
        ),
    ),
    Product(
        "hyqvia",
        "HyQvia",
        "sc",
        0.10,
        (2.5, 5, 10, 20, 30),
        None,
        "not on file",
        1.0,
        None,
        Citation(f"HyQvia 10% + rHuPH20, vials (clinical-facts §2.3); {_RULES_FACTOR} (1.0)"),
    ),
    Product(
        "carimune-nf",
        "Carimune NF",
        "iv",
        None,
        (),
        2000,
        "1000–2000 µg/mL",
        None,
        True,
        Citation(
            "therapeuticresearch.com comparison (clinical-facts §2.6): sucrose-stabilised, discontinued 2018"
        ),
        marketed=False,
    ),
)

PRODUCTS_BY_KEY: dict[str, Product] = {p.key: p for p in PRODUCTS}


def product(key: str | None) -> Product | None:
    return PRODUCTS_BY_KEY.get(key) if key else None


def ml_dose_concentration(key: str | None) -> float | None:
    """g/mL to read a dose in mL of this product when the order states no strength: the table's
    concentration, only for a product sold in one strength (docs/clinical-rules.md Resolved details, "Concentration
    of a dose in mL"); None otherwise (no guess)."""
    found = product(key)
    if found is None or found.other_strengths:
        return None
    return found.concentration_g_per_ml


def low_iga_products() -> list[Product]:
    """Marketed products with a known IgA content, lowest first (``order-iga-deficiency``)."""
    known = [p for p in PRODUCTS if p.marketed and p.iga_ug_per_ml is not None]
    return sorted(known, key=lambda p: p.iga_ug_per_ml or 0.0)


def sc_conversion_factor(key: str | None, mode: str) -> float | None:
    """Weekly SC = IV g per week × factor; ``mode`` "one" (site policy) uses 1.0 for every product."""
    if mode == "one":
        return 1.0
    found = product(key)
    return found.sc_factor if found else None
