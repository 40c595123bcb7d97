"""Declarative service registry: the single source of discovery, routing and prefetch.

A service is declared once (id, hook, title, description, prefetch templates, handler), validated
at start-up, and everything else is derived from the declaration: the discovery document, the
routing of ``POST /cds-services/{id}`` by id *and* hook (spec D8), and which prefetch keys must be
resolved before the handler runs. Invalid declarations stop start-up with :class:`RegistryError`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from .cards import Card, ServiceResponse
from .errors import RegistryError

#: Hooks of the CDS Hooks Library (STU1 1.0.1) and the context fields each marks "Prefetch Token:
#: Yes". Only root-level primitive fields may be tokens (docs/conformance.md §3.3 T4-T6).
HOOK_PREFETCH_TOKENS: Mapping[str, frozenset[str]] = {
    "patient-view": frozenset({"userId", "patientId", "encounterId"}),
    "order-select": frozenset({"userId", "patientId", "encounterId"}),
    "order-sign": frozenset({"userId", "patientId", "encounterId"}),
    "order-dispatch": frozenset({"patientId", "dispatchedOrders", "performer"}),
    "encounter-start": frozenset({"userId", "patientId", "encounterId"}),
    "encounter-discharge": frozenset({"userId", "patientId", "encounterId"}),
    "appointment-book": frozenset({"userId", "patientId", "encounterId"}),
    "medication-prescribe": frozenset({"userId", "patientId", "encounterId"}),
}

#: User tokens valid in every hook (docs/conformance.md §3.3 T4, T7).
USER_TOKENS = frozenset({"userPractitionerId", "userPractitionerRoleId", "userPatientId", "userRelatedPersonId"})

#: ``{{ token }}``, the token without the spaces around it. Written with possessive quantifiers (each
#: character read once) instead of the lazy ``\{\{\s*([^{}]*?)\s*\}\}``, which meant the same but
#: backtracked quadratically on "{{" and a long run of spaces (tests/test_client_text_patterns.py).
TOKEN_PATTERN = re.compile(r"\{\{\s*+([^{}\s]*+(?:\s++[^{}\s]++)*+)\s*+\}\}")
_ABSOLUTE = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
_SERVICE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


class FhirReader(Protocol):
    """Read access to the EHR's FHIR server for what prefetch cannot carry (e.g. a Medication)."""

    def read(self, reference: str) -> Mapping[str, Any] | None: ...


@dataclass(frozen=True, slots=True)
class Prefetch:
    """One prefetch template.

    ``required``: without this data the service cannot answer safely, so it answers 412 when the
    data is neither prefetched nor obtainable. ``paged``: follow a searchset's ``next`` links
    (bounded by ``[fhir] max_pages``) because rules need more than the first page.
    """

    template: str
    required: bool = True
    paged: bool = False


@dataclass(frozen=True, slots=True)
class HookRequest:
    """A validated CDS Hooks call with its data resolved, as a handler sees it."""

    service_id: str
    hook: str
    hook_instance: str
    context: Mapping[str, Any]
    #: Prefetch key -> resolved value (a resource, a Bundle with all pages merged, or ``None``
    #: when the client said "no data").
    data: Mapping[str, Any]
    #: Keys whose data could not be obtained (OperationOutcome, fetch failed); never required keys.
    unavailable: frozenset[str]
    now: datetime
    fhir_server: str | None = None
    fhir: FhirReader | None = None
    #: Application configuration sections (e.g. ``policy``).
    settings: Mapping[str, Any] = field(default_factory=dict)
    #: The authenticated client's issuer (None in dev mode).
    client_issuer: str | None = None
    extension: Mapping[str, Any] | None = None

    @property
    def patient_id(self) -> str | None:
        value = self.context.get("patientId")
        return value if isinstance(value, str) else None


Handler = Callable[[HookRequest], "ServiceResponse | Sequence[Card]"]


@dataclass(frozen=True, slots=True)
class ServiceDefinition:
    id: str
    hook: str
    title: str
    description: str
    handler: Handler
    prefetch: Mapping[str, Prefetch] = field(default_factory=dict)
    usage_requirements: str | None = None
    #: Discovery ``extension`` (CDS Hooks 2.0 lets a service describe itself further), e.g. an app its
    #: cards link to. Keys should be globally unique (reverse-DNS).
    extension: Mapping[str, Any] | None = None

    def discovery_entry(self) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "hook": self.hook,
            "id": self.id,
            "title": self.title,
            "description": self.description,
        }
        if self.prefetch:
            entry["prefetch"] = {key: p.template for key, p in self.prefetch.items()}
        if self.usage_requirements:
            entry["usageRequirements"] = self.usage_requirements
        if self.extension:
            entry["extension"] = dict(self.extension)
        return entry


def template_tokens(template: str) -> list[str]:
    return [m.group(1) for m in TOKEN_PATTERN.finditer(template)]


def validate_template(template: str, hook: str) -> None:
    """Raise :class:`RegistryError` unless every token is valid CDS Hooks 2.0 for ``hook``."""
    if template.startswith("/") or _ABSOLUTE.match(template):
        raise RegistryError(f"prefetch template must be a relative FHIR URL: {template!r}")
    stripped = TOKEN_PATTERN.sub("", template)
    if "{{" in stripped or "}}" in stripped:
        raise RegistryError(f"unbalanced token braces in prefetch template {template!r}")
    allowed = HOOK_PREFETCH_TOKENS[hook]
    for token in template_tokens(template):
        if token in USER_TOKENS:
            continue
        if token.startswith("context."):
            name = token[len("context."):]
            if name in allowed:
                continue
            raise RegistryError(
                f"prefetch token {{{{{token}}}}} is not a prefetch token of hook {hook!r} "
                f"(allowed: {', '.join(sorted(allowed))}, and the user tokens)"
            )
        raise RegistryError(f"prefetch token {{{{{token}}}}} is not a CDS Hooks 2.0 token")


class Registry:
    """An immutable-after-start collection of services, looked up by (id, hook)."""

    def __init__(self, services: Iterable[ServiceDefinition] = ()) -> None:
        self._services: dict[tuple[str, str], ServiceDefinition] = {}
        for service in services:
            self.add(service)

    def add(self, service: ServiceDefinition) -> None:
        if not _SERVICE_ID.fullmatch(service.id):
            raise RegistryError(f"invalid service id {service.id!r}: use letters, digits, '.', '_' or '-'")
        if service.hook not in HOOK_PREFETCH_TOKENS:
            raise RegistryError(f"service {service.id!r}: unknown hook {service.hook!r}")
        if (service.id, service.hook) in self._services:
            raise RegistryError(f"service id {service.id!r} is declared twice for hook {service.hook!r}")
        for text, what in ((service.title, "title"), (service.description, "description")):
            if not text or not text.strip():
                raise RegistryError(f"service {service.id!r}: {what} must not be empty")
        if not callable(service.handler):
            raise RegistryError(f"service {service.id!r}: handler is not callable")
        for key, spec in service.prefetch.items():
            if not key or not isinstance(spec, Prefetch):
                raise RegistryError(f"service {service.id!r}: prefetch {key!r} must be a Prefetch")
            try:
                validate_template(spec.template, service.hook)
            except RegistryError as exc:
                raise RegistryError(f"service {service.id!r}, prefetch {key!r}: {exc}") from None
        self._services[(service.id, service.hook)] = service

    def service(
        self,
        id: str,
        *,
        hook: str,
        title: str,
        description: str,
        prefetch: Mapping[str, Prefetch | str] | None = None,
        usage_requirements: str | None = None,
    ) -> Callable[[Handler], Handler]:
        """Decorator form: ``@registry.service("my-id", hook="patient-view", ...)``."""

        def register(handler: Handler) -> Handler:
            specs = {k: v if isinstance(v, Prefetch) else Prefetch(v) for k, v in (prefetch or {}).items()}
            self.add(ServiceDefinition(id, hook, title, description, handler, specs, usage_requirements))
            return handler

        return register

    def __iter__(self) -> Iterator[ServiceDefinition]:
        # Sorted so GET /cds-services is deterministic (as HAPI does).
        return iter(sorted(self._services.values(), key=lambda s: (s.id, s.hook)))

    def __len__(self) -> int:
        return len(self._services)

    def ids(self) -> set[str]:
        return {sid for sid, _ in self._services}

    def find(self, service_id: str, hook: str) -> ServiceDefinition | None:
        return self._services.get((service_id, hook))

    def hooks_for(self, service_id: str) -> list[str]:
        return sorted(h for sid, h in self._services if sid == service_id)

    def discovery(self) -> dict[str, Any]:
        return {"services": [s.discovery_entry() for s in self]}
