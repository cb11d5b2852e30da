"""The learning curve of a LoRA run (PNG, headless Agg backend); predicted-vs-true plots come from
`rap_analyzer.models.plots` like every other model's."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # DVC stages and CI have no display

import matplotlib.pyplot as plt
import numpy as np

from rap_analyzer.models.lora.data import TargetScaler
from rap_analyzer.models.lora.train import TrainHistory


def learning_curve(history: TrainHistory, scaler: TargetScaler, path: Path) -> Path:
    """Left: training loss (masked MSE in z units²) per optimizer step. Right, one line per target: validation MAE
    in target units (z-unit MAE × that target's train std) per evaluation, the restored best step marked."""
    fig, axes = plt.subplots(1, 1 + len(scaler.targets), figsize=(4.5 * (1 + len(scaler.targets)), 3.8))
    axes = np.atleast_1d(axes)
    axes[0].plot(history.steps, history.losses, linewidth=1)
    axes[0].set(xlabel="optimizer step", ylabel="train loss (masked MSE, z²)", title="training loss")
    val = np.array(history.val_mae_z, dtype=float).reshape(len(history.eval_steps), len(scaler.targets))
    for j, (target, std) in enumerate(zip(scaler.targets, scaler.std, strict=True)):
        ax = axes[1 + j]
        ax.plot(history.eval_steps, val[:, j] * std, marker="o", linewidth=1)
        ax.axvline(history.best_step, color="grey", linestyle="--", linewidth=1, label=f"best step {history.best_step}")
        ax.set(xlabel="optimizer step", ylabel=f"validation MAE ({target} units)", title=f"validation — {target}")
        ax.legend(loc="upper right")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
