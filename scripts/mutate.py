"""`make mutate`: mutation testing (mutmut 3) of the modules that decide numbers and safety, one module at a time,
each against the test files that guard it; prints the mutation score per module.

Usage: `python scripts/mutate.py [MODULE ...] [--max-children N]`, MODULE as in `MODULES` (e.g.
`scrape/cleaning.py`); none: all of them. Each module runs in its own work folder under
`$RAP_ANALYZER_MUTATE_DIR` (default: `<tmp>/rap-analyzer-mutate/<module>`), holding links to `src/`, `tests/`
and `params.yaml` and a `setup.cfg` that tells mutmut which file to mutate and which tests to run, so that runs
never touch the checkout and one module's mutants are never judged by another module's tests; pytest's temporary
folders go there too, and each run starts afresh (mutmut would otherwise keep old verdicts after the tests change).
The shared corpus is reached through `RAP_ANALYZER_SHARED_DIR` (set here to the checkout's `paths.shared_dir`).

Score = killed / (killed + survived + timeout + suspicious): mutants that no selected test reaches ("no tests")
count as survivors too, since a bug there goes unnoticed. Survivors are listed (`mutmut show NAME` in the work
folder prints the diff); the README's development section records the measured scores and why the remaining
survivors are equivalent.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGE = "src/rap_analyzer"
# module (relative to src/rap_analyzer) -> the test files that guard it; a module's score is only as good as these.
MODULES: dict[str, list[str]] = {
    "scrape/cleaning.py": ["tests/test_cleaning.py", "tests/test_boundaries.py"],
    "scrape/lyrics_page.py": ["tests/test_lyrics_page.py"],
    "resilience.py": ["tests/test_resilience.py", "tests/test_resilience_paths.py"],
    "scrape/spotify.py": ["tests/test_spotify.py", "tests/test_boundaries.py", "tests/test_spotify_strength.py"],
    "scrape/pipeline.py": ["tests/test_scrape_pipeline.py", "tests/test_cache_keys.py"],
    "dataset/labels.py": ["tests/test_dataset.py", "tests/test_within_artist.py", "tests/test_labels_strength.py"],
    "dataset/split.py": ["tests/test_dataset.py"],
    "dataset/filters.py": ["tests/test_dataset.py", "tests/test_boundaries.py", "tests/test_filters_strength.py"],
    "features/rhyme.py": ["tests/test_features.py", "tests/test_features_strength.py"],
    "features/lexical.py": ["tests/test_features.py"],
    "models/metrics.py": ["tests/test_metrics.py", "tests/test_oracles.py", "tests/test_cluster_bootstrap.py",
                          "tests/test_within_artist.py", "tests/test_metrics_strength.py"],
    "models/baselines.py": ["tests/test_baselines.py", "tests/test_oracles.py", "tests/test_ridge_reproducible.py",
                            "tests/test_baselines_strength.py"],
    "models/llm/schema.py": ["tests/test_llm_parse.py", "tests/test_llm_parse_strength.py", "tests/test_llm_client.py"],
    "models/llm/cache.py": ["tests/test_cache_keys.py", "tests/test_llm_stage.py"],
    "tracking/mlflow_log.py": ["tests/test_tracking.py", "tests/test_oracles.py", "tests/test_tracking_strength.py"],
    # Not tests/test_store.py: it starts an embedded PostgreSQL that mutmut's forked runs exit without stopping.
    "store/records.py": ["tests/test_records_strength.py", "tests/test_dataset.py"],
}
KILLED, SURVIVED = {"killed"}, {"survived", "no tests", "timeout", "suspicious"}


def _shared_dir() -> Path:
    sys.path.insert(0, str(REPO / "src"))
    from rap_analyzer.config import load_params

    return load_params(REPO / "params.yaml").shared_path("").resolve()


def _workdir(root: Path, module: str) -> Path:
    work = root / module.replace("/", "_").removesuffix(".py")
    work.mkdir(parents=True, exist_ok=True)
    for name in ("src", "tests", "params.yaml"):
        link = work / name
        if not link.exists():
            link.symlink_to(REPO / name)
    selection = "\n    ".join(MODULES[module])
    (work / "setup.cfg").write_text(
        "[mutmut]\n"
        "source_paths = src\n"
        f"only_mutate = {PACKAGE}/{module}\n"
        f"pytest_add_cli_args_test_selection =\n    {selection}\n"
        "pytest_add_cli_args =\n    -p\n    no:cacheprovider\n    -q\n    -x\n"
        "also_copy =\n    params.yaml\n"
    )
    return work


def _statuses(work: Path) -> dict[str, str]:
    """mutant name -> mutmut status, from the `.meta` file mutmut keeps beside the mutated module."""
    from mutmut.stats import status_by_exit_code

    status: dict[str, str] = {}
    for meta in (work / "mutants").rglob("*.py.meta"):
        data = json.loads(meta.read_text())
        for name, code in data.get("exit_code_by_key", {}).items():
            status[name] = status_by_exit_code[code]
    return status


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("modules", nargs="*", help=f"any of: {', '.join(MODULES)}")
    parser.add_argument("--max-children", type=int, default=max(1, (os.cpu_count() or 2) // 2))
    args = parser.parse_args()
    unknown = [m for m in args.modules if m not in MODULES]
    if unknown:
        parser.error(f"unknown modules {unknown}; choose from {list(MODULES)}")
    root = Path(os.environ.get("RAP_ANALYZER_MUTATE_DIR") or Path(tempfile.gettempdir()) / "rap-analyzer-mutate")
    env = {**os.environ, "RAP_ANALYZER_SHARED_DIR": str(_shared_dir())}
    mutmut = Path(sys.executable).with_name("mutmut")
    rows = []
    for module in args.modules or list(MODULES):
        work = _workdir(root, module)
        # pytest's temporary folders under the work folder: never another run's /tmp/pytest-of-<user> (pytest
        # deletes the older ones it finds there).
        env["PYTEST_DEBUG_TEMPROOT"] = str(work / "tmp")
        (work / "tmp").mkdir(exist_ok=True)
        print(f"== {module} ({', '.join(MODULES[module])}) in {work}", flush=True)
        # mutmut 3 keeps the verdicts of functions whose source did not change, even when the tests did: start
        # afresh so that the score is that of the tests as they are now.
        shutil.rmtree(work / "mutants", ignore_errors=True)
        with (work / "mutmut.log").open("w") as log:  # mutmut's progress spinner: kept out of the summary
            subprocess.run([str(mutmut), "run", "--max-children", str(args.max_children)], cwd=work, env=env,
                           stdout=log, stderr=subprocess.STDOUT, check=False)
        status = _statuses(work)
        counts = Counter(status.values())
        killed = sum(counts[s] for s in KILLED)
        judged = killed + sum(counts[s] for s in SURVIVED)
        score = killed / judged if judged else float("nan")
        rows.append((module, killed, judged, score, dict(counts)))
        for name, state in sorted(status.items()):
            if state in SURVIVED:
                print(f"   {state}: {name}   (diff: cd {work} && {mutmut} show {name})")
    print("\nmutation score per module (killed / judged):")
    for module, killed, judged, score, counts in rows:
        print(f"  {module:28s} {killed:4d} / {judged:4d} = {score:6.1%}   {counts}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
