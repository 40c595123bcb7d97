"""What-if server for the benchmark: igcds with proposed optimisations applied *at run time only*.

Not a product entry point: it serves the real ``hooks.app.build_app`` after patching in changes that
files owned by other engineers could make, so ``bench/run.py --what-if`` can show their effect over HTTP
in the same run as the real service and the baseline. The repository code is not changed.

Patches (each named in ``--patches``, comma-separated):

* ``drug-memo``: memoise ``fhir_mappings.drugs.classify_drug`` on its (hashable) arguments — the same
  codes, name text, route and context always classify the same way; ~26 regular-expression searches per
  medication resource become a dict lookup after the first sight of a drug.
* ``no-audit``: ``[storage] audit = false`` — shows what the synchronous SQLite card audit costs
  (CPU and cross-worker write-lock waits); a real fix would batch the writes, not drop them.
* ``free-facts``: an upper bound, never a product change. The ``ClinicalRecord`` of a call is reused
  when the next call carries the very same prefetch and context (the benchmark sends one body over
  and over), so FHIR-to-facts mapping costs nothing; the rules, cards, audit, HTTP and JSON still run.
  It answers "what ratio would igcds reach if mapping were free?".

    python bench/whatif_app.py --port N --config FILE --patches drug-memo[,no-audit] [--workers 2 --threads 4]
"""

from __future__ import annotations

import argparse
import functools
import sys
from collections.abc import Collection, Iterable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

PATCHES = ("drug-memo", "no-audit", "free-facts")


def apply_drug_memo() -> None:
    import fhir_mappings.allergies as allergies
    import fhir_mappings.drugs as drugs
    import fhir_mappings.medications as medications

    if getattr(drugs.classify_drug, "_whatif", False):  # already patched (master before the fork)
        return
    original = drugs.classify_drug

    @functools.lru_cache(maxsize=4096)
    def cached(codes: tuple[Any, ...], text: str, route: Any, vaccine_context: bool,
               rxnorm: tuple[str, ...]) -> Any:
        return original(codes, text, route=route, vaccine_context=vaccine_context, rxnorm_ig_codes=rxnorm)

    def classify_drug(codes: Iterable[Any], text: str, *, route: Any = None, vaccine_context: bool = False,
                      rxnorm_ig_codes: Collection[str] = ()) -> Any:
        return cached(tuple(codes), text, route, vaccine_context, tuple(rxnorm_ig_codes))

    classify_drug._whatif = True  # type: ignore[attr-defined]
    drugs.classify_drug = classify_drug
    medications.classify_drug = classify_drug  # type: ignore[attr-defined]
    allergies.classify_drug = classify_drug  # type: ignore[attr-defined]


def apply_free_facts() -> None:
    import dataclasses

    import orjson

    import hooks.facts as facts
    import hooks.services.common as common

    if getattr(common.facts_from_request, "_whatif", False):
        return
    original = facts.facts_from_request
    last: dict[bytes, Any] = {}

    def facts_from_request(request: Any) -> Any:
        key = orjson.dumps([request.service_id, request.data, request.context])
        known = last.get(key)
        if known is None:
            last.clear()  # one entry: the bound, not a cache
            known = last[key] = original(request)
        return dataclasses.replace(known, now=request.now)

    facts_from_request._whatif = True  # type: ignore[attr-defined]
    common.facts_from_request = facts_from_request  # type: ignore[assignment]


def factory(config_path: str, patches: list[str]) -> Any:
    if "drug-memo" in patches:
        apply_drug_memo()
    if "free-facts" in patches:
        apply_free_facts()
    from hooks.app import build_app, load

    overrides: dict[str, Any] = {"dev": True}
    if "no-audit" in patches:
        overrides["storage"] = {"audit": False}
    return build_app(load(config_path, overrides))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--config", required=True)
    parser.add_argument("--patches", default="drug-memo")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4)
    args = parser.parse_args()
    patches = [p for p in args.patches.split(",") if p]
    unknown = set(patches) - set(PATCHES)
    if unknown:
        raise SystemExit(f"unknown patches {sorted(unknown)}; known: {PATCHES}")
    from cds_service.metrics import prepare_multiprocess_dir
    from cds_service.server import run_gunicorn
    from hooks.app import load

    config = load(args.config, {"dev": True})
    prepare_multiprocess_dir(config.server.data_dir)  # as ``igcds serve`` does before forking
    factory(args.config, patches)  # fail fast, as igcds serve does
    run_gunicorn(lambda: factory(args.config, patches), host="127.0.0.1", port=args.port,
                 workers=args.workers, threads=args.threads)


if __name__ == "__main__":
    main()
