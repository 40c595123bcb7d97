"""JSON Schemas of the CDS Hooks 2.0 request and of the hook contexts this framework serves.

There is no official JSON Schema for CDS Hooks 2.0 (reference §11); these are written from the
normative text (reference §3.1, §3.5, §7) and compiled once at import. Resources *inside* the
envelope (draftOrders entries, prefetch values) are deliberately loose here: a bad resource inside
a valid request is skipped and counted by the mapping layer, not a reason to refuse the call.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError, best_match

# FHIR id: [A-Za-z0-9\-\.]{1,64}; a relative reference: Type/id.
_FHIR_ID = r"^[A-Za-z0-9\-\.]{1,64}$"
_REFERENCE = r"^[A-Z][A-Za-z]+/[A-Za-z0-9\-\.]{1,64}$"

_BUNDLE = {
    "type": "object",
    "required": ["resourceType"],
    "properties": {
        "resourceType": {"const": "Bundle"},
        "entry": {"type": "array"},
    },
}

REQUEST_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "CDS Hooks 2.0 service request",
    "type": "object",
    "required": ["hook", "hookInstance", "context"],
    "properties": {
        "hook": {"type": "string", "minLength": 1, "maxLength": 200},
        "hookInstance": {"type": "string", "minLength": 1, "maxLength": 200},
        "fhirServer": {"type": "string", "pattern": "^https?://[^\\s]+$", "maxLength": 2000},
        "fhirAuthorization": {
            "type": "object",
            "required": ["access_token", "token_type", "expires_in", "scope", "subject"],
            "properties": {
                "access_token": {"type": "string", "minLength": 1},
                "token_type": {"type": "string", "enum": ["Bearer", "bearer"]},
                "expires_in": {"type": "integer", "minimum": 0},
                "scope": {"type": "string"},
                "subject": {"type": "string"},
                "patient": {"type": "string"},
            },
        },
        "context": {"type": "object"},
        "prefetch": {
            "type": "object",
            "additionalProperties": {"type": ["object", "null"]},
        },
        "extension": {"type": "object"},
    },
    "dependentRequired": {"fhirAuthorization": ["fhirServer"]},
}

_USER_ANY = r"^(Practitioner|PractitionerRole|Patient|RelatedPerson)/[A-Za-z0-9\-\.]{1,64}$"
_USER_CLINICIAN = r"^(Practitioner|PractitionerRole)/[A-Za-z0-9\-\.]{1,64}$"

CONTEXT_SCHEMAS: dict[str, dict[str, Any]] = {
    "patient-view": {
        "title": "patient-view context",
        "type": "object",
        "required": ["userId", "patientId"],
        "properties": {
            "userId": {"type": "string", "pattern": _USER_ANY},
            "patientId": {"type": "string", "pattern": _FHIR_ID},
            "encounterId": {"type": "string", "pattern": _FHIR_ID},
        },
    },
    "order-select": {
        "title": "order-select context",
        "type": "object",
        "required": ["userId", "patientId", "selections", "draftOrders"],
        "properties": {
            "userId": {"type": "string", "pattern": _USER_CLINICIAN},
            "patientId": {"type": "string", "pattern": _FHIR_ID},
            "encounterId": {"type": "string", "pattern": _FHIR_ID},
            "selections": {
                "type": "array",
                "minItems": 1,
                "items": {"type": "string", "pattern": _REFERENCE},
            },
            "draftOrders": _BUNDLE,
        },
    },
    "order-sign": {
        "title": "order-sign context",
        "type": "object",
        "required": ["userId", "patientId", "draftOrders"],
        "properties": {
            "userId": {"type": "string", "pattern": _USER_CLINICIAN},
            "patientId": {"type": "string", "pattern": _FHIR_ID},
            "encounterId": {"type": "string", "pattern": _FHIR_ID},
            "draftOrders": _BUNDLE,
        },
    },
}

_REQUEST_VALIDATOR = Draft202012Validator(REQUEST_SCHEMA)
_CONTEXT_VALIDATORS = {hook: Draft202012Validator(s) for hook, s in CONTEXT_SCHEMAS.items()}


def describe(error: ValidationError, root: str) -> str:
    """A one-line message naming where and what: ``context.selections[0]: ... does not match``."""
    path = root
    for part in error.absolute_path:
        path += f"[{part}]" if isinstance(part, int) else f".{part}"
    if list(error.absolute_path)[:1] == ["fhirAuthorization"] and error.validator != "required":
        # jsonschema messages quote the offending value: never echo a token back.
        return f"{path}: invalid ({error.validator})"
    message = error.message
    if len(message) > 300:
        message = message[:297] + "..."
    return f"{path}: {message}"


def request_errors(body: Any) -> str | None:
    """The most relevant schema violation of a request body, or None if it is valid."""
    error = best_match(_REQUEST_VALIDATOR.iter_errors(body))
    return describe(error, "request") if error else None


def context_errors(hook: str, context: Mapping[str, Any]) -> str | None:
    validator = _CONTEXT_VALIDATORS.get(hook)
    if validator is None:
        return None
    error = best_match(validator.iter_errors(context))
    return describe(error, "context") if error else None
