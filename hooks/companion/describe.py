"""How discovery and the OpenAPI document describe the companion app (only when ``[app] enabled``)."""

from __future__ import annotations

from typing import Any

from .links import VIEWS
from .settings import AppSettings

DISCOVERY_KEY = "org.igcds.companion-app"

#: The ``appContext`` of the cards' SMART links (a JSON object serialised into the Link's string).
APP_CONTEXT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "The appContext string of the cards' SMART links, parsed: which view to open and the order "
    "it is about. `draft` is a draft MedicationRequest as the EHR sent it in draftOrders.",
    "required": ["view"],
    "properties": {
        "view": {"enum": list(VIEWS)},
        "order": {"type": "string", "pattern": "^MedicationRequest/[A-Za-z0-9\\-.]{1,64}$"},
        "draft": {"type": "object", "required": ["resourceType"],
                  "properties": {"resourceType": {"const": "MedicationRequest"}}},
    },
    "additionalProperties": False,
}


def discovery_extension(settings: AppSettings) -> dict[str, Any]:
    """A discovery entry's ``extension`` member (CDS Hooks 2.0 allows one on each service)."""
    return {
        DISCOVERY_KEY: {
            "description": "Dose, trough and IgRT cards carry a SMART link (type smart) to the igcds companion "
            "app: the IgG trend and the dose plan of an order. Register it in the EHR as a SMART app.",
            "launchUrl": settings.launch_url,
            "redirectUri": settings.redirect_uri,
            "clientId": settings.client_id,
            "scope": settings.scopes(standalone=False),
            "views": list(VIEWS),
        }
    }


def _html(description: str, statuses: dict[str, str], parameters: list[dict[str, Any]] | None = None,
          method: str = "get") -> dict[str, Any]:
    operation: dict[str, Any] = {
        "summary": description,
        "tags": ["companion app"],
        "security": [],
        "responses": {
            status: {"description": text, "content": {"text/html": {"schema": {"type": "string"}}}}
            if status.startswith(("2", "4", "5")) else {"description": text}
            for status, text in statuses.items()
        },
    }
    if parameters:
        operation["parameters"] = parameters
    return {method: operation}


def _query(name: str, description: str, required: bool = False) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": required, "description": description,
            "schema": {"type": "string"}}


def openapi_paths(settings: AppSettings) -> dict[str, Any]:
    """The app's pages: browser endpoints (HTML), authenticated by the SMART session cookie."""
    signed_in = {"200": "the page", "401": "not signed in, or the session expired (HTML page saying so)"}
    return {
        "/app/": _html("Start page: links for a standalone launch, or a redirect to the signed-in session's view",
                       {"200": "the start page", "302": "to the session's view"}),
        "/app/launch": _html(
            f"SMART App Launch (EHR launch with launch and iss; standalone with iss alone). Registered launch URL: "
            f"{settings.launch_url}. Redirects to the EHR's authorization endpoint (PKCE S256).",
            {"302": "to the EHR's authorization endpoint", "400": "launch refused", "403": "iss not allowed",
             "502": "the EHR's SMART configuration could not be read"},
            [_query("iss", "the FHIR base URL (must be in [app] fhir_servers)"),
             _query("launch", "the EHR's launch id (EHR launch)")],
        ),
        "/app/callback": _html(
            f"OAuth 2.0 redirect URI ({settings.redirect_uri}): checks state, exchanges the code with the PKCE "
            "verifier, keeps the token server-side and sets the session cookie.",
            {"302": "to the view named by appContext", "400": "state mismatch", "401": "authorization refused",
             "502": "the token endpoint could not be used"},
            [_query("code", "authorization code"), _query("state", "the state sent at launch", True),
             _query("error", "an OAuth error from the EHR")],
        ),
        "/app/trend": _html("The IgG trend (inline SVG chart and tables)", signed_in),
        "/app/dose-plan": _html(
            "The dose plan of the order passed in appContext, or of ?order=MedicationRequest/<id>", signed_in,
            [_query("order", "an active Ig MedicationRequest of the patient")],
        ),
        "/app/sign-out": _html("Delete the session and its token", {"200": "signed out"}, method="post"),
    }
