"""Slow clients against sync workers, and the shipped defence: haproxy in front (deploy/haproxy/).

igcds runs sync gunicorn workers: one connection each. A client that sends its request slowly holds
a worker for as long as it likes, so a handful of them starve everyone, health checks included.
The recommended deployment puts haproxy in front, with ``timeout http-request`` and
``option http-buffer-request``: a worker only ever sees a complete request, and the slow client gets
a 408 from haproxy. Both are shown here for real: Debian's haproxy with the repository's
configuration, ``igcds serve`` with 2 sync workers, everything on 127.0.0.1.

And ``igcds serve`` on a non-loopback address warns at start-up unless ``[server] behind_proxy``
says a proxy is in front.
"""

from __future__ import annotations

import contextlib
import json
import socket
import subprocess
import threading
import time
from collections.abc import Iterator

import pytest
import requests

from tests.support.haproxy import haproxy
from tests.support.igcds_server import IGCDS, igcds_server

SLOW_CLIENTS = 8
DRIP_S = 0.25


class Dripper:
    """Connections that send a request one byte at a time (headers never finished, or a body)."""

    def __init__(self, port: int, count: int, *, body: bool = False) -> None:
        self.port, self.count, self.body = port, count, body
        self.stop = threading.Event()
        self.answers: list[bytes] = []
        self.threads = [threading.Thread(target=self._run, daemon=True) for _ in range(count)]

    def _request(self) -> bytes:
        if self.body:  # complete headers, then a body that takes forever
            return (b"POST /cds-services/ig-patient-view HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                    b"Content-Length: 4000\r\n\r\n" + b" " * 4000)
        return b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Padding: " + b"a" * 4000 + b"\r\n\r\n"

    def _run(self) -> None:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), timeout=30) as conn:
            data = self._request()
            if self.body:
                head, _, rest = data.partition(b"\r\n\r\n")
                conn.sendall(head + b"\r\n\r\n")
                data = rest
            for byte in data:
                if self.stop.is_set():
                    break
                conn.sendall(bytes([byte]))
                conn.settimeout(DRIP_S)
                with contextlib.suppress(TimeoutError):
                    answer = conn.recv(4096)
                    if answer:
                        self.answers.append(answer)
                        return
                    return  # closed by the other side
            self.stop.wait(30)

    def __enter__(self) -> Dripper:
        for thread in self.threads:
            thread.start()
        time.sleep(1.0)  # every connection accepted and dripping
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=5)


@pytest.fixture(scope="module")
def server() -> Iterator:
    with igcds_server({"server": {"behind_proxy": True}}, workers=2, threads=1) as running:
        yield running


def test_without_a_proxy_slow_clients_starve_the_sync_workers(server) -> None:
    """The finding itself, on the bare server: a few slow connections and /healthz stops answering."""
    with Dripper(server.port, 4):
        with pytest.raises(requests.RequestException):
            requests.get(server.url("/healthz"), timeout=2)


def test_behind_the_shipped_haproxy_slow_clients_starve_nothing(server, cds_request) -> None:
    log_offset = len(server.log_text())
    with haproxy([("127.0.0.1", server.port)], maxconn_per_server=2) as proxy:
        with Dripper(proxy.port, SLOW_CLIENTS) as headers, Dripper(proxy.port, SLOW_CLIENTS, body=True) as bodies:
            started = time.monotonic()
            checks = 0
            while time.monotonic() - started < 3.0:  # while 16 clients drip, everyone else is served
                health = requests.get(proxy.url("/healthz"), timeout=1)
                assert health.status_code == 200 and health.json() == {"status": "ok"}
                assert requests.get(proxy.url("/readyz"), timeout=1).status_code == 200
                checks += 1
            call = requests.post(proxy.url("/cds-services/ig-patient-view"),
                                 json=cds_request("ig-patient-view", "higm-xl-adult"), timeout=5)
            assert call.status_code == 200 and call.json()["cards"]
            deadline = time.monotonic() + 10  # haproxy's timeout http-request (5 s) answers them
            while len(headers.answers) + len(bodies.answers) < 2 * SLOW_CLIENTS and time.monotonic() < deadline:
                time.sleep(0.1)
        assert checks >= 10
        answers = headers.answers + bodies.answers
        assert len(answers) == 2 * SLOW_CLIENTS, f"{len(answers)} slow clients were answered"
        assert all(a.startswith(b"HTTP/1.1 408") for a in answers), answers[:2]
        assert all(b'"request-timeout"' in a for a in bodies.answers), bodies.answers[:1]  # igcds's JSON shape
    # What igcds saw meanwhile: the one real call, and no request it refused (a drip that reached a
    # worker would end as a 400 "request refused" line; matching "408" in the text once hit a request id)
    events = [json.loads(line) for line in server.log_text()[log_offset:].splitlines() if line.startswith("{")]
    assert [e["service"] for e in events if e.get("event") == "cds_call"] == ["ig-patient-view"]
    assert not [e for e in events if e.get("event") == "request_refused"], "a slow request reached igcds"


def test_serve_on_a_public_address_without_a_proxy_warns(tmp_path) -> None:
    """``igcds serve`` on an address this machine does not have (TEST-NET-1, RFC 5737): it warns, then
    gunicorn gives up binding, so nothing ever listens beyond loopback."""
    config = tmp_path / "igcds.toml"
    config.write_text(f'[server]\ndata_dir = "{tmp_path / "data"}"\n')
    proc = subprocess.run([str(IGCDS), "serve", "--host", "192.0.2.10", "--port", "8080", "--workers", "1",
                           "--config", str(config)], capture_output=True, text=True, timeout=60, cwd=tmp_path)
    output = proc.stdout + proc.stderr
    assert proc.returncode != 0, "gunicorn cannot bind an address this machine does not have"
    assert "no buffering proxy declared in front ([server] behind_proxy = false)" in output
    assert "deploy/haproxy/" in output


@pytest.mark.parametrize("host, behind_proxy, warns", [
    ("0.0.0.0", False, True), ("::", False, True), ("10.1.2.3", False, True),
    ("0.0.0.0", True, False), ("127.0.0.1", False, False), ("::1", False, False), ("localhost", False, False),
])
def test_the_warning_depends_on_the_address_and_the_declared_proxy(host: str, behind_proxy: bool, warns: bool) -> None:
    from cds_service.cli import proxy_warning
    from cds_service.config import load_config

    config = load_config(overrides={"server": {"behind_proxy": behind_proxy}}, environ={})
    assert (proxy_warning(host, config) is not None) is warns
