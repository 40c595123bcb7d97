"""cds_service.logs: the JSON line format (the per-call log line is a contract) and its timestamp."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from cds_service.logs import SAFE_FIELDS, JsonFormatter


@settings(max_examples=2000, derandomize=True, database=None, deadline=None)
@given(created=st.one_of(
    st.floats(min_value=0, max_value=4_102_444_800, allow_nan=False),
    st.integers(1_500_000_000, 2_000_000_000).flatmap(
        lambda s: st.sampled_from([0.0, 0.0004995, 0.0005, 0.9994999, 0.9995, 0.9999994, 0.9999995, 0.99999999]).map(
            lambda f: s + f)),
))
def test_timestamp_is_what_datetime_writes(created: float) -> None:
    """Rounded to the microsecond like ``fromtimestamp`` (carrying into the next second), then cut
    to the millisecond like ``isoformat``."""
    formatter = JsonFormatter()
    expected = datetime.fromtimestamp(created, UTC).isoformat(timespec="milliseconds")
    assert formatter.timestamp(created) == expected
    assert formatter.timestamp(created) == expected  # and again from the per-second cache


def test_the_call_line_has_its_fields_in_order_and_nothing_else() -> None:
    record = logging.LogRecord("igcds.http", logging.INFO, __file__, 1, "cds call", None, None)
    fields = {"event": "cds_call", "service": "svc", "hook": "order-select", "hookInstance": "h-1",
              "request_id": "r-1", "issuer": "dev", "cards": ["rule-a"], "fhir_queries": 0, "ms": 1.5,
              "body": {"patient": "secret"}, "token": "secret"}
    record.__dict__.update(fields)
    line = JsonFormatter().format(record)
    document = json.loads(line)
    assert list(document) == ["ts", "level", "logger", "pid", "msg", "event", "service", "hook", "hookInstance",
                              "request_id", "issuer", "cards", "fhir_queries", "ms"]
    assert document["level"] == "info" and document["msg"] == "cds call" and document["cards"] == ["rule-a"]
    assert "secret" not in line
    assert set(document) - {"ts", "level", "logger", "pid", "msg"} <= set(SAFE_FIELDS)
    assert document["ts"] == datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")


def test_custom_level_names_are_lowered() -> None:
    record = logging.LogRecord("igcds.x", 25, __file__, 1, "m", None, None)
    record.levelname = "NOTICE"
    assert json.loads(JsonFormatter().format(record))["level"] == "notice"


def _call_record(**extra: object) -> logging.LogRecord:
    record = logging.LogRecord("igcds.http", logging.INFO, __file__, 1, "cds call", None, None)
    record.__dict__.update({"event": "cds_call", "service": "ig-order-select", "cards": ["order-dose-unchecked"],
                            "card_count": 1, "ms": 2.5, "body": {"patient": "secret"}, **extra})
    return record


ISSUE = {"resourceType": "MedicationRequest", "position": "draftOrders.entry[0]", "reason": "invalid-dose-unit",
         "outcome": "degraded"}


def test_the_call_line_carries_the_card_count_and_the_issues_in_json() -> None:
    document = json.loads(JsonFormatter().format(_call_record(issues=[ISSUE])))
    assert document["card_count"] == 1 and document["issues"] == [ISSUE]
    assert "body" not in document


def test_the_text_format_prints_the_same_safe_fields() -> None:
    from cds_service.logs import PlainFormatter

    formatter = PlainFormatter("%(levelname)s %(name)s %(message)s")
    line = formatter.format(_call_record(issues=[ISSUE, {**ISSUE, "position": "labs.entry[3]",
                                                         "resourceType": "Observation", "reason": "unsupported-unit",
                                                         "outcome": "skipped"}]))
    assert line == ("INFO igcds.http cds call event=cds_call service=ig-order-select cards=order-dose-unchecked "
                    "card_count=1 issues=[MedicationRequest draftOrders.entry[0] invalid-dose-unit degraded; "
                    "Observation labs.entry[3] unsupported-unit skipped] ms=2.5")
    assert "secret" not in line


def test_the_text_format_keeps_one_record_on_one_line() -> None:
    from cds_service.logs import PlainFormatter

    line = PlainFormatter("%(message)s").format(_call_record(service="a\nforged line"))
    assert "\n" not in line and "a\\nforged line" in line
