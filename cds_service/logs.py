"""Structured logging: one JSON object per line, no PHI, no tokens.

Log calls pass only safe fields through ``extra`` (event, service, hook, hookInstance, request id,
rule ids, timings, issuer). The formatter copies a fixed allowlist of those fields and nothing else,
so a careless ``extra={"body": ...}`` cannot leak request content into the logs.

:class:`RequestContextFilter` (on the handler, so it sees every ``igcds.*`` record) adds the current
request's id (``flask.g.request_id``, set by the app before each request) and service id to records
logged while a request is being handled, unless the call site passed them already.
"""

from __future__ import annotations

import logging
import math
import sys
import traceback
from datetime import UTC, datetime
from types import TracebackType

import orjson
from flask import g, has_app_context

SAFE_FIELDS = (
    "event", "service", "hook", "hookInstance", "request_id", "issuer", "cards", "card_count", "issues",
    "fhir_queries", "ms",
    "status", "error", "reason", "keys", "reasons", "rule", "seconds", "key", "kid", "tenant", "jti_seen",
    "count", "outcome", "stored", "duplicates", "workers", "path",
)


_LEVEL_NAMES = {name: name.lower() for name in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")}


class RequestContextFilter(logging.Filter):
    """Adds ``request_id`` and ``service`` from ``flask.g`` to records logged inside a request."""

    def filter(self, record: logging.LogRecord) -> bool:
        needs_id = getattr(record, "request_id", None) is None
        needs_service = getattr(record, "service", None) is None
        if (needs_id or needs_service) and has_app_context():
            if needs_id:
                request_id = g.get("request_id")
                if request_id:
                    record.request_id = request_id
            if needs_service:
                service = g.get("service")
                if service and service != "other":
                    record.service = service
        return True


def safe_traceback(exc_info: tuple[type[BaseException], BaseException, TracebackType | None]) -> str:
    """Where it failed, without what it said: exception messages can quote request data
    (a resource id, a query, a value), so only the type and the stack frames are logged."""
    kind, _, tb = exc_info
    return "".join(traceback.format_tb(tb)) + f"{kind.__module__}.{kind.__qualname__} (message withheld)"


def _plain(value: object) -> str:
    """A safe field's value on one text line: lists comma-separated, an object's values space-separated
    (``issues``: ``MedicationRequest draftOrders.entry[0] invalid-dose-unit degraded``), no line breaks."""
    if isinstance(value, dict):
        text = " ".join(_plain(v) for v in value.values())
    elif isinstance(value, list | tuple):
        text = "[" + "; ".join(_plain(v) for v in value) + "]" if any(isinstance(v, dict) for v in value) \
            else ",".join(_plain(v) for v in value)
    else:
        text = str(value)
    return text.replace("\r", "\\r").replace("\n", "\\n")


class PlainFormatter(logging.Formatter):
    """The text log format (``[logging] json = false``): the usual prefix and message, then the same
    :data:`SAFE_FIELDS` as the JSON format, as ``name=value`` pairs (and nothing else)."""

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        fields = record.__dict__
        pairs = [f"{name}={_plain(fields[name])}" for name in SAFE_FIELDS if fields.get(name) is not None]
        if not pairs:
            return line
        head, newline, tail = line.partition("\n")  # a traceback stays below the fields
        return f"{head} {' '.join(pairs)}{newline}{tail}"

    def formatException(self, ei):  # type: ignore[no-untyped-def]  # noqa: N802
        return safe_traceback(ei)


class JsonFormatter(logging.Formatter):
    """One JSON object per record: ``ts`` (UTC, milliseconds), ``level``, ``logger``, ``pid``, ``msg``,
    then the :data:`SAFE_FIELDS` the record carries, in that order."""

    def __init__(self) -> None:
        super().__init__()
        #: (whole second, its "YYYY-MM-DDTHH:MM:SS" in UTC): one datetime per second, not per line.
        self._second: tuple[int, str] = (-1, "")

    def timestamp(self, created: float) -> str:
        """``datetime.fromtimestamp(created, UTC).isoformat(timespec="milliseconds")``, cheaper.

        Rounds to the microsecond exactly as ``fromtimestamp`` does (half to even, carrying into the
        next second), then truncates to the millisecond as ``isoformat`` does.
        """
        seconds = math.floor(created)
        micros = round((created - seconds) * 1e6)
        if micros >= 1_000_000:
            seconds += 1
            micros -= 1_000_000
        cached_second, prefix = self._second
        if cached_second != seconds:
            prefix = datetime.fromtimestamp(seconds, UTC).isoformat(timespec="seconds")[:-6]  # drop "+00:00"
            self._second = (seconds, prefix)
        return f"{prefix}.{micros // 1000:03d}+00:00"

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, object] = {
            "ts": self.timestamp(record.created),
            "level": _LEVEL_NAMES.get(record.levelname) or record.levelname.lower(),
            "logger": record.name,
            "pid": record.process,
            "msg": record.getMessage(),
        }
        fields = record.__dict__
        for name in SAFE_FIELDS:
            value = fields.get(name)
            if value is not None:
                out[name] = value
        if record.exc_info and record.exc_info[0] is not None:
            out["exc_type"] = record.exc_info[0].__name__
            out["traceback"] = safe_traceback(record.exc_info)
        return orjson.dumps(out, default=str).decode()


def configure_logging(level: str = "INFO", json_lines: bool = True) -> None:
    root = logging.getLogger("igcds")
    root.setLevel(level)
    if getattr(root, "_igcds_configured", False):
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if json_lines else PlainFormatter(
        "%(asctime)s %(levelname)s %(name)s %(message)s"))
    handler.addFilter(RequestContextFilter())
    root.addHandler(handler)
    root.propagate = False
    root._igcds_configured = True  # type: ignore[attr-defined]
