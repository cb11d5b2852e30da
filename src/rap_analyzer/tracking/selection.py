"""Model selection from what MLflow holds: find every scored run of a dataset version and target, score each on
its own per-track predictions (the run's CSV artifact, never recomputed) against the eval split, rank the
models scored on the whole eval split, compare subset-scored models (the LLM's sample) on their own tracks,
and pick the champion with paired artist-cluster bootstrap intervals of its MAE differences.

A run enters when it carries the tags `dataset_hash`, `target`, `model`, `kind` and `eval_scope`, status "ok",
and a `predictions_*.csv` artifact (source_key, y_pred; y_true and artist optional); of several runs of the
same model name the latest counts. Whether a model is full- or subset-scored is MEASURED: full means its CSV
holds every labelled eval track (the `eval_scope` tag is only what the logger declared). Labels and artists
always come from the eval split itself.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from mlflow.entities import Run
from mlflow.tracking import MlflowClient

from rap_analyzer.models.metrics import (
    bootstrap_mae_ci,
    is_collapsed,
    paired_mae_difference,
    prediction_spread_ratio,
    regression_report,
)
from rap_analyzer.tracking.mlflow_log import MODEL_ARTIFACT

REQUIRED_TAGS = ("dataset_hash", "target", "model", "kind", "eval_scope")
SIMPLE_KINDS = ("mean", "rule")  # the bars a learned model must clear


@dataclass
class Candidate:
    """One model's latest run for a target, scored on its own predictions."""

    run_id: str
    model: str
    kind: str
    declared_scope: str
    run_metrics: dict[str, float]
    servable: bool  # has a saved predictor (`model` artifact)
    frame: pd.DataFrame  # source_key, artist, y_true, release_year, y_pred over the labelled eval tracks it scored
    scope: str = ""  # measured: "full" or "subset"
    metrics: dict[str, Any] = field(default_factory=dict)
    serving: dict[str, float] = field(default_factory=dict)  # measured by the select stage from text


def find_runs(client: MlflowClient, dataset_hash: str, target: str) -> tuple[list[Run], int]:
    """The latest finished, ok run per model name with every REQUIRED_TAG, in any experiment; and how many
    runs of this dataset and target were left out for lacking a tag."""
    experiments = [e.experiment_id for e in client.search_experiments()]
    if not experiments:
        return [], 0
    runs = client.search_runs(experiments, filter_string=f"tags.dataset_hash = '{dataset_hash}' "
                              f"AND tags.target = '{target}'", order_by=["attributes.start_time DESC"],
                              max_results=5000)
    latest: dict[str, Run] = {}
    untagged = 0
    for run in runs:
        tags = run.data.tags
        if any(not tags.get(t) for t in REQUIRED_TAGS):
            untagged += 1
            continue
        latest.setdefault(tags["model"], run)
    # The newest run of a model speaks for it: when that one was skipped or failed, an older "ok" run of a
    # configuration that no longer produces it must not stand in.
    usable = [run for run in latest.values()
              if run.data.tags.get("status", "ok") == "ok" and run.info.status == "FINISHED"]
    return usable, untagged


def _predictions(client: MlflowClient, run: Run) -> tuple[pd.DataFrame | None, bool]:
    """The run's predictions CSV (None if it has none) and whether it holds a saved model."""
    entries = client.list_artifacts(run.info.run_id)
    servable = any(e.is_dir and e.path == MODEL_ARTIFACT for e in entries)
    csvs = sorted(e.path for e in entries if not e.is_dir and Path(e.path).name.startswith("predictions_")
                  and e.path.endswith(".csv"))
    if not csvs:
        return None, servable
    with tempfile.TemporaryDirectory() as tmp:
        local = client.download_artifacts(run.info.run_id, csvs[0], tmp)
        return pd.read_csv(local, dtype={"source_key": str}), servable


def labelled_eval(eval_: pd.DataFrame, target: str) -> pd.DataFrame:
    """source_key, artist, y_true, release_year of the eval tracks labelled for `target`."""
    labelled = eval_[eval_[target].notna()]
    return pd.DataFrame({"source_key": labelled["source_key"].astype(str).to_numpy(),
                         "artist": labelled["artist"].to_numpy(),
                         "y_true": labelled[target].to_numpy(float),
                         "release_year": labelled["release_year"].to_numpy(float)})


def load_candidates(client: MlflowClient, dataset_hash: str, target: str,
                    truth: pd.DataFrame) -> tuple[list[Candidate], dict[str, Any]]:
    """Candidates for `target` with their predictions aligned to `truth` (see `labelled_eval`). Raises
    ValueError when a run's labels disagree with the eval split (another dataset version)."""
    runs, untagged = find_runs(client, dataset_hash, target)
    skipped: dict[str, str] = {}
    out = []
    truth_keys = set(truth["source_key"])
    for run in runs:
        tags = run.data.tags
        preds, servable = _predictions(client, run)
        if preds is None or "y_pred" not in preds.columns:
            skipped[tags["model"]] = "no predictions_*.csv artifact with a y_pred column"
            continue
        preds = preds.drop_duplicates("source_key")
        merged = truth.merge(preds[[c for c in ("source_key", "y_true", "y_pred") if c in preds.columns]],
                             on="source_key", how="inner", suffixes=("", "_run"))
        if "y_true_run" in merged.columns:
            both = merged["y_true_run"].notna()
            if not np.allclose(merged.loc[both, "y_true_run"], merged.loc[both, "y_true"]):
                raise ValueError(f"run {run.info.run_id} ({tags['model']}) has other labels than the eval split: "
                                 "it comes from another dataset version; re-run its stage")
            merged = merged.drop(columns="y_true_run")
        if merged.empty:
            skipped[tags["model"]] = "its predictions cover no labelled eval track"
            continue
        scope = "full" if truth_keys <= set(merged["source_key"]) else "subset"
        out.append(Candidate(run_id=run.info.run_id, model=tags["model"], kind=tags["kind"],
                             declared_scope=tags["eval_scope"], run_metrics=dict(run.data.metrics),
                             servable=servable, frame=merged, scope=scope))
    return out, {"untagged_runs": untagged, "skipped": skipped}


def score(frame: pd.DataFrame, n_bootstrap: int, seed: int, collapse_ratio: float) -> dict[str, Any]:
    """regression_report over `frame` (CI by artists; failures counted) plus `collapsed`: the predictions'
    spread is below `collapse_ratio` × the labels' (a model that predicts about one value for everything)."""
    y_pred = frame["y_pred"].to_numpy(float)
    if not np.isfinite(y_pred).any():
        return {"n": 0, "n_failed": len(frame), "mae": float("nan"), "collapsed": True}
    report = regression_report(frame["y_true"], y_pred, n_bootstrap, seed, count_failures=True,
                               groups=frame["artist"])
    report["collapsed"] = is_collapsed(prediction_spread_ratio(frame["y_true"], y_pred), collapse_ratio)
    return report


def paired(frame_a: pd.DataFrame, frame_b: pd.DataFrame, n_bootstrap: int, seed: int) -> dict[str, Any]:
    """MAE(a) − MAE(b) on the tracks both scored, paired artist-cluster bootstrap (negative: a is better)."""
    both = frame_a.merge(frame_b[["source_key", "y_pred"]], on="source_key", suffixes=("_a", "_b"))
    diff = paired_mae_difference(both["y_true"], both["y_pred_a"], both["y_pred_b"], both["artist"],
                                 n_bootstrap, seed)
    labelled = both["y_true"].notna()
    diff["n_failed_a"] = int((labelled & ~np.isfinite(both["y_pred_a"].to_numpy(float))).sum())
    diff["n_failed_b"] = int((labelled & ~np.isfinite(both["y_pred_b"].to_numpy(float))).sum())
    return diff


def verdict(a: str, b: str, diff: dict[str, Any]) -> str:
    """The comparison in words; a CI holding zero says plainly that the win is not established."""
    lo, hi, d = diff["ci_low"], diff["ci_high"], diff["diff"]
    interval = f"MAE difference {d:+.3f} (95% CI {lo:+.3f} to {hi:+.3f}, {diff['n_artists']} artists)"
    if not np.isfinite(lo):
        return f"{a} vs {b}: {interval}; too few artists for an interval, so the win is not established."
    winner, winner_failed = (a, diff.get("n_failed_a", 0)) if d < 0 else (b, diff.get("n_failed_b", 0))
    if winner_failed:  # the tracks it failed on are left out of its MAE: it may only look better
        return (f"{a} vs {b}: {interval} on the tracks both predicted; {winner} failed on {winner_failed} others, "
                "left out, so its win is not established.")
    if not diff["established"]:
        return f"{a} vs {b}: {interval}; the interval holds zero, so the win over {b} is not established."
    better, worse = (a, b) if d < 0 else (b, a)
    return f"{a} vs {b}: {interval}; {better} is better than {worse}, and the interval excludes zero."


@dataclass
class TargetSelection:
    target: str
    ranking: list[Candidate]  # full-scope, by eval MAE
    subsets: list[dict[str, Any]]  # one section per subset-scored model
    champion: Candidate | None
    comparisons: dict[str, dict[str, Any]]  # "runner_up", "simple_baseline": {"other", "diff", "text"}
    notes: list[str]
    info: dict[str, Any]


def select_target(candidates: list[Candidate], target: str, n_bootstrap: int, seed: int, collapse_ratio: float,
                  servable_kinds: list[str], info: dict[str, Any] | None = None) -> TargetSelection:
    """Rank full-scope candidates by eval MAE (ties by name), pick the lowest-MAE servable one as champion and
    compare it, paired, with the runner-up and the best simple baseline; each subset-scored model gets a
    section comparing it with every full-scope model on its own tracks."""
    notes: list[str] = []
    for c in candidates:
        c.metrics = score(c.frame, n_bootstrap, seed, collapse_ratio)
    full = [c for c in candidates if c.scope == "full"]
    # Its MAE leaves out the tracks a model failed on, so a model failing on the hard tracks would look best:
    # models that failed anywhere rank after the complete ones and are never champion.
    full.sort(key=lambda c: (c.metrics["n_failed"] > 0, np.nan_to_num(c.metrics["mae"], nan=np.inf), c.model))
    for c in full:
        if c.metrics["n_failed"] > 0:
            notes.append(f"{c.model} failed on {c.metrics['n_failed']} eval tracks: its MAE covers the others "
                         "only, so it is ranked after every model that predicted them all and cannot be champion.")
    for c in candidates:
        if c.scope != c.declared_scope:
            notes.append(f"{c.model} was logged with eval_scope={c.declared_scope} but its predictions cover "
                         f"{'every' if c.scope == 'full' else 'only some'} labelled eval tracks: treated as {c.scope}.")
    champion = next((c for c in full if c.servable and c.kind in servable_kinds and c.metrics["n_failed"] == 0),
                    None)
    if full and champion is not full[0]:
        notes.append(f"{full[0].model} has the lowest eval MAE but no saved model of a servable kind; the "
                     f"champion is the best servable model{'' if champion is None else f', {champion.model}'}.")
    comparisons: dict[str, dict[str, Any]] = {}
    if champion is not None:
        others = [c for c in full if c is not champion]
        if others:
            diff = paired(champion.frame, others[0].frame, n_bootstrap, seed)
            comparisons["runner_up"] = {"other": others[0].model, "diff": diff,
                                        "text": verdict(champion.model, others[0].model, diff)}
        simple = [c for c in full if c.kind in SIMPLE_KINDS and c is not champion]
        if champion.kind in SIMPLE_KINDS:
            notes.append(f"The champion {champion.model} is itself a simple baseline: no learned model beats it.")
        if simple:
            diff = paired(champion.frame, simple[0].frame, n_bootstrap, seed)
            comparisons["simple_baseline"] = {"other": simple[0].model, "diff": diff,
                                              "text": verdict(champion.model, simple[0].model, diff)}
    if champion is not None and np.isfinite(champion.metrics.get("mae_ci_low", np.nan)):
        # Measured here, not assumed: how much narrower the (wrong) track bootstrap would have been.
        ok = champion.frame.dropna(subset=["y_pred"])
        low, high = bootstrap_mae_ci(ok["y_true"], ok["y_pred"], n_bootstrap, seed)
        width = champion.metrics["mae_ci_high"] - champion.metrics["mae_ci_low"]
        # Usually narrower; wider where every artist's MAE is about the same, as for popularity_within_artist,
        # whose labels are spread evenly over 1..10 inside each artist.
        if width >= high - low:
            ratio = f"{width / (high - low):.1f}× narrower" if high > low else "narrower"
        else:
            ratio = f"{(high - low) / width:.1f}× wider" if width > 0 else "wider"
        notes.append(f"Resampling tracks instead of artists would have given {champion.model} a 95% CI of "
                     f"{low:.3f} – {high:.3f}, {ratio} than the artist interval "
                     f"{champion.metrics['mae_ci_low']:.3f} – {champion.metrics['mae_ci_high']:.3f}.")
    subsets = [_subset_section(c, full, n_bootstrap, seed, collapse_ratio) for c in candidates if c.scope == "subset"]
    return TargetSelection(target, full, subsets, champion, comparisons, notes, info or {})


def _subset_section(sub: Candidate, full: list[Candidate], n_bootstrap: int, seed: int,
                    collapse_ratio: float) -> dict[str, Any]:
    """Every full-scope model scored on `sub`'s tracks (the same labelled tracks for all; `sub`'s failures
    counted), ranked, with the paired difference of `sub` against the best of them there."""
    keys = set(sub.frame["source_key"])
    rows = [{"model": sub.model, "kind": sub.kind, "run_id": sub.run_id, **sub.metrics}]
    best: tuple[float, Candidate] | None = None
    for c in full:
        on_subset = c.frame[c.frame["source_key"].isin(keys)]
        metrics = score(on_subset, n_bootstrap, seed, collapse_ratio)
        rows.append({"model": c.model, "kind": c.kind, "run_id": c.run_id, **metrics})
        if np.isfinite(metrics["mae"]) and (best is None or metrics["mae"] < best[0]):
            best = (metrics["mae"], c)
    rows.sort(key=lambda r: np.nan_to_num(r["mae"], nan=np.inf))
    section: dict[str, Any] = {"model": sub.model, "n_tracks": len(sub.frame),
                               "n_artists": int(sub.frame["artist"].nunique()), "rows": rows}
    if best is not None and sub.metrics.get("n"):
        diff = paired(sub.frame, best[1].frame, n_bootstrap, seed)
        section["vs_best"] = {"other": best[1].model, "diff": diff, "text": verdict(sub.model, best[1].model, diff)}
    return section
