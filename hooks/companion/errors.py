"""The companion app's typed errors; ``views`` maps them to HTML pages with their status, in one place.

Messages say what went wrong and what to do, for the clinician who sees them; they never contain a
token, a code, a state value or patient data (they are logged too).
"""

from __future__ import annotations


class CompanionError(Exception):
    status = 400
    code = "app-error"
    title = "The igcds companion could not open"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class LaunchRefused(CompanionError):
    """The launch itself is unacceptable: unlisted ``iss``, missing parameters, unusable EHR metadata."""

    status = 400
    code = "launch-refused"
    title = "Launch refused"


class IssuerNotAllowed(LaunchRefused):
    status = 403
    code = "issuer-not-allowed"


class StateMismatch(CompanionError):
    """The redirect back from the EHR does not belong to a launch started in this browser."""

    status = 400
    code = "state-mismatch"
    title = "Sign-in refused"


class AuthorizationFailed(CompanionError):
    """The EHR's authorization server refused (an error redirect, or the token request was refused)."""

    status = 401
    code = "authorization-failed"
    title = "Sign-in failed"


class NotSignedIn(CompanionError):
    status = 401
    code = "not-signed-in"
    title = "Not signed in"


class SessionExpired(NotSignedIn):
    code = "session-expired"
    title = "Session expired"


class EhrUnavailable(CompanionError):
    """The EHR (metadata, token endpoint or FHIR server) could not be reached or answered nonsense."""

    status = 502
    code = "ehr-unavailable"
    title = "The EHR did not answer"


class NotFound(CompanionError):
    status = 404
    code = "not-found"
    title = "Not found"
