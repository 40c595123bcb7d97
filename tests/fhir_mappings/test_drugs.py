"""Medication classes from codes and names, with the Ig exclusions of docs/clinical-rules.md Terms winning."""

import pytest

from fhir_mappings.codings import ATC, CVX, NDC, RXNORM
from fhir_mappings.drugs import DRUG_SETS, IG_PRODUCTS, classify_drug, names_immune_globulin, normalise_ndc
from fhir_mappings.model import Code, MedClass, Route

IG, EXCLUDED = MedClass.IMMUNE_GLOBULIN, MedClass.IG_EXCLUDED


def _classes(text: str = "", *codes: Code, route: Route | None = None, vaccine: bool = False) -> frozenset[MedClass]:
    return classify_drug(codes, text.lower(), route=route, vaccine_context=vaccine).classes


def _is_ig(classes: frozenset[MedClass]) -> bool:
    return IG in classes and EXCLUDED not in classes


@pytest.mark.parametrize(
    "codes",
    [(Code(ATC, "J06BA02"),), (Code(ATC, "J06BA01"),), (Code(CVX, "87"),), (Code(NDC, "44206-0439-92"),),
     (Code(NDC, "44206-439-92"),), (Code(NDC, "44206043992"),), (Code(NDC, "0944-2700-04"),), (Code(NDC, "00944270004"),),
     (Code(NDC, "0944-2658-01"),), (Code(NDC, "13533-0805-20"),)],
)
def test_ig_recognised_by_code(codes: tuple[Code, ...]) -> None:
    assert _is_ig(_classes("", *codes))


@pytest.mark.parametrize(
    "name",
    ["Privigen", "Gammagard Liquid", "Gammagard S/D", "Gamunex-C", "Gammaked", "Octagam 10%", "Flebogamma DIF",
     "Panzyga", "Bivigam", "Gammaplex 5%", "Asceniv", "Alyglo", "Yimmugo", "Hizentra", "Cuvitru", "Xembify",
     "Cutaquig", "HyQvia", "immune globulin intravenous (human) 10%", "Human normal immunoglobulin", "IVIG", "SCIG"],
)
def test_ig_recognised_by_name(name: str) -> None:
    assert _is_ig(_classes(name))


def test_site_rxnorm_list_recognises_ig_only_when_configured() -> None:
    code = Code(RXNORM, "999999")
    assert not classify_drug([code], "").classes
    assert IG in classify_drug([code], "", rxnorm_ig_codes=["999999"]).classes


@pytest.mark.parametrize(
    ("name", "codes", "route"),
    [
        ("immune globulin", (Code(CVX, "86"),), None),
        ("GamaSTAN", (), None),
        ("", (Code(NDC, "13533-0635-12"),), None),
        ("immune globulin", (), Route.IM),
        ("Privigen", (), Route.IM),
        ("immune globulin", (Code(ATC, "J06BB04"),), None),
        ("WinRho SDF", (), None),
        ("Rho(D) immune globulin", (), None),
        ("RhoGAM", (), None),
        ("Rhophylac", (), None),
        ("anti-D immunoglobulin", (), None),
        ("Hepatitis B immune globulin", (), None),
        ("HBIG", (), None),
        ("HepaGam B", (), None),
        ("Nabi-HB", (), None),
        ("Rabies immune globulin", (), None),
        ("HyperRAB", (), None),
        ("Imogam Rabies", (), None),
        ("Kedrab", (), None),
        ("Tetanus immune globulin", (), None),
        ("HyperTET S/D", (), None),
        ("Cytomegalovirus immune globulin", (), None),
        ("CytoGam", (), None),
        ("Varicella zoster immune globulin", (), None),
        ("VariZIG", (), None),
        ("Botulism immune globulin", (), None),
        ("BabyBIG", (), None),
        ("Anthrax immune globulin", (), None),
        ("Vaccinia immune globulin", (), None),
        ("anti-thymocyte globulin (rabbit)", (), None),
        ("Thymoglobulin", (), None),
        ("Atgam", (), None),
        ("lymphocyte immune globulin, anti-thymocyte globulin (equine)", (), None),
    ],
)
def test_exclusions_win(name: str, codes: tuple[Code, ...], route: Route | None) -> None:
    classes = _classes(name, *codes, route=route)
    assert not _is_ig(classes)
    assert EXCLUDED in classes


def test_varicella_vaccine_is_a_live_vaccine_not_an_excluded_globulin() -> None:
    vaccine = _classes("Varicella vaccine")
    assert {MedClass.LIVE_VACCINE, MedClass.MEASLES_VARICELLA_VACCINE} <= vaccine
    assert EXCLUDED not in vaccine and IG not in vaccine
    vzig = _classes("Varicella zoster immune globulin")
    assert MedClass.LIVE_VACCINE not in vzig


@pytest.mark.parametrize(
    ("name", "key"),
    [("Privigen 10%", "privigen"), ("GAMMAGARD LIQUID", "gammagard-liquid"), ("Gamunex-C", "gamunex-c"),
     ("HyQvia", "hyqvia"), ("Gammagard S/D", None), ("immune globulin", None)],
)
def test_product_key(name: str, key: str | None) -> None:
    assert classify_drug([], name.lower()).product == key


@pytest.mark.parametrize(("ndc", "key"), [("44206-0454-04", "hizentra"), ("0069-6550-01", "octagam"),
                                          ("76125-900-10", "gammaked"), ("68982084001", "octagam")])
def test_product_key_by_ndc(ndc: str, key: str) -> None:
    assert classify_drug([Code(NDC, ndc)], "").product == key


def test_ndc_normalisation() -> None:
    assert normalise_ndc("44206-439-92") == ("442060439",)
    assert normalise_ndc("0944-2700-04") == ("009442700",)
    assert normalise_ndc("00944270004") == ("009442700",)
    assert len(normalise_ndc("4420643992")) == 3  # ambiguous 10-digit form: every reading
    assert normalise_ndc("abc") == ()


def test_sc_products_are_subcutaneous_by_label() -> None:
    for product in IG_PRODUCTS:
        assert classify_drug([], product.key.replace("-", " ")).subcutaneous_product is product.subcutaneous
    assert classify_drug([Code(ATC, "J06BA01")], "").subcutaneous_product


@pytest.mark.parametrize(
    ("text", "codes", "expected"),
    [
        ("", (Code(RXNORM, "198335"),), {MedClass.TMP_SMX, MedClass.PJP_PROPHYLAXIS, MedClass.SULFONAMIDE}),
        ("Bactrim DS", (), {MedClass.TMP_SMX, MedClass.PJP_PROPHYLAXIS, MedClass.SULFONAMIDE}),
        ("co-trimoxazole", (), {MedClass.TMP_SMX, MedClass.PJP_PROPHYLAXIS, MedClass.SULFONAMIDE}),
        ("trimethoprim 100 mg", (), set()),
        ("Dapsone 100 mg", (), {MedClass.PJP_PROPHYLAXIS}),
        ("atovaquone suspension", (), {MedClass.PJP_PROPHYLAXIS}),
        ("pentamidine inhaled", (), {MedClass.PJP_PROPHYLAXIS}),
        ("", (Code(RXNORM, "121191"),), {MedClass.ANTI_CD20}),
        ("rituximab-abbs", (), {MedClass.ANTI_CD20}),
        ("Truxima", (), {MedClass.ANTI_CD20}),
        ("Kesimpta", (), {MedClass.ANTI_CD20}),
        ("Ocrevus", (), {MedClass.ANTI_CD20}),
        ("Gazyva", (), {MedClass.ANTI_CD20}),
        ("ethinyl estradiol / levonorgestrel", (), {MedClass.ESTROGEN}),
        ("Conjugated estrogens 0.625 mg", (), {MedClass.ESTROGEN}),
        ("entecavir", (), {MedClass.HBV_ANTIVIRAL}),
        ("tenofovir disoproxil", (), {MedClass.HBV_ANTIVIRAL}),
        ("methylprednisolone sodium succinate", (), {MedClass.CORTICOSTEROID}),
        ("prednisone 20 mg", (), {MedClass.CORTICOSTEROID}),
        ("dexamethasone", (), {MedClass.CORTICOSTEROID}),
        ("gentamicin", (), {MedClass.NEPHROTOXIC}),
        ("vancomycin 1 g IV", (), {MedClass.NEPHROTOXIC}),
        ("amphotericin B liposomal", (), {MedClass.NEPHROTOXIC}),
        ("cisplatin", (), {MedClass.NEPHROTOXIC}),
        ("Magnesium sulfate", (), set()),
        ("sulfa drugs", (), {MedClass.SULFONAMIDE}),
    ],
)
def test_other_classes(text: str, codes: tuple[Code, ...], expected: set[MedClass]) -> None:
    assert _classes(text, *codes) == expected


LIVE_CVX = ["03", "94", "21", "121", "119", "116", "122", "74", "37", "111", "149", "151", "19", "25", "02", "75", "143",
            "174"]


@pytest.mark.parametrize("cvx", LIVE_CVX)
def test_live_vaccine_cvx(cvx: str) -> None:
    classes = _classes("", Code(CVX, cvx))
    assert MedClass.LIVE_VACCINE in classes
    assert (MedClass.MEASLES_VARICELLA_VACCINE in classes) is (cvx in ("03", "94", "21"))
    assert (MedClass.OPV_BCG_YELLOW_FEVER in classes) is (cvx in ("02", "19", "37"))


def test_cvx_without_leading_zero_is_the_same_code() -> None:
    assert MedClass.MEASLES_VARICELLA_VACCINE in _classes("", Code(CVX, "3"))


@pytest.mark.parametrize(
    "name",
    ["MMR II", "MMRV (ProQuad)", "measles vaccine", "Zostavax", "zoster vaccine live", "rotavirus vaccine",
     "yellow fever vaccine", "FluMist", "influenza vaccine, live, intranasal", "BCG vaccine", "typhoid vaccine, oral",
     "Vivotif", "Ty21a", "OPV", "oral polio vaccine", "smallpox vaccine", "vaccinia vaccine", "adenovirus vaccine",
     "Vaxchora", "cholera vaccine, live"],
)
def test_live_vaccine_names(name: str) -> None:
    assert MedClass.LIVE_VACCINE in _classes(name)


@pytest.mark.parametrize(
    "name",
    ["Shingrix zoster vaccine recombinant", "influenza vaccine inactivated", "IPV", "hepatitis B vaccine",
     "tetanus toxoid", "typhoid Vi polysaccharide vaccine", "JYNNEOS smallpox and monkeypox vaccine, non-replicating"],
)
def test_not_live_vaccines(name: str) -> None:
    assert MedClass.LIVE_VACCINE not in _classes(name)


def test_non_ig_vaccines_never_get_ig_exclusion() -> None:
    assert EXCLUDED not in _classes("Hepatitis B vaccine")
    assert EXCLUDED not in _classes("rabies vaccine")


def test_every_drug_set_is_sourced() -> None:
    assert all(s.source for s in DRUG_SETS)


def test_allergy_substances_naming_immune_globulin() -> None:
    assert names_immune_globulin([], "ivig")
    assert names_immune_globulin([], "rho(d) immune globulin")
    assert not names_immune_globulin([], "anti-thymocyte globulin")
    assert not names_immune_globulin([], "penicillin")


_ANTI_D = ("WinRho SDF", "Rho(D) immune globulin", "RhoGAM", "Rhophylac", "anti-D immunoglobulin")
_ANTI_LYMPHOCYTE = ("anti-thymocyte globulin (rabbit)", "Thymoglobulin", "Atgam",
                    "lymphocyte immune globulin, anti-thymocyte globulin (equine)")


@pytest.mark.parametrize(
    ("name", "codes", "route", "antibody_containing"),
    [
        ("Privigen", (), None, True),
        ("Hizentra", (), Route.SC, True),
        ("", (Code(ATC, "J06BA02"),), None, True),
        ("immune globulin", (Code(CVX, "86"),), None, True),
        ("", (Code(CVX, "86"),), None, True),
        ("GamaSTAN", (), None, True),
        ("", (Code(NDC, "13533-0635-12"),), None, True),
        ("immune globulin", (), Route.IM, True),
        ("Hepatitis B immune globulin", (), None, True),
        ("HyperRAB", (), None, True),
        ("VariZIG", (), None, True),
        ("CytoGam", (), None, True),
        ("BabyBIG", (), None, True),
        ("immune globulin", (Code(ATC, "J06BB04"),), None, True),
        # An ATC code alone is not a globulin: J06B also holds monoclonals (palivizumab: ACIP, no interval).
        ("palivizumab", (Code(ATC, "J06BB16"),), Route.IM, False),
        ("Varicella vaccine", (), None, False),
        *[(name, (), None, False) for name in _ANTI_D + _ANTI_LYMPHOCYTE],
    ],
)
def test_antibody_containing_products_are_every_human_ig_but_anti_d(
    name: str, codes: tuple[Code, ...], route: Route | None, antibody_containing: bool
) -> None:
    """docs/clinical-rules.md ``order-ig-after-live-vaccine``: IV, SC, IM or hyperimmune Ig, not anti-D (ACIP)."""
    assert (MedClass.ANTIBODY_CONTAINING in _classes(name, *codes, route=route)) is antibody_containing


@pytest.mark.parametrize("code", ["1011", "91601", "1204", "225741", "197906", "107047", "206289", "1870646", "107050"])
def test_anti_thymocyte_globulins_are_excluded_by_their_cited_rxnorm_codes(code: str) -> None:
    """Even when the name says "globulin" only: ATG is never an Ig order (docs/clinical-rules.md Terms)."""
    classes = _classes("immune globulin injection", Code(RXNORM, code))
    assert EXCLUDED in classes and not _is_ig(classes)


def test_no_rxnorm_code_makes_an_ig_product_by_default() -> None:
    """No RxNorm code of a normal human Ig product could be cited: a site lists its own (ig_rxnorm_codes)."""
    assert not _is_ig(_classes("", Code(RXNORM, "1426680")))
