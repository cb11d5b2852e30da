"""Baselines every learned model must beat, with one interface: `fit(train_df)` then `predict(df)`.

random    uniform over the train label range (seeded): the floor.
mean      the train label mean: the bar for MAE.
rule      a fixed, un-fitted formula over feature columns (see RULES): each matched feature becomes its
          percentile within train (its empirical CDF, the only thing taken from train), flipped where the
          rule says "-1", averaged into s in [0, 1], and mapped linearly onto the train label range.
          Popularity hypothesis: catchy songs (repetitive hooks, denser rhymes, plainer vocabulary) are
          viewed more. Year hypothesis: rap lyrics grew more repetitive and less lexically diverse over time.
ridge_features    median-impute + StandardScaler + Ridge on the numeric feature columns.
ridge_tfidf       TF-IDF of lyrics_clean (sublinear tf) + Ridge (conjugate gradient to a 1e-10 residual).
ridge_embeddings  Ridge on sentence embeddings looked up by source_key.

`rap_analyzer.models.baseline_runs.run_baselines` fits and scores them; a model that cannot run here (no
embeddings, no matching feature column) raises `SkipModel` with the reason.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import Ridge
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

# Substring of a feature column name (lower case) -> direction; the first matching substring wins.
# With rap_analyzer.features these match: repetition_ratio, the four *rhyme* rates, ttr, mattr, mtld and
# unique_words_first_n; every matched column weighs the same in the average.
RULES: dict[str, dict[str, int]] = {
    "popularity": {"repet": 1, "rhyme": 1, "lexical": -1, "ttr": -1, "mtld": -1, "unique": -1},
    "release_year": {"repet": 1, "lexical": -1, "ttr": -1, "mtld": -1, "unique": -1},
    # The popularity hypothesis, asked among one artist's songs (issue 13).
    "popularity_within_artist": {"repet": 1, "rhyme": 1, "lexical": -1, "ttr": -1, "mtld": -1, "unique": -1},
}


class SkipModel(Exception):
    """The model cannot run on this input; the message is the recorded reason."""


class Baseline:
    name = "baseline"

    def __init__(self, target: str) -> None:
        self.target = target

    def _labelled(self, df: pd.DataFrame) -> pd.DataFrame:
        out = df[df[self.target].notna()]
        if out.empty:
            raise SkipModel(f"no training rows with a {self.target} label")
        return out

    def fit(self, train: pd.DataFrame) -> Baseline:
        raise NotImplementedError

    def predict(self, df: pd.DataFrame) -> np.ndarray:
        raise NotImplementedError

    def params(self) -> dict[str, Any]:
        return {}


class RandomBaseline(Baseline):
    name = "random"

    def __init__(self, target: str, seed: int) -> None:
        super().__init__(target)
        self.seed = seed

    def fit(self, train: pd.DataFrame) -> RandomBaseline:
        y = self._labelled(train)[self.target]
        self.low, self.high = float(y.min()), float(y.max())
        return self

    def predict(self, df: pd.DataFrame) -> np.ndarray:
        return np.random.default_rng(self.seed).uniform(self.low, self.high, len(df))

    def params(self) -> dict[str, Any]:
        return {"seed": self.seed}


class MeanBaseline(Baseline):
    name = "mean"

    def fit(self, train: pd.DataFrame) -> MeanBaseline:
        self.mean = float(self._labelled(train)[self.target].mean())
        return self

    def predict(self, df: pd.DataFrame) -> np.ndarray:
        return np.full(len(df), self.mean)


def rule_columns(target: str, feature_cols: list[str]) -> dict[str, int]:
    """The feature columns RULES applies to for `target`, with their directions."""
    matched: dict[str, int] = {}
    for col in feature_cols:
        for key, sign in RULES.get(target, {}).items():
            if key in col.lower():
                matched[col] = sign
                break
    return matched


def rule_predict(rules: dict[str, int], sorted_train: dict[str, np.ndarray], low: float, high: float,
                 df: pd.DataFrame) -> np.ndarray:
    """The rule's prediction for each row of `df` (its feature columns): see the module docstring. Shape (n,)."""
    parts = []
    for col, sign in rules.items():
        ref = sorted_train[col]
        values = df[col].to_numpy(float)
        pct = np.searchsorted(ref, values, side="right") / max(len(ref), 1)
        # No train values for this column: its percentile is unknown, not 0.
        pct = np.where(np.isnan(values) | (len(ref) == 0), np.nan, pct)
        parts.append(pct if sign > 0 else 1.0 - pct)
    stacked = np.vstack(parts)
    # A row with every feature missing stays NaN: a failure, not a guess.
    counts = (~np.isnan(stacked)).sum(axis=0)
    score = np.where(counts > 0, np.nansum(stacked, axis=0) / np.maximum(counts, 1), np.nan)
    return low + (high - low) * score


class RuleBaseline(Baseline):
    name = "rule"

    def __init__(self, target: str, feature_cols: list[str]) -> None:
        super().__init__(target)
        self.rules = rule_columns(target, feature_cols)
        if not self.rules:
            raise SkipModel(f"no feature column matches the {target} rule keywords {list(RULES.get(target, {}))}")

    def fit(self, train: pd.DataFrame) -> RuleBaseline:
        train = self._labelled(train)
        self.sorted_train = {c: np.sort(train[c].dropna().to_numpy(float)) for c in self.rules}
        y = train[self.target]
        self.low, self.high = float(y.min()), float(y.max())
        return self

    def predict(self, df: pd.DataFrame) -> np.ndarray:
        return rule_predict(self.rules, self.sorted_train, self.low, self.high, df)

    def params(self) -> dict[str, Any]:
        return {"rules": self.rules}


class RidgeBaseline(Baseline):
    """Shared fit/predict for the three ridge models; subclasses say how rows become a matrix.

    Fit and predict run on one BLAS thread so that a rerun on any machine repeats the numbers bit for bit:
    OpenBLAS splits long dot products (a TF-IDF row has 20 000 entries) across threads and adds the partial
    sums in an order that depends on the thread count. Measured on this repository's dataset, 1 vs 2 threads
    gave ridge_tfidf popularity MAE 1.7855454082146998 vs 1.7855454082146993 (ridge_embeddings moved too).
    """

    def __init__(self, target: str, alpha: float) -> None:
        super().__init__(target)
        self.alpha = alpha
        self.model: Pipeline = self._pipeline()

    def _pipeline(self) -> Pipeline:
        raise NotImplementedError

    def _inputs(self, df: pd.DataFrame) -> Any:
        raise NotImplementedError

    def fit(self, train: pd.DataFrame) -> RidgeBaseline:
        train = self._labelled(train)
        with threadpool_limits(limits=1, user_api="blas"):
            self.model = self._pipeline().fit(self._inputs(train), train[self.target].to_numpy(float))
        return self

    def predict(self, df: pd.DataFrame) -> np.ndarray:
        with threadpool_limits(limits=1, user_api="blas"):
            return np.asarray(self.model.predict(self._inputs(df)), dtype=float)

    def params(self) -> dict[str, Any]:
        return {"alpha": self.alpha}


class RidgeFeatures(RidgeBaseline):
    name = "ridge_features"

    def __init__(self, target: str, alpha: float, feature_cols: list[str]) -> None:
        if not feature_cols:
            raise SkipModel("no feature columns given")
        self.feature_cols = list(feature_cols)
        super().__init__(target, alpha)

    def _pipeline(self) -> Pipeline:
        return make_pipeline(SimpleImputer(strategy="median"), StandardScaler(), Ridge(alpha=self.alpha))

    def _inputs(self, df: pd.DataFrame) -> Any:
        return df[self.feature_cols].to_numpy(float)

    def params(self) -> dict[str, Any]:
        return {"alpha": self.alpha, "n_features": len(self.feature_cols)}


class RidgeTfidf(RidgeBaseline):
    name = "ridge_tfidf"

    def __init__(self, target: str, alpha: float, max_features: int) -> None:
        self.max_features = max_features
        super().__init__(target, alpha)

    def _pipeline(self) -> Pipeline:
        tfidf = TfidfVectorizer(max_features=self.max_features, sublinear_tf=True)
        # Sparse input with an intercept leaves sklearn iterative solvers only. At the default tol (1e-4) the
        # stopping test turns last-bit differences (another CPU's dot-product kernel) into a different
        # iteration count, i.e. a change in the 5th digit or so; at 1e-10 the predictions on this dataset lie
        # within 3.2e-10 of an exact dense solve (MAE within 1e-12), for about twice the time (0.06 -> 0.12 s).
        return make_pipeline(tfidf, Ridge(alpha=self.alpha, solver="sparse_cg", tol=1e-10))

    def _inputs(self, df: pd.DataFrame) -> Any:
        return df["lyrics_clean"].fillna("").astype(str).to_list()

    def params(self) -> dict[str, Any]:
        return {"alpha": self.alpha, "tfidf_max_features": self.max_features}


class RidgeEmbeddings(RidgeBaseline):
    name = "ridge_embeddings"

    def __init__(self, target: str, alpha: float, embeddings: dict[str, np.ndarray] | None) -> None:
        if not embeddings:
            raise SkipModel("no embeddings given")
        self.embeddings = embeddings
        super().__init__(target, alpha)

    def _pipeline(self) -> Pipeline:
        return make_pipeline(Ridge(alpha=self.alpha))

    def _inputs(self, df: pd.DataFrame) -> Any:
        missing = [k for k in df["source_key"] if k not in self.embeddings]
        if missing:
            raise SkipModel(f"{len(missing)} of {len(df)} rows have no embedding (e.g. {missing[0]!r})")
        return np.vstack([np.asarray(self.embeddings[k], dtype=float) for k in df["source_key"]])


def embeddings_from_matrix(keys: list[str] | np.ndarray, matrix: np.ndarray) -> dict[str, np.ndarray]:
    """Row i of `matrix` belongs to `keys[i]` (the layout of the embed stage's output)."""
    if len(keys) != len(matrix):
        raise ValueError(f"{len(keys)} keys for {len(matrix)} embedding rows; they must be aligned")
    return {str(k): matrix[i] for i, k in enumerate(keys)}


def embeddings_from_frame(frame: pd.DataFrame) -> dict[str, np.ndarray]:
    """The embed stage's rows (source_key, embedding, ...) as the lookup RidgeEmbeddings takes."""
    return {str(k): np.asarray(v, dtype=float) for k, v in zip(frame["source_key"], frame["embedding"], strict=True)}
