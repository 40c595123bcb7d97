"""The companion app's test stack: sekmet-fhir (the session's, with the fixtures loaded), the test EHR in
front of it, and a real ``igcds serve`` with ``[app]`` enabled for that EHR.

``companion_stack(loaded_fixtures)`` yields a :class:`CompanionStack`; ``launch_session`` runs a whole EHR
launch over HTTP with ``requests`` (the browser tests do the same in Chromium), keeping every response.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin

import requests

from .cds_calls import post_cds
from .igcds_server import RunningServer, igcds_server
from .smart_ehr import SmartEhr, smart_ehr

CLIENT_ID = "igcds-companion-test"


@dataclass
class CompanionStack:
    ehr: SmartEhr
    igcds: RunningServer

    def call(self, service: str, body: Mapping[str, Any]) -> dict[str, Any]:
        """A CDS Hooks call to igcds (dev mode: no JWT); fails unless it answers 200, conformant."""
        return post_cds(self.igcds, service, dict(body))


@contextmanager
def companion_stack(fhir_base: str, *, app: Mapping[str, Any] | None = None,
                    default_patient: str | None = None) -> Iterator[CompanionStack]:
    with smart_ehr(fhir_base, default_patient=default_patient) as ehr:
        settings = {"enabled": True, "client_id": CLIENT_ID, "fhir_servers": [ehr.fhir_base], **(app or {})}
        with igcds_server({"app": settings}, workers=2, threads=4) as server:
            ehr.register_client(CLIENT_ID, server.url("/app/callback"), settings.get("client_secret", ""))
            yield CompanionStack(ehr, server)


@dataclass
class Launch:
    """One launch run with ``requests``: the browser's cookie jar and every hop."""

    http: requests.Session
    hops: list[requests.Response] = field(default_factory=list)

    @property
    def last(self) -> requests.Response:
        return self.hops[-1]


def follow(http: requests.Session, url: str, hops: list[requests.Response], limit: int = 6) -> requests.Response:
    """GET ``url`` and follow redirects by hand (each hop kept), like a browser would."""
    response = http.get(url, allow_redirects=False, timeout=30)
    hops.append(response)
    while response.is_redirect and limit:
        response = http.get(urljoin(response.url, response.headers["Location"]), allow_redirects=False, timeout=30)
        hops.append(response)
        limit -= 1
    return response


def launch_session(stack: CompanionStack, link: Mapping[str, Any], patient: str, *,
                   stop_before_callback: bool = False, expires_in: int = 3600) -> Launch:
    """Open a card's SMART link as the EHR would, in a fresh cookie jar; optionally stop at the redirect
    back to igcds (so a test can tamper with it)."""
    launch = Launch(requests.Session())
    url = stack.ehr.launch_url(dict(link), patient, expires_in=expires_in)
    if stop_before_callback:  # igcds -> the EHR's authorize -> (not followed) the redirect back to igcds
        follow(launch.http, url, launch.hops, limit=1)
    else:
        follow(launch.http, url, launch.hops)
    return launch
