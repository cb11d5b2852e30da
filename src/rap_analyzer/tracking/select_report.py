"""The select stage's report: `reports/leaderboard.md` (words and tables) and `reports/leaderboard.json` (the
same numbers; undefined values are null), from the `TargetSelection`s of `rap_analyzer.tracking.selection`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rap_analyzer.tracking.leaderboard import WITHIN_ARTIST_HEADER, _num, format_metric, within_artist_cell
from rap_analyzer.tracking.selection import Candidate, TargetSelection

ROW_KEYS = ("n", "n_artists", "n_failed", "mae", "mae_ci_low", "mae_ci_high", "rmse", "spearman",
            "within_artist_spearman", "within_artist_spearman_ci_low", "within_artist_spearman_ci_high",
            "within_artist_n_artists")


def _clean(value: Any) -> Any:
    """JSON-safe: NaN/inf become null, numpy scalars plain numbers, containers recursively."""
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, bool):
        return value
    return _num(value) if isinstance(value, int | float) else str(value)


def candidate_row(c: Candidate, champion: Candidate | None, diffs: dict[str, dict[str, Any]],
                  cv: dict[str, dict[str, float]]) -> dict[str, Any]:
    rm = c.run_metrics
    return {
        "model": c.model, "kind": c.kind, "mlflow_run_id": c.run_id, "eval_scope": c.scope,
        **{k: c.metrics.get(k) for k in ROW_KEYS},
        "diff_vs_champion": diffs.get(c.model),
        "cv_repeated": cv.get(c.model),
        # From text with the model loaded (features/embedder included) when the select stage could load it; else
        # what the run logged (the LLM: its median request latency).
        "seconds_per_prediction": c.serving.get("seconds_per_prediction",
                                                rm.get("latency_p50_s", rm.get("predict_seconds_per_track"))),
        "load_seconds": c.serving.get("load_seconds"),
        "reproduced_max_abs_diff": c.serving.get("reproduced_max_abs_diff"),
        "model_size_bytes": rm.get("model_size_bytes"),
        "train_seconds": rm.get("train_seconds"),
        "collapsed": c.metrics.get("collapsed"),
        "servable": c.servable,
        "champion": c is champion,
    }


def selection_json(sel: TargetSelection, cv: dict[str, dict[str, float]],
                   champion_info: dict[str, Any] | None) -> dict[str, Any]:
    champ = sel.champion
    diffs = {}
    if champ is not None:
        from rap_analyzer.tracking.selection import paired

        n_bootstrap, seed = sel.info["n_bootstrap"], sel.info["seed"]
        diffs = {c.model: paired(c.frame, champ.frame, n_bootstrap, seed) for c in sel.ranking if c is not champ}
    return {
        **sel.info,
        "champion": None if champ is None else {"model": champ.model, "kind": champ.kind,
                                                "mlflow_run_id": champ.run_id, **(champion_info or {})},
        "comparisons": sel.comparisons,
        "ranking": [candidate_row(c, champ, diffs, cv) for c in sel.ranking],
        "subset_sections": sel.subsets,
        "notes": sel.notes,
    }


def _ci(row: dict[str, Any]) -> str:
    if _num(row.get("mae_ci_low")) is None:
        return "—"
    return f"{format_metric(row['mae_ci_low'])} – {format_metric(row['mae_ci_high'])}"


def _diff(d: dict[str, Any] | None) -> str:
    if not d:
        return "—"
    if _num(d["ci_low"]) is None:
        return f"{d['diff']:+.3f} (no CI)"
    mark = "" if d["established"] else " (holds 0)"
    return f"{d['diff']:+.3f} [{d['ci_low']:+.3f}, {d['ci_high']:+.3f}]{mark}"


def _cv(cv: dict[str, float] | None) -> str:
    if not cv:
        return "—"
    return f"{format_metric(cv['mean'])} ± {format_metric(cv['std'])} ({cv['n_folds']})"


def _bytes(n: Any) -> str:
    n = _num(n)
    return "—" if n is None else f"{n / 1024:.0f} KiB"


def _seconds(s: Any) -> str:
    s = _num(s)
    return "—" if s is None else f"{s:.2g}"


def target_markdown(data: dict[str, Any]) -> list[str]:
    lines = [f"## {data['target']}", ""]
    champ = data["champion"]
    lines.append(f"{data['n_eval_tracks']} labelled eval tracks by {data['n_eval_artists']} artists.")
    lines.append("")
    if champ is None:
        lines += ["**No champion**: no model scored on the whole eval split has a saved, servable model.", ""]
    else:
        lines += [f"**Champion: `{champ['model']}`** (kind `{champ['kind']}`, MLflow run `{champ['mlflow_run_id']}`"
                  + (f", BentoML `{champ['bentoml_tag']}`" if champ.get("bentoml_tag") else "") + ").", ""]
        for key in ("runner_up", "simple_baseline"):
            if key in data["comparisons"]:
                lines.append(f"- {data['comparisons'][key]['text']}")
        lines.append("")
    for note in data["notes"]:
        lines.append(f"- {note}")
    if data["notes"]:
        lines.append("")
    lines += ["### Models scored on the whole eval split", "",
              f"| model | kind | n | failed | MAE | 95% CI (MAE) | RMSE | Spearman | {WITHIN_ARTIST_HEADER} "
              "| ΔMAE vs champion [95% CI] | repeated CV MAE (folds) | s / prediction | size | train s | collapsed "
              "| MLflow run |",
              "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in data["ranking"]:
        name = f"**{r['model']}**" if r["champion"] else r["model"]
        lines.append(
            f"| {name} | {r['kind']} | {r['n']} | {r['n_failed']} | {format_metric(r['mae'])} | {_ci(r)} | "
            f"{format_metric(r['rmse'])} | {format_metric(r['spearman'])} | {within_artist_cell(r)} | "
            f"{_diff(r['diff_vs_champion'])} | "
            f"{_cv(r['cv_repeated'])} | {_seconds(r['seconds_per_prediction'])} | {_bytes(r['model_size_bytes'])} | "
            f"{_seconds(r['train_seconds'])} | {'yes' if r['collapsed'] else 'no'} | `{r['mlflow_run_id'][:8]}` |")
    lines.append("")
    for sec in data["subset_sections"]:
        lines += [f"### On `{sec['model']}`'s sample ({sec['n_tracks']} labelled tracks, {sec['n_artists']} artists)",
                  "", f"`{sec['model']}` was scored on part of the eval split only, so it is not ranked above; "
                  "here every model is scored on its tracks (its unparseable replies counted as failures).", ""]
        if "vs_best" in sec:
            lines += [f"- {sec['vs_best']['text']}", ""]
        lines += [f"| model | kind | n | failed | MAE | 95% CI (MAE) | RMSE | Spearman | {WITHIN_ARTIST_HEADER} |",
                  "|---|---|---|---|---|---|---|---|---|"]
        for r in sec["rows"]:
            lines.append(f"| {r['model']} | {r['kind']} | {r.get('n', 0)} | {r.get('n_failed', 0)} | "
                         f"{format_metric(r.get('mae'))} | {_ci(r)} | {format_metric(r.get('rmse'))} | "
                         f"{format_metric(r.get('spearman'))} | {within_artist_cell(r)} |")
        lines.append("")
    return lines


def classifier_markdown(metrics: dict[str, Any]) -> list[str]:
    """The artist classifier's section: its held-out metrics beside the references measured in the same run
    (`metrics`: the artist_classifier stage's reports/metrics/artist_classifier.json)."""
    k = metrics["top_k"]
    lines = ["## Artist classifier (text -> artist)", "",
             f"{metrics['artists']} artists with {metrics['train_songs']} train and {metrics['test_songs']} held-out "
             f"songs ({metrics['left_out_artists']} artists with too few songs left out). It identifies artists, so "
             "the held-out songs are other songs of the same artists (stratified by artist; near-copies of a song kept "
             f"on one side). Saved model: `{metrics['kind']}`.", "",
             f"| model | accuracy | macro-F1 | top-{k} accuracy |", "|---|---|---|---|"]
    rows = [(f"**{metrics['kind']}** (saved)", metrics["model"])]
    rows += [(f"{name.removeprefix('reference_')} (reference)", m) for name, m in metrics.items()
             if name.startswith("reference_")]
    for name, m in rows:
        lines.append(f"| {name} | {format_metric(m['accuracy'])} | {format_metric(m['macro_f1'])} | "
                     f"{format_metric(m[f'top{k}_accuracy'])} |")
    return [*lines, ""]


def write_report(per_target: list[dict[str, Any]], md_path: Path, json_path: Path, header: dict[str, Any],
                 artist_classifier: dict[str, Any] | None = None) -> None:
    """Write both files; `per_target` are `selection_json` results (cleaned here); `artist_classifier` (its
    stage's metrics JSON, when there is one) adds its section."""
    payload = _clean({**header, "targets": {d["target"]: d for d in per_target}})
    if artist_classifier is not None:
        payload["artist_classifier"] = _clean(artist_classifier)
    md_path.parent.mkdir(parents=True, exist_ok=True)
    json_path.write_text(json.dumps(payload, indent=2) + "\n")
    lines = ["# Leaderboard: every model in MLflow for this dataset", "",
             f"Dataset hash `{header['dataset_hash']}`. Ranked by MAE on the held-out eval split (artists no model "
             "saw); MAE/RMSE in target units. **95% CIs resample artists, not tracks** (artist-cluster percentile "
             f"bootstrap, {header['n_bootstrap']} draws, seed {header['seed']}): an artist's songs are not "
             "independent observations, so resampling tracks gives intervals that are too narrow (measured for each "
             "champion below). "
             "ΔMAE is a paired difference on the same tracks (negative: better than the champion); where its "
             "interval holds zero the difference is not established. Within-artist Spearman: the rank correlation "
             "between labels and predictions inside each eval artist, averaged over artists, its 95% CI by the same "
             "artist bootstrap; it asks whether a model orders an artist's songs, which knowing the artist's fame "
             "cannot do (a prediction constant within an artist scores 0 there). Repeated CV: "
             f"{header['cv_repeats']}×{header['cv_folds']} artist-grouped folds over all labelled artists "
             "(train and eval), for the models that train in seconds; the held-out figure picks the champion. "
             "s / prediction: from the lyrics with the saved model loaded (features or embedder included), on the "
             "machine that ran this stage (the LLM: its median request latency).", ""]
    for data in payload["targets"].values():
        lines += target_markdown(data)
    if artist_classifier is not None:
        lines += classifier_markdown(payload["artist_classifier"])
    md_path.write_text("\n".join(lines))
