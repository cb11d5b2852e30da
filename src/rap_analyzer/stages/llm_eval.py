"""Entry point of the `llm_eval` stage, shared by the CLI and `notebooks/04_llm_baseline.ipynb`: the LLM reads
a seeded sample of the eval split; its analyses go to PostgreSQL, its scores to MLflow beside the baselines,
and a leaderboard compares every model on the same tracks."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from rap_analyzer.config import LLMParams, Params
from rap_analyzer.models.llm.backends import open_backend
from rap_analyzer.models.llm.cache import ReplyCache
from rap_analyzer.models.llm.evaluate import COMPARISONS, SCORE_PREFIXES, run_llm_eval
from rap_analyzer.models.llm.prompt import PROMPT_VERSION
from rap_analyzer.models.llm.store import store_analyses
from rap_analyzer.models.metrics import regression_report
from rap_analyzer.models.result import ModelResult
from rap_analyzer.store import services
from rap_analyzer.store.migrate import migrate
from rap_analyzer.tracking.comparison import compare_on_subset, write_comparison
from rap_analyzer.tracking.mlflow_log import log_result

# Summary keys that depend on timing or on what the reply cache already held: they go to
# reports/timings/llm_eval.json, so that reports/metrics/llm_eval.json (a DVC metric) compares exactly on a rerun.
TIMING_KEYS = ("wall_s", "n_cached", "n_latency", "attempts_total", "output_tokens_per_s", "cost_usd_this_run",
               "latency_p50_s", "latency_p95_s", "latency_p99_s",
               "recorded_latency_p50_s", "recorded_latency_p95_s", "recorded_latency_p99_s")


def is_deterministic(params: LLMParams) -> bool:
    """Whether a rerun reproduces the replies: a local model (llama.cpp server or transformers, greedy at
    temperature 0, fixed seed) with one request at a time. With `concurrency > 1` the local server's replies
    depend on the order requests arrive in (see `local_server`); a remote API promises nothing."""
    return params.backend != "openai" and params.concurrency == 1


def split_timings(summary: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(metrics, timings): the summary without and with only `TIMING_KEYS`."""
    return ({k: v for k, v in summary.items() if k not in TIMING_KEYS},
            {k: v for k, v in summary.items() if k in TIMING_KEYS})


@dataclass
class LLMStageResult:
    records: pd.DataFrame
    summary: dict[str, Any]
    results: list[ModelResult]
    comparison: dict[str, pd.DataFrame]


def select_rows(dataset_dir: Path, params: LLMParams) -> pd.DataFrame:
    """The eval split (or a seeded sample of `eval_limit` tracks) plus an optional seeded train sample."""
    eval_ = pd.read_parquet(dataset_dir / "eval.parquet").sort_values("source_key", ignore_index=True)
    if params.eval_limit is not None and params.eval_limit < len(eval_):
        eval_ = eval_.sample(n=params.eval_limit, random_state=params.seed).sort_values("source_key")
    frames = [eval_.assign(split="eval")]
    if params.train_sample:
        train = pd.read_parquet(dataset_dir / "train.parquet")
        frames.append(train.sample(n=min(params.train_sample, len(train)), random_state=params.seed)
                      .sort_values("source_key").assign(split="train"))
    return pd.concat(frames, ignore_index=True)


def as_results(records: pd.DataFrame, rows: pd.DataFrame, model: str, params: LLMParams) -> list[ModelResult]:
    """The LLM's eval scores in the baselines' shape; an unparseable reply is a failure, never a number."""
    results = []
    is_eval = (rows["split"] == "eval").to_numpy()
    for pred, label, _ in COMPARISONS:
        predictions = pd.DataFrame({
            "source_key": records.loc[is_eval, "source_key"].to_numpy(),
            "artist": rows.loc[is_eval, "artist"].to_numpy(),  # CIs resample artists
            "y_true": records.loc[is_eval, label].to_numpy(dtype=float),
            "y_pred": pd.to_numeric(records.loc[is_eval, pred], errors="coerce").where(
                records.loc[is_eval, "ok"].astype(bool)).to_numpy(dtype=float),
        })
        name = f"llm:{model}"
        scorable = np.isfinite(predictions["y_pred"]) & np.isfinite(predictions["y_true"])
        if not scorable.any():
            results.append(ModelResult(name, label, "skipped", "no reply could be parsed into a score",
                                          predictions=predictions))
            continue
        metrics = regression_report(predictions["y_true"], predictions["y_pred"], params.n_bootstrap, params.seed,
                                    count_failures=True, groups=predictions["artist"])
        results.append(ModelResult(name, label, "ok", metrics=metrics, predictions=predictions,
                                      model_params={"prompt_version": PROMPT_VERSION}))
    return results


def run(params: Params, dataset_dir: Path, reports_dir: Path, out_dir: Path,
                  mlflow_uri: str | None = None, progress: bool = True) -> LLMStageResult:
    llm = params.llm_eval
    rows = select_rows(dataset_dir, llm)
    info = json.loads((dataset_dir / "dataset_info.json").read_text())
    cache = ReplyCache.from_client(services.redis_client(params), llm)
    with open_backend(llm) as backend:
        records, summary = run_llm_eval(rows, llm, backend, cache, n_bootstrap=llm.n_bootstrap, seed=llm.seed,
                                        progress=progress)
        model = backend.model
    records.insert(1, "split", rows["split"].to_numpy())
    with services.connect(params) as conn:
        migrate(conn)
        summary["analyses_stored"] = store_analyses(conn, records, analyzer=f"llm:{model}",
                                                    model_version=PROMPT_VERSION)

    out_dir.mkdir(parents=True, exist_ok=True)
    records.to_parquet(out_dir / "llm_records.parquet", index=False)
    summary["concurrency"] = llm.concurrency
    summary["deterministic"] = is_deterministic(llm)
    metrics, timings = split_timings(summary)
    for kind, values in (("metrics", metrics), ("timings", timings)):
        (reports_dir / kind).mkdir(parents=True, exist_ok=True)
        (reports_dir / kind / "llm_eval.json").write_text(json.dumps(values, indent=2, default=str) + "\n")

    results = as_results(records, rows, model, llm)
    # Speed, reliability and cost; the scores are each run's own metrics.
    operational = {k: v for k, v in summary.items() if isinstance(v, int | float) and not isinstance(v, bool)
                   and not k.startswith(SCORE_PREFIXES)}
    logged_params = {k: v for k, v in llm.model_dump().items() if "key" not in k}
    n_eval = len(pd.read_parquet(dataset_dir / "eval.parquet", columns=["source_key"]))
    scope = "full" if int((rows["split"] == "eval").sum()) == n_eval else "subset"
    for result in results:
        log_result(result, info["dataset_hash"], logged_params, artifacts=[reports_dir / "metrics" / "llm_eval.json",
                                                                 reports_dir / "timings" / "llm_eval.json"],
                   uri=mlflow_uri, extra_metrics=operational, kind="llm", eval_scope=scope)

    comparison = {}
    for result in results:
        baseline_csv = reports_dir / "plots" / f"predictions_{result.target}.csv"
        if baseline_csv.exists() and result.predictions is not None:
            comparison[result.target] = compare_on_subset(pd.read_csv(baseline_csv), result.predictions,
                                                          result.model, llm.n_bootstrap, llm.seed)
    note = (f"LLM `{model}` (backend `{llm.backend}`, prompt {PROMPT_VERSION}) on {int(summary['n'])} eval tracks, "
            f"success rate {summary['success_rate']:.0%}; every model scored on those tracks. Failures are "
            "unparseable or invalid replies: they are counted, never given a score.")
    write_comparison(comparison, reports_dir / "leaderboard_llm.md", note)
    return LLMStageResult(records, summary, results, comparison)
