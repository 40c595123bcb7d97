"""Every regular expression of the service runs in time linear in its input (issue 15, finding 1).

Medication, condition and allergy names, codes, ids, timestamps: everything a client sends may reach a
pattern, and Python's ``re`` backtracks. One pattern that backtracks quadratically
(``\\s*\\([^)]*\\)`` on ``"estradiol)" + " " * N + "y"``) let a 259 KB call kill a worker. So this
module checks *every* pattern of ``cds_service``, ``fhir_mappings`` and ``hooks``, not a list someone
has to keep up to date:

* the patterns are found by reflection: every compiled pattern reachable from the packages' module
  globals (tables of tuples, dicts and dataclass instances included) and every ``"pattern"`` of the
  request and feedback JSON schemas, compiled the way the validators compile it;
* a source check makes sure none can hide from that: the packages never call ``re.search`` and friends
  with a pattern string, and compile patterns only at module level (or in the ``__post_init__`` of a
  data class whose instances are module-level tables);
* each pattern is fed adversarial inputs built from its own literals (``"trimethoprim" * k``,
  ``"rho" + " " * k + "y"``, ``"(" * k``, ...) at two sizes, 16x apart, one input shape at a time.
  Linear work grows ~16x (measured up to ~25x with noise), quadratic up to 256x (the patterns this
  issue replaced measured 37-400x, the least a TMP-SMX pattern among ten other alternatives); an
  input whose work grows more than 36x is measured again, slowly, before the test fails. Work is the
  thread's CPU time (other processes on a shared machine do not count) and the figure compared is a
  growth ratio measured in this process, never an absolute time.
"""

from __future__ import annotations

import ast
import dataclasses
import enum
import functools
import importlib
import pkgutil
import re
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from re import _constants as sre_c  # type: ignore[attr-defined]
from re import _parser as sre_parse  # type: ignore[attr-defined]
from types import ModuleType

import pytest

from cds_service.schemas import schema_regex

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("cds_service", "fhir_mappings", "hooks")

#: Functions that may compile a pattern outside module level, and why their patterns are still found.
COMPILING_FUNCTIONS = {
    ("fhir_mappings/valuesets.py", "__post_init__"): "Keyword tables are module-level (condition_sets.py)",
    ("fhir_mappings/drugs.py", "__post_init__"): "IgProduct instances are the module-level IG_PRODUCTS",
    ("cds_service/schemas.py", "schema_regex"): "the schemas' patterns are collected from the schemas",
}
#: ``re`` functions that take a pattern string and compile it behind the caller's back.
_STRING_PATTERN_FUNCTIONS = {"search", "match", "fullmatch", "sub", "subn", "split", "findall", "finditer"}


def _modules() -> Iterator[ModuleType]:
    for name in PACKAGES:
        package = importlib.import_module(name)
        yield package
        for info in pkgutil.walk_packages(package.__path__, name + "."):
            yield importlib.import_module(info.name)


def _ours(obj: object) -> bool:
    return (getattr(type(obj), "__module__", "") or "").split(".")[0] in PACKAGES


def discovered_patterns() -> dict[str, re.Pattern[str]]:
    """Every pattern reachable from the packages' module globals, named by where it was found."""
    found: dict[str, re.Pattern[str]] = {}
    seen: set[int] = set()

    def visit(obj: object, where: str, depth: int = 0) -> None:
        if id(obj) in seen or depth > 12 or isinstance(obj, str | bytes | int | float | enum.Enum):
            return
        seen.add(id(obj))
        if isinstance(obj, re.Pattern):
            if isinstance(obj.pattern, str):
                found.setdefault(obj.pattern, obj)
            return
        if isinstance(obj, Mapping):
            for key, value in obj.items():
                if key == "pattern" and isinstance(value, str):
                    found.setdefault(f"schema {value}", schema_regex(value))
                else:
                    visit(value, f"{where}[{key!r}]", depth + 1)
        elif isinstance(obj, list | tuple | set | frozenset):
            for item in obj:
                visit(item, where, depth + 1)
        elif dataclasses.is_dataclass(obj) and not isinstance(obj, type) and _ours(obj):
            for field in dataclasses.fields(obj):
                visit(getattr(obj, field.name, None), f"{where}.{field.name}", depth + 1)
        elif isinstance(obj, type) and obj.__module__.split(".")[0] in PACKAGES:
            for name, value in vars(obj).items():
                if not name.startswith("__"):
                    visit(value, f"{where}.{name}", depth + 1)

    for module in _modules():
        for name, value in vars(module).items():
            if not isinstance(value, ModuleType):
                visit(value, f"{module.__name__}.{name}")
    return found


def test_patterns_are_compiled_where_reflection_finds_them() -> None:
    offences: list[str] = []
    for package in PACKAGES:
        for path in sorted((REPO / package).rglob("*.py")):
            relative = path.relative_to(REPO).as_posix()
            tree = ast.parse(path.read_text(encoding="utf-8"))
            for function in [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)]:
                for node in ast.walk(function):
                    if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                            and isinstance(node.func.value, ast.Name) and node.func.value.id == "re"
                            and node.func.attr == "compile"
                            and (relative, function.name) not in COMPILING_FUNCTIONS):
                        offences.append(f"{relative}:{node.lineno} re.compile inside {function.name}()")
            for node in ast.walk(tree):
                if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                        and isinstance(node.func.value, ast.Name) and node.func.value.id == "re"
                        and node.func.attr in _STRING_PATTERN_FUNCTIONS):
                    offences.append(f"{relative}:{node.lineno} re.{node.func.attr}(<pattern string>, ...)")
    assert not offences, "compile patterns at module level so that the linearity test finds them:\n" + "\n".join(
        offences)


def test_reflection_finds_the_patterns_that_read_client_text() -> None:
    """Sanity: the discovery reaches into the knowledge tables and the schemas."""
    patterns = discovered_patterns()
    sources = " ".join(patterns)
    for expected in ("trimethoprim", "gammagard", "privigen", "stem", "anti[- ]?iga", "positive", "intravenous",
                     "plasmapheresis", "schema ^[A-Za-z0-9\\-\\.]{1,64}$", "[Zz]", "A-Za-z0-9._-"):
        assert expected in sources, expected
    assert len(patterns) >= 60, len(patterns)


# ----------------------------------------------------------------------------------------------
# Adversarial inputs and growth ratios
# ----------------------------------------------------------------------------------------------

_CATEGORY_SAMPLE = {sre_c.CATEGORY_DIGIT: "1", sre_c.CATEGORY_SPACE: " ", sre_c.CATEGORY_WORD: "a"}
_EXTRAS = (" ", "(", ")", "|", "a", "1", ".", "-", ":", "{", "}", "\n")
_SEPARATOR = "\n|)]}>\n"
BASE = 400
GROWTH = 16
SUSPICIOUS = 36.0


def literals_of(pattern: re.Pattern[str]) -> list[str]:
    """The pattern's literal runs and a sample character of each character class, longest first."""
    out: set[str] = set()

    def walk(items: object) -> None:
        run = ""
        for op, av in items:  # type: ignore[attr-defined]
            if op is sre_c.LITERAL:
                run += chr(av)
                continue
            if run:
                out.add(run)
                run = ""
            if op is sre_c.IN:
                for sub_op, sub_av in av:
                    if sub_op is sre_c.LITERAL:
                        out.add(chr(sub_av))
                    elif sub_op is sre_c.RANGE:
                        out.add(chr(sub_av[0]))
                    elif sub_op is sre_c.CATEGORY:
                        out.add(_CATEGORY_SAMPLE.get(sub_av, "a"))
            elif op in (sre_c.MAX_REPEAT, sre_c.MIN_REPEAT, sre_c.POSSESSIVE_REPEAT):
                walk(av[2])
            elif op is sre_c.SUBPATTERN:
                walk(av[3])
            elif op is sre_c.BRANCH:
                for branch in av[1]:
                    walk(branch)
            elif op in (sre_c.ASSERT, sre_c.ASSERT_NOT):
                walk(av[1])
            elif op is sre_c.ATOMIC_GROUP:
                walk(av)
        if run:
            out.add(run)

    walk(sre_parse.parse(pattern.pattern, pattern.flags))
    return sorted(out, key=lambda s: (-len(s), s))


#: Inputs that make a backtracking engine rescan: the seed repeated, spaced, followed by a long run of
#: spaces, letters or brackets that almost continues a match, and the seed after such a run.
SHAPES: tuple[Callable[[str, int], str], ...] = (
    lambda seed, size: seed * max(1, size // len(seed)),
    lambda seed, size: (seed + " ") * max(1, size // (len(seed) + 1)),
    lambda seed, size: seed + " " * size + "y",
    lambda seed, size: seed + "a" * size + "!",
    lambda seed, size: seed + "(" * size,
    lambda seed, size: (seed + "|") * max(1, size // (len(seed) + 1)) + _SEPARATOR,
    lambda seed, size: " " * size + seed,
)


def _work(pattern: re.Pattern[str], text: str, floor_s: float) -> float:
    """Seconds per full scan of ``text`` (every match found, as ``sub``/``finditer`` do), repeated until
    ``floor_s`` has passed so that short scans are measured above the clock's noise."""
    runs, started = 0, time.thread_time()
    while True:
        for _ in pattern.finditer(text):
            pass
        runs += 1
        elapsed = time.thread_time() - started
        if elapsed >= floor_s:
            return elapsed / runs


def growth(pattern: re.Pattern[str], text: Callable[[int], str], floor_s: float, tries: int) -> float:
    small, large = text(BASE), text(BASE * GROWTH)
    return min(_work(pattern, large, floor_s) / _work(pattern, small, floor_s) for _ in range(tries))


PATTERNS = discovered_patterns()


@pytest.mark.parametrize("source", sorted(PATTERNS))
def test_pattern_work_grows_linearly(source: str) -> None:
    pattern = PATTERNS[source]
    seeds = list(dict.fromkeys([*literals_of(pattern)[:16], *_EXTRAS]))
    slow = []
    for seed in seeds:
        for number, shape in enumerate(SHAPES):
            text = functools.partial(shape, seed)
            if growth(pattern, text, floor_s=0.0001, tries=1) > SUSPICIOUS:
                ratio = growth(pattern, text, floor_s=0.01, tries=3)  # a second, slower look before failing
                if ratio > SUSPICIOUS:
                    slow.append(f"{seed!r} (shape {number}): x{ratio:.0f} work for x{GROWTH} input")
    assert not slow, f"{pattern.pattern!r} backtracks super-linearly on: " + "; ".join(slow)
