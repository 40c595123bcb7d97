"""Structured logging: one JSON object per line, no PHI, no tokens.

Log calls pass only safe fields through ``extra`` (event, service, hook, hookInstance, request id,
rule ids, timings, issuer). The formatter copies a fixed allowlist of those fields and nothing else,
so a careless ``extra={"body": ...}`` cannot leak request content into the logs.
"""

from __future__ import annotations

import logging
import sys
from datetime import UTC, datetime

import orjson

SAFE_FIELDS = (
    "event", "service", "hook", "hookInstance", "request_id", "issuer", "cards", "fhir_queries", "ms",
    "status", "error", "reason", "keys", "reasons", "rule", "seconds", "key", "kid", "tenant", "jti_seen",
    "count", "outcome", "stored", "duplicates", "workers", "path",
)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, object] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for name in SAFE_FIELDS:
            value = record.__dict__.get(name)
            if value is not None:
                out[name] = value
        if record.exc_info and record.exc_info[0] is not None:
            out["exc_type"] = record.exc_info[0].__name__
            out["traceback"] = self.formatException(record.exc_info)
        return orjson.dumps(out, default=str).decode()


def configure_logging(level: str = "INFO", json_lines: bool = True) -> None:
    root = logging.getLogger("igcds")
    root.setLevel(level)
    if getattr(root, "_igcds_configured", False):
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if json_lines else logging.Formatter(
        "%(asctime)s %(levelname)s %(name)s %(message)s"))
    root.addHandler(handler)
    root.propagate = False
    root._igcds_configured = True  # type: ignore[attr-defined]
