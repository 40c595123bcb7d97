"""The OpenAPI 3.1 document of the service, served at ``GET /openapi.json``.

Built from the registry (service ids, hooks) and from the same JSON Schemas the service validates
with (request envelope, hook contexts, feedback), so the document cannot drift from the checks.
Response schemas are strict (``additionalProperties: false``) and mirror ``cds_service.cards``;
``tests/cds_service/test_openapi.py`` validates real responses of a running server against them.
OpenAPI 3.1 schemas are JSON Schema 2020-12, so any 2020-12 validator can check a body against
``#/components/schemas/<Name>``.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from typing import Any

from .cards import SUMMARY_MAX_CHARS
from .feedback import FEEDBACK_RESPONSE_SCHEMA, FEEDBACK_SCHEMA
from .registry import Registry
from .schemas import CONTEXT_SCHEMAS, REQUEST_SCHEMA

OPENAPI_VERSION = "3.1.0"


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _strip(schema: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(schema)
    out.pop("$schema", None)
    return out


def _text(min_length: int = 1) -> dict[str, Any]:
    return {"type": "string", "minLength": min_length}


_EXTENSION = {"type": "object", "description": "CDS Hooks extension: members named by their owner"}

_SCHEMAS: dict[str, Any] = {
    "Error": {
        "type": "object",
        "required": ["error", "message"],
        "properties": {
            "error": {"type": "string", "description": "stable error code, e.g. invalid-request"},
            "message": {"type": "string"},
            "details": {
                "type": "object",
                "description": "machine-readable specifics (e.g. missing prefetch keys)",
            },
            "requestId": {"type": ["string", "null"], "description": "quote it to the operator"},
        },
        "additionalProperties": False,
    },
    "Coding": {
        "type": "object",
        "required": ["system", "code"],
        "properties": {"system": _text(), "code": _text(), "display": _text()},
        "additionalProperties": False,
    },
    "Source": {
        "type": "object",
        "required": ["label"],
        "properties": {
            "label": _text(),
            "url": {"type": "string", "format": "uri", "pattern": "^https?://"},
            "icon": {"type": "string", "format": "uri", "pattern": "^https?://"},
            "topic": _ref("Coding"),
        },
        "additionalProperties": False,
    },
    "Action": {
        "type": "object",
        "required": ["type", "description"],
        "properties": {
            "type": {"enum": ["create", "update", "delete"]},
            "description": _text(),
            "resource": {
                "type": "object",
                "required": ["resourceType"],
                "properties": {"resourceType": {"type": "string"}},
            },
            "resourceId": {"type": "string", "pattern": "^[A-Z][A-Za-z]+/[A-Za-z0-9\\-\\.]{1,64}$"},
        },
        "additionalProperties": False,
    },
    "Suggestion": {
        "type": "object",
        "required": ["label", "uuid"],
        "properties": {
            "label": _text(),
            "uuid": _text(),
            "isRecommended": {"type": "boolean"},
            "actions": {"type": "array", "minItems": 1, "items": _ref("Action")},
        },
        "additionalProperties": False,
    },
    "Link": {
        "type": "object",
        "required": ["label", "url", "type"],
        "properties": {
            "label": _text(),
            "url": {"type": "string", "format": "uri", "pattern": "^https?://"},
            "type": {"enum": ["absolute", "smart"]},
            "appContext": _text(),
            "autolaunchable": {"type": "boolean"},
        },
        "additionalProperties": False,
    },
    "Card": {
        "type": "object",
        "required": ["uuid", "summary", "indicator", "source"],
        "properties": {
            "uuid": _text(),
            "summary": {"type": "string", "minLength": 1, "maxLength": SUMMARY_MAX_CHARS},
            "detail": _text(),
            "indicator": {"enum": ["info", "warning", "critical"]},
            "source": _ref("Source"),
            "suggestions": {"type": "array", "minItems": 1, "items": _ref("Suggestion")},
            "selectionBehavior": {"enum": ["at-most-one", "any"]},
            "overrideReasons": {"type": "array", "minItems": 1, "items": _ref("Coding")},
            "links": {"type": "array", "minItems": 1, "items": _ref("Link")},
        },
        "dependentRequired": {"suggestions": ["selectionBehavior"]},
        "additionalProperties": False,
    },
    "CdsResponse": {
        "type": "object",
        "required": ["cards"],
        "properties": {
            "cards": {"type": "array", "items": _ref("Card")},
            "systemActions": {"type": "array", "minItems": 1, "items": _ref("Action")},
            "extension": _EXTENSION,
        },
        "additionalProperties": False,
    },
    "CdsRequest": _strip(REQUEST_SCHEMA),
    "ServiceDescription": {
        "type": "object",
        "required": ["hook", "id", "description"],
        "properties": {
            "hook": _text(),
            "id": _text(),
            "title": _text(),
            "description": _text(),
            "prefetch": {"type": "object", "additionalProperties": {"type": "string"}},
            "usageRequirements": _text(),
            "extension": _EXTENSION,
        },
        "additionalProperties": False,
    },
    "Discovery": {
        "type": "object",
        "required": ["services"],
        "properties": {"services": {"type": "array", "items": _ref("ServiceDescription")}},
        "additionalProperties": False,
    },
    "FeedbackRequest": _strip(FEEDBACK_SCHEMA),
    "FeedbackResponse": _strip(FEEDBACK_RESPONSE_SCHEMA),
    "Rule": {
        "type": "object",
        "required": ["id"],
        "properties": {
            "id": _text(),
            "title": _text(),
            "services": {"type": "array", "items": {"type": "string"}},
            "indicator": {"type": "string"},
            "source": {
                "type": "object",
                "required": ["label"],
                "properties": {"label": {"type": "string"}, "url": {"type": "string"}},
            },
        },
    },
    "Rules": {
        "type": "object",
        "required": ["rules"],
        "properties": {"rules": {"type": "array", "items": _ref("Rule")}},
        "additionalProperties": False,
    },
    "Health": {
        "type": "object",
        "required": ["status"],
        "properties": {"status": {"const": "ok"}},
        "additionalProperties": False,
    },
    "Readiness": {
        "type": "object",
        "description": "Only `status` without a token; `degraded` and `checks` for an authenticated caller.",
        "required": ["status"],
        "properties": {
            "status": {"enum": ["ready", "not-ready"]},
            "degraded": {"type": "array", "items": {"type": "string"},
                         "description": "checks failing without making the service not-ready (storage, audit)"},
            "checks": {"type": "object", "additionalProperties": {"type": "object"}},
            "warning": {"type": "string"},
        },
        "additionalProperties": False,
    },
}


def _json(name: str, description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": _ref(name)}}}


def _errors(*statuses: int) -> dict[str, Any]:
    text = {
        400: "malformed request (the message says what is wrong)",
        401: "authentication failed",
        404: "no such service",
        412: "required data could not be obtained",
        413: "body larger than the configured limit",
        415: "not JSON",
        422: "a feedback item names a card this service did not issue to this client; nothing stored",
        503: "a shared store (replay store, database) is unavailable; nothing done, retry after Retry-After",
    }
    return {str(s): _json("Error", text[s]) for s in statuses}


def build_openapi(
    registry: Registry,
    *,
    title: str = "CDS Hooks service",
    version: str = "0.0.0",
    description: str = "",
    extra_paths: Mapping[str, Any] | None = None,
    extra_schemas: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The OpenAPI document for the services of ``registry``, plus an application's own endpoints
    (``extra_paths``, e.g. a SMART app's pages) and the schemas they refer to (``extra_schemas``)."""
    ids = sorted(registry.ids())
    schemas = copy.deepcopy(_SCHEMAS)
    schemas.update(copy.deepcopy(dict(extra_schemas or {})))
    for hook, schema in CONTEXT_SCHEMAS.items():
        schemas[f"Context-{hook}"] = _strip(schema)
    service_param = {
        "name": "service_id",
        "in": "path",
        "required": True,
        "description": "the CDS service id (see discovery)",
        "schema": {"type": "string", "enum": ids},
    }
    jwt: list[dict[str, list[str]]] = [{"cdsHooksJwt": []}]
    hooks_text = ", ".join(f"`{s.id}` ({s.hook})" for s in sorted(registry, key=lambda s: s.id))
    paths: dict[str, Any] = {
        "/cds-services": {
            "get": {
                "operationId": "discovery",
                "summary": "CDS Hooks discovery",
                "security": jwt,
                "responses": {"200": _json("Discovery", "the services offered"), **_errors(401, 503)},
            }
        },
        "/cds-services/{service_id}": {
            "post": {
                "operationId": "callService",
                "summary": "Call a CDS service",
                "description": f"Services: {hooks_text}. `context` follows the hook's schema "
                f"(components `Context-<hook>`).",
                "security": jwt,
                "parameters": [service_param],
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": _ref("CdsRequest")}},
                },
                "responses": {
                    "200": _json("CdsResponse", "cards (possibly none)"),
                    **_errors(400, 401, 404, 412, 413, 415, 503),
                },
            }
        },
        "/cds-services/{service_id}/feedback": {
            "post": {
                "operationId": "feedback",
                "summary": "Feedback on cards (accepted / overridden)",
                "description": "Stored idempotently: resending an item is counted as a duplicate.",
                "security": jwt,
                "parameters": [service_param],
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": _ref("FeedbackRequest")}},
                },
                "responses": {
                    "200": _json("FeedbackResponse", "items stored and duplicates"),
                    **_errors(400, 401, 404, 413, 415, 422, 503),
                },
            }
        },
        "/rules": {
            "get": {
                "operationId": "rules",
                "summary": "The rule catalog",
                "description": "JSON by default. With `Accept: text/html` (as a browser sends) the whole catalog "
                "as one self-contained page (inline style, no script), site policy in effect highlighted.",
                "security": jwt,
                "responses": {
                    "200": {
                        "description": "every rule (JSON), or the whole catalog as a page (HTML)",
                        "content": {
                            "application/json": {"schema": _ref("Rules")},
                            "text/html": {"schema": {"type": "string"}},
                        },
                    },
                    **_errors(401, 503),
                },
            }
        },
        "/healthz": {
            "get": {
                "operationId": "healthz",
                "summary": "Liveness",
                "security": [],
                "responses": {"200": _json("Health", "the process answers")},
            }
        },
        "/readyz": {
            "get": {
                "operationId": "readyz",
                "summary": "Readiness (client keys, replay store); details with a token",
                "security": [],
                "responses": {"200": _json("Readiness", "ready"), "503": _json("Readiness", "not ready")},
            }
        },
        "/metrics": {
            "get": {
                "operationId": "metrics",
                "summary": "Prometheus metrics (text exposition format)",
                "security": [],
                "responses": {
                    "200": {
                        "description": "metrics",
                        "content": {"text/plain": {"schema": {"type": "string"}}},
                    }
                },
            }
        },
        "/openapi.json": {
            "get": {
                "operationId": "openapi",
                "summary": "This document",
                "security": [],
                "responses": {
                    "200": {
                        "description": "OpenAPI 3.1 document",
                        "content": {"application/json": {"schema": {"type": "object"}}},
                    }
                },
            }
        },
    }
    for path, item in (extra_paths or {}).items():
        if path in paths:
            raise ValueError(f"extra OpenAPI path {path!r} is already described")
        paths[path] = copy.deepcopy(item)
    return {
        "openapi": OPENAPI_VERSION,
        "info": {"title": title, "version": version, "description": description},
        "jsonSchemaDialect": "https://json-schema.org/draft/2020-12/schema",
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "cdsHooksJwt": {
                    "type": "http",
                    "scheme": "bearer",
                    "bearerFormat": "JWT",
                    "description": "CDS Hooks client JWT (ES384/RS384); aud = the called endpoint's URL",
                }
            },
        },
    }


def openapi_provider(registry: Registry, **kwargs: Any) -> Callable[[], dict[str, Any]]:
    """A ``create_app(openapi=...)`` callable; the document is built once."""
    document = build_openapi(registry, **kwargs)
    return lambda: document
