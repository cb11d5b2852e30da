"""Figures of the prepare stage: label distributions per split and per-artist coverage."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pandas as pd

from rap_analyzer.dataset.build import TARGETS, DatasetResult


def dataset_figures(result: DatasetResult, out_dir: Path) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    fig, axes = plt.subplots(1, len(TARGETS), figsize=(12, 4))
    for ax, target in zip(axes, TARGETS, strict=True):
        for name, part in (("train", result.train), ("eval", result.eval)):
            values = part[target].dropna()
            ax.hist(values, bins=20, alpha=0.6, density=True, label=f"{name} (n={len(values)})")
        ax.set(title=target, xlabel=target, ylabel="density")
        ax.legend()
    fig.tight_layout()
    labels_path = out_dir / "label_distributions.png"
    fig.savefig(labels_path, dpi=110)
    plt.close(fig)

    per_artist = pd.DataFrame(result.info["per_artist"]).T.sort_values(["eval", "train"])
    fig, ax = plt.subplots(figsize=(8, max(4, 0.22 * len(per_artist))))
    per_artist[["train", "eval"]].plot.barh(stacked=True, ax=ax, width=0.8)
    ax.set(title="tracks per artist and split (no artist in both)", xlabel="tracks")
    fig.tight_layout()
    coverage_path = out_dir / "artist_coverage.png"
    fig.savefig(coverage_path, dpi=110)
    plt.close(fig)
    return [labels_path, coverage_path]
