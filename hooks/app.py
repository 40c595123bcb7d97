"""Assembly: the one place that knows all three packages.

``build_app(config)`` hands igcds's service declarations, rule catalog and policy section to the
generic ``cds_service`` factory; ``main`` is the ``igcds`` console script; ``wsgi()`` is a gunicorn
entry point (``gunicorn 'hooks.app:wsgi()'``) reading ``$IGCDS_CONFIG``.
"""

from __future__ import annotations

from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from cds_service import Config, create_app, load_config
from cds_service.audit_buffer import BufferedAudit
from cds_service.cli import AppSpec
from cds_service.cli import main as cli_main
from cds_service.extensions import AuditSink, CardDirectory
from cds_service.feedback import FeedbackHandler, IssuedCards, card_wait_s
from cds_service.logs import configure_logging
from cds_service.metrics import PrometheusMetrics
from cds_service.openapi import openapi_provider
from cds_service.registry import Registry
from cds_service.relative_dates import expand
from cds_service.report import run_report
from cds_service.storage import Store

from .catalog import catalog_json
from .policy import Policy
from .services import SERVICES

APP_SECTIONS = {"policy": Policy}


def load(path: str | None = None, overrides: dict[str, Any] | None = None) -> Config:
    return load_config(path, app_sections=APP_SECTIONS, overrides=overrides)


def _version() -> str:
    try:
        return version("igcds")
    except PackageNotFoundError:  # running from a source tree without installing
        return "0+unknown"


def build_app(config: Config) -> Any:
    """The WSGI app: services, storage (audit + feedback), metrics, OpenAPI. Built once per worker."""
    configure_logging(config.logging.level, config.logging.json)
    metrics = PrometheusMetrics("igcds", services=sorted({s.id for s in SERVICES}))
    registry = Registry(SERVICES)
    store = Store.from_config(config)
    audit: AuditSink | None = None
    cards: CardDirectory | None = None
    degradation_checks = {"storage": store.readiness}
    if config.storage.audit and config.storage.audit_flush_ms > 0:  # spooled, off the request path
        audit = buffered = BufferedAudit.from_config(store, config, on_lost=metrics.count_audit_lost,
                                                     on_spool=metrics.observe_audit_spool)
        degradation_checks["audit"] = buffered.readiness
        cards = IssuedCards(store, buffered, wait_s=card_wait_s(config.storage.audit_flush_ms))
    elif config.storage.audit:  # audit_flush_ms = 0: written in the call
        audit = store
        cards = IssuedCards(store)
    return create_app(
        config,
        registry,
        catalog=catalog_json,
        audit=audit,
        feedback=FeedbackHandler(registry, store, metrics, cards=cards),
        metrics=metrics,
        openapi=openapi_provider(
            registry, title="igcds", version=_version(),
            description="CDS Hooks 2.0 decision support for immunoglobulin (IVIG/SCIG) therapy",
        ),
        degradation_checks=degradation_checks,
    )


def wsgi() -> Any:
    return build_app(load())


SPEC = AppSpec(
    prog="igcds",
    description="igcds: CDS Hooks 2.0 decision support for immunoglobulin (IVIG/SCIG) therapy",
    load_config=lambda path, overrides: load(path, overrides),
    build_app=build_app,
    catalog=catalog_json,
    expand_request=expand,
    report=lambda config, argv: run_report(config, argv, prog="igcds report"),
)


def main(argv: Sequence[str] | None = None) -> int:
    return cli_main(SPEC, argv)


if __name__ == "__main__":
    raise SystemExit(main())
