"""Medication classes (``model.MedClass``) from codes and names: the sourced drug value sets.

Immune globulin recognition follows docs/clinical-rules.md "Terms" in its order: ATC J06BA01/J06BA02, CVX 87, NDC
product codes (clinical-facts §1.3), a site-supplied RxNorm list (no Ig product code could be cited, so
it is empty by default), then brand and generic names. Exclusions (hyperimmune, anti-D, ATG, IM Ig)
always win; the anti-thymocyte globulins are also excluded by their cited RxNorm codes
(``EXCLUDED_RXNORM``).

Words that also name vaccines or diseases (varicella, hepatitis B, rabies, vaccinia, ...) exclude a
product only when it is an immune globulin at all ("globulin context"): "varicella vaccine" is a live
vaccine, "varicella zoster immune globulin" is an excluded Ig.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field

from .codings import ATC, CVX, NDC, RXNORM
from .memo import BoundedMemo, key_chars
from .model import Code, MedClass, Route

_TERMS = "docs/clinical-rules.md Terms: Ig order"


# Name patterns run over client text (``words_of``: every name of a medication, lower-cased, joined
# by " | "), so each must do work linear in its length (tests/test_client_text_patterns.py). The two
# helpers below write the "X and Y in one name" patterns that way.


def _in_one_name(first: str, then: str) -> str:
    """``first`` and, later in the same name, ``then`` (what ``first[^|]*then`` means).

    ``first[^|]*then`` rescans the rest of the name from every ``first``: quadratic on
    "trimethoprim" * 10,000. This form starts only at the start of a name, takes its first ``first``
    for good (an atomic group: no backtracking to a later one, which could not do better) and then
    scans once for ``then``.
    """
    return rf"(?:^|\|)(?>[^|]*?(?:{first}))[^|]*?(?:{then})"


def _without_later(word: str, later: str) -> str:
    """``word`` with no ``later`` after it in the same name (what ``word(?![^|]*(?:later))`` means).

    The last ``word`` of a name decides, so the scan from each ``word`` stops at the next one (which
    scans on for itself) and fails at ``later``: every character is scanned from one ``word`` only.
    """
    return rf"{word}(?>(?:(?!{later}|{word})[^|])*)(?:\||\Z)"

_NDC_SRC = "clinical-facts §1.3 NDC product codes [V, openFDA]"


@dataclass(frozen=True, slots=True)
class IgProduct:
    """A normal human Ig product: brand key, name pattern, NDC product keys, SC by label."""

    key: str
    pattern: str
    ndc: tuple[str, ...] = ()
    subcutaneous: bool = False
    source: str = _TERMS
    regex: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "regex", re.compile(self.pattern))


#: Brand keys as used by the hooks' product tables. SC products per docs/clinical-rules.md Terms "Route".
IG_PRODUCTS: tuple[IgProduct, ...] = (
    IgProduct("privigen", r"\bprivigen\b", ("44206-439",), source=f"{_TERMS}; {_NDC_SRC}"),
    # "Gammagard S/D" (0944-2658) and "Gammagard Liquid ERC" (0944-2705) are other products: Ig, no key.
    IgProduct("gammagard-liquid", _without_later(r"\bgammagard\b", r"s/d|\berc\b"), ("0944-2700",),
              source=f"{_TERMS}; {_NDC_SRC}"),
    IgProduct("gamunex-c", r"\bgamunex\b", ("13533-805",), source=f"{_TERMS}; {_NDC_SRC}"),
    IgProduct("gammaked", r"\bgammaked\b", ("76125-900",), source=f"{_TERMS}; {_NDC_SRC}"),
    IgProduct("octagam", r"\boctagam\b", ("68982-840", "0069-6550", "0069-8476"), source=f"{_TERMS}; {_NDC_SRC}"),
    IgProduct("flebogamma", r"\bflebogamma\b"),
    IgProduct("panzyga", r"\bpanzyga\b"),
    IgProduct("bivigam", r"\bbivigam\b"),
    IgProduct("gammaplex", r"\bgammaplex\b"),
    IgProduct("asceniv", r"\basceniv\b"),
    IgProduct("alyglo", r"\balyglo\b"),
    IgProduct("yimmugo", r"\byimmugo\b"),
    IgProduct("hizentra", r"\bhizentra\b", ("44206-454",), True, f"{_TERMS}; {_NDC_SRC}"),
    IgProduct("cuvitru", r"\bcuvitru\b", subcutaneous=True),
    IgProduct("xembify", r"\bxembify\b", subcutaneous=True),
    IgProduct("cutaquig", r"\bcutaquig\b", subcutaneous=True),
    IgProduct("hyqvia", r"\bhyqvia\b", subcutaneous=True),
)

#: Ig NDC product codes without a product key (clinical-facts §1.3).
_IG_NDC_OTHER = ("0944-2705", "0944-2658")
#: GamaSTAN (IM immune globulin): never an Ig order (clinical-facts §1.3).
_EXCLUDED_NDC = ("13533-635",)

#: RxNorm codes of excluded globulins that could be cited (tag S, one source): the anti-thymocyte
#: globulins' ingredients (1011, 91601), brands (1204 ATGAM, 225741 Thymoglobulin), SCDs (197906 equine
#: 50 MG/ML 5 ML Injection, 107047 rabbit 25 MG Injection) and SBDs (206289 and 1870646 [ATGAM], 107050
#: [Thymoglobulin]), from the NMDP/CIBMTR reporting FHIR IG value sets (github.com/nmdp-ig/
#: cibmtr-reporting-ig, input/fsh/terminology/medications/med-atg-valueset.fsh and
#: med-form2400-additional-drugs-peri-transplant-valueset.fsh). No RxNorm code of a normal human Ig
#: product, nor of another excluded globulin, could be cited (clinical-facts §1.3 "RxNorm for immune
#: globulin: UNVERIFIED"): those are left to name recognition and to the site's ``ig_rxnorm_codes``.
EXCLUDED_RXNORM = frozenset(
    (RXNORM, c) for c in ("1011", "91601", "1204", "225741", "197906", "107047", "206289", "1870646", "107050")
)

_IG_GENERIC = re.compile(r"\bgammagard\b|\bimmune globulins?\b|\bimmunoglobulins?\b|\bivig\b|\bscig\b|\bigiv\b")
#: Product names that are only ever excluded globulins: they exclude wherever they appear.
_EXCLUDED_BRANDS = re.compile(
    r"\banti[- ]?d\b|\brh[o0]\s*\(\s*d\s*\)|\bwinrho\b|\brhogam\b|\brhophylac\b|\bhbig\b|\bhepagam\b"
    r"|\bnabi[- ]?hb\b|\bhyperrab\b|\bimogam\b|\bkedrab\b|\bhypertet\b|\bcytogam\b|\bvarizig\b"
    r"|\bbabybig\b|\bthymoglobulin\b|\batgam\b|\bgamastan\b"
)
#: Words that exclude only an immune globulin (they also name vaccines and diseases).
_EXCLUDED_WORDS = re.compile(
    r"\bhepatitis b\b|\brabies\b|\btetanus\b|\bcytomegalovirus\b|\bvaricella\b|\bbotulism\b|\banthrax\b"
    r"|\bvaccinia\b|\bthymocyte\b|\blymphocyte\b"
)
_GLOBULIN = re.compile(r"globulin")
#: Globulins that are not ACIP "antibody-containing products" (order-ig-after-live-vaccine): anti-D (ACIP:
#: postpartum anti-D does not delay measles/varicella vaccination; docs/clinical-rules.md names) and the animal
#: anti-thymocyte/anti-lymphocyte globulins (not in the ACIP antibody-product interval table).
_NOT_ANTIBODY_CONTAINING = re.compile(
    r"\banti[- ]?d\b|\brh[o0]\s*\(\s*d\s*\)|\bwinrho\b|\brhogam\b|\brhophylac\b"
    r"|\bthymocyte\b|\blymphocyte\b|\bthymoglobulin\b|\batgam\b"
)


def _rx(*codes: str) -> frozenset[tuple[str, str]]:
    return frozenset((RXNORM, c) for c in codes)


def _cvx(*codes: str) -> frozenset[tuple[str, str]]:
    return frozenset((CVX, c.lstrip("0")) for c in codes)


@dataclass(frozen=True, slots=True)
class DrugSet:
    """A medication class: codes (system, code) and name patterns, with its source."""

    med_class: MedClass
    source: str
    codes: frozenset[tuple[str, str]] = frozenset()
    pattern: str | None = None
    #: Name matches count only in a vaccine context (an Immunization, a CVX coding, or "vaccin").
    needs_vaccine_context: str | None = None


_F14 = "clinical-facts §1.4"
_F15 = "clinical-facts §1.5 live vaccines (CVX) [V/C]"
_RULES_LIVE = "docs/clinical-rules.md order-live-vaccine (by name)"
_TMP_SMX_CODES = _rx("198334", "198335", "313134", "313137", "1809083")
_TMP_SMX_NAMES = (_in_one_name("trimethoprim", "sulfamethoxazole") + "|"
                  + _in_one_name("sulfamethoxazole", "trimethoprim")
                  + r"|\bbactrim\b|\bseptra\b|\bco-?trimoxazole\b|\btmp[-/ ]?smx\b|\bsmx[-/ ]?tmp\b")
_MEASLES_VARICELLA = _cvx("03", "94", "21")
_OPV_BCG_YF = _cvx("02", "19", "37")

DRUG_SETS: tuple[DrugSet, ...] = (
    DrugSet(MedClass.TMP_SMX, f"{_F14} TMP-SMX SCDs [V, CANVAS VSAC 2.16.840.1.113883.3.464.1003.196.12.1001]",
            _TMP_SMX_CODES, _TMP_SMX_NAMES),
    DrugSet(MedClass.PJP_PROPHYLAXIS, "docs/clinical-rules.md pv-higm-no-pjp-prophylaxis (TMP-SMX, dapsone, "
            "atovaquone, pentamidine)", _TMP_SMX_CODES,
            _TMP_SMX_NAMES + r"|\bdapsone\b|\batovaquone\b|\bpentamidine\b"),
    DrugSet(MedClass.SULFONAMIDE, "docs/clinical-rules.md pv-higm-no-pjp-prophylaxis (sulfonamide allergy); "
            f"TMP-SMX codes {_F14}", _TMP_SMX_CODES,
            _TMP_SMX_NAMES + r"|\bsulfonamides?\b|\bsulfa\b|\bsulfamethoxazole\b"),
    DrugSet(MedClass.ANTI_CD20, f"docs/clinical-rules.md order-anti-cd20-hbv; {_F14} (121191, 712566, 1876366 C; "
            "974779 S; SCDs V)",
            _rx("121191", "712566", "1876366", "974779", "1657862", "1657867", "1927893", "2105834"),
            r"\brituximab|\bofatumumab\b|\bocrelizumab\b|\bobinutuzumab\b|\brituxan\b|\btruxima\b|\bruxience\b"
            r"|\briabni\b|\bkesimpta\b|\barzerra\b|\bocrevus\b|\bgazyva\b"),
    DrugSet(MedClass.ESTROGEN, "docs/clinical-rules.md Resolved details: thrombosis risk factors (by name)",
            frozenset(), r"estradiol|\bconjugated estrogens?\b|\bestrogens?,? conjugated\b"),
    DrugSet(MedClass.HBV_ANTIVIRAL, "docs/clinical-rules.md Resolved details: HBV conditions (by name)", frozenset(),
            r"\bentecavir\b|\btenofovir\b|\blamivudine\b"),
    DrugSet(MedClass.CORTICOSTEROID, "docs/clinical-rules.md Resolved details: corticosteroids (by name)", frozenset(),
            r"prednisolone\b|\bprednisone\b|\bdexamethasone\b"),
    DrugSet(MedClass.NEPHROTOXIC, "docs/clinical-rules.md Resolved details: renal risk factors (by ingredient name)",
            frozenset(), r"\bgentamicin\b|\btobramycin\b|\bamikacin\b|\bstreptomycin\b|\bneomycin\b"
            r"|\bvancomycin\b|\bamphotericin\b|\bcisplatin\b"),
    DrugSet(MedClass.LIVE_VACCINE, f"{_F15}; {_RULES_LIVE}",
            _cvx("03", "94", "21", "121", "119", "116", "122", "74", "37", "111", "149", "151", "19", "25", "02",
                 "75", "143", "174"),
            r"\bmmrv?\b|\bzostavax\b|\blaiv\d?\b|\bflumist\b|live attenuated influenza|\bbcg\b|\bty21a\b"
            r"|\bvivotif\b|\bopv\b|\boral polio|\bvaxchora\b",
            "|".join([r"\bmeasles\b", r"\bvaricella\b", _in_one_name("zoster", r"\blive\b"),
                      _in_one_name(r"\blive\b", "zoster"), r"\brotavirus\b", r"\byellow fever\b",
                      _in_one_name("influenza", r"\blive\b"), _in_one_name("typhoid", r"\b(?:oral|live)\b"),
                      _in_one_name(r"\boral\b", "typhoid"), r"\b(?:smallpox|vaccinia)\b", r"\badenovirus\b",
                      _in_one_name("cholera", r"\blive\b")])),
    DrugSet(MedClass.MEASLES_VARICELLA_VACCINE,
            f"{_F15} (03, 94, 21); docs/clinical-rules.md order-ig-after-live-vaccine",
            _MEASLES_VARICELLA, r"\bmmrv?\b", r"\bmeasles\b|\bvaricella\b"),
    DrugSet(MedClass.OPV_BCG_YELLOW_FEVER, f"{_F15} (02, 19, 37); docs/clinical-rules.md order-live-vaccine",
            _OPV_BCG_YF, r"\bopv\b|\boral polio|\bbcg\b", r"\byellow fever\b"),
)

_COMPILED = {s.med_class: (re.compile(s.pattern) if s.pattern else None,
                           re.compile(s.needs_vaccine_context) if s.needs_vaccine_context else None)
             for s in DRUG_SETS}
_NON_LIVE = re.compile(r"non-?replicating|recombinant|inactivated")
#: Animal anti-thymocyte/lymphocyte globulins: not human immune globulin (``names_immune_globulin``).
_ANIMAL_GLOBULIN = re.compile(r"thymocyte|lymphocyte|thymoglobulin|atgam")


def normalise_ndc(code: str) -> tuple[str, ...]:
    """Candidate 9-digit labeler+product keys (5+4, the HIPAA 11-digit layout) for an NDC as written.

    Hyphenated codes are unambiguous (each part zero-padded). An 11-digit code gives its first 9 digits.
    A 10-digit code without hyphens is ambiguous (4-4-2, 5-3-2 or 5-4-1): all readings are returned and
    the caller accepts a match only when exactly one reading is a known product.
    """
    code = code.strip()
    parts = code.split("-")
    if len(parts) in (2, 3) and all(p.isdigit() for p in parts):
        labeler, product = parts[0], parts[1]
        if len(labeler) <= 5 and len(product) <= 4:
            return (labeler.zfill(5) + product.zfill(4),)
        return ()
    if not code.isdigit():
        return ()
    if len(code) == 11:
        return (code[:9],)
    if len(code) == 10:
        return ("0" + code[:8], code[:5] + "0" + code[5:8], code[:9])
    return ()


def _ndc_key(written: str) -> str:
    return normalise_ndc(written)[0]


_NDC_PRODUCT = {_ndc_key(n): p.key for p in IG_PRODUCTS for n in p.ndc}
_NDC_IG = set(_NDC_PRODUCT) | {_ndc_key(n) for n in _IG_NDC_OTHER}
_NDC_EXCLUDED = {_ndc_key(n) for n in _EXCLUDED_NDC}


def _ndc_lookup(code: str, table: Collection[str]) -> str | None:
    hits = [key for key in normalise_ndc(code) if key in table]
    return hits[0] if len(hits) == 1 else None


@dataclass(frozen=True, slots=True)
class DrugProfile:
    """What a medication is: its classes, Ig product key, and whether the product is SC by label."""

    classes: frozenset[MedClass]
    product: str | None = None
    subcutaneous_product: bool = False


def classify_drug(
    codes: Iterable[Code],
    text: str,
    *,
    route: Route | None = None,
    vaccine_context: bool = False,
    rxnorm_ig_codes: Collection[str] = (),
) -> DrugProfile:
    """Classify a medication by its codes and lower-cased names (``text``); exclusions win.

    ``rxnorm_ig_codes`` are a site's verified RxNorm codes for normal human Ig (none ship by default,
    clinical-facts §1.3 "RxNorm for immune globulin: UNVERIFIED").

    The same product recurs in every record (each administration of a course names it again) and
    classifying it costs dozens of pattern searches, so results are memoised by their inputs, in a
    bounded memo: long keys (client text of any length) are classified without being remembered.
    """
    args = (tuple(codes), text, route, vaccine_context, tuple(rxnorm_ig_codes))
    found = _MEMO.lookup(args)
    if found is None:
        size = key_chars(args[0], text) + sum(len(code) for code in args[4])
        found = _MEMO.remember(args, size, _classify(*args))
    return found


_MEMO: BoundedMemo[tuple[tuple[Code, ...], str, Route | None, bool, tuple[str, ...]], DrugProfile] = BoundedMemo(
    4096)


def _classify(
    codes: tuple[Code, ...],
    text: str,
    route: Route | None,
    vaccine_context: bool,
    rxnorm_ig_codes: tuple[str, ...],
) -> DrugProfile:
    keys = {(c.system, c.code.lstrip("0") if c.system == CVX else c.code.strip()) for c in codes}
    atc = [c.code.strip().upper() for c in codes if c.system == ATC]
    ndc = [c.code for c in codes if c.system == NDC]
    vaccine_context = vaccine_context or "vaccin" in text or any(c.system == CVX for c in codes)
    classes: set[MedClass] = set()

    product = next((p for p in IG_PRODUCTS if p.regex.search(text)), None)
    ndc_product = next((_NDC_PRODUCT[k] for k in (_ndc_lookup(n, _NDC_PRODUCT) for n in ndc) if k), None)
    if ndc_product:
        product = next(p for p in IG_PRODUCTS if p.key == ndc_product)
    ig = (
        any(a in ("J06BA01", "J06BA02") for a in atc)
        or (CVX, "87") in keys
        or any(_ndc_lookup(n, _NDC_IG) for n in ndc)
        or any((RXNORM, r.strip()) in keys for r in rxnorm_ig_codes)
        or product is not None
        or _IG_GENERIC.search(text) is not None
    )
    globulin = ig or _GLOBULIN.search(text) is not None or (CVX, "86") in keys or any(a.startswith("J06") for a in atc)
    excluded = (
        (CVX, "86") in keys
        or not keys.isdisjoint(EXCLUDED_RXNORM)
        or any(_ndc_lookup(n, _NDC_EXCLUDED) for n in ndc)
        or _EXCLUDED_BRANDS.search(text) is not None
        or any(a.startswith("J06") and not a.startswith("J06BA") for a in atc)
        or (globulin and (route is Route.IM or _EXCLUDED_WORDS.search(text) is not None))
        or (ig and bool(atc) and not any(a.startswith("J06BA") for a in atc))
    )
    if ig:
        classes.add(MedClass.IMMUNE_GLOBULIN)
    if excluded:
        classes.add(MedClass.IG_EXCLUDED)
    # ACIP antibody-containing products: human Ig of any kind, recognised as Ig or named as a globulin
    # (an ATC code alone is not enough: J06B also holds monoclonals such as palivizumab, which ACIP
    # says do not interfere), but not anti-D or anti-thymocyte/anti-lymphocyte globulin.
    named_globulin = (
        (CVX, "86") in keys
        or _GLOBULIN.search(text) is not None
        or _EXCLUDED_BRANDS.search(text) is not None
        or any(_ndc_lookup(n, _NDC_EXCLUDED) for n in ndc)
    )
    if (ig or (excluded and named_globulin)) and _NOT_ANTIBODY_CONTAINING.search(text) is None:
        classes.add(MedClass.ANTIBODY_CONTAINING)
    live_text_ok = not globulin and _NON_LIVE.search(text) is None
    for drug_set in DRUG_SETS:
        by_name, by_vaccine_name = _COMPILED[drug_set.med_class]
        if keys & drug_set.codes:
            classes.add(drug_set.med_class)
        elif drug_set.med_class in _VACCINE_CLASSES and not live_text_ok:
            continue
        elif (by_name and by_name.search(text)) or (
            vaccine_context and by_vaccine_name and by_vaccine_name.search(text)
        ):
            classes.add(drug_set.med_class)
    subcutaneous = bool(product and product.subcutaneous) or "J06BA01" in atc
    return DrugProfile(frozenset(classes), product.key if product and ig else None, subcutaneous)


_VACCINE_CLASSES = frozenset(
    {MedClass.LIVE_VACCINE, MedClass.MEASLES_VARICELLA_VACCINE, MedClass.OPV_BCG_YELLOW_FEVER}
)


def names_immune_globulin(codes: Iterable[Code], text: str) -> bool:
    """True when a substance (e.g. an allergy) is a human immune globulin of any kind, hyperimmune
    included (they are plasma-derived Ig), but not animal anti-thymocyte/lymphocyte globulins."""
    profile = classify_drug(codes, text)
    if _ANIMAL_GLOBULIN.search(text):
        return False
    return MedClass.IMMUNE_GLOBULIN in profile.classes or _GLOBULIN.search(text) is not None or bool(
        profile.classes & {MedClass.IG_EXCLUDED}
    )


#: Classes by med_class, for documentation and tests.
DRUG_SETS_BY_CLASS: Mapping[MedClass, DrugSet] = {s.med_class: s for s in DRUG_SETS}
