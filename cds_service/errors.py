"""Typed errors, each mapped to one HTTP status in one place (``app._register_error_handlers``).

Every error carries a stable ``code`` (like HAPI's ``Msg.code``) so operators and tests can grep
for it, and a ``message`` that names the problem without echoing client data such as tokens or
patient identifiers.
"""

from __future__ import annotations

from typing import Any


class CdsError(Exception):
    """Base class: an error answered to the client as JSON."""

    status_code: int = 400
    code: str = "invalid-request"

    def __init__(self, message: str, *, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or {}

    def to_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"error": self.code, "message": self.message}
        if self.details:
            body["details"] = self.details
        return body


class InvalidRequest(CdsError):
    status_code = 400
    code = "invalid-request"


class Unauthorized(CdsError):
    """Any JWT failure. The body stays bare (CDS Hooks best practice); the reason is logged."""

    status_code = 401
    code = "unauthorized"

    def to_dict(self) -> dict[str, Any]:
        return {"error": self.code}


class Forbidden(CdsError):
    """Dev mode (no authentication) and a caller that is not this machine, or a page served from elsewhere."""

    status_code = 403
    code = "forbidden"


class UnknownService(CdsError):
    status_code = 404
    code = "unknown-service"


class UnsupportedMediaType(CdsError):
    status_code = 415
    code = "unsupported-media-type"


class PrefetchUnavailable(CdsError):
    """Required data neither prefetched nor obtainable from ``fhirServer`` (spec: SHALL 412)."""

    status_code = 412
    code = "prefetch-unavailable"


class ServiceUnavailable(CdsError):
    """A shared dependency is down; nothing was done and the client may retry after ``retry_after_s``.

    The answer carries ``Retry-After`` (``app._register_error_handlers``).
    """

    status_code = 503
    code = "service-unavailable"
    retry_after_s: int = 5


class ReplayStoreUnavailable(ServiceUnavailable):
    """The jti replay store cannot be reached: the call is refused rather than accepted without
    replay protection (fail closed), with a 503 the client may retry, never a 401 that blames its token."""

    code = "replay-store-unavailable"
    retry_after_s = 2


class ConfigError(ValueError):
    """A configuration file or value that cannot be used; raised at start-up, never per request."""


class RegistryError(ValueError):
    """An invalid service declaration; raised at start-up."""
