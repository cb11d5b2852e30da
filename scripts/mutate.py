"""`make mutate`: mutation testing (mutmut 3) of the modules that decide numbers and safety, one module at a time,
each against the test files that guard it; prints the mutation score per module.

Usage: `python scripts/mutate.py [MODULE ...] [--max-children N]`, MODULE as in `MODULES` (e.g.
`scrape/cleaning.py`, or `store/services.py::redact_url` for the mutants of one function of a module whose other
functions manage processes); none: all of them. Each module runs in its own work folder under
`$RAP_ANALYZER_MUTATE_DIR` (default: `<tmp>/rap-analyzer-mutate/<module>`), holding links to `src/`, `tests/`
and `params.yaml` and a `setup.cfg` that tells mutmut which file to mutate and which tests to run, so that runs
never touch the checkout and one module's mutants are never judged by another module's tests; pytest's temporary
folders go beside it, and each run starts afresh (mutmut would otherwise keep old verdicts after the tests change).
The shared corpus is reached through `RAP_ANALYZER_SHARED_DIR` (set here to the checkout's `paths.shared_dir`).
One embedded PostgreSQL and one Valkey are started here for the whole run and handed to the tests through
`RAP_ANALYZER_TEST_PG_URL` / `RAP_ANALYZER_TEST_REDIS_URL` (tests/conftest.py): mutmut's forked test runs exit
without the fixture teardown that would stop servers they started themselves.

Score = detected / judged, detected = killed + timeout, judged = detected + survived + no tests + suspicious, as
mutmut 3 computes its own score (and PIT counts TIMED_OUT as killed): a mutant that makes a test loop forever is
caught, since the suite then never passes (timeouts are listed with the survivors, to be checked: a test slowed
down by other load ends as one too). Mutants that no selected test reaches ("no tests") count as survivors,
since a bug there goes unnoticed. Survivors are listed (`mutmut show NAME` in the work
folder prints the diff); the README's development section records the measured scores and why the remaining
survivors are equivalent.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))  # the checkout's package, for its settings and embedded servers
PACKAGE = "src/rap_analyzer"
# module (relative to src/rap_analyzer) -> the test files that guard it; a module's score is only as good as these.
MODULES: dict[str, list[str]] = {
    "scrape/cleaning.py": ["tests/test_cleaning.py", "tests/test_boundaries.py"],
    "scrape/lyrics_page.py": ["tests/test_lyrics_page.py"],
    "resilience.py": ["tests/test_resilience.py", "tests/test_resilience_paths.py"],
    "scrape/spotify.py": ["tests/test_spotify.py", "tests/test_boundaries.py", "tests/test_spotify_strength.py"],
    "scrape/pipeline.py": ["tests/test_scrape_pipeline.py", "tests/test_cache_keys.py",
                           "tests/test_pipeline_strength.py"],
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
    "models/llm/cache.py": ["tests/test_llm_cache_strength.py", "tests/test_cache_keys.py", "tests/test_llm_stage.py"],
    "tracking/mlflow_log.py": ["tests/test_tracking.py", "tests/test_oracles.py", "tests/test_tracking_strength.py"],
    "tracking/selection.py": ["tests/test_select.py", "tests/test_within_artist.py",
                              "tests/test_selection_strength.py"],
    "store/records.py": ["tests/test_records_strength.py", "tests/test_dataset.py"],
    "store/tracks.py": ["tests/test_store.py", "tests/test_scrape_pipeline.py", "tests/test_tracks_strength.py"],
    "store/cache.py": ["tests/test_store_cache_strength.py", "tests/test_store.py"],
    "store/search.py": ["tests/test_store.py", "tests/test_index.py", "tests/serve/test_search_sql.py",
                        "tests/test_search_strength.py"],
    # The rest of services.py starts and stops server processes; its redaction decides what an error may show.
    # Not tests/test_redaction.py: it runs the console script, whose imports mutmut does not see.
    "store/services.py::redact_url": ["tests/test_redaction_strength.py", "tests/test_config.py"],
    "config.py::service_url": ["tests/test_redaction_strength.py", "tests/test_config.py"],
    "features/phonetics.py": ["tests/test_phonetics_strength.py", "tests/test_features.py",
                              "tests/test_features_strength.py"],
    "scrape/merge.py": ["tests/test_merge.py", "tests/test_merge_strength.py"],
    "text/titles.py": ["tests/test_text.py", "tests/test_text_strength.py", "tests/test_spotify.py",
                       "tests/test_cleaning.py"],
    "text/normalise.py": ["tests/test_text.py", "tests/test_text_strength.py", "tests/test_spotify.py",
                          "tests/test_cleaning.py"],
    # Not tests/test_llm_local.py: it starts a llama.cpp server.
    "models/llm/evaluate.py": ["tests/test_llm_evaluate_strength.py", "tests/test_llm_eval.py"],
    "tracking/comparison.py": ["tests/test_comparison_strength.py", "tests/test_comparison.py",
                               "tests/test_within_artist.py"],
    "features/cache.py": ["tests/test_feature_cache_strength.py", "tests/test_cache_keys.py",
                          "tests/test_features.py"],
    "features/extract.py": ["tests/test_feature_cache_strength.py", "tests/test_features.py"],
}
KILLED, SURVIVED = {"killed", "timeout"}, {"survived", "no tests", "suspicious"}
# Modules whose tests run polars (`scrape.merge`, which the import pipeline calls): its thread pool does not
# survive a fork, so a mutant forked from mutmut's main process (which ran the tests once to map them) hangs and
# would be counted as a timeout, i.e. as caught. mutmut's fork server forks every mutant from a process that only
# imported the tests.
FORK_UNSAFE = {"scrape/merge.py", "scrape/pipeline.py", "store/tracks.py"}


def _shared_dir() -> Path:
    from rap_analyzer.config import load_params

    return load_params(REPO / "params.yaml").shared_path("").resolve()


def _split(target: str) -> tuple[str, str | None]:
    """`store/services.py::redact_url` -> (`store/services.py`, `redact_url`); a module alone -> (module, None)."""
    module, _, function = target.partition("::")
    return module, function or None


def _mutant_pattern(target: str) -> str | None:
    """mutmut's names for the mutants of one top-level function (`rap_analyzer.store.services.x_redact_url__mutmut_3`),
    as an fnmatch pattern for `mutmut run`; None for a whole module."""
    module, function = _split(target)
    if function is None:
        return None
    return f"rap_analyzer.{module.removesuffix('.py').replace('/', '.')}.x_{function}__mutmut_*"


def _start_servers(root: Path) -> dict[str, str]:
    """One embedded PostgreSQL and Valkey for every mutant of this run (stopped when this script exits)."""
    from rap_analyzer.store import services

    return {"RAP_ANALYZER_TEST_PG_URL": services.embedded_postgres_url(root / "servers" / "pg"),
            "RAP_ANALYZER_TEST_REDIS_URL": services.embedded_redis_url(root / "servers" / "redis")}


def _workdir(root: Path, target: str) -> Path:
    module, _ = _split(target)
    work = root / target.replace(".py", "").replace("/", "_").replace("::", "__")
    work.mkdir(parents=True, exist_ok=True)
    for name in ("src", "tests", "params.yaml"):
        link = work / name
        if not link.exists():
            link.symlink_to(REPO / name)
    selection = "\n    ".join(MODULES[target])
    (work / "setup.cfg").write_text(
        "[mutmut]\n"
        "source_paths = src\n"
        f"only_mutate = {PACKAGE}/{module}\n"
        f"pytest_add_cli_args_test_selection =\n    {selection}\n"
        "pytest_add_cli_args =\n    -p\n    no:cacheprovider\n    -q\n    -x\n"
        "also_copy =\n    params.yaml\n"
        + ("process_isolation = forkserver\n" if module in FORK_UNSAFE else "")
    )
    return work


def _statuses(work: Path, pattern: str | None) -> dict[str, str]:
    """mutant name -> mutmut status, from the `.meta` file mutmut keeps beside the mutated module; only the
    mutants matching `pattern` when one function is the target."""
    from mutmut.stats import status_by_exit_code

    status: dict[str, str] = {}
    for meta in (work / "mutants").rglob("*.py.meta"):
        data = json.loads(meta.read_text())
        for name, code in data.get("exit_code_by_key", {}).items():
            if pattern is None or fnmatch.fnmatch(name, pattern):
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
    env = {**os.environ, "RAP_ANALYZER_SHARED_DIR": str(_shared_dir()), **_start_servers(root)}
    mutmut = Path(sys.executable).with_name("mutmut")
    rows = []
    for module in args.modules or list(MODULES):
        work = _workdir(root, module)
        pattern = _mutant_pattern(module)
        # pytest's temporary folders in a folder of this module's own: never another run's /tmp/pytest-of-<user>
        # (pytest deletes the older ones it finds there), and not inside the work folder, whose params.yaml would
        # be taken for the project root of a test's temporary checkout.
        temproot = root / "pytest-tmp" / work.name
        temproot.mkdir(parents=True, exist_ok=True)
        env["PYTEST_DEBUG_TEMPROOT"] = str(temproot)
        print(f"== {module} ({', '.join(MODULES[module])}) in {work}", flush=True)
        # mutmut 3 keeps the verdicts of functions whose source did not change, even when the tests did: start
        # afresh so that the score is that of the tests as they are now.
        shutil.rmtree(work / "mutants", ignore_errors=True)
        with (work / "mutmut.log").open("w") as log:  # mutmut's progress spinner: kept out of the summary
            subprocess.run([str(mutmut), "run", "--max-children", str(args.max_children), *filter(None, [pattern])],
                           cwd=work, env=env,
                           stdout=log, stderr=subprocess.STDOUT, check=False)
        status = _statuses(work, pattern)
        counts = Counter(status.values())
        killed = sum(counts[s] for s in KILLED)
        judged = killed + sum(counts[s] for s in SURVIVED)
        score = killed / judged if judged else float("nan")
        rows.append((module, killed, judged, score, dict(counts)))
        for name, state in sorted(status.items()):
            # A timeout counts as detected only if the mutant really hangs: listed, so that each can be checked
            # (a slow test on a loaded machine also ends as one; `mutmut run NAME` there runs it again).
            if state in SURVIVED or state == "timeout":
                print(f"   {state}: {name}   (diff: cd {work} && {mutmut} show {name})")
    print("\nmutation score per module (killed / judged):")
    for module, killed, judged, score, counts in rows:
        print(f"  {module:28s} {killed:4d} / {judged:4d} = {score:6.1%}   {counts}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
