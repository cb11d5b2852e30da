"""The prepare stage as a pure function: raw tracks in, labelled and split train/eval frames out.

`build_dataset` does no I/O; `write_dataset` writes train.parquet, eval.parquet and dataset_info.json.
Output rows keep every raw column plus `popularity`, `popularity_within_artist`, `release_year`, `split` and
`fold` (0..n_folds-1 in train, -1 in eval, which never enters cross-validation). Word counts and other features
are the features stage's (its `n_words` would collide with a column added here).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from rap_analyzer.config import PrepareParams
from rap_analyzer.dataset import filters, labels, split

TARGETS = ("popularity", "release_year", "popularity_within_artist")


@dataclass
class DatasetResult:
    train: pd.DataFrame
    eval: pd.DataFrame
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def dataset_hash(self) -> str:
        return str(self.info["dataset_hash"])


def build_dataset(raw: pd.DataFrame, params: PrepareParams, max_year: int | None = None) -> DatasetResult:
    """Filter, label and split `raw` (the columns of data/raw/tracks.parquet); see module docs."""
    filters.check_columns(raw)
    df = raw.reset_index(drop=True)
    drops: dict[str, int] = {}
    df, drops["min_words"] = filters.filter_min_words(df, params.min_words)
    df, lang_counts = filters.filter_language(df, params.languages)
    drops["language"] = lang_counts["language"]
    df, drops["duplicate_content"] = filters.deduplicate(df)
    if df.empty:
        raise ValueError(f"no tracks left after filtering {len(raw)} raw rows (dropped: {drops}); "
                         "check prepare.min_words / prepare.languages")

    df = df.copy()
    df["popularity"] = labels.popularity_score(df["pageviews"])
    raw_dates = df["release_date_raw"] if "release_date_raw" in df.columns else None
    years, year_counts = labels.release_year(df["release_date"], raw_dates, max_year=max_year)
    df["release_year"] = years
    df["popularity_within_artist"], within_counts = labels.popularity_within_artist(
        df["pageviews"], df["artist"], params.within_artist_min_songs)

    df["split"] = split.split_by_artist(df, params.eval_fraction, params.seed)
    df["fold"] = -1
    is_train = df["split"] == "train"
    df.loc[is_train, "fold"] = split.assign_folds(df[is_train], params.n_folds, params.seed)
    df["fold"] = df["fold"].astype("int64")

    df = df.sort_values("source_key", kind="mergesort").reset_index(drop=True)
    train = df[df["split"] == "train"].reset_index(drop=True)
    eval_ = df[df["split"] == "eval"].reset_index(drop=True)
    info = _info(raw, df, train, eval_, drops, lang_counts, {**year_counts, **within_counts}, params)
    return DatasetResult(train=train, eval=eval_, info=info)


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _info(raw: pd.DataFrame, df: pd.DataFrame, train: pd.DataFrame, eval_: pd.DataFrame,
          drops: dict[str, int], lang_counts: dict[str, int], label_counts: dict[str, int],
          params: PrepareParams) -> dict[str, Any]:
    ids_sha = _sha256("\n".join(sorted(df["source_key"].astype(str))))
    schema = [[str(c), str(t)] for c, t in df.dtypes.items()]
    schema_sha = _sha256(json.dumps(schema))
    # What a model result depends on: which rows, their text (content_hash), labels, split and fold, every numeric
    # value (pageviews and the feature columns the features stage added), and the columns. Without the text and the
    # feature values, a cleaning or feature change would keep the hash and old MLflow runs would pass for new ones.
    numeric = sorted(c for c in df.select_dtypes("number").columns if c not in ("fold", *TARGETS))
    hashed = ["source_key", "content_hash", "split", "fold", *TARGETS, *numeric]
    label_rows = df[hashed].to_csv(index=False, float_format="%.10g")
    dataset_hash = _sha256(ids_sha + schema_sha + label_rows)

    per_artist = (df.groupby(["artist", "split"]).size().unstack(fill_value=0)
                  .reindex(columns=["train", "eval"], fill_value=0))
    histograms: dict[str, Any] = {}
    for target in TARGETS:
        edges = labels.label_edges(target, df[target])
        histograms[target] = {name: labels.histogram(part[target], edges)
                              for name, part in (("all", df), ("train", train), ("eval", eval_))}
    return {
        "counts": {
            "raw": len(raw), "kept": len(df), "train": len(train), "eval": len(eval_),
            "artists_train": int(train["artist"].nunique()), "artists_eval": int(eval_["artist"].nunique()),
            "eval_fraction_achieved": round(len(eval_) / len(df), 4),
            "labelled": {t: {"train": int(train[t].notna().sum()), "eval": int(eval_[t].notna().sum())}
                         for t in TARGETS},
            "folds": {str(k): int(v) for k, v in train["fold"].value_counts().sort_index().items()},
        },
        "dropped": drops,
        "notes": {"language_unknown_kept": lang_counts["language_unknown_kept"], **label_counts},
        "per_artist": {str(a): {"train": int(r["train"]), "eval": int(r["eval"])}
                       for a, r in per_artist.iterrows()},
        "label_histograms": histograms,
        "source_key_sha256": ids_sha,
        "schema": schema,
        "schema_sha256": schema_sha,
        "dataset_hash": dataset_hash,
        "params": params.model_dump(mode="json"),
    }


def write_dataset(result: DatasetResult, out_dir: str | Path) -> dict[str, Path]:
    """Write train.parquet, eval.parquet and dataset_info.json into `out_dir`; returns the paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"train": out / "train.parquet", "eval": out / "eval.parquet", "info": out / "dataset_info.json"}
    result.train.to_parquet(paths["train"], index=False)
    result.eval.to_parquet(paths["eval"], index=False)
    paths["info"].write_text(json.dumps(result.info, indent=2, sort_keys=False) + "\n")
    return paths
