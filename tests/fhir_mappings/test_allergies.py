from fhir_mappings.allergies import map_allergy
from tests.fhir_mappings.builders import PATIENT_REF, SNOMED, concept


def _allergy(text: str, **extra: object) -> dict:
    resource = {"resourceType": "AllergyIntolerance", "id": "a1", "patient": PATIENT_REF, "code": concept(text=text),
                "clinicalStatus": concept("http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical", "active")}
    resource.update(extra)
    return resource


def test_anaphylaxis_to_ivig_by_snomed_manifestation() -> None:
    fact = map_allergy(_allergy("IVIG", criticality="high",
                                reaction=[{"manifestation": [concept(SNOMED, "39579001", "Anaphylaxis")], "severity": "severe"}]))
    assert fact is not None and fact.active and fact.anaphylaxis and "immune-globulin" in fact.concepts
    assert fact.criticality == "high" and fact.severities == ("severe",)


def test_anaphylaxis_by_text() -> None:
    fact = map_allergy(_allergy("Privigen", reaction=[{"manifestation": [concept(text="anaphylactic shock")]}]))
    assert fact is not None and fact.anaphylaxis and "immune-globulin" in fact.concepts


def test_hives_is_not_anaphylaxis() -> None:
    fact = map_allergy(_allergy("immunoglobulin", reaction=[{"manifestation": [concept(text="urticaria")], "severity": "mild"}]))
    assert fact is not None and not fact.anaphylaxis


def test_blood_products_and_sulfonamides() -> None:
    assert "blood-product" in map_allergy(_allergy("Fresh frozen plasma")).concepts  # type: ignore[union-attr]
    assert "blood-product" in map_allergy(_allergy("Blood transfusion reaction")).concepts  # type: ignore[union-attr]
    assert "sulfonamide" in map_allergy(_allergy("Sulfa drugs")).concepts  # type: ignore[union-attr]
    assert "sulfonamide" in map_allergy(_allergy("Bactrim")).concepts  # type: ignore[union-attr]
    assert map_allergy(_allergy("Penicillin")).concepts == frozenset()  # type: ignore[union-attr]


def test_entered_in_error_dropped_and_refuted_inactive() -> None:
    status = "http://terminology.hl7.org/CodeSystem/allergyintolerance-verification"
    assert map_allergy(_allergy("IVIG", verificationStatus=concept(status, "entered-in-error"))) is None
    refuted = map_allergy(_allergy("IVIG", verificationStatus=concept(status, "refuted")))
    assert refuted is not None and not refuted.active
