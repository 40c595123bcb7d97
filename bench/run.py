"""igcds benchmark suite (``make bench``). A script, not a test: it prints figures, it asserts nothing.

1. Full prefetch: ``ig-order-select`` with ~60 prefetched resources and an IVIG draft order
   (``bench/data.py``), closed-loop load with ``wrk`` at concurrency 1 and 8, against a bare Flask
   baseline (``bench/baseline_app.py``) on the same gunicorn stack, measured in the same run and
   interleaved with the service (baseline c1, service c1, baseline c8, service c8; repeated).
2. No prefetch: the same call with ``fhirServer`` pointing at a real sekmet-fhir server holding the
   same patient; compared with the slowest single prefetch query measured alone against sekmet.
3. Profile of one call, in-process (``bench/profile_call.py``).

Everything runs on 127.0.0.1 and every load point is bounded (``--seconds``, default 10).
Results: stdout, ``bench/results/latest.json`` and ``bench/results/latest.md``.

    .venv/bin/python bench/run.py [--seconds 10] [--repeats 3] [--workers 4] [--threads 1]
                                  [--skip-fhir] [--skip-profile] [--only-full] [--what-if drug-memo]

``--what-if`` adds a third server, ``bench/whatif_app.py``: igcds with proposed optimisations patched in
at run time only (the repository is not changed), to show their effect in the same run.
Figures and their interpretation: docs/performance.md.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import requests  # noqa: E402

from bench import data  # noqa: E402
from bench.harness import (  # noqa: E402
    RESULTS,
    LoadResult,
    baseline_server,
    check_answer,
    igcds_server,
    machine_info,
    median_result,
    percentile,
    require_tool,
    run_wrk,
    whatif_server,
    write_body,
)

PATH = "/cds-services/ig-order-select"
#: docs/architecture.md "Quality targets".
TARGET_P95_MS = 25.0
TARGET_P99_MS = 50.0
TARGET_RATIO = 0.4
TARGET_FHIR_MARGIN_MS = 25.0


# ----------------------------------------------------------------------------------------------
# 1. Full prefetch vs baseline
# ----------------------------------------------------------------------------------------------

def bench_full(args: argparse.Namespace) -> dict[str, Any]:
    body = data.request_body()
    body_file = write_body(body, "full-prefetch.json")
    igcds_config = {"fhir": {"deadline_s": 4.0}}
    runs: dict[tuple[str, int], list[LoadResult]] = {}
    with contextlib.ExitStack() as stack:
        base = stack.enter_context(baseline_server(workers=args.workers, threads=args.threads))
        svc = stack.enter_context(igcds_server(igcds_config, dev=True, workers=args.workers, threads=args.threads))
        servers = [("baseline", base), ("igcds", svc)]
        if args.what_if:
            servers.append((f"what-if {args.what_if}",
                            stack.enter_context(whatif_server(args.what_if, workers=args.workers, threads=args.threads))))
        document = check_answer(svc.base_url, PATH, body)
        check_answer(base.base_url, PATH, body)
        print(f"service answer: {len(document['cards'])} cards: "
              + "; ".join(c.get("summary", "")[:60] for c in document["cards"]), flush=True)
        if args.what_if:
            other = check_answer(servers[2][1].base_url, PATH, body)
            assert [c["summary"] for c in other["cards"]] == [c["summary"] for c in document["cards"]], \
                "the what-if server must answer exactly like igcds"
        for _, server in servers:  # warm-up: imports, first-call caches, connection pools
            run_wrk(server.base_url, PATH, body_file, connections=8, seconds=min(3.0, args.seconds), label="warmup")
        for rep in range(args.repeats):
            for connections in (1, 8):
                for name, server in servers:
                    result = run_wrk(server.base_url, PATH, body_file, connections=connections,
                                     seconds=args.seconds, label=f"{name} full-prefetch",
                                     server_pid=server.process.pid)
                    runs.setdefault((name, connections), []).append(result)
                    print(f"  run {rep + 1}/{args.repeats} {result.row()}", flush=True)
        server_log_errors = sum(1 for line in svc.log_text().splitlines() if '"level":"error"' in line)
    medians = {f"{name}_c{c}": median_result(results) for (name, c), results in runs.items()}
    out: dict[str, Any] = {
        "resources": data.count_resources(body),
        "body_bytes": body_file.stat().st_size,
        "cards": [c.get("summary") for c in document["cards"]],
        "medians": {k: v.as_dict() for k, v in medians.items()},
        "server_log_errors": server_log_errors,
    }
    for c in (1, 8):
        svc_r, base_r = medians[f"igcds_c{c}"], medians[f"baseline_c{c}"]
        out[f"ratio_c{c}"] = svc_r.rps / base_r.rps if base_r.rps else 0.0
    c8 = medians["igcds_c8"]
    out["targets"] = {
        "p95_c8_le_25ms": c8.p95 <= TARGET_P95_MS,
        "p99_c8_le_50ms": c8.p99 <= TARGET_P99_MS,
        "throughput_ratio_c8_ge_0.4": out["ratio_c8"] >= TARGET_RATIO,
        "no_5xx": all(m.server_errors == 0 for m in medians.values()),
    }
    return out


# ----------------------------------------------------------------------------------------------
# 2. No prefetch, data from sekmet-fhir
# ----------------------------------------------------------------------------------------------

def time_queries(base_url: str, context: dict[str, Any], rounds: int) -> dict[str, dict[str, float]]:
    """Each prefetch template's query, alone and sequentially, ``rounds`` times (keep-alive session)."""
    from cds_service.prefetch import render_template
    from hooks.services.prefetch import ORDER_PREFETCH

    session = requests.Session()
    session.headers["Accept"] = "application/fhir+json"
    queries = {key: render_template(spec.template, context) for key, spec in ORDER_PREFETCH.items()}
    samples: dict[str, list[float]] = {key: [] for key in queries}
    for query in queries.values():  # warm-up and sanity check
        response = session.get(f"{base_url}/{query}", timeout=10)
        response.raise_for_status()
    for _ in range(rounds):
        for key, query in queries.items():
            started = time.perf_counter()
            response = session.get(f"{base_url}/{query}", timeout=10)
            response.content  # noqa: B018 - read the whole body, as the service does
            samples[key].append((time.perf_counter() - started) * 1000)
            if response.status_code != 200:
                raise RuntimeError(f"sekmet answered {response.status_code} to {query}")
    session.close()
    return {key: {"p50": statistics.median(v), "p95": percentile(v, 95), "min": min(v), "entries": _entries(base_url, q)}
            for (key, v), q in zip(samples.items(), queries.values(), strict=True)}


def time_parallel_fanout(base_url: str, context: dict[str, Any], rounds: int) -> dict[str, float]:
    """All prefetch queries at once (one thread and keep-alive session each), as the service fans out:
    the floor the FHIR server itself sets for a no-prefetch call."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    from cds_service.prefetch import render_template
    from hooks.services.prefetch import ORDER_PREFETCH

    queries = [render_template(spec.template, context) for spec in ORDER_PREFETCH.values()]
    local = threading.local()

    def get(query: str) -> None:
        session = getattr(local, "session", None)
        if session is None:
            session = local.session = requests.Session()
        session.get(f"{base_url}/{query}", headers={"Accept": "application/fhir+json"}, timeout=10).content  # noqa: B018

    samples = []
    with ThreadPoolExecutor(max_workers=len(queries)) as pool:
        list(pool.map(get, queries))  # warm-up: one connection per thread
        for _ in range(rounds):
            started = time.perf_counter()
            list(pool.map(get, queries))
            samples.append((time.perf_counter() - started) * 1000)
    return {"p50": statistics.median(samples), "p95": percentile(samples, 95), "min": min(samples)}


def _entries(base_url: str, query: str) -> int:
    doc = requests.get(f"{base_url}/{query}", headers={"Accept": "application/fhir+json"}, timeout=10).json()
    return len(doc.get("entry") or []) if doc.get("resourceType") == "Bundle" else 1


def bench_no_prefetch(args: argparse.Namespace) -> dict[str, Any]:
    from tests.support.fhir_server import start_fhir_server

    now = datetime.now(UTC)
    workdir = Path(tempfile.mkdtemp(prefix="igcds-bench-fhir-"))
    fhir = start_fhir_server(workdir)
    try:
        fhir.load(data.transaction_bundle(data.patient_resources(now)))
        body = data.request_body(now=now, with_prefetch=False, fhir_server=fhir.base_url)
        body_file = write_body(body, "no-prefetch.json")
        queries = time_queries(fhir.base_url, body["context"], rounds=args.query_rounds)
        slowest_key = max(queries, key=lambda k: queries[k]["p50"])
        fanout = time_parallel_fanout(fhir.base_url, body["context"], rounds=args.query_rounds)
        config = {"fhir": {"allowed_servers": [fhir.base_url], "timeout_s": 2.0, "deadline_s": 4.0}}
        runs: list[LoadResult] = []
        with igcds_server(config, dev=True, workers=args.workers, threads=args.threads) as svc:
            document = check_answer(svc.base_url, PATH, body)
            run_wrk(svc.base_url, PATH, body_file, connections=1, seconds=min(3.0, args.seconds), label="warmup")
            for rep in range(args.repeats):
                result = run_wrk(svc.base_url, PATH, body_file, connections=1, seconds=args.seconds,
                                 label="igcds no-prefetch", server_pid=svc.process.pid)
                runs.append(result)
                print(f"  run {rep + 1}/{args.repeats} {result.row()}", flush=True)
            fetched = [json.loads(line).get("fhir_queries") for line in svc.log_text().splitlines()
                       if '"event":"cds_call"' in line][-1:]
        # Queries again after the load, so a drift of sekmet over the run shows up.
        queries_after = time_queries(fhir.base_url, body["context"], rounds=max(5, args.query_rounds // 3))
    finally:
        fhir.stop()
    med = median_result(runs)
    slowest = queries[slowest_key]["p50"]
    return {
        "queries": queries,
        "queries_after": {k: v["p50"] for k, v in queries_after.items()},
        "slowest_query": {"key": slowest_key, "p50": slowest},
        "sum_of_query_p50s": sum(q["p50"] for q in queries.values()),
        "parallel_fanout": fanout,
        "service": med.as_dict(),
        "fhir_queries_per_call": fetched[0] if fetched else None,
        "cards": [c.get("summary") for c in document["cards"]],
        "margin_ms": med.p50 - slowest,
        "targets": {"p50_le_slowest_plus_25ms": med.p50 <= slowest + TARGET_FHIR_MARGIN_MS,
                    "no_5xx": med.server_errors == 0},
    }


# ----------------------------------------------------------------------------------------------
# Report
# ----------------------------------------------------------------------------------------------

def render_markdown(result: dict[str, Any]) -> str:
    m = result["machine"]
    lines = [f"# igcds benchmark — {result['started']}", "",
             f"Machine: {m['nproc']} CPUs ({m['cpu']}), Python {m['python']}, {m['platform']}, "
             f"load average at start {m['loadavg_at_start']}; gunicorn {result['workers']} workers x "
             f"{result['threads']} threads; {result['seconds']} s per load point, {result['repeats']} repeats "
             f"(medians).", ""]
    full = result.get("full")
    if full:
        lines += [f"## Full prefetch ({full['resources']} resources, {full['body_bytes']} bytes, "
                  f"{len(full['cards'])} cards)", "",
                  "| server | conc. | req/s | p50 ms | p95 ms | p99 ms | max ms | server CPU ms/req | 5xx "
                  "| req/s of each run |",
                  "|---|---|---|---|---|---|---|---|---|---|"]
        names = sorted({k.rsplit("_c", 1)[0] for k in full["medians"]}, key=lambda n: (n != "baseline", n))
        for c in (1, 8):
            for name in names:
                r = full["medians"][f"{name}_c{c}"]
                lines.append(f"| {name} | {c} | {r['rps']:.0f} | {r['p50']:.2f} | {r['p95']:.2f} | {r['p99']:.2f} "
                             f"| {r['max']:.1f} | {r['cpu_ms_per_request']:.2f} | {r['server_errors']} "
                             f"| {r['extra']['runs_rps']} |")
        lines += ["", f"Ratio igcds/baseline: c1 {full['ratio_c1']:.2f}, c8 {full['ratio_c8']:.2f}. "
                  f"Targets: {full['targets']}"]
        for name in names:
            if name.startswith("what-if"):
                w8, b8 = full["medians"][f"{name}_c8"], full["medians"]["baseline_c8"]
                lines.append(f"{name} (run-time patch, not in the code): c8 ratio {w8['rps'] / b8['rps']:.2f}, "
                             f"p95 {w8['p95']:.1f} ms, p99 {w8['p99']:.1f} ms, {w8['cpu_ms_per_request']:.2f} ms CPU/req.")
        lines.append("")
    nop = result.get("no_prefetch")
    if nop:
        s = nop["service"]
        lines += ["## No prefetch (sekmet-fhir on loopback)", "",
                  "| prefetch key | query p50 ms | p95 ms | entries | p50 after load |", "|---|---|---|---|---|"]
        for key, q in nop["queries"].items():
            lines.append(f"| {key} | {q['p50']:.2f} | {q['p95']:.2f} | {q['entries']} | "
                         f"{nop['queries_after'].get(key, 0):.2f} |")
        lines += ["", f"Slowest single query: {nop['slowest_query']['key']} p50 "
                  f"{nop['slowest_query']['p50']:.2f} ms; sum of all query p50s {nop['sum_of_query_p50s']:.2f} ms; "
                  f"all {len(nop['queries'])} queries fired at once (no igcds): p50 {nop['parallel_fanout']['p50']:.2f} ms, "
                  f"p95 {nop['parallel_fanout']['p95']:.2f} ms.",
                  f"Service (c1, {nop['fhir_queries_per_call']} FHIR queries per call): {s['rps']:.1f} req/s, "
                  f"p50 {s['p50']:.2f} ms, p95 {s['p95']:.2f} ms, p99 {s['p99']:.2f} ms, 5xx {s['server_errors']}; "
                  f"margin over the slowest query {nop['margin_ms']:.2f} ms. Targets: {nop['targets']}", ""]
    prof = result.get("profile")
    if prof:
        from bench.profile_call import render

        lines += ["## Profile (in-process)", "", "```", render(prof), "```", ""]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description="igcds benchmark suite")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each load point")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--workers", type=int, default=None, help="default: igcds's [server] workers")
    parser.add_argument("--threads", type=int, default=None, help="default: igcds's [server] threads")
    parser.add_argument("--query-rounds", type=int, default=30)
    parser.add_argument("--profile-calls", type=int, default=300)
    parser.add_argument("--skip-fhir", action="store_true")
    parser.add_argument("--skip-profile", action="store_true")
    parser.add_argument("--only-full", action="store_true")
    parser.add_argument("--what-if", default="", help="also measure bench/whatif_app.py with these patches "
                        "(e.g. drug-memo or drug-memo,no-audit)")
    args = parser.parse_args()
    require_tool("wrk")
    if args.workers is None or args.threads is None:
        from cds_service.config import ServerConfig

        args.workers = args.workers or ServerConfig().workers
        args.threads = args.threads or ServerConfig().threads
    result: dict[str, Any] = {"started": datetime.now(UTC).isoformat(timespec="seconds"), "machine": machine_info(),
                              "seconds": args.seconds, "repeats": args.repeats, "workers": args.workers,
                              "threads": args.threads}
    print(f"machine: {result['machine']}", flush=True)
    print("== full prefetch, baseline vs igcds ==", flush=True)
    result["full"] = bench_full(args)
    if not (args.skip_fhir or args.only_full):
        print("== no prefetch, sekmet-fhir ==", flush=True)
        result["no_prefetch"] = bench_no_prefetch(args)
    if not (args.skip_profile or args.only_full):
        print("== profile ==", flush=True)
        from bench.profile_call import profile

        result["profile"] = profile(args.profile_calls, quiet=True)
    result["loadavg_at_end"] = [round(x, 2) for x in __import__("os").getloadavg()]
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "latest.json").write_text(json.dumps(result, indent=2, default=str))
    markdown = render_markdown(result)
    (RESULTS / "latest.md").write_text(markdown)
    print()
    print(markdown)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
