"""Assembly: the one place that knows all three packages.

``build_app(config)`` hands igcds's service declarations, rule catalog and policy section to the
generic ``cds_service`` factory; ``main`` is the ``igcds`` console script; ``wsgi()`` is a gunicorn
entry point (``gunicorn 'hooks.app:wsgi()'``) reading ``$IGCDS_CONFIG``.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Sequence
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
from fhir_mappings.validation import prepare as prepare_reading

from .catalog import catalog_json
from .catalog_doc import RENDERERS, render
from .companion.settings import AppSettings
from .policy import Policy
from .services import SERVICES

APP_SECTIONS = {"policy": Policy, "app": AppSettings}


def load(path: str | None = None, overrides: dict[str, Any] | None = None) -> Config:
    return load_config(path, app_sections=APP_SECTIONS, overrides=overrides)


def _version() -> str:
    try:
        return version("igcds")
    except PackageNotFoundError:  # running from a source tree without installing
        return "0+unknown"


def render_catalog(config: Config, fmt: str) -> str:
    """The whole catalog under the configuration's site policy (``igcds rules --format``)."""
    return render(config.section("policy"), fmt)


def catalog_page(config: Config) -> Callable[[], str]:
    """``GET /rules`` as HTML: built on the first request (the configuration never changes in a
    running worker), then served from memory."""
    return functools.cache(functools.partial(render_catalog, config, "html"))


def _with_companion(config: Config) -> tuple[Config, list[Any], dict[str, Any], dict[str, Any], list[Any]]:
    """The companion app's parts when ``[app] enabled``: the config with the app's launch URL filled in
    (the services put it on their cards), the services with their discovery extension, the OpenAPI
    paths and schemas, and the blueprint."""
    settings: AppSettings = config.section("app")
    if not settings.enabled:
        return config, list(SERVICES), {}, {}, []
    from .companion.describe import APP_CONTEXT_SCHEMA, discovery_extension, openapi_paths
    from .companion.views import companion_blueprint

    settings = settings.with_base_url(config.server.public_base_url)
    config = config.with_changes(sections={**config.sections, "app": settings})
    extension = discovery_extension(settings)
    services = [dataclasses.replace(s, extension={**(s.extension or {}), **extension}) for s in SERVICES]
    return (config, services, openapi_paths(settings), {"CompanionAppContext": APP_CONTEXT_SCHEMA},
            [companion_blueprint(config)])


def build_app(config: Config) -> Any:
    """The WSGI app: services, storage (audit + feedback), metrics, OpenAPI, and the companion app when
    enabled. Built once per worker."""
    configure_logging(config.logging.level, config.logging.json)
    prepare_reading()  # the FHIR element tables, built now rather than in the first call
    config, services, app_paths, app_schemas, blueprints = _with_companion(config)
    metrics = PrometheusMetrics("igcds", services=sorted({s.id for s in services}))
    registry = Registry(services)
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
        catalog_html=catalog_page(config),
        audit=audit,
        feedback=FeedbackHandler(registry, store, metrics, cards=cards),
        metrics=metrics,
        openapi=openapi_provider(
            registry, title="igcds", version=_version(),
            description="CDS Hooks 2.0 decision support for immunoglobulin (IVIG/SCIG) therapy",
            extra_paths=app_paths, extra_schemas=app_schemas,
        ),
        degradation_checks=degradation_checks,
        blueprints=blueprints,
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
    render_catalog=render_catalog,
    catalog_formats=tuple(RENDERERS),
)


def main(argv: Sequence[str] | None = None) -> int:
    return cli_main(SPEC, argv)


if __name__ == "__main__":
    raise SystemExit(main())
