"""cds_service.metrics (single process and multiprocess) and the request id in log records."""

from __future__ import annotations

import io
import json
import logging
import os
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import values
from prometheus_client.parser import text_string_to_metric_families

from cds_service import Registry, ServiceDefinition, ServiceResponse, create_app
from cds_service.config import load_config
from cds_service.logs import JsonFormatter, RequestContextFilter
from cds_service.metrics import ENV_VAR, PrometheusMetrics, prepare_multiprocess_dir


def samples(metrics: PrometheusMetrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    payload, content_type = metrics.exposition()
    assert content_type.startswith("text/plain")
    out = {}
    for family in text_string_to_metric_families(payload.decode()):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def exercise(metrics: PrometheusMetrics) -> None:
    metrics.observe_request("/cds-services/<service_id>", "svc", 200, 0.02)
    metrics.observe_fhir(0.01, "200")
    metrics.observe_fhir(0.5, "error")
    metrics.count_card("svc", "rule-a", "warning")
    metrics.count_feedback("svc", "accepted")
    metrics.count_skipped("svc", 3)
    metrics.count_skipped("svc", 0)


@pytest.fixture
def no_multiproc(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV_VAR, raising=False)
    monkeypatch.setattr(values, "ValueClass", values.ValueClass)  # restored after the test


def test_single_process_series(no_multiproc: None) -> None:
    metrics = PrometheusMetrics("t", services=["svc", "other"])
    exercise(metrics)
    got = samples(metrics)
    assert (
        got[
            (
                "t_http_requests_total",
                (("endpoint", "/cds-services/<service_id>"), ("service", "svc"), ("status", "200")),
            )
        ]
        == 1
    )
    assert (
        got[
            (
                "t_http_request_duration_seconds_count",
                (("endpoint", "/cds-services/<service_id>"), ("service", "svc")),
            )
        ]
        == 1
    )
    assert got[("t_fhir_request_duration_seconds_count", (("status", "error"),))] == 1
    assert got[("t_fhir_request_errors_total", (("status", "error"),))] == 1
    assert ("t_fhir_request_errors_total", (("status", "200"),)) not in got
    assert got[("t_cards_total", (("indicator", "warning"), ("rule", "rule-a"), ("service", "svc")))] == 1
    assert got[("t_feedback_total", (("outcome", "accepted"), ("service", "svc")))] == 1
    assert got[("t_feedback_total", (("outcome", "overridden"), ("service", "other")))] == 0  # pre-created
    assert got[("t_skipped_resources_total", (("service", "svc"),))] == 3


def test_lost_audit_calls_are_counted_by_reason(no_multiproc: None) -> None:
    metrics = PrometheusMetrics("t")
    assert samples(metrics)[("t_audit_lost_calls_total", (("reason", "write_failed"),))] == 0  # pre-created
    metrics.count_audit_lost("queue_full", 1)
    metrics.count_audit_lost("write_failed", 40)
    metrics.count_audit_lost("write_failed", 0)
    metrics.count_audit_lost("made-up", 5)  # label values stay bounded
    got = samples(metrics)
    assert got[("t_audit_lost_calls_total", (("reason", "queue_full"),))] == 1
    assert got[("t_audit_lost_calls_total", (("reason", "write_failed"),))] == 40
    assert not any(labels == (("reason", "made-up"),) for _, labels in got)


def test_two_apps_in_one_process_do_not_collide(no_multiproc: None) -> None:
    a, b = PrometheusMetrics("t"), PrometheusMetrics("t")
    a.count_card("svc", "r", "info")
    assert ("t_cards_total", (("indicator", "info"), ("rule", "r"), ("service", "svc"))) not in samples(b)


def test_multiprocess_aggregates_forked_workers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(values, "ValueClass", values.ValueClass)
    monkeypatch.setenv(ENV_VAR, "")  # restored by monkeypatch; set for real just below
    directory = prepare_multiprocess_dir(tmp_path)
    assert os.environ[ENV_VAR] == str(directory) and list(directory.iterdir()) == []
    children = []
    for _ in range(2):  # two "workers", each building its own metrics after the fork
        pid = os.fork()
        if pid == 0:
            try:
                exercise(PrometheusMetrics("t", services=["svc"]))
            finally:
                os._exit(0)
        children.append(pid)
    for pid in children:
        assert os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) == 0
    got = samples(PrometheusMetrics("t", services=["svc"]))
    assert got[("t_cards_total", (("indicator", "warning"), ("rule", "rule-a"), ("service", "svc")))] == 2
    assert got[("t_skipped_resources_total", (("service", "svc"),))] == 6
    assert (
        got[
            (
                "t_http_request_duration_seconds_count",
                (("endpoint", "/cds-services/<service_id>"), ("service", "svc")),
            )
        ]
        == 2
    )


def test_a_fresh_directory_each_start(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV_VAR, "")
    first = prepare_multiprocess_dir(tmp_path)
    (first / "counter_1.db").write_bytes(b"stale")
    assert list(prepare_multiprocess_dir(tmp_path).iterdir()) == []


def test_request_id_reaches_log_records(tmp_path: Path, no_multiproc: None) -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(RequestContextFilter())
    logger = logging.getLogger("igcds.test-metrics")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)

    def handle(request: Any) -> list:
        logger.info("inside the handler", extra={"event": "probe"})
        return []

    registry = Registry([ServiceDefinition("toy", "patient-view", "Toy", "Toy", handle)])
    config = load_config(overrides={"dev": True, "server": {"data_dir": str(tmp_path)}}, environ={})
    app = create_app(config, registry)
    body = {
        "hook": "patient-view",
        "hookInstance": "h-1",
        "context": {"userId": "Practitioner/1", "patientId": "p-secret"},
    }
    try:
        response = app.test_client().post("/cds-services/toy", json=body, headers={"X-Request-Id": "req-42"})
        logger.info("outside any request")
    finally:
        logger.removeHandler(handler)
    assert response.status_code == 200
    inside, outside = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert inside["request_id"] == "req-42" and inside["service"] == "toy"
    assert "request_id" not in outside
    assert "p-secret" not in stream.getvalue()


def test_logged_exceptions_keep_the_stack_but_not_the_message():
    import logging

    from cds_service.logs import JsonFormatter

    patient = "secret-patient-42"
    try:
        raise ValueError(f"Patient/{patient} has no weight")
    except ValueError:
        record = logging.LogRecord("igcds.test", logging.ERROR, __file__, 1, "rule failed", None,
                                   __import__("sys").exc_info())
    line = JsonFormatter().format(record)
    assert "secret-patient-42" not in line
    assert "ValueError" in line and "test_logged_exceptions_keep_the_stack_but_not_the_message" in line


def test_repeated_series_add_up_per_label_set(no_multiproc: None) -> None:
    """observe_request and count_card reuse their labelled series: counts stay per label set."""
    metrics = PrometheusMetrics("t")
    for status, service in ((200, "svc"), (200, "svc"), (400, "svc"), (200, "other")):
        metrics.observe_request("/cds-services/<service_id>", service, status, 0.02)
    metrics.observe_request("unmatched", "other", 404, 3.0)
    for _ in range(3):
        metrics.count_card("svc", "rule-a", "warning")
    metrics.count_card("svc", "rule-a", "info")
    got = samples(metrics)
    endpoint = ("endpoint", "/cds-services/<service_id>")
    assert got[("t_http_requests_total", (endpoint, ("service", "svc"), ("status", "200")))] == 2
    assert got[("t_http_requests_total", (endpoint, ("service", "svc"), ("status", "400")))] == 1
    assert got[("t_http_requests_total", (endpoint, ("service", "other"), ("status", "200")))] == 1
    assert got[("t_http_request_duration_seconds_count", (endpoint, ("service", "svc")))] == 3
    bucket = ("t_http_request_duration_seconds_bucket", (endpoint, ("le", "0.025"), ("service", "svc")))
    assert got[bucket] == 3
    assert got[("t_http_request_duration_seconds_bucket",
                (("endpoint", "unmatched"), ("le", "2.0"), ("service", "other")))] == 0
    assert got[("t_http_request_duration_seconds_bucket",
                (("endpoint", "unmatched"), ("le", "4.0"), ("service", "other")))] == 1
    assert got[("t_cards_total", (("indicator", "warning"), ("rule", "rule-a"), ("service", "svc")))] == 3
    assert got[("t_cards_total", (("indicator", "info"), ("rule", "rule-a"), ("service", "svc")))] == 1


def test_skipped_resources_of_a_response_reach_the_metrics(tmp_path: Path, no_multiproc: None) -> None:
    """A handler reports what it could not use on ``ServiceResponse``; the pipeline counts it, and the
    count is not part of the answer (a handler that wants the client to know uses ``extension``)."""
    registry = Registry([ServiceDefinition("toy", "patient-view", "Toy", "Toy",
                                           lambda request: ServiceResponse(skipped_resources=4))])
    metrics = PrometheusMetrics("t", services=["toy"])
    config = load_config(overrides={"dev": True, "server": {"data_dir": str(tmp_path)}}, environ={})
    client = create_app(config, registry, metrics=metrics).test_client()
    body = {"hook": "patient-view", "hookInstance": "h-1",
            "context": {"userId": "Practitioner/1", "patientId": "p1"}}
    for _ in range(2):
        response = client.post("/cds-services/toy", json=body)
        assert response.status_code == 200 and response.get_json() == {"cards": []}
    assert samples(metrics)[("t_skipped_resources_total", (("service", "toy"),))] == 8
