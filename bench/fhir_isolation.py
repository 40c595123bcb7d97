"""Does one client's broken FHIR server slow the other clients down? (docs/security.md "Threats and defences").

A real ``igcds serve`` in secure mode with two ``[[clients]]`` (ES384 keys, a fresh JWT per call):

* client **B** names a healthy FHIR server: sekmet-fhir holding the benchmark patient (``bench/data.py``).
  Its calls prefetch nothing, so igcds fetches every key (ten queries a call) from it;
* client **A** names a FHIR server that sends a status line and then drips header bytes, one every
  0.2 s, never done (``tests/support/faulty_fhir.py`` mode ``header-drip``, run in a child process).
  Its calls prefetch nothing either: each of its ten queries drips until igcds gives up.

For each worker model, two phases run back to back in the same session: client B alone (the baseline),
then client B again while client A keeps ``--a-concurrency`` calls in flight (by default half the
service's call slots, workers x threads: each of A's calls holds one for ``deadline_s``, and a client
that holds them all leaves no room for anyone whatever happens to the FHIR fetches). B runs a closed loop at
``--b-concurrency`` for ``--seconds`` in both. The script prints B's answers (status counts) and its
latency distribution in both phases, their ratio, and A's answers. A script, not a test: it asserts
nothing.

    .venv/bin/python bench/fhir_isolation.py [--seconds 20] [--models 2x8,4x1] [--a-concurrency 8]
                                             [--b-concurrency 2] [--tree DIR]

``--tree DIR`` serves the igcds packages found in ``DIR`` first (another checkout, for a before/after).
Everything runs on 127.0.0.1 and every phase is bounded by ``--seconds``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import requests  # noqa: E402

from bench import data  # noqa: E402
from bench.harness import RESULTS, igcds_server, machine_info, percentile  # noqa: E402
from tests.support.fhir_server import start_fhir_server  # noqa: E402
from tests.support.jwt_tokens import bearer, jwks, mint, new_key  # noqa: E402

PATH = "/cds-services/ig-order-select"
ISS_A = "https://ehr-a.example.org"
ISS_B = "https://ehr-b.example.org"
#: The defaults of [fhir]: what a deployment runs with.
DEADLINE_S = 4.0
TIMEOUT_S = 2.0

#: Runs in a child process: the dripping FHIR server, on loopback, until its stdin closes.
_DRIP_SERVER = """
import json, sys
sys.path.insert(0, sys.argv[1])
from tests.support.faulty_fhir import faulty_fhir_server
with faulty_fhir_server("header-drip") as server:
    print(json.dumps({"base_url": server.base_url}), flush=True)
    sys.stdin.read()
"""


@contextlib.contextmanager
def dripping_fhir_server() -> Iterator[str]:
    process = subprocess.Popen([sys.executable, "-c", _DRIP_SERVER, str(REPO)], stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,  # resets igcds makes
                               start_new_session=True)
    try:
        assert process.stdout is not None and process.stdin is not None
        yield json.loads(process.stdout.readline())["base_url"]
    finally:
        if process.stdin is not None:
            process.stdin.close()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, 9)
            process.wait(timeout=5)


@dataclass
class Samples:
    """One client's calls in one phase: (status, seconds) per call."""

    calls: list[tuple[int, float]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, status: int, seconds: float) -> None:
        with self.lock:
            self.calls.append((status, seconds))

    def summary(self) -> dict[str, Any]:
        ms = sorted(1000 * s for _, s in self.calls)
        if not ms:
            return {"calls": 0}

        def pct(p: float) -> float:
            return round(percentile(ms, p), 1)

        return {"calls": len(ms), "statuses": dict(sorted(Counter(str(s) for s, _ in self.calls).items())),
                "p50": pct(50), "p90": pct(90), "p99": pct(99), "max": round(ms[-1], 1),
                "mean": round(statistics.fmean(ms), 1)}


def caller(base_url: str, key: Any, issuer: str, body: dict[str, Any], until: float, out: Samples) -> None:
    """A closed loop of calls, each with its own token (a fresh ``jti``), until ``until``."""
    with requests.Session() as session:
        while time.monotonic() < until:
            token = mint(key, iss=issuer, aud=base_url + PATH)
            started = time.monotonic()
            try:
                status = session.post(base_url + PATH, json=body, headers=bearer(token), timeout=60).status_code
            except requests.RequestException:
                status = 0
            out.add(status, time.monotonic() - started)


def run_phase(base_url: str, seconds: float, b: tuple[Any, dict[str, Any], int],
              a: tuple[Any, dict[str, Any], int] | None) -> dict[str, Any]:
    """B's loops for ``seconds``; with ``a``, A's loops start first and run as long (plus their last call)."""
    b_samples, a_samples = Samples(), Samples()
    threads: list[threading.Thread] = []
    if a is not None:
        a_key, a_body, a_concurrency = a
        a_until = time.monotonic() + seconds + 1.0
        threads += [threading.Thread(target=caller, args=(base_url, a_key, ISS_A, a_body, a_until, a_samples))
                    for _ in range(a_concurrency)]
        for thread in threads:
            thread.start()
        time.sleep(1.0)  # A's fetches are dripping before B's first call
    b_key, b_body, b_concurrency = b
    b_until = time.monotonic() + seconds
    b_threads = [threading.Thread(target=caller, args=(base_url, b_key, ISS_B, b_body, b_until, b_samples))
                 for _ in range(b_concurrency)]
    for thread in b_threads:
        thread.start()
    for thread in b_threads + threads:
        thread.join()
    result = {"b": b_samples.summary()}
    if a is not None:
        result["a"] = a_samples.summary()
    return result


def bench_model(workers: int, threads: int, args: argparse.Namespace, fhir_b: str, fhir_a: str,
                keys: tuple[Any, Any], tmp: Path) -> dict[str, Any]:
    key_a, key_b = keys
    for name, key in (("a", key_a), ("b", key_b)):
        (tmp / f"{name}.jwks.json").write_text(json.dumps(jwks(key)))
    config = {
        "fhir": {"deadline_s": DEADLINE_S, "timeout_s": TIMEOUT_S},
        "clients": [
            {"issuer": ISS_A, "jwks_file": str(tmp / "a.jwks.json"), "fhir_servers": [fhir_a]},
            {"issuer": ISS_B, "jwks_file": str(tmp / "b.jwks.json"), "fhir_servers": [fhir_b]},
        ],
        "logging": {"level": "WARNING"},
    }
    now = datetime.now(UTC)
    body_b = data.request_body(now=now, with_prefetch=False, fhir_server=fhir_b)
    body_a = data.request_body(now=now, with_prefetch=False, fhir_server=fhir_a)
    env = {"PYTHONPATH": args.tree} if args.tree else None
    with igcds_server(config, dev=False, workers=workers, threads=threads, env=env) as server:
        warm = requests.post(server.url(PATH), json=body_b, timeout=30,
                             headers=bearer(mint(key_b, iss=ISS_B, aud=server.url(PATH))))
        if warm.status_code != 200:
            raise SystemExit(f"client B's call answered {warm.status_code}: {warm.text[:500]}")
        b = (key_b, body_b, args.b_concurrency)
        a_concurrency = args.a_concurrency or max(1, workers * threads // 2)
        baseline = run_phase(server.base_url, args.seconds, b, None)
        attacked = run_phase(server.base_url, args.seconds, b, (key_a, body_a, a_concurrency))
    out = {"model": f"{workers}x{threads}", "a_concurrency": a_concurrency, "baseline": baseline,
           "a_drips": attacked}
    if baseline["b"].get("calls") and attacked["b"].get("calls"):
        out["ratio"] = {p: round(attacked["b"][p] / baseline["b"][p], 2) for p in ("p50", "p90", "p99")}
    return out


def row(label: str, s: dict[str, Any]) -> str:
    if not s.get("calls"):
        return f"  {label:<22} no calls"
    return (f"  {label:<22} calls {s['calls']:>5}  {s['statuses']}  p50 {s['p50']:8.1f}  p90 {s['p90']:8.1f}  "
            f"p99 {s['p99']:8.1f}  max {s['max']:8.1f} ms")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=20.0, help="length of each phase")
    parser.add_argument("--models", default="2x8,4x1", help="worker models, WORKERSxTHREADS, comma separated")
    parser.add_argument("--a-concurrency", type=int, default=None,
                        help="client A's calls in flight at once (default: half the call slots)")
    parser.add_argument("--b-concurrency", type=int, default=2, help="client B's calls in flight at once")
    parser.add_argument("--tree", default=None, help="serve the igcds packages of this directory first")
    args = parser.parse_args()
    models = [tuple(int(n) for n in m.split("x")) for m in args.models.split(",")]

    info = machine_info()
    print(f"machine: {info['nproc']} cores, {info['cpu']}, load {info['loadavg_at_start']}")
    print(f"[fhir] deadline_s {DEADLINE_S}, timeout_s {TIMEOUT_S}; B in flight {args.b_concurrency}, "
          f"{args.seconds:g} s a phase" + (f"; tree {args.tree}" if args.tree else ""))
    results: list[dict[str, Any]] = []
    tmp = Path(tempfile.mkdtemp(prefix="igcds-bench-isolation-"))
    sekmet = start_fhir_server(tmp / "sekmet")
    try:
        sekmet.load(data.transaction_bundle(data.patient_resources(datetime.now(UTC))))
        keys = (new_key("ES384", kid="client-a"), new_key("ES384", kid="client-b"))
        with dripping_fhir_server() as dripping:
            for workers, threads in models:
                result = bench_model(workers, threads, args, sekmet.base_url, dripping, keys, tmp)
                results.append(result)
                print(f"\nigcds {result['model']} (workers x threads)")
                print(row("B alone", result["baseline"]["b"]))
                print(row("B while A drips", result["a_drips"]["b"]))
                print(row(f"A x{result['a_concurrency']} (drips)", result["a_drips"]["a"]))
                if "ratio" in result:
                    print(f"  B while A drips / B alone: p50 x{result['ratio']['p50']}, "
                          f"p90 x{result['ratio']['p90']}, p99 x{result['ratio']['p99']}")
    finally:
        sekmet.stop()
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "fhir-isolation.json").write_text(json.dumps({"machine": info, "args": vars(args),
                                                             "results": results}, indent=2))
    print(f"\nwritten: {RESULTS / 'fhir-isolation.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
