"""The architecture holds: dependencies point one way, and the catalog matches RULES.md and the code.

* ``cds_service`` never imports ``hooks`` or ``fhir_mappings`` (it knows no immunology);
* ``fhir_mappings`` never imports ``cds_service`` or ``hooks`` (it knows no CDS Hooks or HTTP);
* every rule id of RULES.md is in the catalog, implemented by a rule module, and tested.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from hooks.catalog import CATALOG, RULES_BY_ID
from hooks.services.rulesets import ORDER_RULES, PATIENT_VIEW_RULES

REPO = Path(__file__).resolve().parents[1]
RULES_MD = REPO.parent / "shared" / "RULES.md"


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


def rules_md_ids() -> list[str]:
    text = RULES_MD.read_text(encoding="utf-8")
    return sorted(set(re.findall(r"^\| `((?:order|pv)-[a-z0-9-]+)` \|", text, flags=re.M)))


def test_rules_md_is_beside_the_repository():
    assert RULES_MD.exists(), f"{RULES_MD} is the clinical spec the catalog is checked against"
    assert len(rules_md_ids()) >= 30


def test_catalog_equals_the_rules_of_rules_md():
    assert sorted(RULES_BY_ID) == rules_md_ids()
    assert len(CATALOG) == len(RULES_BY_ID), "duplicate rule id in the catalog"


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
