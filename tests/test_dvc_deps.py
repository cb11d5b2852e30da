"""`dvc.yaml` cannot go stale: every source file a stage runs (the import closure of its entry point inside
`rap_analyzer`, package `__init__`s included, lazy imports included) is a dep, as the file itself or a folder
above it; so is the stage's notebook."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pytest
import yaml
from helpers import PACKAGE, REPO_ROOT, imported_modules

DVC = yaml.safe_load((REPO_ROOT / "dvc.yaml").read_text())["stages"]
STAGES = sorted(name for name in DVC if (PACKAGE / "stages" / f"{name}.py").is_file())
NOTEBOOK = re.compile(r"papermill\s+(\S+\.ipynb)")


def module_files(module: str) -> list[Path]:
    """The files Python runs to import `module` (`rap_analyzer.a.b` or `rap_analyzer.a.b.Name`): every package
    `__init__.py` on the way and the module's own file."""
    parts = module.split(".")[1:]
    files = [PACKAGE / "__init__.py"]
    folder = PACKAGE
    for part in parts:
        if (folder / part / "__init__.py").is_file():
            folder = folder / part
            files.append(folder / "__init__.py")
        elif (folder / f"{part}.py").is_file():
            files.append(folder / f"{part}.py")
            break
        else:  # a name defined in the module reached so far
            break
    return files


def closure(roots: list[str], shallow: Path | None = None) -> set[Path]:
    """Files reached from the modules `roots`. `shallow` (cli.py) counts only its module-level imports: each
    command imports its own stage lazily, and a stage runs one command."""
    seen: set[Path] = set()
    todo = [f for root in roots for f in module_files(root)]
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        if path == shallow:  # module-level import statements only
            text = path.read_text()
            top = [ast.get_source_segment(text, node) or "" for node in ast.parse(text).body
                   if isinstance(node, ast.Import | ast.ImportFrom)]
            names = imported_modules(path, "\n".join(top))
        else:
            names = imported_modules(path)
        todo += [f for name, _ in names for f in module_files(name)]
    return seen


def notebook_imports(notebook: Path) -> list[str]:
    """`rap_analyzer` modules the notebook's code cells import (IPython magics and shell lines skipped)."""
    cells = json.loads(notebook.read_text())["cells"]
    code = "\n".join(line for cell in cells if cell["cell_type"] == "code"
                     for line in "".join(cell["source"]).splitlines() if not line.lstrip().startswith(("%", "!")))
    return [name for name, _ in imported_modules(PACKAGE / "notebook.py", code)]  # absolute imports only


def stage_files(name: str) -> tuple[set[Path], str | None]:
    """(source files the stage runs, its notebook relative to the repository or None)."""
    cmd = DVC[name]["cmd"]
    roots = [f"rap_analyzer.stages.{name}"]
    notebook = NOTEBOOK.search(cmd)
    shallow = None
    if notebook:
        roots += notebook_imports(REPO_ROOT / notebook.group(1))
    if re.search(r"(^|\s)rap-analyzer\s", cmd):
        roots.append("rap_analyzer.cli")
        shallow = PACKAGE / "cli.py"
    return closure(roots, shallow), notebook.group(1) if notebook else None


def covered(path: Path, deps: list[str]) -> bool:
    relative = path.relative_to(REPO_ROOT)
    return any(relative == Path(dep) or Path(dep) in relative.parents for dep in deps)


def test_stages_are_found() -> None:
    assert {"scrape", "prepare", "embed", "baselines", "llm_eval"} <= set(STAGES)


@pytest.mark.parametrize("name", STAGES)
def test_stage_deps_cover_its_import_closure(name: str) -> None:
    deps = [d if isinstance(d, str) else next(iter(d)) for d in DVC[name].get("deps", [])]
    files, notebook = stage_files(name)
    assert PACKAGE / "stages" / f"{name}.py" in files and PACKAGE / "config.py" in files
    missing = sorted(str(f.relative_to(REPO_ROOT)) for f in files if not covered(f, deps))
    assert not missing, f"add to dvc.yaml stages.{name}.deps: {missing}"
    if notebook:
        assert notebook in deps


def test_closure_follows_relative_lazy_and_package_imports() -> None:
    """Oracle, by hand: stages/scrape.py reaches store/records.py (content hashes) and scrape/sources.py."""
    files = {str(f.relative_to(PACKAGE)) for f in closure(["rap_analyzer.stages.scrape"])}
    assert {"__init__.py", "stages/__init__.py", "stages/scrape.py", "store/records.py", "config.py",
            "errors.py"} <= files
    assert module_files("rap_analyzer.store.records.content_hash") == [
        PACKAGE / "__init__.py", PACKAGE / "store" / "__init__.py", PACKAGE / "store" / "records.py"]
