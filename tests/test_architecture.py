"""The architecture holds: dependencies point one way, and the catalog matches the code.

* ``cds_service`` never imports ``hooks`` or ``fhir_mappings`` (it knows no immunology);
* ``fhir_mappings`` never imports ``cds_service`` or ``hooks`` (it knows no CDS Hooks or HTTP);
* every rule id of the registry is in the generated catalog, implemented by a rule module, and tested;
* the committed ``docs/clinical-rules.md`` is what the generator writes today;
* the repository stands alone: no file refers to documents beside it.
"""

from __future__ import annotations

import ast
import re
import subprocess
from pathlib import Path

import pytest

from hooks.catalog import CATALOG, RULES_BY_ID
from hooks.services.rulesets import ORDER_RULES, PATIENT_VIEW_RULES

REPO = Path(__file__).resolve().parents[1]
CLINICAL_RULES = REPO / "docs" / "clinical-rules.md"


def imported_packages(package: str) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for path in (REPO / package).rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        names: set[str] = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
        found[str(path.relative_to(REPO))] = names
    return found


@pytest.mark.parametrize("package, forbidden", [
    ("cds_service", {"hooks", "fhir_mappings"}),
    ("fhir_mappings", {"cds_service", "hooks"}),
])
def test_dependencies_point_one_way(package, forbidden):
    offenders = {path: sorted(names & forbidden) for path, names in imported_packages(package).items()
                 if names & forbidden}
    assert not offenders, f"{package} must not import {sorted(forbidden)}: {offenders}"


def catalog_rule_ids(markdown: str) -> list[str]:
    """The rule ids of the rule tables of the catalog (the first cell of each row)."""
    return sorted(set(re.findall(r"^\| `((?:order|pv)-[a-z0-9-]+)`: ", markdown, flags=re.M)))


def test_every_rule_id_of_the_registry_is_in_the_generated_catalog():
    from hooks.catalog_doc import render_markdown
    from hooks.catalog_doc.build import build_catalog
    from hooks.policy import Policy

    assert len(CATALOG) == len(RULES_BY_ID), "duplicate rule id in the registry"
    assert catalog_rule_ids(render_markdown(build_catalog(Policy()))) == sorted(RULES_BY_ID)
    assert catalog_rule_ids(CLINICAL_RULES.read_text(encoding="utf-8")) == sorted(RULES_BY_ID), (
        f"{CLINICAL_RULES.relative_to(REPO)} does not list every rule of hooks/catalog.py: run `make catalog`")


def test_committed_catalog_is_the_generators_output():
    from hooks.catalog_doc import render
    from hooks.policy import Policy

    committed = CLINICAL_RULES.read_text(encoding="utf-8") if CLINICAL_RULES.exists() else ""
    assert committed == render(Policy(), "markdown"), (
        "docs/clinical-rules.md is stale: it is generated from the rule registry and the knowledge tables. "
        "Regenerate it with `make catalog` (which runs `env -i PATH=\"$PATH\" .venv/bin/igcds rules --format "
        "markdown --output docs/clinical-rules.md`) and commit the result."
    )


def tracked_files() -> list[Path]:
    """The repository's own files: what git tracks, or (outside a git checkout) every file but
    virtual environments, caches and run data."""
    try:
        listed = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=True, timeout=30)
        return [REPO / name for name in listed.stdout.decode().split("\0") if name]
    except (OSError, subprocess.SubprocessError):
        skip = {".git", ".venv", ".venv-fhir", ".test-run", "__pycache__", "data", "node_modules"}
        return [p for p in REPO.rglob("*") if p.is_file() and not skip & set(p.relative_to(REPO).parts)
                and not any(part.endswith(".egg-info") for part in p.parts)]


def test_no_file_refers_to_documents_beside_the_repository():
    # The spec documents the project was built from live beside it, not in it: cite docs/ instead.
    beside = re.compile(r"(?:\.\./|/work/)" + "shared" + r"\b|" + "shared" + "/|"
                        + r"\b(?:" + "RULES|DESIGN|STYLE" + r")\.md\b|\breference/(?:" + "clinical-facts|cds-hooks" + ")")
    offenders = []
    for path in tracked_files():
        if not path.is_file() or path.stat().st_size > 2_000_000:
            continue
        text = path.read_bytes().decode("utf-8", errors="ignore")
        offenders += [f"{path.relative_to(REPO)}:{n}" for n, line in enumerate(text.splitlines(), 1)
                      if beside.search(line)]
    assert not offenders, f"the repository must stand alone; these lines point outside it: {offenders}"


def test_every_registry_rule_has_its_catalog_text():
    from hooks.knowledge.rule_text import RULE_TEXT

    missing = [spec.id for spec in CATALOG if spec.id not in RULE_TEXT]
    assert not missing, f"rules without trigger and card text in hooks/knowledge/rule_text.py: {missing}"


def theme_files(theme: str) -> list[Path]:
    """The files of a theme: the module ``hooks/<theme>.py`` (and ``hooks/<theme>*.py`` beside it), or the
    package ``hooks/<theme>/*.py`` once a theme has grown into small modules. Never both: Python would
    import the package and silently ignore the module."""
    module, package = REPO / "hooks" / f"{theme}.py", REPO / "hooks" / theme
    assert not (module.exists() and package.is_dir()), f"hooks/{theme}.py and hooks/{theme}/ both exist"
    if package.is_dir():
        assert (package / "__init__.py").exists(), f"hooks/{theme}/ is not a package"
        return sorted(package.glob("*.py"))
    assert module.exists(), f"no theme module hooks/{theme}.py or package hooks/{theme}/"
    return [module, *sorted(p for p in (REPO / "hooks").glob(f"{theme}*.py") if p != module)]


def test_every_catalog_rule_is_implemented_in_its_theme_module():
    for spec in CATALOG:
        source = "".join(p.read_text(encoding="utf-8") for p in theme_files(spec.theme))
        assert f'"{spec.id}"' in source, f"{spec.id} is not produced by hooks/{spec.theme}"


def test_every_catalog_rule_has_tests():
    tests = "".join(p.read_text(encoding="utf-8") for p in (REPO / "tests").rglob("test_*.py"))
    missing = [spec.id for spec in CATALOG if spec.id not in tests]
    assert not missing, f"rules without a test naming them: {missing}"


def test_services_run_rules():
    assert ORDER_RULES, "the order services run no rule"
    assert PATIENT_VIEW_RULES, "the patient-view service runs no rule"


def test_catalog_services_match_the_registered_services():
    from hooks.services import SERVICES

    ids = {s.id for s in SERVICES}
    for spec in CATALOG:
        assert set(spec.services) <= ids, spec.id
        assert spec.source.label
