"""The baseline leaderboard (Markdown), DVC metrics (JSON per target) and DVC-plots prediction CSVs.

reports/metrics/<target>.json holds {model: {metric: value}} for the models that ran; undefined values
(Spearman of a constant prediction, CV std of one fold) are null, since JSON has no NaN.
reports/plots/predictions_<target>.csv is wide: source_key, y_true and one column per model, so that a
DVC plot can draw every model against `y_true` from one file.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pandas as pd

from rap_analyzer.models.metrics import WITHIN_ARTIST_MIN_TRACKS
from rap_analyzer.models.result import ModelResult

JSON_KEYS = ("n", "n_artists", "n_failed", "mae", "rmse", "spearman", "mae_ci_low", "mae_ci_high",
             "within_artist_spearman", "within_artist_spearman_ci_low", "within_artist_spearman_ci_high",
             "within_artist_n_artists")
# The column header of `within_artist_cell`, shared by every leaderboard.
WITHIN_ARTIST_HEADER = "within-artist Spearman [95% CI] (artists)"


def _num(value: Any) -> float | int | None:
    if value is None:
        return None
    if isinstance(value, int):
        return value
    value = float(value)
    return value if math.isfinite(value) else None


def format_metric(value: Any, digits: int = 3) -> str:
    value = _num(value)
    if value is None:
        return "—"
    return str(value) if isinstance(value, int) else f"{value:.{digits}f}"


def within_artist_cell(metrics: Any) -> str:
    """The mean within-artist Spearman, its artist-bootstrap CI and the artists it averages, as one table cell
    (`metrics`: a mapping with the `within_artist_*` keys of `regression_report`, or a row object with them)."""
    get = metrics.get if hasattr(metrics, "get") else lambda k: getattr(metrics, k, None)
    rho = _num(get("within_artist_spearman"))
    if rho is None:
        return "—"
    low, high = _num(get("within_artist_spearman_ci_low")), _num(get("within_artist_spearman_ci_high"))
    ci = "" if low is None or high is None else f" [{low:+.3f}, {high:+.3f}]"
    artists = _num(get("within_artist_n_artists"))
    return f"{rho:+.3f}{ci} ({'?' if artists is None else int(artists)})"


def metrics_dict(results: Iterable[ModelResult]) -> dict[str, dict[str, float | int | None]]:
    out = {}
    for r in results:
        if r.status != "ok":
            continue
        row = {k: _num(r.metrics.get(k)) for k in JSON_KEYS}
        row["cv_mae_mean"] = _num(r.cv_mae_mean)
        row["cv_mae_std"] = _num(r.cv_mae_std)
        out[r.model] = row
    return out


def _table(results: list[ModelResult]) -> list[str]:
    lines = [
        f"| model | n | MAE | 95% CI (MAE) | RMSE | Spearman | {WITHIN_ARTIST_HEADER} | CV MAE (mean ± std) "
        "| failed |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    ok = sorted((r for r in results if r.status == "ok"), key=lambda r: float(r.metrics["mae"]))
    for r in ok:
        m = r.metrics
        cv = "—"
        if r.cv_maes:
            cv = f"{format_metric(r.cv_mae_mean)} ± {format_metric(r.cv_mae_std)} ({len(r.cv_maes)} folds)"
        lines.append(
            f"| {r.model} | {m['n']} | {format_metric(m['mae'])} | {format_metric(m['mae_ci_low'])} – "
            f"{format_metric(m['mae_ci_high'])} | {format_metric(m['rmse'])} | {format_metric(m['spearman'])} "
            f"| {within_artist_cell(m)} | {cv} | {m['n_failed']} |"
        )
    for r in results:
        if r.status != "ok":
            lines.append(f"| {r.model} | skipped: {r.reason.replace('|', '/')} | | | | | | | |")
    return lines


def predictions_wide(results: Iterable[ModelResult]) -> pd.DataFrame:
    """source_key, y_true, then one prediction column per model that ran."""
    frames = [r.predictions.set_index("source_key") for r in results
              if r.status == "ok" and r.predictions is not None]
    models = [r.model for r in results if r.status == "ok" and r.predictions is not None]
    if not frames:
        return pd.DataFrame(columns=["source_key", "y_true"])
    # Every model predicts the same eval rows; concat keeps the first model's row order.
    y_true = pd.concat([f["y_true"] for f in frames], axis=1).bfill(axis=1).iloc[:, 0].rename("y_true")
    preds = [f["y_pred"].rename(m) for f, m in zip(frames, models, strict=True)]
    return pd.concat([y_true, *preds], axis=1).rename_axis("source_key").reset_index()


def write_leaderboard(results: Iterable[ModelResult], path_md: str | Path, metrics_json_dir: str | Path,
                      plots_dir: str | Path | None = None, dataset_hash: str | None = None) -> dict[str, Path]:
    """Write the leaderboard, one metrics JSON and one predictions CSV per target; returns the paths."""
    results = list(results)
    path_md, metrics_json_dir = Path(path_md), Path(metrics_json_dir)
    plots_dir = Path(plots_dir) if plots_dir is not None else path_md.parent / "plots"
    for folder in (path_md.parent, metrics_json_dir, plots_dir):
        folder.mkdir(parents=True, exist_ok=True)
    targets = list(dict.fromkeys(r.target for r in results))
    lines = ["# Baseline leaderboard", ""]
    if dataset_hash:
        lines += [f"Dataset hash: `{dataset_hash}`", ""]
    lines += ["Eval split (held-out artists); MAE/RMSE in target units; 95% CI by bootstrap over eval ARTISTS",
              "(whole artists resampled: an artist's songs are not independent observations);",
              "CV = artist-grouped folds inside train. Sorted by eval MAE.",
              f"Within-artist Spearman: the rank correlation inside each eval artist ({WITHIN_ARTIST_MIN_TRACKS}+ "
              "tracks), averaged over artists, 95% CI by the same artist bootstrap;",
              "a prediction constant within an artist ranks nothing there (0).",
              ""]
    written: dict[str, Path] = {"leaderboard": path_md}
    for target in targets:
        subset = [r for r in results if r.target == target]
        lines += [f"## {target}", "", *_table(subset), ""]
        json_path = metrics_json_dir / f"{target}.json"
        json_path.write_text(json.dumps(metrics_dict(subset), indent=2) + "\n")
        csv_path = plots_dir / f"predictions_{target}.csv"
        predictions_wide(subset).to_csv(csv_path, index=False)
        written[f"metrics_{target}"] = json_path
        written[f"predictions_{target}"] = csv_path
    path_md.write_text("\n".join(lines))
    return written
