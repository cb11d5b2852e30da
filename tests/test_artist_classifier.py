"""The artist classifier (models/style/classifier.py) and its stage: a split that holds out songs, not artists
(near-copies kept together); scores, ranks and metrics against independent computations (scikit-learn's
predict_proba + argsort, hand counts); save/load round trips; clear errors."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from helpers import params_with

from rap_analyzer.errors import ConfigError, UserError
from rap_analyzer.models.style.classifier import (
    CLASSIFIER_NAME,
    ArtistClassifier,
    classification_metrics,
    duplicate_groups,
    eligible,
    fit_classifier,
    load_classifier,
    load_from_store,
    normalise_lyrics,
    save_classifier,
    save_to_store,
    split_songs,
)

SMALL = {"word_max_features": 3000, "char_max_features": 3000, "min_df": 1, "compare_embeddings": False,
         "min_songs": 5, "kind": "tfidf"}
# Four artists of the shared lyricsgenius dump: the raw lyrics, Genius header and all, as a user might paste them.
DUMP_FILES = ("Lyrics_2Pac.json", "Lyrics_50Cent.json", "Lyrics_AesopRock.json", "Lyrics_BeastieBoys.json")


def settings(**changes: object):
    return params_with({"artist_classifier": {**SMALL, **changes}}).artist_classifier


@cache
def _dump(path: Path) -> tuple[tuple[str, str], ...]:
    data = json.loads(path.read_text(encoding="utf-8"))
    return tuple((data["name"], s["lyrics"]) for s in data["songs"] if s.get("lyrics"))


@pytest.fixture(scope="module")
def real_slice(shared_dir: Path) -> pd.DataFrame:
    rows = [row for name in DUMP_FILES for row in _dump(shared_dir / "corpus/genius/rap" / name)]
    return pd.DataFrame(rows, columns=["artist", "lyrics"])


# Synthetic artists whose right answer is known: each has its own words, all share the filler.
VOCAB = {"Alpha": "bank money cash vault rich", "Bravo": "rain garden autumn petal quiet",
         "Charlie": "engine highway diesel gear road", "Delta": "ocean wave harbor sail anchor"}
FILLER = "yeah uh the and we go"


def synthetic(n_per: int, seed: int) -> tuple[list[str], list[str]]:
    rng = np.random.default_rng(seed)
    texts, labels = [], []
    for artist, words in VOCAB.items():
        vocab = words.split() + FILLER.split()
        for _ in range(n_per):
            texts.append(" ".join(rng.choice(vocab, size=30)))
            labels.append(artist)
    return texts, labels


@pytest.fixture(scope="module")
def fitted() -> ArtistClassifier:
    texts, labels = synthetic(12, seed=1)
    return fit_classifier(texts, labels, settings())


# ---------------------------------------------------------------- the split


def test_split_holds_out_songs_of_known_artists(real_slice: pd.DataFrame) -> None:
    artists = real_slice["artist"].tolist()
    groups = duplicate_groups(real_slice["lyrics"].tolist(), 0.8)
    train, test = split_songs(artists, 0.2, seed=7, groups=groups)
    assert set(train).isdisjoint(test) and sorted([*train, *test]) == list(range(len(artists)))
    labels = np.asarray(artists)
    assert set(labels[test]) <= set(labels[train])  # every test artist is a class the model learnt
    for artist in set(artists):  # about a fifth of each artist's songs (one of 5 folds, groups whole)
        n, held = (labels == artist).sum(), (labels[test] == artist).sum()
        assert 1 <= held <= np.ceil(0.2 * n) + 1
    for g in set(groups):  # a song and its near-copy are never on both sides
        members = set(np.flatnonzero(groups == g))
        assert members <= set(train) or members <= set(test)
    again = split_songs(artists, 0.2, seed=7, groups=groups)
    assert all(np.array_equal(a, b) for a, b in zip((train, test), again, strict=True))  # seeded


def test_split_refuses_an_artist_with_one_song() -> None:
    with pytest.raises(ValueError, match="at least 2 songs"):
        split_songs(["a", "a", "b"], 0.5, seed=0)


def test_duplicate_groups_by_hand() -> None:
    base = "the night is young and the city lights are burning bright tonight"
    texts = [base, base + " yeah", "completely different words about a summer garden", base.upper(),
             "no overlap whatsoever here friend"]
    groups = duplicate_groups(texts, 0.8)
    # By hand: 0, 1 (one extra word) and 3 (the same words, case folded by TF-IDF) are one song; 2 and 4 alone.
    assert groups[0] == groups[1] == groups[3]
    assert len({groups[0], groups[2], groups[4]}) == 3
    assert len(set(duplicate_groups(texts, 1.0))) == 4  # only exact copies (0 and 3) at the bound


def test_eligible_at_the_bound() -> None:
    artists = ["a"] * 5 + ["b"] * 4 + ["c"] * 6
    assert eligible(artists, 5) == (["a", "c"], {"b": 4})
    assert eligible(artists, 4) == (["a", "b", "c"], {})


# ---------------------------------------------------------------- scores


def test_right_answer_on_new_texts(fitted: ArtistClassifier) -> None:
    texts, labels = synthetic(5, seed=99)  # drawn afresh: none of these texts was trained on
    proba = fitted.predict_proba(texts)
    assert proba.shape == (len(texts), 4) and np.allclose(proba.sum(axis=1), 1)
    assert [fitted.artists[i] for i in proba.argmax(axis=1)] == labels


def test_scores_equal_sklearn_predict_proba_and_argsort(fitted: ArtistClassifier) -> None:
    texts, _ = synthetic(2, seed=5)
    artists = [fitted.artists[i % 4] for i in range(len(texts))]
    # Independent: the fitted scikit-learn pipeline itself, on the normalised texts, ranked by argsort.
    direct = fitted.model.predict_proba([normalise_lyrics(t) for t in texts])
    for text, artist, row, got in zip(texts, artists, direct, fitted.scores(texts, artists), strict=True):
        column = list(fitted.model.classes_).index(artist)
        order = list(np.argsort(-row))
        assert got.artist == artist and got.n_artists == 4
        assert got.probability == pytest.approx(row[column], abs=1e-12)
        assert got.rank == order.index(column) + 1
        assert [a for a, _ in got.top] == [fitted.model.classes_[i] for i in order[:3]]
        assert fitted.score(text, artist) == got


def test_section_headers_naming_an_artist_are_not_read(fitted: ArtistClassifier) -> None:
    verse = "bank money cash vault rich yeah uh"
    with_header = f"[Verse 1: Bravo]\n{verse}\n[Chorus: Bravo garden rain]\n{verse}"
    assert np.allclose(fitted.predict_proba([with_header]), fitted.predict_proba([f"{verse}\n{verse}"]))


def test_unknown_artist_and_bad_input_raise_clearly(fitted: ArtistClassifier) -> None:
    with pytest.raises(ValueError, match="'Zulu' is not one of the 4 artists"):
        fitted.score("bank money", "Zulu")
    with pytest.raises(ValueError, match="alpha"):  # exact, canonical names only
        fitted.score("bank money", "alpha")
    with pytest.raises(ValueError, match="2 texts but 1 artists"):
        fitted.scores(["a", "b"], ["Alpha"])
    with pytest.raises(TypeError, match="list of texts"):
        fitted.predict_proba("one string")  # type: ignore[arg-type]
    assert fitted.predict_proba([]).shape == (0, 4)


# ---------------------------------------------------------------- metrics


def test_metrics_by_hand() -> None:
    classes = ["a", "b", "c", "d"]
    proba = np.array([[0.7, 0.1, 0.1, 0.1],   # true a, predicted a
                      [0.2, 0.5, 0.25, 0.05],  # true c, predicted b; c second
                      [0.1, 0.2, 0.3, 0.4],   # true a, predicted d; a fourth
                      [0.1, 0.6, 0.2, 0.1]])  # true b, predicted b
    truth = ["a", "c", "a", "b"]
    m = classification_metrics(truth, proba, classes, top_k=3)
    # By hand. Predictions a, b, d, b. F1 per label present in truth or predictions (a, b, c, d):
    # a: tp 1, fp 0, fn 1 -> 2/3; b: tp 1, fp 1, fn 0 -> 2/3; c: 0; d: tp 0, fp 1 -> 0.
    assert m["accuracy"] == pytest.approx(2 / 4)
    assert m["macro_f1"] == pytest.approx((2 / 3 + 2 / 3 + 0 + 0) / 4)
    assert m["top3_accuracy"] == pytest.approx(3 / 4)  # row 3's a is fourth
    assert m["n"] == 4
    with pytest.raises(ValueError, match="not among the classes"):
        classification_metrics(["e"], proba[:1], classes)


# ---------------------------------------------------------------- saving


def test_save_load_round_trip(fitted: ArtistClassifier, tmp_path: Path) -> None:
    texts, _ = synthetic(3, seed=11)
    fitted.metadata = {"note": "round trip"}
    save_classifier(fitted, tmp_path / "clf")
    loaded = load_classifier(tmp_path / "clf")
    assert loaded.artists == fitted.artists and loaded.kind == "tfidf" and loaded.metadata == {"note": "round trip"}
    assert np.array_equal(loaded.predict_proba(texts), fitted.predict_proba(texts))
    assert not list((tmp_path / "clf").glob("*.pkl"))


def test_load_refuses_what_is_not_a_classifier(tmp_path: Path, fitted: ArtistClassifier) -> None:
    with pytest.raises(UserError, match="holds no saved artist classifier"):
        load_classifier(tmp_path)
    save_classifier(fitted, tmp_path / "clf")
    meta = json.loads((tmp_path / "clf" / "classifier.json").read_text())
    (tmp_path / "clf" / "classifier.json").write_text(json.dumps({**meta, "artists": ["x", "y"]}))
    with pytest.raises(UserError, match="artists differ"):
        load_classifier(tmp_path / "clf")
    (tmp_path / "clf" / "vocabulary.json").write_text("{}")
    with pytest.raises(UserError, match=r"vocabulary\.json holds vocabularies"):
        load_classifier(tmp_path / "clf")


def test_bentoml_store_round_trip(fitted: ArtistClassifier, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BENTOML_HOME", str(tmp_path / "bentoml"))
    with pytest.raises(UserError, match="no artist classifier"):
        load_from_store()
    tag = save_to_store(fitted, {"kind": "tfidf", "accuracy": 1.0})
    loaded, got_tag = load_from_store("latest")
    assert tag.startswith(f"{CLASSIFIER_NAME}:") and got_tag == tag
    texts, _ = synthetic(2, seed=3)
    assert np.array_equal(loaded.predict_proba(texts), fitted.predict_proba(texts))


# ---------------------------------------------------------------- configuration and stage


def test_config_bounds() -> None:
    assert settings(test_fraction=0.5, duplicate_cosine=1.0, min_songs=2).test_fraction == 0.5
    for bad in ({"test_fraction": 0.51}, {"duplicate_cosine": 0.0}, {"min_songs": 1},
                {"char_ngram_min": 5, "char_ngram_max": 4}, {"kind": "bert"}):
        with pytest.raises(ConfigError, match="artist_classifier"):
            settings(**bad)


def test_stage_on_a_small_corpus(real_slice: pd.DataFrame, tmp_path: Path,
                                 monkeypatch: pytest.MonkeyPatch) -> None:
    from rap_analyzer.stages import artist_classifier as stage

    monkeypatch.setenv("BENTOML_HOME", str(tmp_path / "bentoml"))
    corpus = real_slice.rename(columns={"lyrics": "lyrics_clean"}).assign(
        source_key=[f"dump:{i:04d}" for i in range(len(real_slice))])
    corpus = pd.concat([corpus, corpus.iloc[:3].assign(artist="Few Songs", source_key=["x:1", "x:2", "x:3"])])
    corpus.to_parquet(tmp_path / "corpus.parquet")
    params = params_with({"artist_classifier": SMALL})
    fitted_on: list[str] = []
    real_fit = stage.fit_classifier

    def recording_fit(texts: list[str], *args: Any, **kwargs: Any) -> Any:
        fitted_on.extend(texts)
        return real_fit(texts, *args, **kwargs)

    monkeypatch.setattr(stage, "fit_classifier", recording_fit)
    out = stage.run(params, tmp_path / "corpus.parquet", tmp_path / "model", tmp_path / "m.json", tmp_path / "t.json",
                    tmp_path / "fig", save_store=True)
    metrics = json.loads((tmp_path / "m.json").read_text())
    held_out = set(json.loads((tmp_path / "model" / "split.json").read_text())["test_source_keys"])
    # No held-out song is fitted on, and every train song is (the split, not the whole corpus, trains the model).
    text_of = dict(zip(corpus["source_key"], corpus["lyrics_clean"], strict=True))
    train_keys = set(corpus["source_key"]) - held_out - {"x:1", "x:2", "x:3"}
    assert not {text_of[k] for k in held_out} & set(fitted_on)
    assert {text_of[k] for k in train_keys} <= set(fitted_on)
    # About test_fraction of the songs are held out (whole near-copy groups move together, so not exactly).
    assert abs(len(held_out) - params.artist_classifier.test_fraction * len(real_slice)) <= 0.1 * len(real_slice)
    assert metrics["artists"] == 4 and metrics["left_out_artists"] == 1 and metrics["left_out_songs"] == 3
    assert metrics["train_songs"] + metrics["test_songs"] == len(real_slice)
    test_keys = json.loads((tmp_path / "model" / "split.json").read_text())["test_source_keys"]
    assert len(test_keys) == metrics["test_songs"]
    # The prior reference, by hand: it always ranks the train split's largest artists first.
    train = corpus[~corpus["source_key"].isin(test_keys) & (corpus["artist"] != "Few Songs")]
    test = corpus[corpus["source_key"].isin(test_keys)]
    majority = train["artist"].value_counts().sort_index().idxmax()  # ties: the first name, as argmax
    assert metrics["reference_prior"]["accuracy"] == pytest.approx((test["artist"] == majority).mean())
    # The saved model reproduces the stage's metrics on the held-out songs.
    clf = load_classifier(tmp_path / "model")
    again = classification_metrics(test["artist"].tolist(), clf.predict_proba(test["lyrics_clean"].tolist()),
                                   clf.artists, 3)
    assert again == metrics["model"]
    assert out["bentoml_tag"].startswith(CLASSIFIER_NAME) and (tmp_path / "fig" / "per_artist_f1.png").is_file()


def test_leaderboard_section(tmp_path: Path) -> None:
    from rap_analyzer.tracking.select_report import write_report

    metrics = {"kind": "tfidf", "artists": 3, "left_out_artists": 1, "left_out_songs": 4, "train_songs": 40,
               "test_songs": 10, "top_k": 3,
               "model": {"n": 10, "accuracy": 0.8, "macro_f1": 0.75, "top3_accuracy": 1.0},
               "reference_prior": {"n": 10, "accuracy": 0.4, "macro_f1": 0.19, "top3_accuracy": 1.0}}
    header = {"dataset_hash": "abc", "n_bootstrap": 100, "seed": 0, "cv_repeats": 1, "cv_folds": 2}
    write_report([], tmp_path / "lb.md", tmp_path / "lb.json", header, artist_classifier=metrics)
    text = (tmp_path / "lb.md").read_text()
    assert "| **tfidf** (saved) | 0.800 | 0.750 | 1.000 |" in text
    assert "| prior (reference) | 0.400 | 0.190 | 1.000 |" in text
    assert json.loads((tmp_path / "lb.json").read_text())["artist_classifier"] == metrics
