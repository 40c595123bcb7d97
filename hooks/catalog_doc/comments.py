"""The ``#:`` comments written above module constants and dataclass fields, read from the source.

The convention Sphinx's autodoc reads: a block of ``#:`` lines directly above an assignment documents
it. Fields written right under it, with no blank line or comment between (a group such as
``scig_loading_mg_kg_per_day``, ``scig_loading_max_days``, ``scig_loading_tolerance``), share it. The
catalog uses them to describe knowledge values and policy keys that have no separate note, so a value
added to a knowledge module shows up documented without anyone editing the catalog.
"""

from __future__ import annotations

import ast
import functools
import inspect
import textwrap
from types import ModuleType


@functools.cache
def attribute_comments(owner: ModuleType | type) -> dict[str, str]:
    """``{name: comment}`` for the assignments directly in ``owner`` (a module or a class body)."""
    try:
        source = inspect.getsource(owner)
    except (OSError, TypeError):  # no source shipped: no comments, not an error
        return {}
    source = textwrap.dedent(source)
    lines = source.splitlines()
    tree = ast.parse(source)
    body = tree.body[0].body if isinstance(owner, type) and isinstance(tree.body[0], ast.ClassDef) else tree.body
    found: dict[str, str] = {}
    group: str | None = None
    previous_end = -1
    for node in body:
        names = _assigned_names(node)
        if not names:
            group = None
            continue
        comment: list[str] = []
        index = node.lineno - 2
        while index >= 0 and lines[index].strip().startswith("#:"):
            comment.insert(0, lines[index].strip()[2:].strip())
            index -= 1
        if comment:
            group = " ".join(comment)
        elif node.lineno - 1 != previous_end:  # a blank line, a plain comment or code in between
            group = None
        previous_end = node.end_lineno or node.lineno
        if group:
            for name in names:
                found[name] = group
    return found


def _assigned_names(node: ast.stmt) -> list[str]:
    if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
        return [node.target.id]
    if isinstance(node, ast.Assign):
        return [t.id for t in node.targets if isinstance(t, ast.Name)]
    return []


def assignment_order(module: ModuleType) -> list[str]:
    """Names assigned at the top level of ``module``, in source order (the order a reader meets them)."""
    try:
        tree = ast.parse(inspect.getsource(module))
    except (OSError, TypeError):
        return sorted(vars(module))
    names: list[str] = []
    for node in tree.body:
        for name in _assigned_names(node):
            if name not in names:
                names.append(name)
    return names


def rst_to_markup(text: str) -> str:
    """Docstring-style double backticks (````x````) to the catalog's single-backtick code spans."""
    return text.replace("``", "`")
