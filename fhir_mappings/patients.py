"""Patient -> ``PatientInfo`` (id, birth date, administrative sex)."""

from __future__ import annotations

from collections.abc import Mapping

from .codings import as_str, parse_date
from .errors import MappingError
from .model import PatientInfo, Sex

_SEXES = {s.value: s for s in Sex}


def map_patient(resource: Mapping[str, object]) -> PatientInfo:
    """The patient facts rules use. A missing or invalid birthDate gives ``birth_date=None`` (age-based
    rules then stay quiet); an unknown gender gives ``Sex.UNKNOWN``."""
    patient_id = as_str(resource.get("id"))
    if patient_id is None:
        raise MappingError("missing-element:id")
    gender = as_str(resource.get("gender"))
    return PatientInfo(patient_id, parse_date(resource.get("birthDate")), _SEXES.get(gender or "", Sex.UNKNOWN))
