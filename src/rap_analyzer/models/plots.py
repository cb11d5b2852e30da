"""Diagnostic plots of one model's eval predictions (PNG, headless Agg backend)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # CI and DVC stages have no display

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd


def predicted_vs_actual(predictions: pd.DataFrame, title: str, path: Path) -> Path:
    ok = predictions.dropna(subset=["y_true", "y_pred"])
    fig, ax = plt.subplots(figsize=(5, 5))
    ax.scatter(ok["y_true"], ok["y_pred"], s=8, alpha=0.5)
    lo = float(np.nanmin([ok["y_true"].min(), ok["y_pred"].min()]))
    hi = float(np.nanmax([ok["y_true"].max(), ok["y_pred"].max()]))
    ax.plot([lo, hi], [lo, hi], color="grey", linestyle="--", linewidth=1, label="perfect")
    ax.set(xlabel="actual", ylabel="predicted", title=title)
    ax.legend(loc="upper left")
    return _save(fig, path)


def residuals(predictions: pd.DataFrame, title: str, path: Path) -> Path:
    ok = predictions.dropna(subset=["y_true", "y_pred"])
    resid = ok["y_pred"] - ok["y_true"]
    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 4))
    left.scatter(ok["y_true"], resid, s=8, alpha=0.5)
    left.axhline(0.0, color="grey", linestyle="--", linewidth=1)
    left.set(xlabel="actual", ylabel="predicted − actual", title=title)
    # Residuals equal up to rounding (a constant offset) leave no room for 30 bins: numpy would refuse.
    right.hist(resid, bins=30 if len(resid) and np.ptp(resid) > 1e-6 else 1)
    right.set(xlabel="predicted − actual", ylabel="tracks", title="residual distribution")
    return _save(fig, path)


def write_plots(predictions: pd.DataFrame, model: str, target: str, out_dir: str | Path) -> list[Path]:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    title = f"{model} — {target}"
    return [
        predicted_vs_actual(predictions, title, out / f"{target}_{model}_pred_vs_actual.png"),
        residuals(predictions, title, out / f"{target}_{model}_residuals.png"),
    ]


def _save(fig: plt.Figure, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)  # figures are kept alive by pyplot otherwise: memory grows per model
    return path
