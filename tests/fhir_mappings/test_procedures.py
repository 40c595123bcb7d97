from fhir_mappings.procedures import map_procedure
from tests.fhir_mappings.builders import CPT, PATIENT_REF, SNOMED, concept


def _request(code: dict, status: str = "draft") -> dict:
    return {"resourceType": "ServiceRequest", "id": "sr1", "status": status, "intent": "order", "subject": PATIENT_REF, "code": code}


def test_plasma_exchange_by_cpt_and_by_words() -> None:
    for code in (concept(CPT, "36514"), concept(text="Therapeutic plasma exchange"), concept(text="Plasmapheresis")):
        fact = map_procedure(_request(code), draft=True)
        assert fact is not None and "plasma-exchange" in fact.concepts and fact.draft


def test_snomed_plasma_exchange_only_when_configured() -> None:
    request = _request(concept(SNOMED, "1234567"))
    assert "plasma-exchange" not in map_procedure(request).concepts  # type: ignore[union-attr]
    assert "plasma-exchange" in map_procedure(request, plasma_exchange_snomed={"1234567"}).concepts  # type: ignore[union-attr]


def test_stem_cell_transplant_procedure() -> None:
    procedure = {"resourceType": "Procedure", "id": "p1", "status": "completed", "subject": PATIENT_REF,
                 "code": concept(text="Allogeneic hematopoietic stem cell transplantation"), "performedDateTime": "2019-02-01"}
    fact = map_procedure(procedure)
    assert fact is not None and "stem-cell-transplant" in fact.concepts and fact.when is not None
    procedure["status"] = "not-done"
    assert map_procedure(procedure) is None


def test_other_requests_carry_no_concept() -> None:
    fact = map_procedure(_request(concept(text="Chest X-ray")))
    assert fact is not None and fact.concepts == frozenset()
