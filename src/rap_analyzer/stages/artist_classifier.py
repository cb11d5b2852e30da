"""Entry point of the `artist_classifier` stage: which artist wrote a text, learnt from the corpus and measured on
held-out songs of the same artists.

Reads the scrape stage's `corpus.parquet` (every track the index stage makes searchable; no service needed unless
`compare_embeddings`, which reads the index stage's vectors from pgvector, starting the embedded server when
`DATABASE_URL` is unset). Artists with fewer than `min_songs` songs are left out (counted); the songs of the others
are split, stratified by artist and seeded, into train and held-out test songs, near-copies of one song (word
TF-IDF cosine >= `duplicate_cosine`: a song filed twice, a remix) kept on one side. On the same test songs it measures
the model it saves (`kind`), the other kind when `compare_embeddings`, and a trivial reference: the class prior
(scikit-learn's DummyClassifier, fitted on the same train songs), whose top-1 is the artist with the most songs.
"""

from __future__ import annotations

import json
import shutil
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from rap_analyzer.config import Params
from rap_analyzer.errors import UserError
from rap_analyzer.models.style.classifier import (
    ArtistClassifier,
    classification_metrics,
    duplicate_groups,
    eligible,
    fit_classifier,
    save_classifier,
    save_to_store,
    split_songs,
)

SPLIT_FILE = "split.json"  # in the model folder: the held-out songs, for the style-transfer bench's sources


def _prior_reference(train_labels: np.ndarray, n_test: int, classes: list[str]) -> np.ndarray:
    """The prior classifier's probabilities for `n_test` texts: each row the train share of each artist."""
    from sklearn.dummy import DummyClassifier

    prior = DummyClassifier(strategy="prior").fit(np.zeros((len(train_labels), 1)), train_labels)
    assert list(prior.classes_) == classes  # both sort the same names
    return np.asarray(prior.predict_proba(np.zeros((n_test, 1))), dtype=float)


def _stored_vectors(params: Params, keys: list[str]) -> np.ndarray:
    """The index stage's vectors of `keys` (rows in that order). Raises UserError when pgvector lacks some."""
    from rap_analyzer.models.embeddings import model_key, stored_vectors
    from rap_analyzer.store import services

    with services.connect(params) as conn:
        vectors = stored_vectors(conn, keys, model_key(params.embed))
    missing = [k for k in keys if k not in vectors]
    if missing:
        raise UserError(f"{len(missing)} corpus tracks (e.g. {missing[0]}) have no {model_key(params.embed)} vector "
                        "in pgvector: run the index stage first (`dvc repro index`), or set "
                        "artist_classifier.compare_embeddings to false")
    return np.stack([vectors[k] for k in keys])


def per_artist_f1(y_true: list[str], proba: np.ndarray, classes: list[str]) -> pd.DataFrame:
    """Per-artist precision, recall, F1 and test songs (support) of the argmax predictions, by F1."""
    from sklearn.metrics import precision_recall_fscore_support

    predicted = np.asarray(classes, dtype=object)[np.argmax(proba, axis=1)]
    p, r, f, s = precision_recall_fscore_support(y_true, predicted, labels=classes, zero_division=0)
    return (pd.DataFrame({"artist": classes, "precision": p, "recall": r, "f1": f, "test_songs": s})
            .sort_values(["f1", "artist"], ascending=[False, True], ignore_index=True))


def plot_per_artist(table: pd.DataFrame, title: str, path: Path) -> Path:
    """Horizontal bars of each artist's held-out F1 (label: test songs), best at the top."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, max(4.0, 0.18 * len(table) + 1)))
    rows = table.iloc[::-1]
    ax.barh([f"{a} ({n})" for a, n in zip(rows["artist"], rows["test_songs"], strict=True)], rows["f1"])
    ax.set(xlabel="F1 on held-out songs", xlim=(0, 1), title=title)
    ax.tick_params(axis="y", labelsize=6)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def run(params: Params, corpus_path: Path, model_dir: Path, metrics_path: Path, timings_path: Path,
        figures_dir: Path, save_store: bool = True) -> dict[str, Any]:
    """Reads `corpus_path` (source_key, artist, lyrics_clean); writes the classifier to `model_dir` (replaced:
    classifier.json, vocabulary.json, model.skops, split.json) and, with `save_store`, as a new version of
    CLASSIFIER_NAME in the BentoML store; `metrics_path` (JSON, the same on every rerun: counts and, per model,
    accuracy, macro_f1, top-k accuracy on the held-out songs), `timings_path` (JSON, this run's seconds) and
    `figures_dir/per_artist_f1.png`. Returns the metrics with `bentoml_tag`. Raises UserError when fewer than 2
    artists have `min_songs` songs."""
    settings = params.artist_classifier
    started = time.perf_counter()
    corpus = pd.read_parquet(corpus_path, columns=["source_key", "artist", "lyrics_clean"])
    corpus = corpus.sort_values("source_key", ignore_index=True)  # the split depends on rows, not file order
    kept, left_out = eligible(corpus["artist"].tolist(), settings.min_songs)
    if len(kept) < 2:
        raise UserError(f"only {len(kept)} artists have {settings.min_songs}+ songs in {corpus_path}: lower "
                        "artist_classifier.min_songs or import more songs")
    songs = corpus[corpus["artist"].isin(kept)].reset_index(drop=True)
    groups = duplicate_groups(songs["lyrics_clean"].tolist(), settings.duplicate_cosine)
    train_idx, test_idx = split_songs(songs["artist"].tolist(), settings.test_fraction, settings.seed, groups)
    train, test = songs.iloc[train_idx], songs.iloc[test_idx]
    y_train, y_test = train["artist"].to_numpy(str), test["artist"].tolist()

    kinds = [settings.kind]
    if settings.compare_embeddings:
        kinds.append("embeddings" if settings.kind == "tfidf" else "tfidf")
    models: dict[str, ArtistClassifier] = {}
    results: dict[str, dict[str, Any]] = {}
    seconds: dict[str, dict[str, float]] = {}
    for kind in kinds:
        fit_start = time.perf_counter()
        if kind == "embeddings":
            # The index stage embedded every corpus text already: its vectors train and test this kind here.
            vectors = _stored_vectors(params, songs["source_key"].tolist())
            clf = _fit_embeddings(vectors, train_idx, y_train, params)
            fit_end = time.perf_counter()
            proba = clf.model.predict_proba(vectors[test_idx])  # type: ignore[attr-defined]
        else:
            clf = fit_classifier(train["lyrics_clean"].tolist(), y_train.tolist(), settings, kind=kind)
            fit_end = time.perf_counter()
            proba = clf.predict_proba(test["lyrics_clean"].tolist())
        models[kind] = clf
        results[kind] = classification_metrics(y_test, proba, clf.artists, settings.top_k)
        seconds[kind] = {"fit_s": round(fit_end - fit_start, 2),
                         "predict_ms_per_song": round(1000 * (time.perf_counter() - fit_end) / len(test), 3)}
        if kind == settings.kind:
            chosen_proba = proba
    classes = models[settings.kind].artists
    results["prior"] = classification_metrics(y_test, _prior_reference(y_train, len(test), classes), classes,
                                              settings.top_k)

    metrics = {
        "kind": settings.kind,
        "artists": len(kept),
        "left_out_artists": len(left_out),
        "left_out_songs": int(sum(left_out.values())),
        "songs_with_near_copies": int(np.sum(np.bincount(groups)[groups] > 1)),
        "train_songs": len(train),
        "test_songs": len(test),
        "top_k": settings.top_k,
        "model": results[settings.kind],
        **{f"reference_{k}": v for k, v in results.items() if k != settings.kind},
    }
    table = per_artist_f1(y_test, chosen_proba, classes)
    plot_per_artist(table, f"artist classifier ({settings.kind}): held-out F1 per artist (test songs)",
                    figures_dir / "per_artist_f1.png")

    clf = models[settings.kind]
    clf.metadata = {"trained_at": datetime.now(UTC).isoformat(), "corpus": str(corpus_path), "metrics": metrics,
                    "params": settings.model_dump()}
    if model_dir.exists():
        shutil.rmtree(model_dir)
    save_classifier(clf, model_dir)
    (model_dir / SPLIT_FILE).write_text(json.dumps({
        "seed": settings.seed, "test_fraction": settings.test_fraction,
        "test_source_keys": test["source_key"].tolist()}, indent=1) + "\n")
    tag = None
    if save_store:
        tag = save_to_store(clf, {"kind": settings.kind, "artists": len(kept), "trained_at": clf.metadata["trained_at"],
                                  "accuracy": results[settings.kind]["accuracy"],
                                  "macro_f1": results[settings.kind]["macro_f1"]})
    timings = {"seconds": round(time.perf_counter() - started, 2), **seconds, "bentoml_tag": tag}
    for path, data in ((metrics_path, metrics), (timings_path, timings)):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(data, indent=2) + "\n")
    return {**metrics, "bentoml_tag": tag, "seconds": timings["seconds"]}


def _fit_embeddings(vectors: np.ndarray, train_idx: np.ndarray, y_train: np.ndarray,
                    params: Params) -> ArtistClassifier:
    return fit_classifier([""] * len(train_idx), y_train.tolist(), params.artist_classifier, kind="embeddings",
                          embed=params.embed, vectors=vectors[train_idx])
