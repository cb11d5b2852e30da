"""What the LoRA regressor sees: one text format for training and prediction, z-scored targets with NaN for a
missing label, the artist-grouped validation fold, and padded batches.

SmolLM2's pad and end-of-text tokens are the same id (2), and a sequence-classification head reads the last
non-pad token, so the text never ends with that token: it is the lyrics after a fixed prefix (which also keeps an
empty lyric from becoming an empty sequence), truncated to the first `max_tokens` tokens, no special tokens added.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from rap_analyzer.dataset.split import artist_groups
from rap_analyzer.errors import ConfigError

PREFIX = "Lyrics:\n"


def format_lyrics(lyrics: str | None) -> str:
    """The text the model reads for one song (the same in training and prediction)."""
    return PREFIX + ("" if lyrics is None else str(lyrics).strip())


def encode(tokenizer: Any, lyrics: Sequence[str | None], max_tokens: int) -> list[list[int]]:
    """Token ids per song: `format_lyrics`, truncated to `max_tokens`, no special tokens (see the module note); a
    special token's text inside the lyrics (e.g. "<|im_end|>") is read as plain text, never as the control token."""
    texts = [format_lyrics(text) for text in lyrics]
    out = tokenizer(texts, truncation=True, max_length=max_tokens, add_special_tokens=False, split_special_tokens=True)
    return [list(ids) for ids in out["input_ids"]]


def pad_batch(tokenizer: Any, ids: Sequence[list[int]], device: str = "cpu") -> dict[str, Any]:
    """Right-padded `input_ids` and `attention_mask` tensors on `device`, shape (batch, longest)."""
    padded = tokenizer.pad({"input_ids": list(ids)}, padding=True, return_tensors="pt")
    return {key: value.to(device) for key, value in padded.items()}


@dataclass(frozen=True)
class TargetScaler:
    """z = (y − mean) / std per target, fitted on train labels (population std, NaN labels ignored); NaN stays NaN.

    Arrays are (n, k) with columns in `targets` order.
    """

    targets: tuple[str, ...]
    mean: tuple[float, ...]
    std: tuple[float, ...]

    @classmethod
    def fit(cls, frame: pd.DataFrame, targets: Sequence[str]) -> TargetScaler:
        """Raises ValueError for a target with fewer than 2 labels or constant labels (no z-score exists)."""
        means, stds = [], []
        for target in targets:
            values = frame[target].to_numpy(float)
            values = values[~np.isnan(values)]
            if len(values) < 2 or float(values.std()) == 0.0:
                raise ValueError(f"target {target!r} has {len(values)} train labels with no spread; "
                                 "drop it from finetune.targets or add labelled tracks")
            means.append(float(values.mean()))
            stds.append(float(values.std()))
        return cls(tuple(targets), tuple(means), tuple(stds))

    def transform(self, y: np.ndarray) -> np.ndarray:
        return ((np.asarray(y, dtype=np.float64) - np.array(self.mean)) / np.array(self.std)).astype(np.float32)

    def inverse(self, z: np.ndarray) -> np.ndarray:
        return np.asarray(z, dtype=np.float64) * np.array(self.std) + np.array(self.mean)

    def to_dict(self) -> dict[str, Any]:
        return {"targets": list(self.targets), "mean": list(self.mean), "std": list(self.std)}

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> TargetScaler:
        return cls(tuple(raw["targets"]), tuple(float(v) for v in raw["mean"]), tuple(float(v) for v in raw["std"]))


def labels(frame: pd.DataFrame, targets: Sequence[str]) -> np.ndarray:
    """(n, k) float labels, NaN where missing."""
    return frame[list(targets)].to_numpy(dtype=np.float64)


def fit_val_split(train: pd.DataFrame, val_fold: int, max_train: int | None, max_val: int | None,
                  seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(fit, validation): the validation rows are train fold `val_fold` (whole artists, as the folds are
    artist-grouped), the rest are fitted on; each is a seeded random sample of at most `max_train` / `max_val`.

    Raises ConfigError naming `finetune.val_fold` when that fold does not exist or would leave nothing to fit.
    """
    folds = sorted(int(f) for f in train["fold"].unique())
    if val_fold not in folds or len(folds) < 2:
        raise ConfigError(f"finetune.val_fold = {val_fold} is not one of the train folds {folds} (or only one "
                          "fold exists); pick one of them, or raise prepare.n_folds")
    held = train["fold"] == val_fold
    fit, val = train[~held], train[held]
    overlap = set(artist_groups(fit["artist"])) & set(artist_groups(val["artist"]))
    if overlap:  # the folds come from dataset.split.assign_folds; guard against a hand-made one
        raise ValueError(f"validation fold shares artists with the rest of train: {sorted(overlap)[:5]}")
    if max_train is not None and len(fit) > max_train:
        fit = fit.sample(n=max_train, random_state=seed)
    if max_val is not None and len(val) > max_val:
        val = val.sample(n=max_val, random_state=seed)
    return fit.reset_index(drop=True), val.reset_index(drop=True)
