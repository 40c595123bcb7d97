"""Profile one ``ig-order-select`` call with full prefetch, in-process (Flask test client, real app).

Prints the mean wall time per call, a per-stage breakdown (JSON parse, envelope validation,
record mapping, rules, card rendering), the top functions by own time (cProfile) and writes a
pyinstrument call tree to ``bench/results/profile.txt``.

    .venv/bin/python bench/profile_call.py [--calls 300]
"""

from __future__ import annotations

import argparse
import cProfile
import io
import logging
import pstats
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import orjson  # noqa: E402

from bench.data import count_resources, request_body  # noqa: E402

RESULTS = REPO / "bench" / "results"
PATH = "/cds-services/ig-order-select"


def build() -> tuple[Any, bytes, dict[str, Any]]:
    from hooks.app import build_app, load

    config = load(None, {"dev": True, "storage": {"url": "sqlite:///" + str(RESULTS / "profile.db")}})
    RESULTS.mkdir(parents=True, exist_ok=True)
    app = build_app(config)
    body = request_body()
    return app, orjson.dumps(body), body


def _per_call_ms(fn: Callable[[], Any], calls: int) -> float:
    fn()
    best = float("inf")
    for _ in range(3):  # best of three batches: the machine is shared, take the least disturbed
        started = time.process_time()
        for _ in range(calls):
            fn()
        best = min(best, (time.process_time() - started) / calls * 1000)
    return best


def stages(app: Any, raw: bytes, body: dict[str, Any], calls: int) -> dict[str, float]:
    """Best-of-3 mean CPU milliseconds of each stage of a call, measured separately (no profiler)."""
    from cds_service.registry import HookRequest
    from cds_service.schemas import context_errors, request_errors
    from hooks.facts import facts_from_request
    from hooks.findings import render_card
    from hooks.services.common import run_rules
    from hooks.services.rulesets import ORDER_RULES

    state = app.extensions["cds_service"]
    client = app.test_client()
    request = HookRequest(
        service_id="ig-order-select", hook="order-select", hook_instance=body["hookInstance"],
        context=body["context"], data=body["prefetch"], unavailable=frozenset(), now=datetime.now(UTC),
        fhir_server=None, fhir=None, settings=state.config.sections, client_issuer=None, extension=None,
    )
    facts = facts_from_request(request)
    findings, _ = run_rules(facts, ORDER_RULES)
    document = state.runner.run("ig-order-select", body, _dev_auth()).document
    out = {
        "whole call (test client)": _per_call_ms(
            lambda: client.post(PATH, data=raw, content_type="application/json"), calls),
        "  JSON parse of the body (orjson, in the view)": _per_call_ms(lambda: orjson.loads(raw), calls),
        "  runner.run (validation to response document)": _per_call_ms(
            lambda: state.runner.run("ig-order-select", body, _dev_auth()), calls),
        "    envelope + context schema": _per_call_ms(
            lambda: (request_errors(body), context_errors("order-select", body["context"])), calls),
        "    facts (FHIR -> ClinicalRecord)": _per_call_ms(lambda: facts_from_request(request), calls),
        "    rules": _per_call_ms(lambda: run_rules(facts, ORDER_RULES), calls),
        "    cards (render + to_json)": _per_call_ms(lambda: [render_card(f).to_json() for f in findings], calls),
        "    response JSON (orjson.dumps)": _per_call_ms(lambda: orjson.dumps(document), calls),
    }
    out.update(facts_breakdown(body, calls))
    return out


def facts_breakdown(body: dict[str, Any], calls: int) -> dict[str, float]:
    """What ``facts`` spends, by mapper, each measured alone over this request's resources."""
    from fhir_mappings.allergies import map_allergy
    from fhir_mappings.conditions import map_condition
    from fhir_mappings.drugs import classify_drug
    from fhir_mappings.medications import MEDICATION_TYPES, map_medication
    from fhir_mappings.observations import DEFAULT_CODES, map_observation
    from fhir_mappings.record import _collect
    from fhir_mappings.validation import read_resource

    resources = [e["resource"] for v in body["prefetch"].values() if isinstance(v, dict) and v.get("resourceType")
                 == "Bundle" for e in v.get("entry", [])]
    resources += [e["resource"] for e in body["context"]["draftOrders"]["entry"]]
    of = lambda *kinds: [r for r in resources if r["resourceType"] in kinds]  # noqa: E731
    meds, observations = of(*MEDICATION_TYPES), of("Observation")
    conditions, allergies = of("Condition"), of("AllergyIntolerance")
    drug_inputs = []
    from fhir_mappings.codings import codes_of, words_of
    from fhir_mappings.medications import _medication_concepts

    for r in meds:
        concepts = _medication_concepts(r, None, None).concepts
        drug_inputs.append((tuple(c for concept in concepts for c in codes_of(concept)), words_of(concepts)))
    return {
        f"      read_resource x{len(resources)}": _per_call_ms(
            lambda: [read_resource(r) for r in resources], calls),
        "      collect bundles (record._collect)": _per_call_ms(
            lambda: _collect(list(body["prefetch"].values()), "prefetch", [], set()), calls),
        f"      map_medication x{len(meds)}": _per_call_ms(
            lambda: [map_medication(r, resolve=None) for r in meds], calls),
        f"        of which classify_drug x{len(drug_inputs)}": _per_call_ms(
            lambda: [classify_drug(codes, text) for codes, text in drug_inputs], calls),
        f"      map_observation x{len(observations)}": _per_call_ms(
            lambda: [map_observation(r, DEFAULT_CODES) for r in observations], calls),
        f"      map_condition x{len(conditions)}": _per_call_ms(lambda: [map_condition(r) for r in conditions], calls),
        f"      map_allergy x{len(allergies)}": _per_call_ms(lambda: [map_allergy(r) for r in allergies], calls),
    }


def _dev_auth() -> Any:
    from cds_service.auth import AuthContext

    return AuthContext()


def top_functions(app: Any, raw: bytes, calls: int, limit: int = 20) -> tuple[list[dict[str, Any]], str]:
    client = app.test_client()
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(calls):
        client.post(PATH, data=raw, content_type="application/json")
    profiler.disable()
    stats = pstats.Stats(profiler)
    total = stats.total_tt  # type: ignore[attr-defined]
    rows = []
    for (filename, line, name), (_cc, nc, tt, ct, _callers) in stats.stats.items():  # type: ignore[attr-defined]
        rows.append({"function": f"{_short(filename)}:{line}({name})", "calls_per_request": nc / calls,
                     "own_ms": tt / calls * 1000, "cum_ms": ct / calls * 1000, "own_pct": 100 * tt / total})
    rows.sort(key=lambda r: r["own_ms"], reverse=True)
    buffer = io.StringIO()
    pstats.Stats(profiler, stream=buffer).sort_stats("cumulative").print_stats(40)
    return rows[:limit], buffer.getvalue()


def _short(filename: str) -> str:
    for marker in ("/site-packages/", "/lib/python3.11/"):
        if marker in filename:
            return filename.split(marker, 1)[1]
    try:
        return str(Path(filename).resolve().relative_to(REPO))
    except ValueError:
        return filename


def pyinstrument_tree(app: Any, raw: bytes, calls: int) -> str:
    from pyinstrument import Profiler

    client = app.test_client()
    profiler = Profiler(interval=0.0005)
    profiler.start()
    for _ in range(calls):
        client.post(PATH, data=raw, content_type="application/json")
    profiler.stop()
    return profiler.output_text(unicode=False, color=False, show_all=False)


def profile(calls: int = 300, *, quiet: bool = False) -> dict[str, Any]:
    logging.getLogger("igcds").setLevel(logging.WARNING)  # the per-call INFO line is measured over HTTP
    app, raw, body = build()
    logging.getLogger("igcds").setLevel(logging.WARNING)
    response = app.test_client().post(PATH, data=raw, content_type="application/json")
    assert response.status_code == 200, response.data[:500]
    cards = response.get_json()["cards"]
    stage_ms = stages(app, raw, body, max(50, calls // 3))
    top, cumulative = top_functions(app, raw, calls)
    tree = pyinstrument_tree(app, raw, calls)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "profile.txt").write_text(tree + "\n\n" + cumulative)
    result = {"calls": calls, "resources": count_resources(body), "body_bytes": len(raw),
              "cards": [c.get("summary") for c in cards], "stages_ms": stage_ms, "top_own_time": top}
    if not quiet:
        print(render(result))
        print(f"(pyinstrument tree and cProfile cumulative listing: {RESULTS / 'profile.txt'})")
    return result


def render(result: dict[str, Any]) -> str:
    lines = [f"Profile: {result['calls']} in-process calls, {result['resources']} resources, "
             f"{result['body_bytes']} bytes, {len(result['cards'])} cards"]
    lines.append("Stage breakdown (CPU ms per call, best of 3 batches, no profiler; indented = part of the line above):")
    for name, ms in result["stages_ms"].items():
        lines.append(f"  {name:<44} {ms:8.3f}")
    lines.append("Top functions by own time (cProfile; ms per call, profiler overhead included):")
    for row in result["top_own_time"][:15]:
        lines.append(f"  {row['own_ms']:7.3f} ms {row['own_pct']:5.1f}%  x{row['calls_per_request']:<7.1f} {row['function']}")
    return "\n".join(lines)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=300)
    profile(parser.parse_args().calls)
