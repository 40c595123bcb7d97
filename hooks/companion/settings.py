"""The ``[app]`` configuration section: the igcds companion SMART app.

Off by default. When ``enabled``, igcds serves the app under ``/app/``, and its dose, trough and IgRT
cards carry a SMART link to it. Every key is documented here and in the README ("The companion app").
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal
from urllib.parse import urlsplit

from cds_service.errors import ConfigError

#: The FHIR resource types the app reads (and the only ones it asks scopes for).
READ_TYPES = (
    "Patient",
    "Observation",
    "Condition",
    "MedicationRequest",
    "MedicationAdministration",
    "MedicationStatement",
)
_LOOPBACK = ("127.0.0.1", "localhost", "::1")


def normalise_url(url: str) -> str:
    """A FHIR base / issuer compared as SMART servers write it: without a trailing slash."""
    return url.strip().rstrip("/")


def host_of(url: str) -> str | None:
    """The host of a URL, or None when it has none or cannot be parsed (``http://[bad``: urlsplit raises)."""
    try:
        return urlsplit(url).hostname
    except ValueError:
        return None


def is_loopback(url: str) -> bool:
    return (host_of(url) or "") in _LOOPBACK


@dataclass(frozen=True)
class AppSettings:
    #: Serve the app under ``/app/`` and put SMART links on the cards.
    enabled: bool = False
    #: The client id the EHR's authorization server registered for the app.
    client_id: str = ""
    #: Confidential client: the secret the EHR issued (sent with HTTP Basic to the token endpoint).
    #: Empty: a public client, protected by PKCE alone.
    client_secret: str = ""
    #: FHIR base URLs (the ``iss`` of a launch) the app may be launched against and read from, exact
    #: match without a trailing slash. Any other ``iss`` is refused before anything is fetched from it.
    fhir_servers: tuple[str, ...] = ()
    #: The launch URL registered in the EHR and put on the cards. Empty: ``{public_base_url}/app/launch``.
    launch_url: str = ""
    #: Longest life of a signed-in session, in seconds (the access token's ``expires_in`` may end it sooner).
    session_lifetime_s: int = 3600
    #: Time allowed between the launch and the EHR's redirect back (``state`` and PKCE verifier kept this long).
    launch_timeout_s: int = 600
    #: Where sessions live: ``sqlite`` (a file in ``[server] data_dir``, shared by the workers of one host)
    #: or a ``redis://`` / ``rediss://`` URL (shared by several hosts).
    session_store: str = "sqlite"
    #: Key that encrypts sessions at rest (Fernet, url-safe base64 of 32 bytes). Empty: a key generated in
    #: ``data_dir`` on first start. Several hosts sharing a Redis store need the same key.
    session_key: str = ""
    #: Cookie ``SameSite``: ``Lax`` (the app opens in a window or tab) or ``None`` (an EHR that embeds the
    #: app in a frame of another site; needs an https ``public_base_url``).
    cookie_samesite: Literal["Lax", "Strict", "None"] = "Lax"
    #: Origins allowed to frame the app (CSP ``frame-ancestors``); empty: no framing.
    frame_ancestors: tuple[str, ...] = ()
    #: Ask SMART v1 scopes (``patient/Observation.read``) instead of v2 (``patient/Observation.rs``), for
    #: authorization servers that only know SMART App Launch 1.0.
    smart_v1_scopes: bool = False
    #: Days of history the IgG trend shows.
    trend_days: int = 730

    def __post_init__(self) -> None:
        if self.session_lifetime_s < 60:
            raise ConfigError(f"app.session_lifetime_s: expected 60 or more seconds, got {self.session_lifetime_s}")
        if self.launch_timeout_s < 30:
            raise ConfigError(f"app.launch_timeout_s: expected 30 or more seconds, got {self.launch_timeout_s}")
        if self.trend_days < 30:
            raise ConfigError(f"app.trend_days: expected 30 or more days, got {self.trend_days}")
        for server in self.fhir_servers:
            if not server.startswith(("https://", "http://")):
                raise ConfigError(f"app.fhir_servers: {server!r} is not an absolute http(s) URL")
            if server.startswith("http://") and not is_loopback(server):
                raise ConfigError(f"app.fhir_servers: {server!r} must use https (http only on loopback)")
        if not self.enabled:
            return
        if not self.client_id.strip():
            raise ConfigError("app.client_id: required when app.enabled = true (the id the EHR registered)")
        if not self.fhir_servers:
            raise ConfigError("app.fhir_servers: list the FHIR servers the app may be launched from")

    @property
    def allowed_servers(self) -> frozenset[str]:
        return frozenset(normalise_url(s) for s in self.fhir_servers)

    def allows(self, iss: str) -> bool:
        return normalise_url(iss) in self.allowed_servers

    def scopes(self, standalone: bool) -> str:
        """Patient-level read of exactly what the app reads; ``launch`` (EHR) or ``launch/patient``."""
        access = "read" if self.smart_v1_scopes else "rs"
        reads = [f"patient/{kind}.{access}" for kind in READ_TYPES]
        return " ".join(["launch/patient" if standalone else "launch", *reads])

    def with_base_url(self, public_base_url: str) -> AppSettings:
        """The settings with ``launch_url`` filled in from ``[server] public_base_url`` when empty."""
        if self.launch_url:
            return self
        return replace(self, launch_url=public_base_url.rstrip("/") + "/app/launch")

    @property
    def base_path_url(self) -> str:
        """The app's own URL prefix (the launch URL without ``/launch``)."""
        return self.launch_url.rsplit("/", 1)[0]

    @property
    def redirect_uri(self) -> str:
        return self.base_path_url + "/callback"
