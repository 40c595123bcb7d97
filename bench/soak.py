"""Soak test (``make soak``): N minutes of ``ig-order-select`` (full prefetch) at 80% of measured peak.

1. Start ``igcds serve`` (gunicorn, the configured workers/threads) on 127.0.0.1.
2. Measure the peak briefly: ``wrk`` at concurrency 8 for ``--peak-seconds``.
3. Load at ``--fraction`` of that peak for ``--minutes`` with ``hey`` (rate-limited, 8 connections),
   sampling VmRSS of the gunicorn master and workers (``/proc/<pid>/status``) every ``--sample-every`` s
   and noting any worker that was replaced.
4. Pass when there is no 5xx (load generator and server log) and the workers' total RSS grew less than
   10% between the first sample after the warm-up minute and the end.

Results: stdout and ``bench/results/soak-latest.json`` / ``soak-latest.md``.

    .venv/bin/python bench/soak.py [--minutes 10] [--fraction 0.8]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench import data  # noqa: E402
from bench.harness import (  # noqa: E402
    RESULTS,
    igcds_server,
    machine_info,
    parse_hey,
    process_tree,
    require_tool,
    rss_kb,
    run_wrk,
    write_body,
)

PATH = "/cds-services/ig-order-select"
MAX_RSS_GROWTH = 0.10


class RssSampler(threading.Thread):
    """Samples VmRSS (kB) of the master and each worker every ``every`` seconds."""

    def __init__(self, master: int, every: float) -> None:
        super().__init__(daemon=True)
        self.master = master
        self.every = every
        self.samples: list[dict[str, Any]] = []
        self.worker_pids_seen: set[int] = set()
        self._halt = threading.Event()

    def sample(self) -> dict[str, Any]:
        pids = process_tree(self.master)
        workers = {pid: rss_kb(pid) for pid in pids if pid != self.master}
        workers = {pid: kb for pid, kb in workers.items() if kb is not None}
        self.worker_pids_seen.update(workers)
        return {"t": time.monotonic(), "master_kb": rss_kb(self.master), "workers_kb": workers,
                "workers_total_kb": sum(workers.values())}

    def run(self) -> None:
        while not self._halt.is_set():
            self.samples.append(self.sample())
            self._halt.wait(self.every)

    def stop(self) -> None:
        self._halt.set()
        self.join(timeout=self.every + 5)
        self.samples.append(self.sample())


def main() -> int:
    parser = argparse.ArgumentParser(description="igcds soak test")
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--fraction", type=float, default=0.8, help="share of the measured peak to run at")
    parser.add_argument("--peak-seconds", type=float, default=8.0)
    parser.add_argument("--connections", type=int, default=8, help="wrk connections for the peak")
    parser.add_argument("--soak-connections", type=int, default=16,
                        help="hey connections for the soak: enough that each one's rate interval exceeds the latency")
    parser.add_argument("--sample-every", type=float, default=10.0)
    parser.add_argument("--warmup-minutes", type=float, default=1.0,
                        help="RSS growth is measured from the first sample after this much soak")
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    require_tool("wrk")
    hey = require_tool("hey")
    from cds_service.config import ServerConfig

    workers = args.workers or ServerConfig().workers
    threads = args.threads or ServerConfig().threads
    body = data.request_body()
    body_file = write_body(body, "soak-body.json")
    started_at = datetime.now(UTC).isoformat(timespec="seconds")
    machine = machine_info()
    print(f"machine: {machine}", flush=True)
    with igcds_server({}, dev=True, workers=workers, threads=threads) as server:
        run_wrk(server.base_url, PATH, body_file, connections=args.connections, seconds=3, label="warmup")
        peak = run_wrk(server.base_url, PATH, body_file, connections=args.connections, seconds=args.peak_seconds,
                       label="peak", server_pid=server.process.pid)
        print(f"peak: {peak.row()}", flush=True)
        rate = args.fraction * peak.rps
        per_connection = rate / args.soak_connections
        seconds = args.minutes * 60
        print(f"soak: {args.minutes:g} min at {rate:.1f} req/s ({args.fraction:.0%} of peak), "
              f"{args.soak_connections} connections x {per_connection:.2f} req/s", flush=True)
        sampler = RssSampler(server.process.pid, args.sample_every)
        sampler.start()
        cmd = [hey, "-z", f"{seconds:g}s", "-c", str(args.soak_connections), "-q", f"{per_connection:.3f}",
               "-m", "POST", "-T", "application/json", "-D", str(body_file), "-t", "10", server.url(PATH)]
        t0 = time.monotonic()
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 300)
        elapsed = time.monotonic() - t0
        sampler.stop()
        if proc.returncode != 0:
            print(proc.stdout[-3000:], proc.stderr[-3000:], file=sys.stderr)
            return 2
        soak = parse_hey(proc.stdout, label="soak", connections=args.soak_connections)
        log = server.log_text()
        log_5xx = sum(1 for line in log.splitlines() if '"event":"internal_error"' in line)
        log_errors = sum(1 for line in log.splitlines() if '"level":"error"' in line)
        final_pids = set(process_tree(server.process.pid)) - {server.process.pid}
    # RSS: reference = first sample at or after the warm-up minute.
    samples = sampler.samples
    t_start = samples[0]["t"]
    reference = next((s for s in samples if s["t"] - t_start >= args.warmup_minutes * 60), samples[0])
    last = samples[-1]
    growth = (last["workers_total_kb"] - reference["workers_total_kb"]) / max(reference["workers_total_kb"], 1)
    growth_from_start = (last["workers_total_kb"] - samples[0]["workers_total_kb"]) / max(samples[0]["workers_total_kb"], 1)
    replaced = sorted(sampler.worker_pids_seen - final_pids)
    result = {
        "started": started_at, "machine": machine, "workers": workers, "threads": threads,
        "minutes": args.minutes, "fraction": args.fraction, "resources": data.count_resources(body),
        "peak": peak.as_dict(), "target_rps": rate, "elapsed_s": round(elapsed, 1), "soak": soak.as_dict(),
        "log_internal_errors": log_5xx, "log_error_lines": log_errors,
        "rss": {
            "reference_at_s": round(reference["t"] - t_start, 1),
            "workers_total_kb_start": samples[0]["workers_total_kb"],
            "workers_total_kb_reference": reference["workers_total_kb"],
            "workers_total_kb_end": last["workers_total_kb"],
            "workers_total_kb_max": max(s["workers_total_kb"] for s in samples),
            "master_kb_start": samples[0]["master_kb"], "master_kb_end": last["master_kb"],
            "growth_pct": round(100 * growth, 2), "growth_from_start_pct": round(100 * growth_from_start, 2),
            "per_worker_end_kb": last["workers_kb"],
            "series_total_kb": [[round(s["t"] - t_start), s["workers_total_kb"]] for s in samples],
        },
        "workers_replaced": replaced,
        "loadavg_at_end": [round(x, 2) for x in __import__("os").getloadavg()],
    }
    result["pass"] = {
        "no_5xx": soak.server_errors == 0 and log_5xx == 0,
        "no_socket_errors": soak.socket_errors == 0,
        "rss_growth_lt_10pct": growth < MAX_RSS_GROWTH,
        "no_worker_replaced": not replaced,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "soak-latest.json").write_text(json.dumps(result, indent=2, default=str))
    markdown = render(result)
    (RESULTS / "soak-latest.md").write_text(markdown)
    print(markdown)
    return 0 if all(result["pass"].values()) else 1


def render(r: dict[str, Any]) -> str:
    s, p, rss = r["soak"], r["peak"], r["rss"]
    m = r["machine"]
    return "\n".join([
        f"# igcds soak — {r['started']}",
        "",
        f"Machine: {m['nproc']} CPUs ({m['cpu']}), Python {m['python']}; gunicorn {r['workers']} workers x "
        f"{r['threads']} threads; {r['resources']} prefetched resources per call.",
        f"Peak (wrk, c8, {p['seconds']} s): {p['rps']:.1f} req/s, p95 {p['p95']:.1f} ms.",
        f"Soak: {r['minutes']:g} min ({r['elapsed_s']} s) at {r['target_rps']:.1f} req/s target "
        f"({r['fraction']:.0%} of peak): {s['requests']} requests, {s['rps']:.1f} req/s achieved, "
        f"p50 {s['p50']:.1f} ms, p95 {s['p95']:.1f} ms, p99 {s['p99']:.1f} ms, max {s['max']:.0f} ms; "
        f"statuses {s['extra'].get('statuses')}, 5xx {s['server_errors']}, socket errors {s['socket_errors']}; "
        f"server log: {r['log_internal_errors']} internal errors, {r['log_error_lines']} error lines.",
        f"RSS of the workers (total): {rss['workers_total_kb_start'] / 1024:.1f} MiB at start, "
        f"{rss['workers_total_kb_reference'] / 1024:.1f} MiB at {rss['reference_at_s']} s (reference), "
        f"{rss['workers_total_kb_end'] / 1024:.1f} MiB at the end (max {rss['workers_total_kb_max'] / 1024:.1f} MiB): "
        f"growth {rss['growth_pct']:+.2f}% from the reference, {rss['growth_from_start_pct']:+.2f}% from the start; "
        f"master {rss['master_kb_start'] / 1024:.1f} -> {rss['master_kb_end'] / 1024:.1f} MiB; "
        f"workers replaced: {r['workers_replaced'] or 'none'}.",
        f"Pass: {r['pass']}",
    ])


if __name__ == "__main__":
    raise SystemExit(main())
