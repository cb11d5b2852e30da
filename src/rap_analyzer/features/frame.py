"""Many lyrics -> a DataFrame of features, each track computed once and cached on disk."""

from __future__ import annotations

import math
from collections.abc import Hashable, Iterable, Sequence
from pathlib import Path
from typing import Literal

import pandas as pd
from tqdm.auto import tqdm

from rap_analyzer.config import FeaturesParams
from rap_analyzer.features import extract
from rap_analyzer.features.cache import cache_file, load_cache, save_cache, text_key
from rap_analyzer.features.extract import FEATURE_NAMES

ERROR_COLUMN = "feature_error"


def features_frame(
    texts: Iterable[str] | pd.Series,
    params: FeaturesParams,
    ids: Sequence[Hashable] | pd.Index | None = None,
    cache_dir: Path | None = None,
    progress: bool = True,
    on_error: Literal["raise", "record"] = "raise",
) -> pd.DataFrame:
    """One row of FEATURE_NAMES per text, indexed by `ids` (default: the Series index, else 0..n-1).

    With `cache_dir`, features are read from and added to a cache keyed by sha1(text), FEATURE_VERSION and
    params, so a re-run computes nothing. `on_error="record"` keeps going past texts without words: their
    row is NaN and the reason is in column `feature_error` (failures are not cached).
    """
    if isinstance(texts, pd.Series):
        index = texts.index if ids is None else pd.Index(ids)
        texts = texts.tolist()
    else:
        texts = list(texts)
        index = pd.RangeIndex(len(texts)) if ids is None else pd.Index(ids)
    if len(index) != len(texts):
        raise ValueError(f"got {len(texts)} texts but {len(index)} ids; pass one id per text")
    if on_error not in ("raise", "record"):
        raise ValueError(f"on_error must be 'raise' or 'record', got {on_error!r}")

    path = cache_file(cache_dir, params) if cache_dir is not None else None
    cached = load_cache(path) if path is not None else {}
    n_cached = len(cached)
    errors: dict[str, str] = {}
    rows: list[dict[str, float]] = []
    keys = [text_key(t) if isinstance(t, str) else f"!{type(t).__name__}" for t in texts]
    pairs = zip(texts, keys, strict=True)
    for text, key in tqdm(pairs, total=len(texts), desc="features", disable=not progress):
        if key not in cached and key not in errors:
            try:
                cached[key] = extract.extract_features(text, params)
            except (ValueError, TypeError) as exc:
                if on_error == "raise":
                    raise ValueError(f"track {index[len(rows)]!r}: {exc}") from exc
                errors[key] = str(exc)
        rows.append(cached.get(key) or dict.fromkeys(FEATURE_NAMES, math.nan))
    if path is not None and len(cached) > n_cached:
        save_cache(path, cached)

    frame = pd.DataFrame(rows, index=index, columns=FEATURE_NAMES, dtype="float64")
    if on_error == "record":
        frame[ERROR_COLUMN] = [errors.get(k) for k in keys]
    return frame
