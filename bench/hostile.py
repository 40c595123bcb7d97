"""Hostile client text against a real ``igcds serve`` (issue 15, findings 1 and 2).

1. **Backtracking.** ``ig-order-select`` with the benchmark's full prefetch plus one active
   MedicationStatement whose name is ~200 KB of text shaped to make a backtracking pattern rescan
   (the review's ``"estradiol)" + " " * N + "y"``, and others), against the same request with a benign
   name of the same size. Rounds interleave the variants; medians of wall time per call.
2. **Memory.** 200 calls, each with a Condition whose code is a unique ~200 KB string, then 200 calls
   of the same size whose padding is a unique narrative (a baseline no memo looks at): growth of the
   single worker's VmRSS over each batch.

One sync worker (``--workers 1``), so that every call lands on the worker whose memory is measured.
``--tree DIR`` serves the igcds packages of another checkout (``PYTHONPATH``), e.g. the code before
the fix, for a before/after comparison in one session.

    .venv/bin/python bench/hostile.py [--rounds 7] [--calls 200] [--kb 200] [--tree DIR]

Results: stdout and ``bench/results/hostile-latest.json``.
"""

from __future__ import annotations

import argparse
import copy
import json
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import requests  # noqa: E402

from bench.data import PATIENT_ID, request_body  # noqa: E402
from bench.harness import RESULTS, igcds_server, machine_info, process_tree, rss_kb  # noqa: E402

#: name shapes of ~size characters: (label, builder)
SHAPES = {
    "benign": lambda n: ("estradiol 2 mg oral tablet " + "taken once daily with food " * n)[:n],
    "estradiol) + spaces": lambda n: "estradiol)" + " " * (n - 11) + "y",
    "trimethoprim x N": lambda n: "trimethoprim" * (n // 12),
    "zoster x N": lambda n: "estradiol " + "zoster" * (n // 6),
    "gammagard s/d x N": lambda n: "estradiol " + "gammagard s/d " * (n // 14),
}


def with_medication_name(body: dict[str, Any], name: str) -> dict[str, Any]:
    """``body`` plus an active MedicationStatement called ``name`` (an estrogen: the thrombosis rule
    quotes it in its card)."""
    body = copy.deepcopy(body)
    statement = {
        "resourceType": "MedicationStatement", "id": "bench-hostile-ms", "status": "active",
        "medicationCodeableConcept": {"text": name},
        "subject": {"reference": f"Patient/{PATIENT_ID}"},
        "effectivePeriod": {"start": "2025-01-01"},
    }
    body["prefetch"]["medicationStatements"].setdefault("entry", []).append({"resource": statement})
    return body


def with_condition(body: dict[str, Any], code: str, narrative: str = "") -> dict[str, Any]:
    """``body`` plus a Condition with ``code`` (ICD-10-CM) and an optional narrative of padding."""
    body = copy.deepcopy(body)
    condition: dict[str, Any] = {
        "resourceType": "Condition", "id": "bench-hostile-cond",
        "clinicalStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
                                       "code": "active"}]},
        "code": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": code}]},
        "subject": {"reference": f"Patient/{PATIENT_ID}"},
    }
    if narrative:
        condition["text"] = {"status": "generated", "div": f"<div xmlns=\"http://www.w3.org/1999/xhtml\">{narrative}</div>"}
    body["prefetch"]["conditions"].setdefault("entry", []).append({"resource": condition})
    return body


def post(session: requests.Session, url: str, data: bytes) -> tuple[float, int]:
    started = time.perf_counter()
    try:
        response = session.post(url, data=data, headers={"Content-Type": "application/json"}, timeout=120)
        status = response.status_code
    except requests.RequestException:
        status = 0
    return (time.perf_counter() - started) * 1000, status


def worker_pid(master: int) -> int:
    workers = process_tree(master)[1:]
    if len(workers) != 1:
        raise SystemExit(f"expected one gunicorn worker, found {workers}")
    return workers[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=7, help="calls per name shape (interleaved)")
    parser.add_argument("--calls", type=int, default=200, help="calls per memory batch")
    parser.add_argument("--kb", type=int, default=200, help="size of the hostile text / code in KB")
    parser.add_argument("--tree", default=None, help="serve the igcds packages of this checkout")
    args = parser.parse_args()
    size = args.kb * 1000
    base = request_body(now=datetime.now(UTC))
    bodies = {label: json.dumps(with_medication_name(base, build(size))).encode() for label, build in SHAPES.items()}
    env = {"PYTHONPATH": args.tree} if args.tree else None
    result: dict[str, Any] = {"when": datetime.now(UTC).isoformat(timespec="seconds"), "tree": args.tree or "this checkout",
                              "machine": machine_info(), "kb": args.kb}
    with igcds_server({}, dev=True, workers=1, threads=1, env=env) as server, requests.Session() as session:
        url = server.url("/cds-services/ig-order-select")
        worker_pid(server.process.pid)  # exactly one worker, or stop here
        for _ in range(5):  # warm-up: imports, memos, allocator
            post(session, url, json.dumps(base).encode())
        cards = session.post(url, data=bodies["benign"], headers={"Content-Type": "application/json"},
                             timeout=120).json()["cards"]
        if not any("estradiol" in card.get("detail", "") for card in cards):  # the rule that quotes the name runs
            raise SystemExit("the benign request got no card quoting the medication name: nothing is measured")
        times: dict[str, list[float]] = {label: [] for label in SHAPES}
        statuses: dict[str, set[int]] = {label: set() for label in SHAPES}
        for _ in range(args.rounds):
            for label, data in bodies.items():
                ms, status = post(session, url, data)
                times[label].append(ms)
                statuses[label].add(status)
        latency = {label: {"median_ms": round(statistics.median(v), 1), "max_ms": round(max(v), 1),
                           "statuses": sorted(statuses[label]), "body_kb": round(len(bodies[label]) / 1000)}
                   for label, v in times.items()}
        result["latency"] = latency
        print(f"igcds ({result['tree']}): {args.rounds} interleaved rounds, ~{args.kb} KB medication name")
        for label, row in latency.items():
            ratio = row["median_ms"] / latency["benign"]["median_ms"]
            print(f"  {label:22} median {row['median_ms']:8.1f} ms  max {row['max_ms']:8.1f} ms  "
                  f"x{ratio:5.2f} benign  statuses {row['statuses']}  body {row['body_kb']} KB")

        def batch(label: str, make: Any) -> dict[str, Any]:
            pid = worker_pid(server.process.pid)
            before = rss_kb(pid) or 0
            failures = 0
            for i in range(args.calls):
                _, status = post(session, url, make(i))
                failures += status != 200
            after = rss_kb(worker_pid(server.process.pid)) or 0
            row = {"calls": args.calls, "rss_before_mb": round(before / 1024, 1), "rss_after_mb": round(after / 1024, 1),
                   "growth_mb": round((after - before) / 1024, 1), "non_200": failures,
                   "same_worker": worker_pid(server.process.pid) == pid}
            print(f"  {label:34} RSS {row['rss_before_mb']:7.1f} -> {row['rss_after_mb']:7.1f} MiB "
                  f"(+{row['growth_mb']:.1f})  non-200: {failures}  same worker: {row['same_worker']}")
            return row

        print(f"worker memory over {args.calls} calls (~{args.kb} KB each):")
        result["memory"] = {
            "unique narrative (baseline)": batch(
                "unique narrative (baseline)",
                lambda i: json.dumps(with_condition(base, "D80.5", f"{i:08d}" + "n" * size)).encode()),
            "unique codes": batch(
                "unique codes", lambda i: json.dumps(with_condition(base, f"D80.5{i:08d}" + "9" * size)).encode()),
        }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "hostile-latest.json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
