"""Log hygiene: no bearer token (client JWT or FHIR access token) and no patient id in captured logs.

``assert_no_secrets(log_text, secrets)`` looks for each secret as written, JSON-escaped and
URL-encoded; for a JWT it also looks for each of its three segments on its own (a log line that
kept only the payload or the signature still leaks it). ``secrets`` is a mapping ``label -> value``
or an iterable of values. Secrets shorter than 6 characters are refused: they would match by
chance, so give test patients distinctive ids (``pt-7f3a91...``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from urllib.parse import quote

MIN_SECRET_LENGTH = 6
_JWT_SEGMENT_MIN = 16


def _forms(value: str) -> set[str]:
    forms = {value, json.dumps(value)[1:-1], quote(value, safe=""), quote(value, safe="/:")}
    parts = value.split(".")
    if len(parts) == 3:  # a compact JWS: each segment alone is a leak too
        forms.update(p for p in parts if len(p) >= _JWT_SEGMENT_MIN)
    return {f for f in forms if f}


def find_secrets(log_text: str, secrets: Mapping[str, str] | Iterable[str]) -> list[str]:
    """Labels of the secrets found, with the first line number where each occurs."""
    items = list(secrets.items()) if isinstance(secrets, Mapping) else [(f"secret #{i + 1}", s)
                                                                        for i, s in enumerate(secrets)]
    lines = log_text.splitlines()
    found: list[str] = []
    for label, value in items:
        if not isinstance(value, str) or len(value) < MIN_SECRET_LENGTH:
            raise ValueError(f"{label}: secrets must be strings of at least {MIN_SECRET_LENGTH} characters")
        forms = _forms(value)
        for number, line in enumerate(lines, 1):
            if any(form in line for form in forms):
                found.append(f"{label} (log line {number})")
                break
    return found


def assert_no_secrets(log_text: str, secrets: Mapping[str, str] | Iterable[str]) -> None:
    """Fail, naming the secret and the log line (never printing the secret itself), if any leaked."""
    found = find_secrets(log_text, secrets)
    assert not found, "secrets found in the logs: " + "; ".join(found)


# Suite-wide scan -------------------------------------------------------------------------------

import re  # noqa: E402

#: Anything shaped like a compact JWS (a client JWT) or a bearer credential, whoever minted it.
_JWT_SHAPE = re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.")
_BEARER_SHAPE = re.compile(r"(?i)\bbearer\s+[A-Za-z0-9._~+/=-]{8,}")

#: Secrets the tests used (access tokens, minted JWTs), registered as they are made.
SUITE_SECRETS: dict[str, str] = {}


def register_secret(label: str, value: str) -> str:
    if isinstance(value, str) and len(value) >= MIN_SECRET_LENGTH:
        SUITE_SECRETS[label] = value
    return value


def scan_suite_logs(log_texts: Mapping[str, str], patient_ids: Iterable[str]) -> list[str]:
    """Problems found in the logs of every server the suite ran (file name, what, line number)."""
    problems: list[str] = []
    # A patient id counts as a whole token only: "anti-cd20-hbv" (a fixture patient) must not match
    # inside the rule id "order-anti-cd20-hbv".
    ids = {pid: re.compile(r"(?<![\w-])" + re.escape(pid) + r"(?![\w-])")
           for pid in patient_ids if len(pid) >= MIN_SECRET_LENGTH}
    for name, text in log_texts.items():
        lines = text.splitlines()
        for number, line in enumerate(lines, 1):
            if _JWT_SHAPE.search(line):
                problems.append(f"{name}:{number}: something shaped like a JWT")
            if _BEARER_SHAPE.search(line):
                problems.append(f"{name}:{number}: a bearer credential")
        problems.extend(f"{name}: {found}" for found in find_secrets(text, SUITE_SECRETS))
        for pid, pattern in ids.items():
            number = next((n for n, line in enumerate(lines, 1) if pattern.search(line)), None)
            if number is not None:
                problems.append(f"{name}: patient id {pid} (log line {number})")
    return problems
