"""Compare gunicorn configurations side by side (docs/performance.md "Worker model").

Every server named on the command line is started at once, then the load alternates between them
(server 1, server 2, ..., repeated), so that the machine's slow and fast minutes fall on all of them
alike. Each server is ``igcds`` or the bare-Flask ``baseline``, with its own workers x threads:

    .venv/bin/python bench/compare.py igcds@4x1 igcds@2x4 baseline@4x1 baseline@2x4 \\
        [--connections 8] [--seconds 5] [--repeats 3]

``igcds@4x1:DIR`` serves the igcds packages found in ``DIR`` first (``PYTHONPATH``): another checkout,
or a copy with an experiment in it (docs/performance.md used one for a mypyc-compiled
``fhir_mappings``). Its answer to the benchmark body must carry the same cards as this checkout's.

Full-prefetch ``ig-order-select`` body (``bench/data.py``), closed loop with wrk. Prints, per server,
the median req/s, server CPU per request and latency percentiles, and the figures of each run. A
script, not a test: it asserts nothing.
"""

from __future__ import annotations

import argparse
import contextlib
import re
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench import data  # noqa: E402
from bench.harness import (  # noqa: E402
    LoadResult,
    baseline_server,
    check_answer,
    igcds_server,
    median_result,
    require_tool,
    run_wrk,
    write_body,
)

PATH = "/cds-services/ig-order-select"
_SPEC = re.compile(r"^(igcds|baseline)@(\d+)x(\d+)(?::(.+))?$")


def parse_spec(spec: str) -> tuple[str, int, int, str | None]:
    """``igcds@4x1`` -> ("igcds", 4, 1, None); ``igcds@4x1:/tmp/tree`` -> (..., "/tmp/tree")."""
    match = _SPEC.match(spec)
    if not match or (match.group(1) == "baseline" and match.group(4)):
        raise argparse.ArgumentTypeError(f"{spec!r}: expected igcds@WxT[:DIR] or baseline@WxT, e.g. igcds@4x1")
    tree = match.group(4)
    if tree is not None and not Path(tree, "hooks").is_dir():
        raise argparse.ArgumentTypeError(f"{spec!r}: {tree} holds no igcds packages (no hooks/ folder)")
    return match.group(1), int(match.group(2)), int(match.group(3)), tree


def start(stack: contextlib.ExitStack, kind: str, workers: int, threads: int, tree: str | None) -> Any:
    if kind == "baseline":
        return stack.enter_context(baseline_server(workers=workers, threads=threads))
    return stack.enter_context(igcds_server({"fhir": {"deadline_s": 4.0}}, dev=True, workers=workers,
                                            threads=threads, env={"PYTHONPATH": tree} if tree else None))


def _cards(base_url: str, body: dict[str, Any]) -> list[str]:
    return [card.get("summary", "") for card in check_answer(base_url, PATH, body).get("cards", [])]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("servers", nargs="+", type=parse_spec, metavar="igcds@WxT[:DIR]|baseline@WxT")
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    require_tool("wrk")
    body = data.request_body()
    body_file = write_body(body, "full-prefetch.json")
    runs: dict[str, list[LoadResult]] = {}
    with contextlib.ExitStack() as stack:
        servers = [(f"{kind}@{w}x{t}" + (f":{tree}" if tree else ""), start(stack, kind, w, t, tree))
                   for kind, w, t, tree in args.servers]
        if any(tree for *_, tree in args.servers):  # another tree must answer like this checkout
            with contextlib.ExitStack() as ref_stack:  # stopped before the load starts
                expected = _cards(start(ref_stack, "igcds", 1, 1, None).base_url, body)
            for name, server in servers:
                if name.startswith("igcds") and _cards(server.base_url, body) != expected:
                    raise SystemExit(f"{name} does not answer like this checkout: not comparable")
        for _, server in servers:  # warm-up: imports, first-call caches
            run_wrk(server.base_url, PATH, body_file, connections=args.connections, seconds=2, label="warmup")
        for rep in range(args.repeats):
            for name, server in servers:
                result = run_wrk(server.base_url, PATH, body_file, connections=args.connections,
                                 seconds=args.seconds, label=name, server_pid=server.process.pid)
                runs.setdefault(name, []).append(result)
                print(f"  run {rep + 1}/{args.repeats} {result.row()}", flush=True)
    print(f"\nmedians of {args.repeats} x {args.seconds:g} s at c{args.connections}:")
    width = max(len(name) for name in runs)
    for name, results in runs.items():
        m = median_result(results)
        print(f"  {name:<{width}} {m.rps:7.1f} req/s  cpu {m.cpu_ms_per_request:5.2f} ms/req  p50 {m.p50:6.2f}  "
              f"p95 {m.p95:6.2f}  p99 {m.p99:6.2f} ms  5xx {m.server_errors}  runs {m.extra['runs_rps']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
