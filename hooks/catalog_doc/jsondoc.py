"""The catalog as one JSON document (``igcds rules --format json``): the same sections, tables and
policy as the Markdown and HTML pages, with every text given as Markdown (policy values resolved)."""

from __future__ import annotations

from typing import Any

from ..knowledge.narrative import Entry
from .markdown import inline
from .model import Catalog, Cell, Entries, Prose, Table


def catalog_document(catalog: Catalog) -> dict[str, Any]:
    return {
        "title": catalog.title,
        "preamble": inline(catalog.preamble, catalog),
        "policy": [
            {"key": s.key, "value": s.value, "default": s.default, "changed": s.changed,
             "description": inline(s.description, catalog)}
            for s in catalog.policy
        ],
        "sections": [
            {"id": section.id, "title": section.title, "blocks": [_block(b, catalog) for b in section.blocks]}
            for section in catalog.sections
        ],
    }


def _block(block: Prose | Entries | Table, catalog: Catalog) -> dict[str, Any]:
    if isinstance(block, Prose):
        return {"type": "prose", "text": inline(block.text, catalog)}
    if isinstance(block, Entries):
        return {"type": "entries", "entries": [_entry(e, catalog) for e in block.entries]}
    return {
        "type": "table",
        "id": block.id,
        "title": block.title,
        "note": inline(block.note, catalog),
        "columns": list(block.columns),
        "rows": [
            {**({"anchor": row.anchor} if row.anchor else {}), "cells": [_cell(c, catalog) for c in row.cells]}
            for row in block.rows
        ],
    }


def _entry(entry: Entry, catalog: Catalog) -> dict[str, Any]:
    return {
        "id": entry.id,
        "title": entry.title,
        "text": inline(entry.text, catalog),
        "sources": [{"label": c.label, **({"url": c.url} if c.url else {})} for c in entry.sources],
    }


def _cell(cell: Cell, catalog: Catalog) -> dict[str, Any]:
    out: dict[str, Any] = {"text": inline(cell.text, catalog)}
    if cell.policy:
        out["policy"] = True
    if cell.default is not None:
        out["default"] = inline(cell.default, catalog)
    return out
