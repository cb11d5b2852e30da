"""One leaderboard for the baselines and the LLM, measured on the same tracks.

The LLM analyses a sample of the eval split (`llm_eval.eval_limit`), so comparing its MAE with baselines
measured on the whole split would compare different songs. Here every model is scored on the tracks the LLM
was asked about, from the baselines' prediction CSVs; the LLM's unparseable replies count as failures.
Confidence intervals resample the sampled tracks' artists (`rap_analyzer.models.metrics`), not the tracks.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from rap_analyzer.models.metrics import regression_report
from rap_analyzer.tracking.leaderboard import WITHIN_ARTIST_HEADER, format_metric, within_artist_cell

ROW_KEYS = ("n", "n_failed", "mae", "mae_ci_low", "mae_ci_high", "rmse", "spearman", "within_artist_spearman",
            "within_artist_spearman_ci_low", "within_artist_spearman_ci_high", "within_artist_n_artists")


def _labels(baseline: pd.DataFrame, llm_predictions: pd.DataFrame) -> np.ndarray:
    """The labels of the LLM's tracks: its own `y_true` when it carries one, checked against the baselines'."""
    from_baselines = baseline["y_true"].to_numpy(dtype=float)
    if "y_true" not in llm_predictions.columns:
        return from_baselines
    y_true = llm_predictions["y_true"].to_numpy(dtype=float)
    both = ~np.isnan(y_true) & ~np.isnan(from_baselines)
    if not np.allclose(y_true[both], from_baselines[both]):
        raise ValueError("the baselines' prediction CSV has other labels than the LLM's tracks: it comes from "
                         "another dataset version; re-run the baselines stage before the llm_eval stage")
    return y_true


def compare_on_subset(baseline_predictions: pd.DataFrame, llm_predictions: pd.DataFrame, llm_name: str,
                      n_bootstrap: int, seed: int) -> pd.DataFrame:
    """Rows per model (ROW_KEYS: n, n_failed, mae, CI, rmse, spearman, within-artist Spearman and its CI) over
    the LLM's tracks (`source_key`, `artist`, `y_pred`); the CIs resample artists. Raises ValueError when the
    LLM's frame has no `artist` column.

    Only tracks with a label are scored, the same ones for every model. The baselines' CSV leaves out eval
    tracks without a label, so a sampled track may be missing there; a labelled track missing there counts
    as a failure of each baseline, never as a skipped row."""
    if "artist" not in llm_predictions.columns:
        raise ValueError("the LLM's predictions have no 'artist' column: the confidence intervals resample artists")
    keys = llm_predictions["source_key"].to_numpy()
    artists = llm_predictions["artist"].to_numpy()
    baseline = baseline_predictions.set_index("source_key").reindex(keys)
    y_true = _labels(baseline, llm_predictions)
    labelled = ~np.isnan(y_true)
    columns = {llm_name: llm_predictions["y_pred"].to_numpy(dtype=float)}
    columns |= {c: baseline[c].to_numpy(dtype=float) for c in baseline.columns if c != "y_true"}
    rows = []
    for model, y_pred in columns.items():
        if not np.isfinite(y_pred[labelled]).any():
            rows.append({"model": model, "n": 0, "n_failed": int(labelled.sum())})
            continue
        report = regression_report(y_true[labelled], y_pred[labelled], n_bootstrap, seed, count_failures=True,
                                   groups=artists[labelled])
        rows.append({"model": model, **{k: report[k] for k in ROW_KEYS}})
    return pd.DataFrame(rows).sort_values("mae", na_position="last", ignore_index=True)


def write_comparison(tables: dict[str, pd.DataFrame], path: Path, note: str) -> Path:
    lines = ["# Leaderboard: baselines and LLM on the same eval tracks", "", note, "",
             "95% CIs by bootstrap over the sampled tracks' artists (whole artists resampled, not tracks). "
             "Within-artist Spearman: the rank correlation inside each sampled artist with enough tracks, averaged "
             "over those artists.", ""]
    for target, table in tables.items():
        lines += [f"## {target}", "",
                  f"| model | n scored | failed | MAE | 95% CI (MAE) | RMSE | Spearman | {WITHIN_ARTIST_HEADER} |",
                  "|---|---|---|---|---|---|---|---|"]
        for row in table.itertuples(index=False):
            if not row.n:
                lines.append(f"| {row.model} | 0 | {row.n_failed} | no parseable reply | | | | |")
                continue
            lines.append(f"| {row.model} | {row.n} | {row.n_failed} | {format_metric(row.mae)} | "
                         f"{format_metric(row.mae_ci_low)} – {format_metric(row.mae_ci_high)} | "
                         f"{format_metric(row.rmse)} | {format_metric(row.spearman)} | {within_artist_cell(row)} |")
        lines.append("")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines))
    return path
