"""Figures of the llm_eval stage: latency, outcomes by reason, and scores against labels where replies parsed."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pandas as pd

from rap_analyzer.models.llm.evaluate import COMPARISONS
from rap_analyzer.models.plots import predicted_vs_actual


def llm_figures(records: pd.DataFrame, out_dir: Path) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    fig, (latency_ax, outcome_ax) = plt.subplots(1, 2, figsize=(12, 4))
    fresh = records.loc[~records["cached"].astype(bool), "latency_s"].dropna()
    latency_ax.hist(fresh, bins=20)
    latency_ax.set(title=f"latency of {len(fresh)} uncached requests", xlabel="seconds", ylabel="requests")
    outcomes = records["failure"].fillna("ok").value_counts().sort_values()
    outcomes.plot.barh(ax=outcome_ax, title="outcome per request")
    fig.tight_layout()
    paths = [out_dir / "llm_latency_outcomes.png"]
    fig.savefig(paths[0], dpi=110)
    plt.close(fig)
    ok = records[records["ok"].astype(bool)]
    for pred, label, _ in COMPARISONS:
        scored = pd.DataFrame({"y_true": ok[label], "y_pred": pd.to_numeric(ok[pred], errors="coerce")}).dropna()
        if len(scored):
            paths.append(predicted_vs_actual(scored, f"LLM {pred} vs {label} (n={len(scored)})",
                                             out_dir / f"llm_{label}_pred_vs_actual.png"))
    return paths
