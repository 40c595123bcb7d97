from datetime import UTC, date, datetime

import pytest

from fhir_mappings.errors import MappingError
from fhir_mappings.model import Sex
from fhir_mappings.patients import map_patient
from tests.fhir_mappings.builders import patient


def test_patient_age_and_sex() -> None:
    info = map_patient(patient(birth="2010-06-15", gender="male"))
    assert info.birth_date == date(2010, 6, 15) and info.sex is Sex.MALE
    assert info.age_at(datetime(2024, 6, 14, tzinfo=UTC)) == 13


def test_missing_birth_date_and_odd_gender() -> None:
    info = map_patient({"resourceType": "Patient", "id": "x", "gender": "robot", "birthDate": "not-a-date"})
    assert info.birth_date is None and info.sex is Sex.UNKNOWN


def test_patient_without_id_is_unusable() -> None:
    with pytest.raises(MappingError):
        map_patient({"resourceType": "Patient"})
