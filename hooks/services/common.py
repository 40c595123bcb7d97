"""The pipeline every igcds service runs: facts -> rules -> findings -> cards.

A rule that raises is a bug, but one rule's bug must not hide every other card: the exception is
logged with the rule id (no patient data) and that rule is reported in the response extension as
not evaluated, while the other rules still answer.

What could not be read is reported in the response extension ``org.igcds.processing``:
``skippedResources`` (how many resources were skipped, as before), ``resourceIssues`` (each skipped or
degraded resource: type, id, position, reason code, outcome) and ``unavailableData``; the same issues,
without ids, go to the per-call log line through ``ServiceResponse.issues``.

The rules of one call share one memo (``derive.cache.call_scope``): what several rules derive from
the same facts (the Ig doses, an order's indication and dose context, ...) is computed once per call.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from cds_service import Card, CardModelError, HookRequest, ServiceResponse
from fhir_mappings.model import Outcome, Skipped

from ..companion.links import smart_links
from ..derive.cache import call_scope
from ..facts import Facts, Rule, facts_from_request
from ..findings import Finding, render_card

log = logging.getLogger("igcds.rules")

EXTENSION_KEY = "org.igcds.processing"
#: At most this many resource issues in a response (the count of the others is given) and in a log line.
MAX_REPORTED_ISSUES = 100
MAX_LOGGED_ISSUES = 20


def run_rules(facts: Facts, rules: Sequence[Rule]) -> tuple[list[Finding], list[str]]:
    findings: list[Finding] = []
    failed: list[str] = []
    with call_scope():
        for rule in rules:
            try:
                findings.extend(rule(facts))
            except Exception:
                name = getattr(rule, "__name__", repr(rule))
                log.exception("rule failed", extra={"event": "rule_failed", "rule": name})
                failed.append(name)
    return _one_per_rule_and_order(findings), failed


def _one_per_rule_and_order(findings: list[Finding]) -> list[Finding]:
    """A rule fires at most once per order (docs/clinical-rules.md "Order rules")."""
    seen: set[tuple[str, str | None]] = set()
    unique = []
    for finding in findings:
        key = (finding.rule, finding.about)
        if key not in seen:
            seen.add(key)
            unique.append(finding)
    return unique


def respond(request: HookRequest, rules: Sequence[Rule]) -> ServiceResponse:
    facts = facts_from_request(request)
    findings, failed = run_rules(facts, rules)
    shown: list[Card] = []
    silent: list[Card] = []
    for finding in findings:
        try:
            card = render_card(finding, smart_links(finding, facts, request.settings.get("app")))
        except CardModelError:  # a bug in one rule's card must not take the other cards down
            log.exception("card rejected by the model", extra={"event": "card_invalid", "rule": finding.rule})
            failed.append(finding.rule)
            continue
        (silent if facts.policy.is_silent(finding.rule) else shown).append(card)
    problems = facts.record.skipped
    # One resource may be skipped for several reasons (a malformed value, hence no result): count resources.
    skipped = len({(p.resource_type, p.position, p.resource_id) for p in problems if p.outcome is Outcome.SKIPPED})
    extension: dict[str, object] = {}
    if skipped:
        extension["skippedResources"] = skipped
    if problems:
        extension["resourceIssues"] = [_issue(p, with_id=True) for p in problems[:MAX_REPORTED_ISSUES]]
        if len(problems) > MAX_REPORTED_ISSUES:
            extension["resourceIssuesOmitted"] = len(problems) - MAX_REPORTED_ISSUES
    if facts.record.unavailable:
        extension["unavailableData"] = sorted(facts.record.unavailable)
    if failed:
        extension["rulesNotEvaluated"] = failed
    return ServiceResponse(
        cards=tuple(shown),
        silent_cards=tuple(silent),
        extension={EXTENSION_KEY: extension} if extension else None,
        skipped_resources=skipped,
        issues=tuple(_issue(p, with_id=False) for p in problems[:MAX_LOGGED_ISSUES]),
    )


def _issue(problem: Skipped, *, with_id: bool) -> dict[str, str]:
    """One skipped or degraded resource as reported: type, id (response only: ids may embed a patient id,
    so the log gets the position alone), position, reason code, outcome. Never a value of the resource."""
    entry = {"resourceType": problem.resource_type}
    if with_id and problem.resource_id:
        entry["id"] = problem.resource_id
    if problem.position:
        entry["position"] = problem.position
    entry["reason"] = problem.reason
    entry["outcome"] = problem.outcome.value
    return entry
