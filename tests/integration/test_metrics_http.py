"""``/metrics`` under gunicorn with several workers, and the request id in the server's JSON logs."""

from __future__ import annotations

import json
import socket
from collections.abc import Callable
from typing import Any

import requests
from prometheus_client.parser import text_string_to_metric_families

from tests.support.igcds_server import igcds_server

SERVICE = "ig-patient-view"


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]  # nothing listens once the socket is closed


def scrape(url: str) -> dict[str, list[Any]]:
    response = requests.get(url, timeout=10)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/plain")
    return {f.name: f.samples for f in text_string_to_metric_families(response.text)}


def total(families: dict[str, list[Any]], family: str, sample: str, **labels: str) -> float:
    return sum(
        s.value
        for s in families.get(family, [])
        if s.name == sample and all(s.labels.get(k) == v for k, v in labels.items())
    )


def test_metrics_aggregate_all_workers(cds_request: Callable[[str, str], dict[str, Any]]) -> None:
    down = f"http://127.0.0.1:{closed_port()}/fhir"  # the dev FHIR server, configured but not running
    with igcds_server({"fhir": {"allowed_servers": [down]}}, workers=3) as server:
        with_cards = cds_request(SERVICE, "higm-xl-adult")
        # one resource the mapper must skip (a non-numeric IgG value)
        with_cards["prefetch"]["labs"]["entry"].append(
            {
                "resource": {
                    "resourceType": "Observation",
                    "id": "bad-igg",
                    "status": "final",
                    "code": {"coding": [{"system": "http://loinc.org", "code": "2465-3"}]},
                    "valueQuantity": {"value": "lots", "unit": "mg/dL"},
                }
            }
        )
        calls = 6
        cards_per_call = None
        with requests.Session() as session:  # new connections spread the calls over the workers
            for _ in range(calls):
                response = requests.post(server.url(f"/cds-services/{SERVICE}"), json=with_cards, timeout=30)
                assert response.status_code == 200, response.text
                cards_per_call = len(response.json()["cards"])
                a_card = response.json()["cards"][0]["uuid"]
            # missing prefetch fetched from a loopback FHIR server that is down: FHIR errors, then 412
            no_prefetch = {k: v for k, v in cds_request(SERVICE, "higm-xl-adult").items() if k != "prefetch"}
            no_prefetch["fhirServer"] = down
            assert (
                requests.post(
                    server.url(f"/cds-services/{SERVICE}"), json=no_prefetch, timeout=30
                ).status_code
                == 412
            )
            item = {"card": a_card, "outcome": "overridden", "outcomeTimestamp": "2025-03-01T12:00:00Z"}
            response = session.post(
                server.url(f"/cds-services/{SERVICE}/feedback"),
                json={"feedback": [item]},
                headers={"X-Request-Id": "probe-feedback-1"},
                timeout=10,
            )
            assert response.status_code == 200, response.text
            assert response.headers["X-Request-Id"] == "probe-feedback-1"
            made_up = session.post(server.url(f"/cds-services/{SERVICE}/feedback"),
                                   json={"feedback": [{**item, "card": "c-1"}]}, timeout=10)
            assert made_up.status_code == 422
        scrapes = [scrape(server.url("/metrics")) for _ in range(4)]
        pids = {
            line.split("_")[-1].split(".")[0]
            for line in (p.name for p in (server.data_dir / "prometheus-multiproc").iterdir())
        }
        log = server.log_text()

    assert cards_per_call
    assert len(pids) >= 2, "several processes should have written samples"
    for families in scrapes:  # whichever worker answers, the totals are the same
        assert (
            total(
                families,
                "igcds_http_requests",
                "igcds_http_requests_total",
                endpoint="/cds-services/<service_id>",
                service=SERVICE,
                status="200",
            )
            == calls
        )
        assert total(families, "igcds_http_requests", "igcds_http_requests_total", status="412") == 1
        assert (
            total(
                families,
                "igcds_http_request_duration_seconds",
                "igcds_http_request_duration_seconds_count",
                endpoint="/cds-services/<service_id>",
            )
            == calls + 1
        )
        assert total(families, "igcds_cards", "igcds_cards_total", service=SERVICE) == calls * cards_per_call
        assert (
            total(families, "igcds_feedback", "igcds_feedback_total", service=SERVICE, outcome="overridden")
            == 1
        )
        assert (
            total(families, "igcds_skipped_resources", "igcds_skipped_resources_total", service=SERVICE)
            == calls
        )
        assert (
            total(families, "igcds_fhir_request_errors", "igcds_fhir_request_errors_total", status="error")
            >= 1
        )
        assert (
            total(
                families,
                "igcds_fhir_request_duration_seconds",
                "igcds_fhir_request_duration_seconds_count",
                status="error",
            )
            >= 1
        )
        assert scrapes[0]["igcds_cards"] == families["igcds_cards"]
        assert total(families, "igcds_feedback_refused_items", "igcds_feedback_refused_items_total",
                     service=SERVICE, reason="unknown_card") == 1

    records = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
    feedback_logs = [r for r in records if r.get("event") == "feedback"]
    assert [r["request_id"] for r in feedback_logs] == ["probe-feedback-1"]
    calls_logged = [r for r in records if r.get("event") == "cds_call"]
    assert len(calls_logged) == calls and all(r.get("request_id") for r in calls_logged)
    patient_id = with_cards["context"]["patientId"]
    assert patient_id not in log
