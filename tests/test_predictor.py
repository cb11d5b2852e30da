"""Every built-in model kind behind `Predictor`: fitted on a few real songs (read from ../shared), its text-in
predictions equal the fitted baseline's on the prepared frame, and a champion saved into a temporary BentoML
store loads back by tag and predicts exactly what it predicted before saving."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import skops.io as sio
from helpers import params_with

from rap_analyzer.errors import UserError
from rap_analyzer.features import FEATURE_NAMES, features_frame
from rap_analyzer.models.baselines import (
    MeanBaseline,
    RandomBaseline,
    RidgeEmbeddings,
    RidgeFeatures,
    RidgeTfidf,
    RuleBaseline,
    embeddings_from_matrix,
)
from rap_analyzer.models.embeddings import embed_texts
from rap_analyzer.models.predictor import (
    STATE_FILE,
    Predictor,
    load_champion,
    load_predictor,
    predictor_from_baseline,
    save_champion,
    save_predictor,
)
from rap_analyzer.scrape.cleaning import clean_text

PARAMS = params_with({})


@pytest.fixture(scope="module")
def songs(shared_dir: Path) -> pd.DataFrame:
    """30 songs of two artists with a year: cleaned lyrics, features, embeddings, the release year."""
    rows = []
    for artist in ("Nas", "OutKast"):
        data = json.loads((shared_dir / "corpus/genius/rap" / f"Lyrics_{artist}.json").read_text())
        kept = 0
        for song in data["songs"]:
            text, _ = clean_text(song.get("lyrics") or "", song.get("title"))
            if kept < 15 and len(text.split()) >= 80 and song.get("release_date"):
                rows.append({"source_key": f"genius:{song['id']}", "lyrics_clean": text,
                             "release_year": float(song["release_date"][:4])})
                kept += 1
    frame = pd.DataFrame(rows).drop_duplicates("source_key").reset_index(drop=True)
    assert len(frame) >= 20
    features = features_frame(frame["lyrics_clean"], PARAMS.features, progress=False)
    return pd.concat([frame, features.reset_index(drop=True)], axis=1)


@pytest.fixture(scope="module")
def embeddings(songs: pd.DataFrame) -> dict[str, np.ndarray]:
    vectors = embed_texts(songs["lyrics_clean"].tolist(), PARAMS.embed, progress=False)
    return embeddings_from_matrix(songs["source_key"].tolist(), vectors)


def fitted(kind: str, songs: pd.DataFrame, embeddings: dict[str, np.ndarray]):
    train = songs.iloc[::2]
    models = {
        "mean": lambda: MeanBaseline("release_year"),
        "random": lambda: RandomBaseline("release_year", seed=7),
        "rule": lambda: RuleBaseline("release_year", FEATURE_NAMES),
        "ridge_features": lambda: RidgeFeatures("release_year", 1.0, FEATURE_NAMES),
        "ridge_tfidf": lambda: RidgeTfidf("release_year", 1.0, 500),
        "ridge_embeddings": lambda: RidgeEmbeddings("release_year", 1.0, embeddings),
    }
    return models[kind]().fit(train)


KINDS = ["mean", "random", "rule", "ridge_features", "ridge_tfidf", "ridge_embeddings"]


@pytest.mark.parametrize("kind", KINDS)
def test_champion_round_trip(kind: str, songs: pd.DataFrame, embeddings: dict[str, np.ndarray], tmp_path: Path,
                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BENTOML_HOME", str(tmp_path / "bentoml"))
    model = fitted(kind, songs, embeddings)
    predictor = predictor_from_baseline(model, PARAMS.features, PARAMS.embed)
    assert isinstance(predictor, Predictor)
    lyrics = songs["lyrics_clean"].tolist()
    before = predictor.predict(lyrics)
    assert before.shape == (len(songs),) and before.dtype == float and np.isfinite(before).all()
    # From text it predicts what the fitted model predicts from the prepared frame (features, embeddings).
    assert before == pytest.approx(model.predict(songs), abs=1e-6)

    tag = save_champion(predictor, "release_year", {"kind": kind, "dataset_hash": "h1", "mlflow_run_id": "r1",
                                                    "metrics": {"mae": 1.5}})
    assert tag.startswith("rap-analyzer-release_year:")
    assert (tmp_path / "bentoml" / "models" / "rap-analyzer-release_year").is_dir()
    champion = load_champion("release_year", tag)
    assert champion.tag == tag and champion.target == "release_year"
    assert champion.metadata["kind"] == kind and champion.metadata["metrics"] == {"mae": 1.5}
    after = champion.predictor.predict(lyrics)
    assert np.array_equal(after, before)
    assert load_champion("release_year").tag == tag  # latest


def test_latest_is_the_newest_and_other_targets_are_refused(songs: pd.DataFrame, tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BENTOML_HOME", str(tmp_path / "bentoml"))
    # A constant predictor's Spearman is undefined (None): BentoML refuses None, so the entry is left out.
    first = save_champion(predictor_from_baseline(MeanBaseline("release_year").fit(songs), None, None),
                          "release_year", {"kind": "mean", "metrics": {"mae": 2.0, "spearman": None},
                                           "needs": [None, "x"], "note": None})
    second = save_champion(predictor_from_baseline(MeanBaseline("release_year").fit(songs.iloc[:5]), None, None),
                           "release_year", {"kind": "mean"})
    assert load_champion("release_year").tag == second != first
    stored = load_champion("release_year", first).metadata
    assert stored["metrics"] == {"mae": 2.0} and stored["needs"] == ["x"] and "note" not in stored
    assert load_champion("release_year", "latest").tag == second
    assert load_champion("release_year", first.split(":")[1]).tag == first  # a bare version
    assert load_champion("release_year", first).predictor.predict(["x"])[0] == pytest.approx(
        songs["release_year"].mean())
    with pytest.raises(UserError, match="not a popularity model"):
        load_champion("popularity", first)


def test_no_champion_says_how_to_make_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BENTOML_HOME", str(tmp_path / "empty"))
    with pytest.raises(UserError, match=r"make run.*dvc repro select"):
        load_champion("popularity")


class Untrusted:
    """Stands for any object that did not come from this pipeline."""

    def __init__(self) -> None:
        self.payload = 1


def test_a_state_file_with_foreign_types_is_refused(songs: pd.DataFrame, tmp_path: Path) -> None:
    folder = tmp_path / "model"
    save_predictor(predictor_from_baseline(RidgeTfidf("release_year", 1.0, 100).fit(songs), None, None), folder)
    assert load_predictor(folder).predict(["some words here"]).shape == (1,)
    sio.dump({"pipeline": Untrusted()}, folder / STATE_FILE)
    with pytest.raises(UserError, match="does not load"):
        load_predictor(folder)


def test_a_text_without_words_is_a_failure_not_a_number(songs: pd.DataFrame) -> None:
    model = RidgeFeatures("release_year", 1.0, FEATURE_NAMES).fit(songs)
    out = predictor_from_baseline(model, PARAMS.features, None).predict([songs["lyrics_clean"].iloc[0], "   "])
    assert np.isfinite(out[0]) and np.isnan(out[1])


def test_a_model_saved_with_parameters_this_version_refuses_says_to_rerun(songs: pd.DataFrame,
                                                                           embeddings: dict[str, np.ndarray],
                                                                           tmp_path: Path) -> None:
    folder = tmp_path / "model"
    save_predictor(predictor_from_baseline(fitted("ridge_embeddings", songs, embeddings), None, PARAMS.embed), folder)
    meta = json.loads((folder / "predictor.json").read_text())
    assert meta["embedder"] == PARAMS.embed.model_dump(mode="json") and meta["needs"] == ["embedder"]
    del meta["embedder"]["max_seq_length"]
    (folder / "predictor.json").write_text(json.dumps(meta))
    with pytest.raises(UserError, match="re-run the stage"):
        load_predictor(folder)
