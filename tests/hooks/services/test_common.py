"""hooks.services.common: the per-call memo changes what run_rules costs, never what it answers."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import pytest

from cds_service.registry import HookRequest
from hooks.facts import Facts, facts_from_request
from hooks.findings import Finding, render_card
from hooks.services.common import Rule, _one_per_rule_and_order, run_rules
from hooks.services.rulesets import ORDER_RULES, PATIENT_VIEW_RULES
from tests.support.fixtures import load_request, request_paths

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
SCENARIOS = sorted((p.parent.name, p.stem) for p in request_paths())


def _facts(service_id: str, scenario: str) -> Facts:
    body = load_request(service_id, scenario, NOW)
    request = HookRequest(
        service_id=service_id, hook=body["hook"], hook_instance=body["hookInstance"], context=body["context"],
        data=body.get("prefetch") or {}, unavailable=frozenset(), now=NOW,
    )
    return facts_from_request(request)


def _rules(service_id: str) -> tuple[Rule, ...]:
    return PATIENT_VIEW_RULES if service_id == "ig-patient-view" else ORDER_RULES


def _cards(findings: list[Finding]) -> list[Any]:
    def strip(value: Any) -> Any:  # suggestion uuids are new on every run
        if isinstance(value, dict):
            return {k: strip(v) for k, v in value.items() if k != "uuid"}
        if isinstance(value, list):
            return [strip(v) for v in value]
        return value

    return [strip(render_card(f).to_json()) for f in findings]


def _each_rule_alone(facts: Facts, rules: tuple[Rule, ...]) -> tuple[list[Any], list[str]]:
    """Every rule evaluated outside any call scope: nothing memoised, nothing shared."""
    findings: list[Finding] = []
    failed: list[str] = []
    for rule in rules:
        try:
            findings.extend(rule(facts))
        except Exception:
            failed.append(rule.__name__)
    return _cards(_one_per_rule_and_order(findings)), failed


@pytest.mark.parametrize(("service_id", "scenario"), SCENARIOS)
def test_memoised_run_gives_the_cards_of_rules_run_alone(service_id: str, scenario: str) -> None:
    facts, rules = _facts(service_id, scenario), _rules(service_id)
    findings, failed = run_rules(facts, rules)
    assert (_cards(findings), failed) == _each_rule_alone(facts, rules)


def test_concurrent_calls_give_the_cards_of_sequential_calls() -> None:
    """Four threads, as gunicorn runs per worker, each evaluating a different call at once."""
    calls = [(_facts(s, n), _rules(s)) for s, n in SCENARIOS]

    def evaluate(call: tuple[Facts, tuple[Rule, ...]]) -> tuple[list[Any], list[str]]:
        findings, failed = run_rules(*call)
        return _cards(findings), failed

    expected = [evaluate(call) for call in calls]
    with ThreadPoolExecutor(max_workers=4) as pool:
        for _ in range(3):
            assert list(pool.map(evaluate, calls)) == expected
