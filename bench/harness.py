"""Shared pieces of the benchmark scripts: servers on loopback, wrk/hey runs, RSS sampling, machine info.

Every server is started by us on 127.0.0.1 and stopped by its process group id; every load run is
bounded (``-d`` / ``-z``) so a script can never hang on a stuck server.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
BENCH = REPO / "bench"
RESULTS = BENCH / "results"
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from tests.support.igcds_server import (  # noqa: E402
    RunningServer,
    free_port,
    igcds_server,
    wait_until_healthy,
)
from tests.support.igcds_server import stop_process_group as stop_group  # noqa: E402

POST_LUA = BENCH / "post.lua"

__all__ = ["RunningServer", "igcds_server", "check_answer", "free_port", "baseline_server", "whatif_server", "cpu_seconds", "LoadResult", "run_wrk", "run_hey",
           "machine_info", "rss_kb", "process_tree", "require_tool", "median_result", "percentile", "write_body"]


def require_tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise SystemExit(f"{name} is not installed: apt-get update && apt-get install -y wrk hey")
    return path


# ----------------------------------------------------------------------------------------------
# Servers
# ----------------------------------------------------------------------------------------------

def check_answer(base_url: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
    """The server's answer to ``body``; stops the script unless it is a 200 (a benchmark of errors
    would measure nothing)."""
    import requests

    response = requests.post(base_url + path, json=body, timeout=30)
    if response.status_code != 200:
        raise SystemExit(f"{base_url}{path} answered {response.status_code}: {response.text[:1000]}")
    return response.json()  # type: ignore[no-any-return]


@dataclass
class BaselineServer:
    base_url: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def url(self, path: str) -> str:
        return self.base_url + path


@contextlib.contextmanager
def baseline_server(*, workers: int, threads: int, timeout: float = 30.0) -> Iterator[BaselineServer]:
    """``bench/baseline_app.py`` under the same ``run_gunicorn`` as ``igcds serve``."""
    port = free_port()
    tmp = Path(tempfile.mkdtemp(prefix="igcds-baseline-"))
    log_path = tmp / "baseline.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [sys.executable, str(BENCH / "baseline_app.py"), "--port", str(port),
             "--workers", str(workers), "--threads", str(threads)],
            cwd=tmp, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
    server = BaselineServer(f"http://127.0.0.1:{port}", process, log_path)
    try:
        wait_until_healthy(process, server.url("/healthz"), log_path, timeout, name="baseline")
        yield server
    finally:
        stop_group(process)


@contextlib.contextmanager
def whatif_server(patches: str, *, workers: int, threads: int, timeout: float = 30.0) -> Iterator[BaselineServer]:
    """``bench/whatif_app.py``: the real igcds app with run-time-only patches (see that module)."""
    from tests.support.igcds_server import write_toml

    port = free_port()
    tmp = Path(tempfile.mkdtemp(prefix="igcds-whatif-"))
    (tmp / "data").mkdir()
    config = write_toml({"server": {"public_base_url": f"http://127.0.0.1:{port}", "data_dir": str(tmp / "data")},
                         "storage": {"url": f"sqlite:///{tmp}/data/igcds.db"}, "logging": {"json": True}},
                        tmp / "igcds.toml")
    log_path = tmp / "whatif.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [sys.executable, str(BENCH / "whatif_app.py"), "--port", str(port), "--config", str(config),
             "--patches", patches, "--workers", str(workers), "--threads", str(threads)],
            cwd=tmp, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            env={k: v for k, v in os.environ.items() if not k.startswith("IGCDS_")},
        )
    server = BaselineServer(f"http://127.0.0.1:{port}", process, log_path)
    try:
        wait_until_healthy(process, server.url("/healthz"), log_path, timeout, name="what-if server")
        yield server
    finally:
        stop_group(process)




def gunicorn_master(process: subprocess.Popen[bytes]) -> int:
    """The gunicorn master's pid: the started process itself (``igcds serve`` execs no shell)."""
    return process.pid


def process_tree(pid: int) -> list[int]:
    """``pid`` and all its descendants (from /proc/<pid>/task/*/children)."""
    out = [pid]
    queue = [pid]
    while queue:
        current = queue.pop()
        for task in Path(f"/proc/{current}/task").glob("*"):
            with contextlib.suppress(OSError):
                for child in (task / "children").read_text().split():
                    out.append(int(child))
                    queue.append(int(child))
    return out


def cpu_seconds(pids: Sequence[int]) -> float:
    """User + system CPU time consumed so far by ``pids`` (from /proc/<pid>/stat), in seconds."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        with contextlib.suppress(OSError, IndexError, ValueError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)
    return total / ticks


def rss_kb(pid: int) -> int | None:
    """VmRSS of one process in kB (None when it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


# ----------------------------------------------------------------------------------------------
# Load generators
# ----------------------------------------------------------------------------------------------

@dataclass
class LoadResult:
    """One bounded load run. Latencies in milliseconds."""

    label: str
    connections: int
    seconds: float
    requests: int
    rps: float
    p50: float
    p90: float
    p95: float
    p99: float
    max: float
    mean: float
    non_2xx: int = 0
    server_errors: int = 0
    socket_errors: int = 0
    #: Server CPU (master + workers) per request, ms; 0 when not measured.
    cpu_ms_per_request: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    def row(self) -> str:
        return (f"{self.label:<28} c={self.connections:<3} {self.rps:8.1f} req/s  p50 {self.p50:7.2f}  "
                f"p95 {self.p95:7.2f}  p99 {self.p99:7.2f}  max {self.max:7.1f} ms  "
                f"cpu {self.cpu_ms_per_request:5.2f} ms/req {self.extra.get('worker_cores', '')}  "
                f"non2xx {self.non_2xx}  5xx {self.server_errors}  sockerr {self.socket_errors}")

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def write_body(document: Any, name: str) -> Path:
    import orjson

    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / name
    path.write_bytes(orjson.dumps(document))
    return path


def run_wrk(base_url: str, path: str, body_file: Path, *, connections: int, seconds: float,
            label: str, threads: int = 1, timeout_s: float = 5.0, server_pid: int | None = None) -> LoadResult:
    """``wrk`` with ``bench/post.lua`` (keep-alive connections, closed loop), bounded by ``-d``.

    With ``server_pid`` (a gunicorn master) the server's CPU time per request is measured too
    (master + workers, from /proc): a figure much less disturbed by other load on the machine than
    req/s or latency."""
    wrk = require_tool("wrk")
    env = {**os.environ, "BENCH_BODY": str(body_file), "BENCH_PATH": path}
    cmd = [wrk, f"-t{min(threads, connections)}", f"-c{connections}", f"-d{seconds:g}s",
           f"--timeout={timeout_s:g}s", "-s", str(POST_LUA), base_url]
    pids = process_tree(server_pid) if server_pid else []
    per_pid_before = {pid: cpu_seconds([pid]) for pid in pids}
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=seconds + 60)
    per_pid = {pid: cpu_seconds([pid]) - before for pid, before in per_pid_before.items()}
    cpu_used = sum(per_pid.values())
    workers = sorted((v for pid, v in per_pid.items() if pid != server_pid), reverse=True)
    match = re.search(r"^BENCH_JSON (.*)$", proc.stdout, re.M)
    if proc.returncode != 0 or not match:
        raise RuntimeError(f"wrk failed ({proc.returncode}): {proc.stdout}\n{proc.stderr}")
    data = json.loads(match.group(1))
    duration = data["duration_us"] / 1e6
    return LoadResult(
        label=label, connections=connections, seconds=round(duration, 2), requests=data["requests"],
        rps=data["requests"] / duration if duration else 0.0,
        p50=data["p50"] / 1000, p90=data["p90"] / 1000, p95=data["p95"] / 1000, p99=data["p99"] / 1000,
        max=data["max"] / 1000, mean=data["mean"] / 1000, non_2xx=data["status_errors"],
        server_errors=data["server_errors"],
        socket_errors=data["connect_errors"] + data["read_errors"] + data["write_errors"] + data["timeouts"],
        cpu_ms_per_request=1000 * cpu_used / data["requests"] if server_pid and data["requests"] else 0.0,
        # How the load spread over the workers: CPU seconds of each (busiest first) / wall seconds.
        extra={"worker_cores": [round(v / duration, 2) for v in workers]} if server_pid and duration else {},
    )


def run_hey(url: str, body_file: Path, *, connections: int, seconds: float, rate_per_conn: float | None,
            label: str, timeout_s: int = 5) -> LoadResult:
    """``hey`` (open-ish loop with ``-q`` per-connection rate limit), bounded by ``-z``."""
    hey = require_tool("hey")
    cmd = [hey, "-z", f"{seconds:g}s", "-c", str(connections), "-m", "POST", "-T", "application/json",
           "-D", str(body_file), "-t", str(timeout_s)]
    if rate_per_conn:
        cmd += ["-q", f"{rate_per_conn:g}"]
    cmd.append(url)
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 120)
    if proc.returncode != 0:
        raise RuntimeError(f"hey failed ({proc.returncode}): {proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    return parse_hey(proc.stdout, label=label, connections=connections)


def parse_hey(text: str, *, label: str, connections: int) -> LoadResult:
    def number(pattern: str, default: float = 0.0) -> float:
        m = re.search(pattern, text)
        return float(m.group(1)) if m else default

    pct = {int(m.group(1)): float(m.group(2)) * 1000 for m in re.finditer(r"(\d+)%+ in ([\d.]+) secs", text)}
    statuses = {int(m.group(1)): int(m.group(2)) for m in re.finditer(r"\[(\d{3})\]\s+(\d+) responses", text)}
    errors = sum(int(m.group(1)) for m in re.finditer(r"^\s+\[(\d+)\]\s+\S", text.split("Error distribution:")[-1], re.M)) \
        if "Error distribution:" in text else 0
    total_s = number(r"Total:\s+([\d.]+) secs")
    requests_done = sum(statuses.values())
    return LoadResult(
        label=label, connections=connections, seconds=total_s, requests=requests_done,
        rps=number(r"Requests/sec:\s+([\d.]+)"),
        p50=pct.get(50, 0.0), p90=pct.get(90, 0.0), p95=pct.get(95, 0.0), p99=pct.get(99, 0.0),
        max=number(r"Slowest:\s+([\d.]+) secs") * 1000, mean=number(r"Average:\s+([\d.]+) secs") * 1000,
        non_2xx=sum(n for s, n in statuses.items() if not 200 <= s < 300),
        server_errors=sum(n for s, n in statuses.items() if s >= 500),
        socket_errors=errors, extra={"statuses": statuses},
    )


def percentile(values: Sequence[float], pct: float) -> float:
    """The nearest-rank ``pct`` percentile of ``values`` (not empty)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(pct / 100 * (len(ordered) - 1))))]


def median_result(results: Sequence[LoadResult]) -> LoadResult:
    """Field-wise median of repeated runs (counts are summed), with the spread of req/s kept."""
    first = results[0]
    med = {k: statistics.median(getattr(r, k) for r in results)
           for k in ("rps", "p50", "p90", "p95", "p99", "max", "mean", "cpu_ms_per_request")}
    return LoadResult(
        label=first.label, connections=first.connections, seconds=sum(r.seconds for r in results),
        requests=sum(r.requests for r in results), **med,
        non_2xx=sum(r.non_2xx for r in results), server_errors=sum(r.server_errors for r in results),
        socket_errors=sum(r.socket_errors for r in results),
        extra={"runs_rps": [round(r.rps, 1) for r in results],
               "runs_p95": [round(r.p95, 2) for r in results],
               "runs_p99": [round(r.p99, 2) for r in results],
               "rps_spread_pct": round(100 * (max(r.rps for r in results) - min(r.rps for r in results))
                                       / max(statistics.median(r.rps for r in results), 1e-9), 1),
               "worker_cores": [r.extra.get("worker_cores") for r in results]},
    )


# ----------------------------------------------------------------------------------------------
# Machine
# ----------------------------------------------------------------------------------------------

def machine_info() -> dict[str, Any]:
    cpu = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    load = os.getloadavg()
    mem_total = "?"
    with contextlib.suppress(OSError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_total = f"{int(line.split()[1]) // 1024} MiB"
    versions = {}
    for tool in ("wrk", "hey"):
        versions[tool] = "installed" if shutil.which(tool) else "missing"
    return {
        "nproc": len(os.sched_getaffinity(0)),
        "cpu": cpu,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "mem_total": mem_total,
        "loadavg_at_start": [round(x, 2) for x in load],
        **versions,
    }
