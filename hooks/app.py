"""Assembly: the one place that knows all three packages.

``build_app(config)`` hands igcds's service declarations, rule catalog and policy section to the
generic ``cds_service`` factory; ``main`` is the ``igcds`` console script; ``wsgi()`` is a gunicorn
entry point (``gunicorn 'hooks.app:wsgi()'``) reading ``$IGCDS_CONFIG``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from cds_service import Config, create_app, load_config
from cds_service.cli import AppSpec
from cds_service.cli import main as cli_main
from cds_service.logs import configure_logging
from cds_service.relative_dates import expand

from .catalog import catalog_json
from .policy import Policy
from .services import SERVICES

APP_SECTIONS = {"policy": Policy}


def load(path: str | None = None, overrides: dict[str, Any] | None = None) -> Config:
    return load_config(path, app_sections=APP_SECTIONS, overrides=overrides)


def build_app(config: Config) -> Any:
    configure_logging(config.logging.level, config.logging.json)
    return create_app(config, SERVICES, catalog=catalog_json)


def wsgi() -> Any:
    return build_app(load())


def _expand(body: Any, now: datetime) -> Any:
    return expand(body, now)


SPEC = AppSpec(
    prog="igcds",
    description="igcds: CDS Hooks 2.0 decision support for immunoglobulin (IVIG/SCIG) therapy",
    load_config=lambda path, overrides: load(path, overrides),
    build_app=build_app,
    catalog=catalog_json,
    expand_request=_expand,
)


def main(argv: Sequence[str] | None = None) -> int:
    return cli_main(SPEC, argv)


if __name__ == "__main__":
    raise SystemExit(main())
