"""One leaderboard for the baselines and the LLM, measured on the same tracks.

The LLM analyses a sample of the eval split (`llm_eval.eval_limit`), so comparing its MAE with baselines
measured on the whole split would compare different songs. Here every model is scored on the tracks the LLM
was asked about, from the baselines' prediction CSVs; the LLM's unparseable replies count as failures.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from rap_analyzer.models.metrics import regression_report


def compare_on_subset(baseline_predictions: pd.DataFrame, llm_predictions: pd.DataFrame, llm_name: str,
                      n_bootstrap: int, seed: int) -> pd.DataFrame:
    """Rows per model: n, n_failed, mae, CI, rmse, spearman over the LLM's tracks (`source_key`, `y_pred`)."""
    subset = baseline_predictions.set_index("source_key").loc[llm_predictions["source_key"]]
    y_true = subset["y_true"].to_numpy(dtype=float)
    columns = {llm_name: llm_predictions["y_pred"].to_numpy(dtype=float)}
    columns |= {c: subset[c].to_numpy(dtype=float) for c in subset.columns if c != "y_true"}
    rows = []
    for model, y_pred in columns.items():
        if not np.isfinite(y_pred[~np.isnan(y_true)]).any():
            rows.append({"model": model, "n": 0, "n_failed": int((~np.isnan(y_true)).sum())})
            continue
        report = regression_report(y_true, y_pred, n_bootstrap, seed, count_failures=True)
        rows.append({"model": model, **{k: report[k] for k in
                                        ("n", "n_failed", "mae", "mae_ci_low", "mae_ci_high", "rmse", "spearman")}})
    return pd.DataFrame(rows).sort_values("mae", na_position="last", ignore_index=True)


def write_comparison(tables: dict[str, pd.DataFrame], path: Path, note: str) -> Path:
    lines = ["# Leaderboard: baselines and LLM on the same eval tracks", "", note, ""]
    for target, table in tables.items():
        lines += [f"## {target}", "", "| model | n scored | failed | MAE | 95% CI (MAE) | RMSE | Spearman |",
                  "|---|---|---|---|---|---|---|"]
        for row in table.itertuples(index=False):
            if not row.n:
                lines.append(f"| {row.model} | 0 | {row.n_failed} | no parseable reply | | | |")
                continue
            lines.append(f"| {row.model} | {row.n} | {row.n_failed} | {row.mae:.3f} | {row.mae_ci_low:.3f} – "
                         f"{row.mae_ci_high:.3f} | {row.rmse:.3f} | {_fmt(row.spearman)} |")
        lines.append("")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines))
    return path


def _fmt(value: float) -> str:
    return "—" if value is None or not np.isfinite(value) else f"{value:.3f}"
