"""What one CDS Hooks call goes through, from a parsed body to a response document.

Kept apart from Flask (the views only parse HTTP and authenticate) so that ``igcds evaluate`` runs
exactly the same steps in-process. Order (docs/architecture.md "What a call goes through"): validate the envelope and
the hook's context, route by id *and* hook, check ``fhirServer`` against the caller's allowlist,
resolve prefetch (412 when required data cannot be had), run the handler, order the cards,
record them for audit (silenced cards included), and answer.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from .auth import AuthContext
from .cards import Card, ServiceResponse
from .config import Config
from .errors import InvalidRequest, UnknownService
from .extensions import AuditSink, CallRecord, IssuedCard, Metrics, NullAudit, NullMetrics
from .fhir_client import Deadline, FhirClient, FhirClientSettings, normalise_base
from .prefetch import resolve_prefetch
from .registry import HookRequest, Registry
from .schemas import context_errors, request_errors

log = logging.getLogger("igcds.call")

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class CallOutcome:
    document: dict[str, Any]
    service_id: str
    hook: str
    rule_ids: list[str] = field(default_factory=list)
    fhir_queries: int = 0
    #: The handler's ``ServiceResponse.issues`` (what it could not use), for the call's log line.
    issues: list[Mapping[str, str]] = field(default_factory=list)


def fhir_server_allowed(url: str, auth: AuthContext, config: Config) -> bool:
    """The request's fhirServer must be on the caller's list (``[[clients]] fhir_servers``), or, for a
    caller without one (dev mode), on ``[fhir] allowed_servers``. Being on loopback earns nothing: in dev
    mode a page or a local program could otherwise send igcds to any port of the developer's machine."""
    allowed = auth.fhir_servers if auth.fhir_servers is not None else config.fhir.allowed_servers
    base = normalise_base(url)
    return any(base == normalise_base(a) for a in allowed)


class CallRunner:
    """Runs validated CDS Hooks calls against a registry. One per application."""

    def __init__(
        self,
        config: Config,
        registry: Registry,
        *,
        audit: AuditSink | None = None,
        metrics: Metrics | None = None,
        clock: Clock = utc_now,
    ) -> None:
        self.config = config
        self.registry = registry
        self.audit = audit or NullAudit()
        self.metrics = metrics or NullMetrics()
        self.clock = clock
        self._fhir_settings = FhirClientSettings.from_config(config.fhir)

    def run(self, service_id: str, body: Any, auth: AuthContext) -> CallOutcome:
        if service_id not in self.registry.ids():
            raise UnknownService(f"no CDS service with id {service_id!r}")
        problem = request_errors(body)
        if problem:
            raise InvalidRequest(problem)
        hook = body["hook"]
        service = self.registry.find(service_id, hook)
        if service is None:
            served = ", ".join(self.registry.hooks_for(service_id))
            raise InvalidRequest(f"service {service_id!r} does not serve hook {hook!r} (it serves: {served})")
        context = body["context"]
        problem = context_errors(hook, context)
        if problem:
            raise InvalidRequest(problem)
        _check_selections(context)

        client, no_client_reason = self._fhir_client(body, auth)
        started = time.perf_counter()
        resolution = resolve_prefetch(
            service, context, body.get("prefetch"), client,
            max_pages=self.config.fhir.max_pages, no_client_reason=no_client_reason,
        )
        request = HookRequest(
            service_id=service_id,
            hook=hook,
            hook_instance=body["hookInstance"],
            context=context,
            data=resolution.data,
            unavailable=frozenset(resolution.unavailable),
            now=self.clock(),
            fhir_server=body.get("fhirServer"),
            fhir=client,
            settings=self.config.sections,
            client_issuer=auth.issuer,
            extension=body.get("extension"),
        )
        result = service.handler(request)
        response = result if isinstance(result, ServiceResponse) else ServiceResponse(cards=tuple(result))
        self._record(request, response.cards, response.silent_cards, auth)
        if response.skipped_resources:
            self.metrics.count_skipped(service_id, response.skipped_resources)
        if resolution.unavailable:
            log.info("prefetch keys unavailable", extra={
                "event": "prefetch_unavailable", "service": service_id,
                "keys": sorted(resolution.unavailable),
                "reasons": [resolution.reasons.get(k, "") for k in sorted(resolution.unavailable)],
            })
        if log.isEnabledFor(logging.DEBUG):
            log.debug("call resolved", extra={"event": "call_resolved", "service": service_id,
                                              "seconds": round(time.perf_counter() - started, 4)})
        document = response.to_json()
        return CallOutcome(
            document=document,
            service_id=service_id,
            hook=hook,
            rule_ids=[c.topic_code or "" for c in response.cards],
            fhir_queries=resolution.fetched,
            issues=list(response.issues),
        )

    def _fhir_client(self, body: Mapping[str, Any], auth: AuthContext) -> tuple[FhirClient | None, str]:
        server = body.get("fhirServer")
        if not server:
            return None, "no fhirServer in the request"
        if not fhir_server_allowed(server, auth, self.config):
            log.warning("fhirServer not on the allowlist", extra={
                "event": "fhir_server_refused", "issuer": auth.issuer or "dev"})
            if auth.fhir_servers is None:
                return None, "fhirServer is not on the allowlist ([fhir] allowed_servers)"
            return None, "fhirServer is not on this client's allowlist"
        token = (body.get("fhirAuthorization") or {}).get("access_token")
        return FhirClient(
            server,
            access_token=token,
            deadline=Deadline(self.config.fhir.deadline_s),
            settings=self._fhir_settings,
            metrics=self.metrics,
        ), ""

    def _record(self, request: HookRequest, shown: Sequence[Card], silent: Sequence[Card], auth: AuthContext) -> None:
        issued = [IssuedCard(c, True) for c in shown] + [IssuedCard(c, False) for c in silent]
        for item in issued:
            self.metrics.count_card(request.service_id, item.card.topic_code or "none",
                                    str(item.card.indicator))
        if not issued:
            return
        try:
            self.audit.record_call(CallRecord(
                service_id=request.service_id,
                hook=request.hook,
                hook_instance=request.hook_instance,
                patient_id=request.patient_id,
                at=request.now,
                cards=issued,
                issuer=auth.issuer,
                tenant=auth.tenant,
            ))
        except Exception:  # audit must never take the answer down with it
            log.exception("audit record failed", extra={"event": "audit_failed"})


def _check_selections(context: Mapping[str, Any]) -> None:
    selections = context.get("selections")
    if not selections:
        return
    present = set()
    for entry in context.get("draftOrders", {}).get("entry") or []:
        resource = entry.get("resource") if isinstance(entry, Mapping) else None
        if isinstance(resource, Mapping) and isinstance(resource.get("id"), str):
            present.add(f"{resource.get('resourceType')}/{resource['id']}")
    missing = [s for s in selections if s not in present]
    if missing:
        raise InvalidRequest(
            f"context.selections: {missing[0]!r} does not refer to an entry of context.draftOrders"
        )
