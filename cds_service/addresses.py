"""Is this address this machine? One answer for dev mode, FHIR allowlists, JWKS URLs and browser origins."""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import urlsplit

#: A browser ``Origin`` on this machine (the pattern flask-cors is given in dev mode; ``\Z``: it only
#: anchors at the start). Same hosts as :func:`is_loopback_host`.
LOOPBACK_ORIGIN = re.compile(r"https?://(?:localhost|127(?:\.\d{1,3}){3}|\[::1\])(?::\d{1,5})?\Z", re.IGNORECASE)


def is_loopback_host(host: str | None) -> bool:
    """``localhost``, 127.0.0.0/8 or ::1 (brackets allowed; also 127.0.0.0/8 written as an IPv4-mapped
    IPv6 address, as a dual-stack socket reports an IPv4 peer); anything else, names included, is not."""
    host = (host or "").strip("[]").lower()
    if host == "localhost":
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    mapped = getattr(address, "ipv4_mapped", None)
    return address.is_loopback or (mapped is not None and mapped.is_loopback)


def is_loopback_url(url: str) -> bool:
    try:
        return is_loopback_host(urlsplit(url).hostname)
    except ValueError:
        return False


def is_loopback_origin(origin: str) -> bool:
    """A browser origin (``scheme://host[:port]``, nothing more) on this machine."""
    return LOOPBACK_ORIGIN.match(origin) is not None
