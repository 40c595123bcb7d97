"""Every named condition value set, each way: its own members match, near-misses do not.

Also checks the provenance contract: every set and member is sourced and tagged, unverified members
are left out unless asked for, and groupers collect their parts.
"""

import pytest

from fhir_mappings.codings import ICD10, ICD10CM, SNOMED
from fhir_mappings.condition_sets import CONDITION_INDEX, CONDITION_SETS
from fhir_mappings.model import Code
from fhir_mappings.valuesets import Match, Tag, ValueSetIndex

REQUIRED_NAMES = {
    "hyper-igm", "higm-x-linked", "higm-autosomal-recessive", "higm-no-opportunistic-infection",
    "selective-igm-deficiency", "selective-iga-deficiency", "cvid", "agammaglobulinemia", "hypogammaglobulinemia",
    "igg-subclass-deficiency", "specific-antibody-deficiency", "gbs", "myasthenia-gravis", "cidp", "mmn",
    "autoimmune-encephalitis", "itp", "kawasaki", "anti-gbm", "mgus", "cdi", "cdi-recurrent", "bronchiectasis",
    "pneumonia", "sepsis", "bacteremia", "bacterial-meningitis", "meningococcal-disease", "osteomyelitis",
    "severe-infection", "diabetes", "volume-depletion", "paraproteinemia", "venous-thrombosis", "arterial-thrombosis",
    "thrombophilia", "immobility", "central-venous-catheter", "hypertension", "hyperlipidemia", "coronary-disease",
    "nicotine-dependence", "pregnancy", "stem-cell-transplant", "anti-iga-antibodies", "replacement-severe",
    "replacement-less-severe", "immunomodulatory", "regimen-less",
}

_MEMBERS = [
    pytest.param(vs.name, member, id=f"{vs.name}:{member.code}")
    for vs in CONDITION_SETS for member in vs.members if member.verified
]


def _example(member_code: str, match: Match) -> str:
    """A real-looking code inside a family: "I26" -> "I26.99"-like, a span's low end -> itself + ".9"."""
    return member_code + ("9" if match is Match.PREFIX and "." in member_code else ".9" if match is not Match.EXACT else "")


def test_every_required_concept_name_exists() -> None:
    assert REQUIRED_NAMES <= set(CONDITION_INDEX.sets)


def test_every_set_and_member_is_sourced_and_tagged() -> None:
    for vs in CONDITION_SETS:
        assert vs.source, vs.name
        for member in vs.members:
            assert member.source and member.tag in Tag, (vs.name, member.code)
        for keyword in vs.keywords:
            assert keyword.source, vs.name


@pytest.mark.parametrize(("name", "member"), _MEMBERS)
def test_member_matches_its_own_set(name: str, member) -> None:  # type: ignore[no-untyped-def]
    code = Code(member.system, _example(member.code, member.match))
    assert name in CONDITION_INDEX.concepts_for([code])


@pytest.mark.parametrize(("name", "member"), _MEMBERS)
def test_same_code_in_another_system_does_not_match(name: str, member) -> None:  # type: ignore[no-untyped-def]
    other = SNOMED if member.system == ICD10CM else ICD10CM
    assert name not in CONDITION_INDEX.concepts_for([Code(other, member.code)]) or any(
        m.system == other and m.code == member.code for m in CONDITION_INDEX.members_of(name)
    )


@pytest.mark.parametrize(
    ("system", "code", "absent"),
    [
        (ICD10CM, "J12.9", "pneumonia"),  # viral pneumonia: outside J13–J18
        (ICD10CM, "J19", "pneumonia"),
        (ICD10CM, "A42.7", "sepsis"),
        (ICD10CM, "E14.9", "diabetes"),
        (ICD10CM, "E07.9", "diabetes"),
        (ICD10CM, "I17", "hypertension"),
        (ICD10CM, "Z86.72", "venous-thrombosis"),
        (ICD10CM, "C90.1", "paraproteinemia"),
        (ICD10CM, "F17.1", "nicotine-dependence"),
        (ICD10CM, "D80.5", "selective-igm-deficiency"),
        (ICD10CM, "A04.72", "cdi-recurrent"),
        (ICD10CM, "M31.0", "anti-gbm"),  # UNVERIFIED mapping: excluded by default
        (SNOMED, "60001007", "pregnancy"),  # "Not pregnant"
        (SNOMED, "234536003", "higm-x-linked"),  # the older concept clinical-facts says to avoid
        (SNOMED, "82286005", "higm-x-linked"),  # HIGM without subtype is not X-linked
        (SNOMED, "128731000119101", "gbs"),  # history of GBS is not active GBS
        (SNOMED, "302215000", "itp"),  # thrombocytopenic disorder (general)
    ],
)
def test_near_misses_do_not_match(system: str, code: str, absent: str) -> None:
    assert absent not in CONDITION_INDEX.concepts_for([Code(system, code)])


def test_icd10_who_uri_and_dotless_codes_are_accepted() -> None:
    assert "cvid" in CONDITION_INDEX.concepts_for([Code(ICD10, "D83.9")])
    assert "venous-thrombosis" in CONDITION_INDEX.concepts_for([Code(ICD10CM, "z86718")])


def test_unverified_members_are_documented_but_only_used_on_request() -> None:
    anti_gbm = CONDITION_INDEX.sets["anti-gbm"]
    unverified = [m for m in anti_gbm.members if not m.verified]
    assert [m.code for m in unverified] == ["M31.0"]
    assert "anti-gbm" in ValueSetIndex(CONDITION_SETS, include_unverified=True).concepts_for([Code(ICD10CM, "M31.0")])


def test_x_linked_higm_carries_every_concept_it_belongs_to() -> None:
    concepts = CONDITION_INDEX.concepts_for([Code(SNOMED, "403835002")])
    assert {"hyper-igm", "higm-x-linked", "replacement-severe", "replacement"} <= concepts
    assert "replacement-less-severe" not in concepts


@pytest.mark.parametrize(
    ("code", "grouper"),
    [(Code(ICD10CM, "D83.9"), "replacement-severe"), (Code(ICD10CM, "D80.4"), "replacement-less-severe"),
     (Code(ICD10CM, "D80.6"), "replacement-less-severe"), (Code(ICD10CM, "D80.3"), "replacement-less-severe"),
     (Code(ICD10CM, "G61.82"), "immunomodulatory"), (Code(SNOMED, "75053002"), "immunomodulatory"),
     (Code(ICD10CM, "D47.2"), "regimen-less"), (Code(ICD10CM, "A04.71"), "regimen-less"),
     (Code(ICD10CM, "G00.1"), "severe-infection"), (Code(SNOMED, "5758002"), "severe-infection")],
)
def test_groupers(code: Code, grouper: str) -> None:
    assert grouper in CONDITION_INDEX.concepts_for([code])


def test_mgus_code_is_both_regimen_less_indication_and_paraproteinemia() -> None:
    assert {"mgus", "paraproteinemia", "regimen-less"} <= CONDITION_INDEX.concepts_for([Code(ICD10CM, "D47.2")])


@pytest.mark.parametrize(
    ("text", "concept", "expected"),
    [
        ("Status post allogeneic haematopoietic stem cell transplant", "stem-cell-transplant", True),
        ("Bone marrow transplantation 2019", "stem-cell-transplant", True),
        ("Kidney transplant", "stem-cell-transplant", False),
        ("Anti-IgA antibodies detected", "anti-iga-antibodies", True),
        ("Selective IgA deficiency", "anti-iga-antibodies", False),
        ("Tissue transglutaminase IgA antibody positive", "anti-iga-antibodies", False),
        ("Pneumonia", "pneumonia", False),  # codes only: text never makes a severe infection
    ],
)
def test_keyword_sets_only_where_rules_ask(text: str, concept: str, expected: bool) -> None:
    assert (concept in CONDITION_INDEX.concepts_for([], text)) is expected
