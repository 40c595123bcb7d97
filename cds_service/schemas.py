"""JSON Schemas of the CDS Hooks 2.0 request and of the hook contexts this framework serves.

There is no official JSON Schema for CDS Hooks 2.0 (docs/conformance.md §11); these are written from the
normative text (docs/conformance.md §3.1, §3.5, §7) and compiled once at import. Resources *inside* the
envelope (draftOrders entries, prefetch values) are deliberately loose here: a bad resource inside
a valid request is skipped and counted by the mapping layer, not a reason to refuse the call.

Two validators per schema. jsonschema (2020-12) is the authority and writes every 4xx message.
fastjsonschema, compiled once at import from a draft-07 translation of the same schema
(:func:`_draft07`, which keeps each keyword's meaning), answers "valid" on the happy path about twenty
times faster. A body it refuses goes on to jsonschema, whose verdict decides and which names the
problem. ``tests/cds_service/test_schema_fast_path.py`` checks that the two give the same verdict on
a large corpus of valid and mutated requests, so that the fast path can never let through what
jsonschema refuses.

A ``pattern`` means what ECMA-262 says (the JSON Schema and OpenAPI reading, for the published
``/openapi.json`` too): ``^`` and ``$`` are the start and the end of the string, so ``"p1\\n"`` is not
an id. Python's ``re.search``, which jsonschema uses as is, would let ``$`` match before a final
newline; fastjsonschema already rewrites ``$`` to ``\\Z``. :data:`SchemaValidator` is jsonschema with
the same rewrite (:func:`schema_regex`), so the patterns stay plain, portable ``^...$`` and all three
readers agree. (A lookahead such as ``(?!\\n)`` or a ``\\Z`` would not be portable.)
"""

from __future__ import annotations

import copy
import functools
import re
from collections.abc import Callable, Mapping
from typing import Any

import fastjsonschema
from jsonschema import Draft202012Validator, validators
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

#: Keywords the draft-07 translation handles. Any other keyword stops the import: fastjsonschema
#: would silently ignore a 2019-09/2020-12-only keyword (``unevaluatedProperties``, ``prefixItems``,
#: ...) and accept what jsonschema refuses.
_TRANSLATED_KEYWORDS = frozenset({
    "$schema", "title", "description", "type", "required", "properties", "additionalProperties", "items",
    "const", "enum", "minLength", "maxLength", "pattern", "minimum", "maximum", "minItems", "maxItems",
    "dependentRequired",
})


def _draft07(schema: Mapping[str, Any]) -> dict[str, Any]:
    """The same constraints as ``schema`` (2020-12, as jsonschema reads it) for fastjsonschema (draft-07).

    * ``dependentRequired`` becomes the array form of ``dependencies`` (its draft-07 spelling);
    * ``items`` must be a single schema (2020-12 meaning; a draft-07 array would mean tuples);
    * a ``pattern`` is kept as it is: fastjsonschema reads ``$`` as ``\\Z``, as :data:`SchemaValidator`
      does; only a trailing ``$`` anchor is accepted (and no ``\\Z``), so that the pattern is portable.
    """
    unknown = set(schema) - _TRANSLATED_KEYWORDS
    if unknown:
        raise ValueError(f"schema keyword(s) without a draft-07 translation: {sorted(unknown)}")
    out: dict[str, Any] = {}
    for keyword, value in schema.items():
        if keyword in ("$schema", "title", "description"):
            continue
        if keyword == "properties":
            out[keyword] = {name: _draft07(sub) for name, sub in value.items()}
        elif keyword in ("additionalProperties", "items"):
            if not isinstance(value, Mapping):
                raise ValueError(f"{keyword} must be a schema object here, got {value!r}")
            out[keyword] = _draft07(value)
        elif keyword == "dependentRequired":
            out["dependencies"] = {name: list(required) for name, required in value.items()}
        elif keyword == "pattern":
            if "$" in value[:-1] or "\\Z" in value:
                raise ValueError(f"pattern {value!r}: only a trailing $ anchor is supported")
            out[keyword] = value
        else:
            out[keyword] = copy.deepcopy(value)
    return out


def _compile_fast(schema: Mapping[str, Any]) -> Callable[[Any], Any]:
    return fastjsonschema.compile(
        {"$schema": "http://json-schema.org/draft-07/schema#", **_draft07(schema)},
        use_default=False,  # never write into the request
        use_formats=False,  # jsonschema does not assert "format" either (none is used today)
        # detailed_exceptions stays on: 2.22.3 fails to compile "const" without it, and it only
        # costs on a refused body, which jsonschema then describes anyway.
    )


#: An unescaped ``$`` (fastjsonschema's own rule, ``DOLLAR_FINDER``).
_DOLLAR = re.compile(r"(?<!\\)\$")


@functools.lru_cache(maxsize=64)
def schema_regex(pattern: str) -> re.Pattern[str]:
    """A schema ``pattern`` compiled as ECMA-262 reads it: ``$`` is the end of the string."""
    return re.compile(_DOLLAR.sub(r"\\Z", pattern))


def _pattern(validator: Any, pattern: str, instance: Any, schema: Any) -> Any:
    """jsonschema's ``pattern`` keyword with ECMA-262 anchors (:func:`schema_regex`)."""
    if validator.is_type(instance, "string") and not schema_regex(pattern).search(instance):
        yield ValidationError(f"{instance!r} does not match {pattern!r}")


#: jsonschema's 2020-12 validator reading ``pattern`` as ECMA-262 does: use it for every schema that
#: checks client strings.
SchemaValidator: Any = validators.extend(  # type: ignore[no-untyped-call]
    Draft202012Validator, {"pattern": _pattern})

_REQUEST_VALIDATOR = SchemaValidator(REQUEST_SCHEMA)
_CONTEXT_VALIDATORS = {hook: SchemaValidator(s) for hook, s in CONTEXT_SCHEMAS.items()}
_FAST_REQUEST = _compile_fast(REQUEST_SCHEMA)
_FAST_CONTEXTS = {hook: _compile_fast(s) for hook, s in CONTEXT_SCHEMAS.items()}


def _fast_valid(validate: Callable[[Any], Any], instance: Any) -> bool:
    """True when the fast validator accepts ``instance``; False sends it on to jsonschema."""
    try:
        validate(instance)
    except fastjsonschema.JsonSchemaValueException:
        return False
    return True


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
    if _fast_valid(_FAST_REQUEST, body):
        return None
    error = best_match(_REQUEST_VALIDATOR.iter_errors(body))
    return describe(error, "request") if error else None


def context_errors(hook: str, context: Mapping[str, Any]) -> str | None:
    validator = _CONTEXT_VALIDATORS.get(hook)
    if validator is None:
        return None
    if _fast_valid(_FAST_CONTEXTS[hook], context):
        return None
    error = best_match(validator.iter_errors(context))
    return describe(error, "context") if error else None
