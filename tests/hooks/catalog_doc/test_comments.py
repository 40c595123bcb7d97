"""The ``#:`` comments the catalog reads from the code: one per value, shared by a group of fields."""

from __future__ import annotations

import importlib.util
import sys
import textwrap

from hooks.catalog_doc.comments import assignment_order, attribute_comments

SOURCE = textwrap.dedent('''
    from dataclasses import dataclass

    #: Days a loading course may last.
    LOADING_MAX_DAYS = 5
    UNDOCUMENTED = 3

    # a plain comment documents nothing
    PLAIN = 1


    @dataclass(frozen=True)
    class SitePolicy:
        #: Trough window in days (catalog decision).
        trough_days: int = 90
        #: Loading course (seed 003): ``loading_mg_kg`` a day for at most
        #: ``loading_days`` days.
        loading_mg_kg: float = 150.0
        loading_days: int = 5

        unrelated: int = 0
''')


def load(tmp_path, monkeypatch):
    path = tmp_path / "policy_under_test.py"
    path.write_text(SOURCE)
    spec = importlib.util.spec_from_file_location("policy_under_test", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "policy_under_test", module)  # where inspect finds a class's file
    spec.loader.exec_module(module)
    return module


def test_a_comment_documents_the_value_under_it_and_the_group_written_right_after(tmp_path, monkeypatch):
    module = load(tmp_path, monkeypatch)
    fields = attribute_comments(module.SitePolicy)
    loading = "Loading course (seed 003): ``loading_mg_kg`` a day for at most ``loading_days`` days."
    assert fields == {"trough_days": "Trough window in days (catalog decision).",
                      "loading_mg_kg": loading, "loading_days": loading}


def test_module_constants_and_their_order(tmp_path, monkeypatch):
    module = load(tmp_path, monkeypatch)
    assert attribute_comments(module) == {"LOADING_MAX_DAYS": "Days a loading course may last.",
                                          "UNDOCUMENTED": "Days a loading course may last."}
    assert assignment_order(module) == ["LOADING_MAX_DAYS", "UNDOCUMENTED", "PLAIN"]
