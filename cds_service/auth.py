"""Client authentication (CDS Hooks 2.0 "Trusting CDS Clients").

Provisional version: dev mode accepts every call; otherwise every call is refused until the JWT
verifier is configured. The interface is what the views rely on.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import Request

from .config import Config
from .errors import Unauthorized


@dataclass(frozen=True, slots=True)
class AuthContext:
    """Who is calling. ``issuer`` None means dev mode (no authentication)."""

    issuer: str | None = None
    #: FHIR base URLs this caller may send us to; None means "use [fhir] allowed_servers".
    fhir_servers: tuple[str, ...] | None = None
    tenant: str | None = None


class Authenticator:
    def __init__(self, config: Config) -> None:
        self.config = config

    def authenticate(self, request: Request, audience: str) -> AuthContext:
        if self.config.dev:
            return AuthContext()
        raise Unauthorized("JWT verification is not configured")

    def readiness(self) -> dict[str, object]:
        return {"dev_mode": self.config.dev}


def build_authenticator(config: Config) -> Authenticator:
    return Authenticator(config)
