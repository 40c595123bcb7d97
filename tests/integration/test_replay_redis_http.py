"""The Redis replay store over real HTTP: ``igcds serve`` (2 workers, not dev mode) on the session's
real Redis server (Debian's redis-server, tests/support/redis.py).

- A ``jti`` used on one worker is refused on the other (the store is shared, not per process).
- Redis down: every call is refused with 503 and ``Retry-After`` — never accepted without replay
  protection, never a 500 — and ``/readyz`` says not ready; Redis back: calls are accepted again.
"""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from tests.support.igcds_server import igcds_server
from tests.support.jwt_tokens import bearer, jwks, mint, new_key

ISS = "https://ehr-redis.example.org"
KEY = new_key("ES384", kid="redis-es384")
PATH = "/cds-services"


@pytest.fixture(scope="module")
def server(redis_server, tmp_path_factory):
    jwks_file = tmp_path_factory.mktemp("redis-http") / "jwks.json"
    jwks_file.write_text(__import__("json").dumps(jwks(KEY)))
    config = {
        "auth": {"replay_store": redis_server.url},
        "clients": [{"issuer": ISS, "jwks_file": str(jwks_file)}],
    }
    with igcds_server(config, dev=False, workers=2, threads=1) as running:
        yield running


def token(server) -> str:
    return mint(KEY, iss=ISS, aud=server.url(PATH))


def send(server, jwt: str) -> requests.Response:
    with requests.Session() as session:  # a new connection per call: either worker may take it
        return session.get(server.url(PATH), headers=bearer(jwt), timeout=10)


def test_the_second_use_on_another_worker_is_refused(server):
    cross_worker = False
    pairs: list[tuple[str, str]] = []
    for _round in range(5):
        tokens = [token(server) for _ in range(16)]
        with ThreadPoolExecutor(8) as pool:
            assert [r.status_code for r in pool.map(lambda t: send(server, t), tokens)] == [200] * 16
            assert [r.status_code for r in pool.map(lambda t: send(server, t), tokens)] == [401] * 16
        pairs = re.findall(r"first accepted by worker pid (\d+), refused by worker pid (\d+)", server.log_text())
        cross_worker = any(a != b for a, b in pairs)
        if cross_worker:
            break
    assert cross_worker, f"no replay crossed workers in 5 rounds: {pairs[:5]}"


def test_redis_down_refuses_every_call_with_503_never_accepts_never_500(server, redis_server):
    assert send(server, token(server)).status_code == 200
    redis_server.stop()
    try:
        with ThreadPoolExecutor(4) as pool:
            answers = list(pool.map(lambda t: send(server, t), [token(server) for _ in range(12)]))
        statuses = [r.status_code for r in answers]
        assert statuses == [503] * len(answers), statuses
        for response in answers:
            assert response.json()["error"] == "replay-store-unavailable"
            assert int(response.headers["Retry-After"]) > 0
        ready = requests.get(server.url("/readyz"), timeout=10)
        assert ready.status_code == 503 and ready.json() == {"status": "not-ready"}
        assert requests.get(server.url("/healthz"), timeout=10).status_code == 200  # alive, not ready
    finally:
        redis_server.start()
    assert send(server, token(server)).status_code == 200
    assert requests.get(server.url("/readyz"), timeout=10).status_code == 200
    assert "Traceback" not in server.log_text()
