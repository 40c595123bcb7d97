"""The clinical catalog as a document: built from the rule registry, the knowledge tables and the
site policy (``build.py``), rendered to Markdown (``docs/clinical-rules.md``), HTML (``GET /rules``
for a browser) and JSON (``igcds rules --format json``)."""

from __future__ import annotations

from collections.abc import Callable

import orjson

from ..policy import Policy
from .build import REGENERATE as REGENERATE
from .build import build_catalog as build_catalog
from .html import render_html as render_html
from .jsondoc import catalog_document as catalog_document
from .markdown import render_markdown as render_markdown
from .model import Catalog as Catalog


def render_json(catalog: Catalog) -> str:
    return orjson.dumps(catalog_document(catalog), option=orjson.OPT_INDENT_2).decode() + "\n"


RENDERERS: dict[str, Callable[[Catalog], str]] = {
    "markdown": render_markdown,
    "html": render_html,
    "json": render_json,
}


def render(policy: Policy, fmt: str) -> str:
    """The catalog under ``policy`` in ``fmt`` (``markdown``, ``html`` or ``json``)."""
    return RENDERERS[fmt](build_catalog(policy))
