"""Artist-grouped, seeded train/eval split and cross-validation folds.

An artist's songs share style, vocabulary and era, so a random row split would let a model recognise the
artist instead of learning the target. Every artist therefore sits wholly in train or wholly in eval, and
the CV folds inside train are artist-grouped as well. Artists are grouped by `artist.strip().casefold()` so
that "JAY-Z" and "Jay-Z" cannot straddle the split.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def artist_groups(artists: pd.Series) -> pd.Series:
    return artists.fillna("").astype(str).str.strip().str.casefold()


def _shuffled_sizes(groups: pd.Series, seed: int) -> pd.Series:
    sizes = groups.value_counts().sort_index()  # sorted first: the permutation alone decides the order
    order = np.random.default_rng(seed).permutation(len(sizes))
    return sizes.iloc[order]


def split_by_artist(df: pd.DataFrame, eval_fraction: float, seed: int) -> pd.Series:
    """'train'/'eval' per row; eval holds about `eval_fraction` of the rows, whole artists only.

    Artists are visited in a seeded random order and one goes to eval whenever that brings the eval row
    count closer to the target, so the achieved fraction is as close as artist sizes allow.
    """
    if not 0.0 < eval_fraction < 1.0:
        raise ValueError(f"eval_fraction must be in (0, 1), got {eval_fraction}; fix prepare.eval_fraction")
    groups = artist_groups(df["artist"])
    sizes = _shuffled_sizes(groups, seed)
    if len(sizes) < 2:
        raise ValueError(f"need at least 2 artists to split by artist, got {len(sizes)}; add more artists")
    target = eval_fraction * len(df)
    eval_artists: list[str] = []
    count = 0
    for artist, size in sizes.items():
        if abs(count + size - target) < abs(count - target):
            eval_artists.append(str(artist))
            count += int(size)
    if not eval_artists:  # every artist is bigger than twice the target: take the smallest one
        eval_artists = [str(sizes.sort_values(kind="mergesort").index[0])]
    if len(eval_artists) == len(sizes):
        eval_artists = eval_artists[:-1]
    split = np.where(groups.isin(set(eval_artists)), "eval", "train")
    return pd.Series(split, index=df.index, name="split")


def assign_folds(df: pd.DataFrame, n_folds: int, seed: int) -> pd.Series:
    """Fold 0..n_folds-1 per row, artist-grouped and seeded, with balanced row counts.

    Like sklearn's GroupKFold (largest group first, into the currently smallest fold), but equal-sized
    artists are taken in a seeded random order instead of by name.
    """
    if n_folds < 2:
        raise ValueError(f"n_folds must be at least 2, got {n_folds}; fix prepare.n_folds")
    groups = artist_groups(df["artist"])
    sizes = _shuffled_sizes(groups, seed)
    if len(sizes) < n_folds:
        raise ValueError(
            f"{len(sizes)} training artists cannot fill {n_folds} artist-grouped folds; lower prepare.n_folds "
            "or add artists"
        )
    sizes = sizes.sort_values(ascending=False, kind="mergesort")  # stable: ties keep the seeded order
    load = np.zeros(n_folds, dtype="int64")
    fold_of: dict[str, int] = {}
    for artist, size in sizes.items():
        fold = int(np.argmin(load))
        fold_of[str(artist)] = fold
        load[fold] += int(size)
    return pd.Series(groups.map(fold_of).astype("int64").to_numpy(), index=df.index, name="fold")
