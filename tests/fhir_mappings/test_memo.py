"""The drug and value-set memos stay small whatever codes clients send (issue 15, finding 2).

In the review, 800 calls each carrying a unique ~1 MB code grew a worker by ~800 MB: the memos of
``drugs.classify_drug`` and ``ValueSetIndex.concepts_for`` kept every key. Here the classifiers are
called directly (no mapping-time cap in front) with 60 unique 100 KB codes and names, and the memory
still held afterwards is measured with tracemalloc.
"""

from __future__ import annotations

import gc
import tracemalloc
from collections.abc import Callable

import pytest

from fhir_mappings.codings import ICD10CM, RXNORM
from fhir_mappings.condition_sets import CONDITION_INDEX
from fhir_mappings.drugs import classify_drug
from fhir_mappings.memo import BoundedMemo, key_chars
from fhir_mappings.model import Code, MedClass


def retained_bytes(calls: Callable[[int], object], count: int) -> int:
    """Memory still allocated after ``calls(0..count-1)`` once their arguments are gone."""
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for i in range(count):
            calls(i)
        gc.collect()
        return tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()


def huge(i: int) -> str:
    return f"{i:06d}" + "9" * 100_000


@pytest.mark.parametrize("kind", ["code", "name"])
def test_unique_huge_medication_codes_and_names_are_not_remembered(kind: str) -> None:
    def classify(i: int) -> object:
        if kind == "code":
            return classify_drug((Code(RXNORM, huge(i)),), "rituximab")
        return classify_drug((), "rituximab " + huge(i))

    assert retained_bytes(classify, 60) < 1_000_000  # 60 × 100 KB = 6 MB if the memo kept them
    assert MedClass.ANTI_CD20 in classify_drug((Code(RXNORM, huge(0)),), "rituximab").classes


def test_unique_huge_condition_codes_are_not_remembered() -> None:
    def concepts(i: int) -> object:
        return CONDITION_INDEX.concepts_for([Code(ICD10CM, "D80.5" + huge(i))])

    assert retained_bytes(concepts, 60) < 1_000_000
    assert "hyper-igm" in CONDITION_INDEX.concepts_for([Code(ICD10CM, "D80.5")])


def test_the_memo_keeps_at_most_its_entries_oldest_forgotten_first() -> None:
    memo: BoundedMemo[str, int] = BoundedMemo(3, max_key_chars=10)
    for i, key in enumerate("abcd"):
        assert memo.remember(key, 1, i) == i
    assert len(memo) == 3 and memo.lookup("a") is None and memo.lookup("d") == 3
    assert memo.remember("long", 11, 9) == 9 and memo.lookup("long") is None
    assert key_chars([Code("s", "c", "dd")], "text") == 8
