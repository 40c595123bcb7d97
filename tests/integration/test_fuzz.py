"""Fuzzing over real HTTP: the production stack (``igcds serve``, gunicorn gthread) must never answer 5xx.

A small batch of the in-process fuzzer's requests (``tests/cds_service/test_fuzz.py``) is sent to a real
server, plus what only exists on the wire: raw bytes, broken UTF-8, bodies at and over the size limit,
chunked bodies, odd methods, paths and headers. Afterwards the server must still be healthy and its log
must show no internal error.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from hypothesis import given

from bench.data import request_body as bench_request_body
from tests.cds_service.test_fuzz import (
    SERVICES,
    check_answer,
    content_types,
    fhir_requests,
    fuzz_settings,
    hostile_text_requests,
    lenient_dumps,
    mutated_requests,
    raw_bodies,
)
from tests.support.igcds_server import RunningServer, igcds_server

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def server() -> Iterator[RunningServer]:
    with igcds_server({"fhir": {"timeout_s": 0.5, "deadline_s": 1.0}}, dev=True, workers=1, threads=4) as running:
        yield running


@pytest.fixture(scope="module")
def session() -> Iterator[requests.Session]:
    with requests.Session() as s:
        yield s


def post(session: requests.Session, server: RunningServer, service_id: str, data: bytes,
         content_type: str = "application/json") -> requests.Response:
    return session.post(server.url(f"/cds-services/{service_id}"), data=data,
                        headers={"Content-Type": content_type}, timeout=15)


@fuzz_settings(max_examples=40)
@given(case=fhir_requests())
def test_invalid_fhir_inside_valid_envelopes_over_http(server: RunningServer, session: requests.Session,
                                                       case: tuple[str, dict[str, Any]]) -> None:
    service_id, body = case
    response = post(session, server, service_id, lenient_dumps(body))
    check_answer(response.status_code, response.content, f"HTTP {service_id}")


@fuzz_settings(max_examples=40)
@given(case=mutated_requests())
def test_mutated_envelopes_over_http(server: RunningServer, session: requests.Session, case: tuple[str, bytes]) -> None:
    service_id, raw = case
    response = post(session, server, service_id, raw)
    check_answer(response.status_code, response.content, f"HTTP {service_id} mutation")


@fuzz_settings(max_examples=25)
@given(case=hostile_text_requests())
def test_hostile_names_and_huge_codes_over_http(server: RunningServer, session: requests.Session,
                                                case: tuple[str, bytes]) -> None:
    """ReDoS-shaped names and huge codes: a backtracking pattern would show here as a worker timeout."""
    service_id, raw = case
    response = post(session, server, service_id, raw)
    check_answer(response.status_code, response.content, f"HTTP {service_id} hostile text")


@fuzz_settings(max_examples=30)
@given(raw=raw_bodies, content_type=content_types)
def test_raw_bodies_over_http(server: RunningServer, session: requests.Session, raw: bytes, content_type: str) -> None:
    response = post(session, server, "ig-order-select", raw, content_type)
    check_answer(response.status_code, response.content, f"HTTP raw {content_type}")


def test_wire_level_oddities(server: RunningServer, session: requests.Session) -> None:
    base = lenient_dumps(bench_request_body())
    limit = 1_048_576
    cases: list[tuple[str, str, bytes, dict[str, str]]] = [
        ("POST", "/cds-services/ig-order-select", base[:-1] + b" " * (limit - len(base)) + b"}", {}),  # at the limit
        ("POST", "/cds-services/ig-order-select", b'{"pad":"' + b"x" * limit + b'"}', {}),  # over it: 413
        ("POST", "/cds-services/ig-order-select", base, {"Content-Type": "application/json; charset=latin-1"}),
        ("POST", "/cds-services/ig-order-select", base, {"Content-Encoding": "gzip"}),
        ("POST", "/cds-services/ig-order-select", base, {"Transfer-Encoding": "chunked"}),
        ("PUT", "/cds-services/ig-order-select", base, {}),
        ("DELETE", "/cds-services/ig-order-select", b"", {}),
        ("GET", "/cds-services/ig-order-select", b"", {}),
        ("POST", "/cds-services/%ff%fe", base, {}),
        ("POST", "/cds-services/" + "a" * 4000, base, {}),
        ("POST", "/cds-services/ig-order-select/feedback/extra", base, {}),
        ("POST", "/cds-services/ig-order-select?x=" + "%00" * 50, base, {}),
        ("POST", "/cds-services/ig-order-select", base, {"X-Request-Id": "../../etc/passwd\u00e9".encode().decode("latin-1")}),
        ("POST", "/cds-services/ig-order-select", base, {"Authorization": "Bearer " + "A" * 6000}),
        ("OPTIONS", "/cds-services/ig-order-select", b"", {"Origin": "https://sandbox.example",
                                                          "Access-Control-Request-Method": "POST"}),
    ]
    for method, path, data, headers in cases:
        # A fresh connection per case: after a 413 the server closes the kept-alive connection when the
        # next request arrives on it (unread body), which a reused session would see as a reset.
        headers = {"Content-Type": "application/json", "Connection": "close", **headers}
        if headers.get("Transfer-Encoding") == "chunked":
            response = requests.request(method, server.url(path), data=iter([data[:1000], data[1000:]]),
                                        headers={"Content-Type": "application/json"}, timeout=15)
        else:
            response = requests.request(method, server.url(path), data=data, headers=headers, timeout=15)
        assert response.status_code < 500, (method, path[:60], headers, response.status_code, response.text[:300])
        if response.content:
            check_answer(response.status_code, response.content, f"{method} {path[:60]}")


def test_truncated_and_stalled_connections(server: RunningServer) -> None:
    """A client that sends half a body and hangs up, or lies about Content-Length, never breaks a worker."""
    port = server.port
    for payload in (b"POST /cds-services/ig-order-select HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                    b"Content-Length: 5000\r\n\r\n{\"hook\":",
                    b"POST /cds-services/ig-order-select HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n{}",
                    b"GARBAGE\r\n\r\n",
                    b"POST /cds-services/ig-order-select HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n"
                    b"Content-Length: 40\r\n\r\n{}"):
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            sock.sendall(payload)
            sock.shutdown(socket.SHUT_WR)
            try:
                reply = sock.recv(200)
            except OSError:
                reply = b""
        assert not reply.startswith((b"HTTP/1.1 5", b"HTTP/1.0 5")), (payload[:60], reply)
    assert requests.get(server.url("/healthz"), timeout=5).status_code == 200


def test_server_stayed_healthy_and_logged_no_internal_error(server: RunningServer, session: requests.Session) -> None:
    """Runs last in this module: after all of the above the server answers and its log holds no 500."""
    response = post(session, server, "ig-order-select", lenient_dumps(bench_request_body()))
    assert response.status_code == 200
    assert requests.get(server.url("/healthz"), timeout=5).status_code == 200
    log = server.log_text()
    assert '"event":"internal_error"' not in log, [line for line in log.splitlines() if "internal_error" in line][:3]
    assert "Traceback" not in log, log[log.index("Traceback") - 500: log.index("Traceback") + 2000]
    assert set(SERVICES) <= {s["id"] for s in session.get(server.url("/cds-services"), timeout=5).json()["services"]}
