"""Imports flow one way: config/errors/resilience → store, text → scrape, features → dataset → models → tracking →
stages → cli, serve. Every import inside `rap_analyzer` (lazy and TYPE_CHECKING ones included) is read with `ast`;
an import of a higher layer fails, naming the edge, and so does a top-level module without a layer."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from helpers import PACKAGE, imported_modules, module_name

LAYERS = {
    "config": 0, "errors": 0, "resilience": 0,
    "store": 1, "text": 1,
    "scrape": 2, "features": 2,
    "dataset": 3,
    "models": 4,
    "tracking": 5,
    "stages": 6,
    "cli": 7, "serve": 7,
}


def top_level(module: str) -> str | None:
    """`rap_analyzer.<top>...` -> `<top>`; the package itself -> None."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else None


SOURCES = sorted(PACKAGE.rglob("*.py"))


def test_every_top_level_module_has_a_layer() -> None:
    tops = {top_level(module_name(p)) for p in SOURCES} - {None}
    assert tops - set(LAYERS) == set(), "give each new top-level package or module a layer in LAYERS"


def upward_edges(path: Path, text: str | None = None) -> list[str]:
    """Each import of `path` that goes to a higher layer or to a module without a layer, as a readable edge."""
    source = top_level(module_name(path))
    imports = imported_modules(path, text)
    if source is None:  # rap_analyzer/__init__.py: may import nothing of its own
        return [f"rap_analyzer/__init__.py:{line} imports {target}" for target, line in imports]
    upward = []
    for target, line in imports:
        top = top_level(target)
        if top is None or top not in LAYERS:
            upward.append(f"{path.relative_to(PACKAGE)}:{line} imports {target}, which has no layer")
        elif LAYERS[top] > LAYERS[source]:
            upward.append(f"{path.relative_to(PACKAGE)}:{line} ({source}, layer {LAYERS[source]}) imports "
                          f"{target} ({top}, layer {LAYERS[top]})")
    return upward


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_flow_one_way(path: Path) -> None:
    assert upward_edges(path) == []


def test_checker_resolves_relative_and_absolute_imports() -> None:
    """The oracle: names resolved by hand for a probe placed (virtually) at store/probe.py."""
    code = "from ..stages import scrape\nimport rap_analyzer.models.result\nfrom . import cache\nimport json\n"
    found = [name for name, _ in imported_modules(PACKAGE / "store" / "probe.py", code)]
    assert found == ["rap_analyzer.stages.scrape", "rap_analyzer.models.result", "rap_analyzer.store.cache"]
    init = [name for name, _ in imported_modules(PACKAGE / "models" / "llm" / "__init__.py", "from .base import X\n")]
    assert init == ["rap_analyzer.models.llm.base.X"]
    probe = PACKAGE / "store" / "probe.py"
    assert upward_edges(probe, "from rap_analyzer.errors import ConfigError\nfrom . import cache\n") == []
    assert upward_edges(probe, "\n\nfrom ..stages import scrape\n") == [
        "store/probe.py:3 (store, layer 1) imports rap_analyzer.stages.scrape (stages, layer 6)"]
    assert upward_edges(probe, "import rap_analyzer.newpkg.x\n") == [
        "store/probe.py:1 imports rap_analyzer.newpkg.x, which has no layer"]


TESTS = Path(__file__).resolve().parent


def test_modules_named(text: str) -> list[str]:
    """Modules named by the import statements of `text` whose dotted name has a `test_*` part."""
    def is_test(name: str) -> bool:
        return any(part.startswith("test_") for part in name.split("."))

    names = []
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names if is_test(alias.name)]
        elif isinstance(node, ast.ImportFrom):
            module = "." * node.level + (node.module or "")
            if is_test(module):
                names.append(module)
            else:  # `from . import test_x`: the imported name is the module
                names += [f"{module.rstrip('.')}.{alias.name}" for alias in node.names if is_test(alias.name)]
    return sorted(set(names))


test_modules_named.__test__ = False  # type: ignore[attr-defined]  # a helper, not a test


@pytest.mark.parametrize("path", sorted(TESTS.rglob("*.py")), ids=lambda p: str(p.relative_to(TESTS)))
def test_test_modules_do_not_import_each_other(path: Path) -> None:
    """Shared test code lives in tests/helpers.py or tests/conftest.py, never in another test module."""
    assert test_modules_named(path.read_text()) == []


def test_test_import_check_sees_each_form() -> None:
    code = "from test_a import x\nimport tests.test_b\nfrom . import test_c\nfrom helpers import params_with\n"
    assert test_modules_named(code) == [".test_c", "test_a", "tests.test_b"]
