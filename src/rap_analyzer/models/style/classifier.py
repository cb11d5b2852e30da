"""The artist classifier: lyrics -> a probability for each artist of the corpus, and how strongly a text reads as
one given artist (its probability and its rank among all artists).

It identifies artists, so it is trained on some songs of every artist and measured on the other songs of the
same artists (`split_songs`: stratified by artist, seeded); an artist with fewer than `min_songs` corpus songs is
left out (`eligible`). Two kinds, both a multinomial logistic regression (scikit-learn) over:

- `tfidf`: TF-IDF of word n-grams and of character n-grams within word boundaries, side by side;
- `embeddings`: the project's sentence embedding of the text (`rap_analyzer.models.embeddings`, offline).

Texts go in as a user would send them: `normalise_lyrics` first applies the scraper's cleaning (Genius page
furniture and section headers such as "[Verse 1: Nas]" out, since a header naming the artist would give the answer
away) and the shared character folding, the same to training and scored texts.

Saved folders (`save_classifier`) hold `classifier.json` (kind, artists, embedder, metadata), `vocabulary.json`
(the TF-IDF terms) and `model.skops`: skops stores the fitted scikit-learn objects without pickle and refuses, on
load, any type outside its allow-list, so a folder cannot run code when read. The stage also saves the folder as a
version of `CLASSIFIER_NAME` in the project's BentoML store (`save_to_store` / `load_from_store`).
"""

from __future__ import annotations

import json
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from rap_analyzer.config import ArtistClassifierParams, EmbedParams
from rap_analyzer.errors import UserError
from rap_analyzer.models.bento_store import bentoml_home, model_store
from rap_analyzer.scrape.cleaning import clean_text
from rap_analyzer.text import fold_text

if TYPE_CHECKING:
    from sklearn.base import ClassifierMixin

CLASSIFIER_NAME = "rap-analyzer-artist-classifier"
META_FILE = "classifier.json"
STATE_FILE = "model.skops"
VOCABULARY_FILE = "vocabulary.json"
FORMAT_VERSION = 2  # 2: the vocabularies in vocabulary.json
Kind = Literal["tfidf", "embeddings"]
# Types skops does not trust by default but a fitted pipeline here holds; anything else in a file is refused.
SKOPS_TRUSTED = ("numpy.dtype",)


@dataclass(frozen=True)
class StyleScore:
    """How strongly one text reads as `artist`: `probability` in [0, 1] (the classifier's, over `n_artists`
    artists summing to 1), `rank` 1 + the number of artists with a strictly higher probability (1 = most likely;
    ties share the better rank), and `top`: the `TOP_N` most likely (artist, probability), best first."""

    artist: str
    probability: float
    rank: int
    n_artists: int
    top: list[tuple[str, float]]


TOP_N = 3


def normalise_lyrics(text: str) -> str:
    """What the classifier reads of a text: the scraper's `clean_text` (page furniture and section headers out,
    line breaks kept) and then `fold_text` (one character for each apostrophe, quote, dash; Latin letters
    without a decomposition transliterated). Corpus texts, cleaned already, come back (almost) unchanged."""
    return fold_text(clean_text(text)[0])


@dataclass
class ArtistClassifier:
    """A fitted classifier. `model` is a scikit-learn classifier with `predict_proba` and `classes_` (the artist
    names, sorted), taking the normalised texts (`kind` tfidf: a TF-IDF + logistic regression pipeline) or their
    embeddings (`kind` embeddings: `embedder` holds the EmbedParams fields the vectors were made with).
    `metadata` is JSON-like (the training run's counts and metrics), saved along."""

    kind: Kind
    model: ClassifierMixin
    embedder: dict[str, Any] | None = None
    metadata: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.kind == "embeddings" and not self.embedder:
            raise ValueError("an embeddings classifier needs `embedder` (the EmbedParams its vectors came from)")
        self._index = {artist: i for i, artist in enumerate(self.artists)}

    @property
    def artists(self) -> list[str]:
        """The classes: canonical artist names as the corpus stores them, in the column order of
        `predict_proba`."""
        return [str(a) for a in self.model.classes_]  # type: ignore[attr-defined]

    def _inputs(self, texts: Sequence[str]) -> Any:
        normalised = [normalise_lyrics(t) for t in texts]
        if self.kind == "tfidf":
            return normalised
        from rap_analyzer.models.embeddings import embed_texts

        return embed_texts(normalised, EmbedParams(**self.embedder or {}), progress=False)

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """Shape (len(texts), len(self.artists)), float64, each row summing to 1; column j is `artists[j]`.
        A text with no words gets the model's answer for an empty text (the class priors, roughly)."""
        if isinstance(texts, str):
            raise TypeError("predict_proba takes a list of texts, not one string")
        if len(texts) == 0:
            return np.empty((0, len(self.artists)), dtype=float)
        return np.asarray(self.model.predict_proba(self._inputs(texts)), dtype=float)  # type: ignore[attr-defined]

    def artist_index(self, artist: str) -> int:
        """The column of `artist` (exact, canonical name). Raises ValueError naming it when it is not a class."""
        try:
            return self._index[artist]
        except KeyError:
            raise ValueError(f"artist {artist!r} is not one of the {len(self._index)} artists the classifier knows; "
                             "resolve the name first (rap_analyzer.models.style.artists.resolve_artist) or retrain "
                             "with the artist in the corpus (`dvc repro artist_classifier`)") from None

    def score(self, text: str, artist: str) -> StyleScore:
        """How strongly `text` reads as `artist`; raises ValueError for an artist that is not a class."""
        return self.scores([text], [artist])[0]

    def scores(self, texts: Sequence[str], artists: Sequence[str]) -> list[StyleScore]:
        """`score` of each (text, artist) pair, in one model call. Raises ValueError for lists of different
        lengths or an unknown artist (before any work)."""
        if len(texts) != len(artists):
            raise ValueError(f"{len(texts)} texts but {len(artists)} artists: give one artist per text")
        columns = [self.artist_index(a) for a in artists]
        proba = self.predict_proba(texts)
        return [style_score(row, column, self.artists) for row, column in zip(proba, columns, strict=True)]


def style_score(row: np.ndarray, column: int, artists: Sequence[str], top_n: int = TOP_N) -> StyleScore:
    """The StyleScore of class `column` in one probability row (shape (n_artists,))."""
    p = float(row[column])
    order = np.argsort(-row, kind="stable")[:top_n]
    return StyleScore(artist=artists[column], probability=p, rank=int(np.sum(row > row[column])) + 1,
                      n_artists=len(artists), top=[(artists[i], float(row[i])) for i in order])


# ---------------------------------------------------------------- training data


def eligible(artists: Sequence[str], min_songs: int) -> tuple[list[str], dict[str, int]]:
    """The artists with at least `min_songs` songs (sorted), and the left-out ones with their song counts."""
    names, counts = np.unique(np.asarray(artists, dtype=object).astype(str), return_counts=True)
    kept = [str(n) for n, c in zip(names, counts, strict=True) if c >= min_songs]
    left_out = {str(n): int(c) for n, c in zip(names, counts, strict=True) if c < min_songs}
    return kept, left_out


def duplicate_groups(texts: Sequence[str], threshold: float, chunk: int = 1000) -> np.ndarray:
    """A group id per text (shape (len(texts),), int): texts whose word TF-IDF vectors (sublinear tf, l2) have
    cosine >= `threshold`, directly or through a chain of such texts, share a group. The same song filed twice
    ("Nymphos" and "Nymphos (Remix)", a freestyle released again under another title) is one group, so a split
    that keeps groups whole cannot train on a song and test on its copy. Compared `chunk` rows at a time (memory)."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components
    from sklearn.feature_extraction.text import TfidfVectorizer

    if not 0 < threshold <= 1:
        raise ValueError(f"threshold {threshold} is not a cosine in (0, 1]")
    n = len(texts)
    if n == 0:
        return np.empty(0, dtype=int)
    x = TfidfVectorizer(sublinear_tf=True, dtype=np.float32).fit_transform([normalise_lyrics(t) for t in texts])
    rows, cols = [], []
    for start in range(0, n, chunk):
        sims = (x[start:start + chunk] @ x.T).tocoo()
        # float32 products of a text with itself land a few ulps below 1: a small allowance keeps exact copies in.
        hit = (sims.data >= threshold - 1e-6) & (sims.row + start != sims.col)
        rows.append(sims.row[hit] + start)
        cols.append(sims.col[hit])
    r, c = np.concatenate(rows), np.concatenate(cols)
    graph = coo_matrix((np.ones(len(r), dtype=np.int8), (r, c)), shape=(n, n))
    return connected_components(graph, directed=False)[1]


def split_songs(artists: Sequence[str], test_fraction: float, seed: int,
                groups: Sequence[int] | np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Indices (train, test) of a split of songs, stratified by artist and seeded: scikit-learn's
    StratifiedGroupKFold with round(1 / test_fraction) folds, the first fold the test songs. Each artist keeps
    about `1 - test_fraction` of its songs in train, so every artist of the test songs is in train; no song is in
    both, and songs of one `groups` id (default: each song its own; `duplicate_groups` for near-copies) are on the
    same side. Raises ValueError when an artist has fewer than 2 songs (it cannot be on both sides) or
    `test_fraction` is not in (0, 0.5]."""
    from sklearn.model_selection import StratifiedGroupKFold

    if not 0 < test_fraction <= 0.5:
        raise ValueError(f"test_fraction {test_fraction} must be in (0, 0.5]")
    labels = np.asarray(artists, dtype=object).astype(str)
    _, counts = np.unique(labels, return_counts=True)
    if len(counts) and counts.min() < 2:
        raise ValueError("every artist needs at least 2 songs to be split into train and test songs; "
                         "filter with `eligible(artists, min_songs)` first")
    group_ids = np.arange(len(labels)) if groups is None else np.asarray(groups)
    if len(group_ids) != len(labels):
        raise ValueError(f"{len(group_ids)} group ids for {len(labels)} songs")
    folds = StratifiedGroupKFold(n_splits=max(2, round(1 / test_fraction)), shuffle=True, random_state=seed)
    train, test = next(folds.split(np.zeros(len(labels)), labels, group_ids))
    unseen = sorted(set(labels[test]) - set(labels[train]))
    if unseen:  # all of an artist's songs in one group: nothing of theirs left to learn from
        raise ValueError(f"artists {unseen[:5]} have every song in the test fold (their songs are one group of "
                         "near-copies); leave them out or raise the duplicate threshold")
    return np.sort(train), np.sort(test)


# ---------------------------------------------------------------- fitting


def _tfidf_pipeline(params: ArtistClassifierParams) -> Any:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.pipeline import FeatureUnion, Pipeline

    parts = [("word", TfidfVectorizer(analyzer="word", ngram_range=(1, params.word_ngram_max),
                                      max_features=params.word_max_features, min_df=params.min_df,
                                      sublinear_tf=True, dtype=np.float32))]
    if params.char_max_features:
        parts.append(("char", TfidfVectorizer(analyzer="char_wb",
                                              ngram_range=(params.char_ngram_min, params.char_ngram_max),
                                              max_features=params.char_max_features, min_df=params.min_df,
                                              sublinear_tf=True, dtype=np.float32)))
    return Pipeline([("features", FeatureUnion(parts)), ("logreg", _logreg(params))])


def _logreg(params: ArtistClassifierParams) -> Any:
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(C=params.regularisation_c, max_iter=params.max_iter,
                              class_weight=None if params.class_weight == "none" else "balanced")


def fit_classifier(texts: Sequence[str], artists: Sequence[str], params: ArtistClassifierParams,
                   kind: Kind | None = None, embed: EmbedParams | None = None,
                   vectors: np.ndarray | None = None) -> ArtistClassifier:
    """Fit a classifier of `kind` (default `params.kind`) on `texts` (raw lyrics) labelled with `artists` (one
    canonical name per text; every name becomes a class, so filter with `eligible` first).

    `embeddings` needs `embed` (the EmbedParams to embed with) and takes `vectors` (shape (len(texts), dim), the
    embedder's vectors of these texts, e.g. the index stage's from pgvector) instead of embedding here when given.
    Raises ValueError for fewer than 2 artists or mismatched lengths."""
    kind = kind or params.kind
    if len(texts) != len(artists):
        raise ValueError(f"{len(texts)} texts but {len(artists)} artists: give one artist per text")
    labels = np.asarray(artists, dtype=object).astype(str)
    if len(np.unique(labels)) < 2:
        raise ValueError("the classifier needs songs of at least 2 artists")
    if kind == "tfidf":
        model = _tfidf_pipeline(params)
        model.fit([normalise_lyrics(t) for t in texts], labels)
        return ArtistClassifier("tfidf", model)
    if embed is None:
        raise ValueError("kind 'embeddings' needs `embed` (EmbedParams)")
    if vectors is None:
        from rap_analyzer.models.embeddings import embed_texts

        vectors = embed_texts([normalise_lyrics(t) for t in texts], embed, progress=False)
    if len(vectors) != len(texts):
        raise ValueError(f"{len(vectors)} vectors for {len(texts)} texts")
    model = _logreg(params).fit(np.asarray(vectors, dtype=np.float32), labels)
    return ArtistClassifier("embeddings", model, embedder=embed.model_dump())


# ---------------------------------------------------------------- metrics


def classification_metrics(y_true: Sequence[str], proba: np.ndarray, classes: Sequence[str],
                           top_k: int = TOP_N) -> dict[str, float | int]:
    """Accuracy, macro-F1 (over the artists present in `y_true` or predicted, scikit-learn's definition) and
    top-`top_k` accuracy (the true artist among the k highest probabilities) of probability rows `proba`
    (shape (n, len(classes))) against the true artists `y_true` (each one of `classes`). Predictions are each
    row's argmax (the first class on ties)."""
    from sklearn.metrics import accuracy_score, f1_score, top_k_accuracy_score

    classes = list(classes)
    unknown = sorted(set(y_true) - set(classes))
    if unknown:
        raise ValueError(f"true artists {unknown[:5]} are not among the classes")
    predicted = np.asarray(classes, dtype=object)[np.argmax(proba, axis=1)]
    k = min(top_k, len(classes))
    return {
        "n": len(y_true),
        "accuracy": float(accuracy_score(y_true, predicted)),
        "macro_f1": float(f1_score(y_true, predicted, average="macro", zero_division=0)),
        f"top{top_k}_accuracy": float(top_k_accuracy_score(y_true, proba, k=k, labels=classes))
        if len(classes) > 2 else float(accuracy_score(y_true, predicted)),
    }


# ---------------------------------------------------------------- saving


def _vectorizers(model: Any) -> dict[str, Any]:
    """The fitted steps holding a `vocabulary_` dict, by their path of step names ("features/word")."""
    found, todo = {}, [("", model)]
    while todo:
        path, step = todo.pop()
        if isinstance(getattr(step, "vocabulary_", None), dict):
            found[path] = step
        children = [*getattr(step, "steps", []), *getattr(step, "transformer_list", [])]
        todo.extend((f"{path}/{name}".strip("/"), child) for name, child in children)
    return found


def save_classifier(clf: ArtistClassifier, directory: Path) -> None:
    """Write `clf` into `directory` (created; files of the same names replaced): `model.skops`,
    `vocabulary.json` and `classifier.json` ({"format", "kind", "artists", "embedder", "metadata", "sklearn"}).

    The TF-IDF vocabularies (up to word_max_features + char_max_features terms) go to `vocabulary.json`, each
    as its terms in column order: skops writes a dict item by item and reads it back in tens of seconds, JSON in a
    fraction of one. TF-IDF's `stop_words_` (kept "only for introspection", scikit-learn's docs say, and "can be
    safely removed") is dropped."""
    import sklearn
    import skops.io as sio

    directory.mkdir(parents=True, exist_ok=True)
    vectorizers = _vectorizers(clf.model)
    saved = {path: step.vocabulary_ for path, step in vectorizers.items()}
    try:
        for step in vectorizers.values():
            step.stop_words_ = None
            step.vocabulary_ = {}
        sio.dump({"model": clf.model}, directory / STATE_FILE, compression=zipfile.ZIP_DEFLATED)
    finally:
        for path, vocabulary in saved.items():
            vectorizers[path].vocabulary_ = vocabulary
    vocabularies = {path: [str(t) for t in sorted(v, key=v.__getitem__)] for path, v in saved.items()}
    (directory / VOCABULARY_FILE).write_text(json.dumps(vocabularies, ensure_ascii=False))
    meta = {"format": FORMAT_VERSION, "kind": clf.kind, "artists": clf.artists, "embedder": clf.embedder,
            "sklearn": sklearn.__version__, "metadata": clf.metadata}
    (directory / META_FILE).write_text(json.dumps(meta, indent=2, default=_jsonable) + "\n")


def load_classifier(directory: Path) -> ArtistClassifier:
    """The classifier `save_classifier` wrote to `directory`. Raises UserError for a folder that is not one, a
    file holding types this project does not load, or artists that disagree with `classifier.json`."""
    import skops.io as sio

    meta_path, state_path = directory / META_FILE, directory / STATE_FILE
    if not meta_path.is_file() or not state_path.is_file():
        raise UserError(f"{directory} holds no saved artist classifier ({META_FILE} and {STATE_FILE}): run "
                        "`dvc repro artist_classifier` (or `rap-analyzer artist-classifier`) to train one")
    meta = json.loads(meta_path.read_text())
    if meta.get("format") != FORMAT_VERSION or meta.get("kind") not in ("tfidf", "embeddings"):
        raise UserError(f"{meta_path} is format {meta.get('format')!r}, kind {meta.get('kind')!r}; this version "
                        f"reads format {FORMAT_VERSION}: retrain with `dvc repro artist_classifier`")
    untrusted = sio.get_untrusted_types(file=state_path)
    refused = sorted(set(untrusted) - set(SKOPS_TRUSTED))
    if refused:
        raise UserError(f"{state_path} holds types this project does not load: {refused}; it did not come from this "
                        "pipeline. Re-create it with `dvc repro artist_classifier`")
    model = sio.load(state_path, trusted=list(untrusted))["model"]
    vocabulary_path = directory / VOCABULARY_FILE
    vocabularies = json.loads(vocabulary_path.read_text()) if vocabulary_path.is_file() else {}
    vectorizers = _vectorizers(model)
    if set(vocabularies) != set(vectorizers):
        raise UserError(f"{directory}: {VOCABULARY_FILE} holds vocabularies {sorted(vocabularies)} but the model has "
                        f"{sorted(vectorizers)}; retrain with `dvc repro artist_classifier`")
    for path, terms in vocabularies.items():
        vectorizers[path].vocabulary_ = {term: i for i, term in enumerate(terms)}
    clf = ArtistClassifier(meta["kind"], model, embedder=meta.get("embedder"), metadata=meta.get("metadata") or {})
    if clf.artists != meta["artists"]:
        raise UserError(f"{directory}: the model's artists differ from {META_FILE}'s; retrain with "
                        "`dvc repro artist_classifier`")
    return clf


def save_to_store(clf: ArtistClassifier, metadata: dict[str, Any]) -> str:
    """Save `clf` as a new version of `CLASSIFIER_NAME` in the project's BentoML store (`$BENTOML_HOME`, default
    `<project root>/data/bentoml`, as the champions); `metadata` (JSON-like, no None) becomes the model's metadata
    and its flat string/number entries labels. Returns the tag."""
    import bentoml

    labels = {k: str(v) for k, v in metadata.items() if isinstance(v, str | int | float) and not isinstance(v, bool)}
    with bentoml.models.create(CLASSIFIER_NAME, labels=labels, metadata=metadata, _model_store=model_store()) as model:
        save_classifier(clf, Path(model.path) / "classifier")
    return str(model.tag)


def load_from_store(tag: str = "latest") -> tuple[ArtistClassifier, str]:
    """The classifier `tag` (a version, "latest", or "<CLASSIFIER_NAME>:<version>") from the BentoML store, and its
    full tag. Raises UserError when the store holds none."""
    import bentoml
    from bentoml.exceptions import NotFound

    ref = tag if ":" in tag else f"{CLASSIFIER_NAME}:{tag}"
    if not ref.startswith(f"{CLASSIFIER_NAME}:"):
        raise UserError(f"tag {ref!r} is not an artist classifier; tags look like {CLASSIFIER_NAME}:<version>")
    try:
        model = bentoml.models.get(ref, _model_store=model_store())
    except NotFound as exc:
        raise UserError(f"no artist classifier {ref} in the BentoML store at {bentoml_home()}: run "
                        "`dvc repro artist_classifier` to train and save one (or set BENTOML_HOME)") from exc
    return load_classifier(Path(model.path) / "classifier"), str(model.tag)


def _jsonable(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")
