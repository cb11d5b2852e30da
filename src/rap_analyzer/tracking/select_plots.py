"""Figures of the select stage (PNG, headless): MAE with artist-cluster CIs per model, predicted vs true for
the top three, and mean absolute error by release decade."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # DVC stages have no display

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from rap_analyzer.tracking.selection import TargetSelection


def _save(fig: plt.Figure, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def mae_with_ci(sel: TargetSelection, path: Path) -> Path:
    models = [c for c in sel.ranking if np.isfinite(c.metrics.get("mae", np.nan))]
    fig, ax = plt.subplots(figsize=(7, 0.45 * max(len(models), 2) + 1.2))
    y = np.arange(len(models))
    mae = np.array([c.metrics["mae"] for c in models])
    low = np.array([c.metrics.get("mae_ci_low", np.nan) for c in models])
    high = np.array([c.metrics.get("mae_ci_high", np.nan) for c in models])
    err = np.vstack([np.nan_to_num(mae - low), np.nan_to_num(high - mae)])
    colors = ["tab:red" if c is sel.champion else "tab:blue" for c in models]
    ax.errorbar(mae, y, xerr=err, fmt="none", ecolor="grey", capsize=3)
    ax.scatter(mae, y, c=colors, zorder=3)
    ax.set_yticks(y, [c.model for c in models])
    ax.invert_yaxis()
    ax.set(xlabel=f"eval MAE ({sel.target}), 95% CI by artists", title=f"{sel.target}: models on the eval split")
    return _save(fig, path)


def predicted_vs_true(sel: TargetSelection, path: Path, top: int = 3) -> Path:
    models = sel.ranking[:top]
    fig, axes = plt.subplots(1, max(len(models), 1), figsize=(4.2 * max(len(models), 1), 4.2), squeeze=False)
    for ax, c in zip(axes[0], models, strict=False):
        ok = c.frame.dropna(subset=["y_pred"])
        ax.scatter(ok["y_true"], ok["y_pred"], s=8, alpha=0.5)
        lo = float(min(ok["y_true"].min(), ok["y_pred"].min()))
        hi = float(max(ok["y_true"].max(), ok["y_pred"].max()))
        ax.plot([lo, hi], [lo, hi], color="grey", linestyle="--", linewidth=1)
        ax.set(xlabel="true", ylabel="predicted", title=f"{c.model} (MAE {c.metrics['mae']:.3f})")
    return _save(fig, path)


def decade_errors(sel: TargetSelection, top: int = 3) -> pd.DataFrame:
    """Rows: release decade ("unknown" when the track has no year); columns: the top models' MAE there."""
    out = {}
    for c in sel.ranking[:top]:
        frame = c.frame.dropna(subset=["y_pred"])
        decade = (frame["release_year"] // 10 * 10).map(lambda y: "unknown" if pd.isna(y) else f"{int(y)}s")
        out[c.model] = (frame["y_true"] - frame["y_pred"]).abs().groupby(decade).mean()
    return pd.DataFrame(out).sort_index()


def error_by_decade(sel: TargetSelection, path: Path, top: int = 3) -> Path:
    table = decade_errors(sel, top)
    fig, ax = plt.subplots(figsize=(7, 4))
    if not table.empty:
        table.plot.bar(ax=ax)
    ax.set(xlabel="release decade", ylabel=f"MAE ({sel.target})", title=f"{sel.target}: error by release decade")
    return _save(fig, path)


def write_select_plots(sel: TargetSelection, folder: Path) -> list[Path]:
    return [mae_with_ci(sel, folder / f"{sel.target}_mae_ci.png"),
            predicted_vs_true(sel, folder / f"{sel.target}_top3_pred_vs_true.png"),
            error_by_decade(sel, folder / f"{sel.target}_error_by_decade.png")]
