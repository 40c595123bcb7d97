"""The multi-instance deployment, for real: two ``igcds serve`` instances (2 sync workers each) behind
Debian's haproxy with the shipped configuration, sharing one PostgreSQL and one Redis, all on
127.0.0.1 (tests/support/cluster.py). The scenes run in order on one cluster and each leaves it whole:

1. a token used on one instance is refused on the other (the replay store is shared);
2. 400 concurrent feedback items, duplicates included, sent at once on fresh cards through the load
   balancer: each distinct item stored exactly once, whichever instance took it;
3. one instance SIGKILLed under load: only the calls it had in flight fail, every other call and
   everything after succeeds, the instance rejoins, and not one card of its audit is lost;
4. Redis down: calls refused (503), never accepted without replay protection, never a 500;
5. PostgreSQL down for 10 s: cards still served, /readyz still 2xx (degraded behind the token),
   feedback 503 with Retry-After, no audit lost; afterwards every acknowledged feedback item and
   every card of the outage is in ``igcds report``.
"""

from __future__ import annotations

import json
import subprocess
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any

import pytest
import requests

from cds_service.storage import Store
from tests.support.audit import read_issued, wait_for_cards
from tests.support.cluster import ISSUER, TENANT, Cluster, Instance, cluster, metric_total, scrape
from tests.support.fixtures import load_request, utc_now
from tests.support.igcds_server import IGCDS

SERVICE = "ig-patient-view"
CALL = f"/cds-services/{SERVICE}"
FEEDBACK = f"{CALL}/feedback"


@pytest.fixture(scope="module")
def now() -> datetime:
    return utc_now()


@pytest.fixture(scope="module")
def running() -> Iterator[Cluster]:
    with cluster(instances=2, workers=2) as c:
        yield c


#: Every card answered with 200 during the module: all of them must end up in the audit.
ISSUED: set[str] = set()
#: Every feedback item acknowledged (200) during the module, by its card and timestamp.
ACKNOWLEDGED: list[dict[str, Any]] = []


def body(now: datetime) -> dict[str, Any]:
    request = load_request(SERVICE, "higm-xl-adult", now)
    return {k: v for k, v in request.items() if k not in ("fhirServer", "fhirAuthorization")}


def cds_call(c: Cluster, now: datetime, *, base: str | None = None, timeout: float = 10) -> requests.Response:
    with requests.Session() as session:  # a new connection per call
        response = session.post((base or c.proxy.base_url) + CALL, json=body(now), headers=c.headers(CALL),
                                timeout=timeout)
    if response.status_code == 200:
        ISSUED.update(card["uuid"] for card in response.json()["cards"])
    return response


def feedback_item(card: str, n: int) -> dict[str, Any]:
    return {"card": card, "outcome": "overridden", "outcomeTimestamp": f"2026-01-01T00:{n // 60 % 60:02d}:{n % 60:02d}Z",
            "overrideReason": {"reason": {"system": "https://example.org/reasons", "code": f"r{n % 3}"}}}


def post_feedback(c: Cluster, items: list[dict[str, Any]]) -> requests.Response:
    with requests.Session() as session:
        response = session.post(c.url(FEEDBACK), json={"feedback": items}, headers=c.headers(FEEDBACK), timeout=15)
    if response.status_code == 200:
        ACKNOWLEDGED.extend(items)
    return response


def audit_lost(c: Cluster) -> float:
    return sum(metric_total(scrape(c, i), "igcds_audit_lost_calls_total") for i in c.instances)


# 1 ------------------------------------------------------------------------------------------------

def test_a_token_used_on_one_instance_is_refused_on_the_other(running: Cluster) -> None:
    a, b = running.instances
    token = running.token("/cds-services")
    first = requests.get(a.url("/cds-services"), headers={"Authorization": f"Bearer {token}"}, timeout=10)
    replay = requests.get(b.url("/cds-services"), headers={"Authorization": f"Bearer {token}"}, timeout=10)
    assert (first.status_code, replay.status_code) == (200, 401)
    assert "jti replayed" in b.log_text()
    via_lb = running.token("/cds-services")
    statuses = [requests.get(running.url("/cds-services"), headers={"Authorization": f"Bearer {via_lb}"},
                             timeout=10).status_code for _ in range(4)]
    assert statuses == [200, 401, 401, 401]


# 2 ------------------------------------------------------------------------------------------------

def test_concurrent_feedback_with_duplicates_is_stored_once_whichever_instance_takes_it(
    running: Cluster, now: datetime
) -> None:
    with ThreadPoolExecutor(4) as pool:
        calls = list(pool.map(lambda _: cds_call(running, now), range(12)))
    assert all(r.status_code == 200 for r in calls)
    cards = [card["uuid"] for r in calls for card in r.json()["cards"]]
    assert len(cards) >= 12
    distinct = [feedback_item(cards[n % len(cards)], n) for n in range(300)]
    duplicates = [dict(distinct[(n * 7) % 300]) for n in range(100)]
    for dup in duplicates[::2]:  # the same instant, spelled differently
        dup["outcomeTimestamp"] = dup["outcomeTimestamp"].replace("Z", ".000+00:00")
    everything = distinct + duplicates
    batches = [everything[i:i + 2] for i in range(0, len(everything), 2)]  # 200 posts, at once, on fresh cards
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda items: post_feedback(running, items), batches))
    assert [r.status_code for r in answers] == [200] * len(batches), {r.text for r in answers if r.status_code != 200}
    assert sum(r.json()["stored"] for r in answers) == 300
    assert sum(r.json()["duplicates"] for r in answers) == 100
    store = Store(running.postgres.url, salt=None, migrate=False)
    try:
        rows = store.feedback_rows()
    finally:
        store.dispose()
    assert len(rows) == 300 and len({r["feedback_key"] for r in rows}) == 300
    assert {(r["issuer"], r["tenant"]) for r in rows} == {(ISSUER, TENANT)}
    takers = [len(i.events("feedback")) for i in running.instances]
    assert all(n > 0 for n in takers), f"both instances should take feedback: {takers}"


# 3 ------------------------------------------------------------------------------------------------

def test_an_instance_killed_under_load_costs_only_its_calls_in_flight(running: Cluster, now: datetime) -> None:
    victim, survivor = running.instances
    results: list[tuple[float, float, int]] = []  # (start, end, status or 0 for no answer)
    stop = threading.Event()

    def load() -> None:
        while not stop.is_set():
            started = time.monotonic()
            try:
                status = cds_call(running, now).status_code
            except requests.RequestException:
                status = 0
            results.append((started, time.monotonic(), status))

    threads = [threading.Thread(target=load) for _ in range(6)]
    for t in threads:
        t.start()
    try:
        time.sleep(1.0)
        killed_at = time.monotonic()
        victim.kill()  # returns once every process of the instance is gone
        dead_at = time.monotonic()
        time.sleep(2.0)
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=15)
        if victim.process is not None and victim.process.poll() is not None:
            restart(victim)  # the scenes after this one need the whole cluster
    failed = [r for r in results if r[2] != 200]
    after = [r for r in results if r[0] > dead_at]
    assert len(results) > 30 and len(after) > 10
    # Only the calls in flight at the kill fail: each started before the instance was gone and ended
    # after the kill began. haproxy gives an instance at most `workers` calls at once; one more per
    # worker can be on its way in.
    assert all(start <= dead_at and end >= killed_at for start, end, _ in failed), (
        f"not in flight at the kill ({killed_at:.3f}-{dead_at:.3f}): {failed}")
    assert len(failed) <= 2 * victim.workers, f"more failures than calls in flight on the killed instance: {failed}"
    assert all(status in (0, 502) for _, _, status in failed), failed

    deadline = time.monotonic() + 20
    while len(victim.events("cds_call")) == victim.served_before_restart:  # back in rotation: checks pass
        assert time.monotonic() < deadline, "the restarted instance never took a call"
        assert cds_call(running, now).status_code == 200
        time.sleep(0.05)
    assert victim.events("audit_spool_adopted") or not list((victim.data_dir / "audit-spool").glob("*.jsonl"))
    wait_for_cards(running.postgres.url, ISSUED, timeout=20)


def restart(instance: Instance) -> None:
    """Same port, same data directory: it takes over its own audit spool."""
    instance.served_before_restart = len(instance.events("cds_call"))
    instance.start()
    instance.wait_healthy()


# 4 ------------------------------------------------------------------------------------------------

def test_redis_down_refuses_calls_never_accepts_them_never_500(running: Cluster, now: datetime) -> None:
    running.redis.stop()
    try:
        statuses = []
        deadline = time.monotonic() + 3  # through igcds's 503 and then haproxy's, once both are not ready
        while time.monotonic() < deadline:
            statuses.append(cds_call(running, now).status_code)
            time.sleep(0.05)
        assert set(statuses) <= {401, 503} and statuses, statuses
        assert requests.get(running.instances[0].url("/readyz"), timeout=5).status_code == 503
    finally:
        running.redis.start()
    deadline = time.monotonic() + 20
    while cds_call(running, now).status_code != 200:
        assert time.monotonic() < deadline, "calls never came back after Redis did"
        time.sleep(0.2)


# 5 ------------------------------------------------------------------------------------------------

def test_postgres_down_ten_seconds_loses_nothing(running: Cluster, now: datetime) -> None:
    lost_before = audit_lost(running)
    with ThreadPoolExecutor(2) as pool:
        cards = [card["uuid"] for r in pool.map(lambda _: cds_call(running, now), range(4)) for card in r.json()["cards"]]
    running.postgres.stop_server()
    outage_cards: set[str] = set()
    refused: list[dict[str, Any]] = []
    try:
        outage_end = time.monotonic() + 10
        n = 1000
        while time.monotonic() < outage_end:
            answer = cds_call(running, now)
            assert answer.status_code == 200, answer.text  # cards need no database
            outage_cards |= {card["uuid"] for card in answer.json()["cards"]}
            assert requests.get(running.url("/readyz"), timeout=5).status_code == 200
            item = feedback_item(cards[n % len(cards)], n)
            n += 1
            feedback = post_feedback(running, [item])
            assert feedback.status_code == 503 and int(feedback.headers["Retry-After"]) > 0, feedback.text
            refused.append(item)
            time.sleep(0.2)
        for instance in running.instances:  # each instance: ready, storage degraded (behind the token)
            details = requests.get(instance.url("/readyz"), headers=running.headers("/readyz"), timeout=10)
            assert details.status_code == 200 and "storage" in details.json()["degraded"], details.text
    finally:
        running.postgres.start_server()
    assert len(outage_cards) >= 10
    deadline = time.monotonic() + 20
    for item in refused:  # the client retries what was refused (503: after Retry-After; sooner here)
        while (retried := post_feedback(running, [item])).status_code == 503:
            assert time.monotonic() < deadline and int(retried.headers["Retry-After"]) > 0, retried.text
            time.sleep(0.5)
        assert retried.status_code == 200, retried.text
    wait_for_cards(running.postgres.url, ISSUED, timeout=20)
    assert audit_lost(running) == lost_before == 0

    config = running.instances[0].config_path
    report = subprocess.run([str(IGCDS), "report", "--json", "--config", str(config)],
                            capture_output=True, text=True, timeout=60, cwd=config.parent)
    assert report.returncode == 0, report.stderr
    document = json.loads(report.stdout)
    recorded = {r["card_uuid"] for r in read_issued(running.postgres.url)}
    # Every card answered is recorded; so are those of the calls that died in flight at the SIGKILL
    # (issued and spooled, their answer lost with the connection).
    assert ISSUED <= recorded and len(recorded - ISSUED) <= 4 * 3
    assert sum(rule["shown"] for rule in document["rules"]) == len(recorded)
    assert sum(rule["feedback_items"] for rule in document["rules"]) == len(
        {(i["card"], i["outcomeTimestamp"].replace(".000+00:00", "Z")) for i in ACKNOWLEDGED})
    assert document["unmatched_feedback"] == 0
