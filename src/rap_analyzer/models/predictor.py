"""One interface for every servable model: `Predictor.predict(lyrics) -> np.ndarray` (shape (n,), float, target
units; cleaned lyrics in; NaN where the model cannot score a text, a failure, never a made-up value), whatever the
kind; how each kind is written to and read from a folder; and the champion in the BentoML model store.

Kinds and what they need at prediction time:
  mean, random        nothing (a constant; a seeded uniform draw)
  rule                `rap_analyzer.features` on the text (feature parameters in the folder's metadata)
  ridge_features      the same features, then the fitted scikit-learn pipeline
  ridge_tfidf         the fitted TF-IDF + ridge pipeline on the text
  ridge_embeddings    the sentence-transformers embedder named in the metadata (loaded offline), then the ridge
  others (e.g. lora)  registered by their module through `register_kind(kind, save_fn, load_fn)`

A predictor folder holds `predictor.json` ({"kind": ..., "format": ..., kind-specific metadata}) and the
kind's files. Built-in kinds keep their fitted state in `model.skops`: skops (https://skops.readthedocs.io)
stores scikit-learn objects and numpy arrays without pickle and refuses, on load, any type not on an
allow-list, so a folder cannot run code when read. Nothing here ever unpickles.

The BentoML store is `$BENTOML_HOME/models`, where BENTOML_HOME defaults to `<project root>/data/bentoml`
(set before bentoml is imported, so `BENTOML_HOME=data/bentoml bentoml models list` shows the same store).
"""

from __future__ import annotations

import contextlib
import json
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np
import pandas as pd

from rap_analyzer.config import EmbedParams, FeaturesParams
from rap_analyzer.errors import UserError
from rap_analyzer.models.baselines import (
    Baseline,
    MeanBaseline,
    RandomBaseline,
    RidgeEmbeddings,
    RidgeFeatures,
    RidgeTfidf,
    RuleBaseline,
    rule_predict,
)
from rap_analyzer.models.bento_store import bentoml_home, model_store

if TYPE_CHECKING:
    from sklearn.pipeline import Pipeline

META_FILE = "predictor.json"
STATE_FILE = "model.skops"
# Types skops does not trust by default but our fitted pipelines hold; anything else in a file is refused.
SKOPS_TRUSTED = ("numpy.dtype",)


@runtime_checkable
class Predictor(Protocol):
    def predict(self, lyrics: Sequence[str]) -> np.ndarray: ...


@dataclass
class Champion:
    """A model loaded from the BentoML store. `tag` is "rap-analyzer-<target>:<version>"."""

    target: str
    tag: str
    metadata: dict[str, Any]
    predictor: Predictor


# ---------------------------------------------------------------- built-in predictors

def _features(lyrics: Sequence[str], features: dict[str, Any], columns: list[str]) -> pd.DataFrame:
    """Feature columns of each text, NaN rows where a text has no words (recorded, not raised)."""
    from rap_analyzer.features import features_frame

    frame = features_frame(list(lyrics), FeaturesParams(**features), progress=False, on_error="record")
    return frame[columns]


@dataclass
class ConstantPredictor:
    value: float
    kind: str = "mean"

    def predict(self, lyrics: Sequence[str]) -> np.ndarray:
        return np.full(len(lyrics), self.value, dtype=float)


@dataclass
class RandomPredictor:
    """The random floor: uniform on [low, high], the same draws for the same number of texts (seeded)."""

    low: float
    high: float
    seed: int
    kind: str = "random"

    def predict(self, lyrics: Sequence[str]) -> np.ndarray:
        return np.random.default_rng(self.seed).uniform(self.low, self.high, len(lyrics))


@dataclass
class RulePredictor:
    rules: dict[str, int]
    sorted_train: dict[str, np.ndarray]
    low: float
    high: float
    features: dict[str, Any]  # FeaturesParams the training features were computed with
    kind: str = "rule"

    def predict(self, lyrics: Sequence[str]) -> np.ndarray:
        frame = _features(lyrics, self.features, list(self.rules))
        return rule_predict(self.rules, self.sorted_train, self.low, self.high, frame)


@dataclass
class PipelinePredictor:
    """A fitted scikit-learn pipeline over the text itself, its features, or its sentence embedding."""

    kind: str  # ridge_tfidf | ridge_features | ridge_embeddings
    pipeline: Pipeline
    feature_cols: list[str] = field(default_factory=list)
    features: dict[str, Any] | None = None  # FeaturesParams, for ridge_features
    embedder: dict[str, Any] | None = None  # EmbedParams, for ridge_embeddings

    def predict(self, lyrics: Sequence[str]) -> np.ndarray:
        lyrics = list(lyrics)
        out = np.full(len(lyrics), np.nan)
        if not lyrics:
            return out
        if self.kind == "ridge_tfidf":
            return np.asarray(self.pipeline.predict(lyrics), dtype=float)
        if self.kind == "ridge_embeddings":
            from rap_analyzer.models.embeddings import embed_texts

            vectors = embed_texts(lyrics, EmbedParams(**(self.embedder or {})), progress=False)
            return np.asarray(self.pipeline.predict(vectors.astype(float)), dtype=float)
        frame = _features(lyrics, self.features or {}, self.feature_cols)
        ok = frame.notna().any(axis=1).to_numpy()  # a text without words has no features: a failure
        if ok.any():
            out[ok] = self.pipeline.predict(frame.to_numpy(float)[ok])
        return out


def predictor_from_baseline(model: Baseline, features: FeaturesParams | None,
                            embedder: EmbedParams | None) -> Predictor:
    """The fitted baseline as a text-in predictor. `features`: the parameters the training features were
    computed with (rule, ridge_features); `embedder`: those of the embed stage (ridge_embeddings).
    Raises ValueError for an unknown baseline or a missing parameter set."""
    def need(value: Any, what: str) -> Any:
        if value is None:
            raise ValueError(f"{model.name} needs the {what} parameters to predict from text")
        return value.model_dump(mode="json")

    if isinstance(model, MeanBaseline):
        return ConstantPredictor(model.mean)
    if isinstance(model, RandomBaseline):
        return RandomPredictor(model.low, model.high, model.seed)
    if isinstance(model, RuleBaseline):
        return RulePredictor(dict(model.rules), model.sorted_train, model.low, model.high, need(features, "features"))
    if isinstance(model, RidgeTfidf):
        return PipelinePredictor("ridge_tfidf", model.model)
    if isinstance(model, RidgeFeatures):
        return PipelinePredictor("ridge_features", model.model, model.feature_cols, need(features, "features"))
    if isinstance(model, RidgeEmbeddings):
        return PipelinePredictor("ridge_embeddings", model.model, embedder=need(embedder, "embed"))
    raise ValueError(f"no predictor for baseline {model.name!r}")


# ---------------------------------------------------------------- kinds: save / load a folder

SaveFn = Callable[[Any, Path], dict[str, Any]]  # writes the kind's files into the folder, returns its metadata
LoadFn = Callable[[Path, dict[str, Any]], Predictor]  # (folder, metadata from predictor.json) -> predictor


@dataclass(frozen=True)
class KindCodec:
    save: SaveFn
    load: LoadFn


_KINDS: dict[str, KindCodec] = {}


def register_kind(kind: str, save_fn: SaveFn, load_fn: LoadFn) -> None:
    """Teach `save_predictor` / `load_predictor` a model kind (a predictor's `kind` attribute). Re-registering a
    kind replaces it (a module imported twice)."""
    _KINDS[kind] = KindCodec(save_fn, load_fn)


def registered_kinds() -> list[str]:
    _load_plugins()
    return sorted(_KINDS)


def _load_plugins() -> None:
    """Kinds living in optional modules register themselves on import (LoRA needs torch/peft: loaded lazily)."""
    if "lora" not in _KINDS:
        with contextlib.suppress(ImportError):
            import rap_analyzer.models.lora.predict  # noqa: F401  (registers "lora")


def _dump_state(state: dict[str, Any], folder: Path) -> None:
    import skops.io as sio

    sio.dump(state, folder / STATE_FILE, compression=zipfile.ZIP_DEFLATED)


def _load_state(folder: Path) -> dict[str, Any]:
    """The skops state of a folder, refusing any type outside skops' defaults and SKOPS_TRUSTED."""
    import skops.io as sio

    path = folder / STATE_FILE
    untrusted = sio.get_untrusted_types(file=path)
    refused = sorted(set(untrusted) - set(SKOPS_TRUSTED))
    if refused:
        raise UserError(f"{path} holds types this project does not load: {refused}; it did not come from this "
                        "pipeline's model store. Re-create it with `dvc repro select`")
    return sio.load(path, trusted=list(untrusted))


def _save_constant(p: ConstantPredictor, folder: Path) -> dict[str, Any]:
    return {"value": p.value}


def _save_random(p: RandomPredictor, folder: Path) -> dict[str, Any]:
    return {"low": p.low, "high": p.high, "seed": p.seed}


def _save_rule(p: RulePredictor, folder: Path) -> dict[str, Any]:
    _dump_state({"sorted_train": {k: np.asarray(v, float) for k, v in p.sorted_train.items()}}, folder)
    return {"rules": p.rules, "low": p.low, "high": p.high, "features": p.features, "needs": ["features"]}


def _checked(cls: type[FeaturesParams] | type[EmbedParams], values: dict[str, Any] | None, folder: Path) -> None:
    """The parameters a model was saved with must still be valid ones, or it cannot compute its inputs."""
    from pydantic import ValidationError

    try:
        cls(**(values or {}))
    except ValidationError as exc:
        raise UserError(f"{folder} was saved with {cls.__name__} {values}, which this version no longer accepts "
                        f"({exc.error_count()} errors, e.g. {exc.errors()[0]['loc']}): re-run the stage that made it "
                        "(`dvc repro baselines select`)") from exc


def _load_rule(folder: Path, meta: dict[str, Any]) -> RulePredictor:
    _checked(FeaturesParams, meta["features"], folder)
    state = _load_state(folder)
    rules = {str(k): int(v) for k, v in meta["rules"].items()}
    return RulePredictor(rules, state["sorted_train"], float(meta["low"]), float(meta["high"]), meta["features"])


def _save_pipeline(p: PipelinePredictor, folder: Path) -> dict[str, Any]:
    for _, step in p.pipeline.steps:
        # TfidfVectorizer keeps every term cut by max_features "only for introspection" and says it "can be safely
        # removed ... before pickling" (scikit-learn docs, TfidfVectorizer.stop_words_): most of the file otherwise.
        if getattr(step, "stop_words_", None) is not None:
            step.stop_words_ = None
        # numpy-integer vocabulary indices become one .npy file each in skops (20000 files, 19 MB); plain ints
        # are stored inline and index the same columns.
        if isinstance(getattr(step, "vocabulary_", None), dict):
            step.vocabulary_ = {str(term): int(index) for term, index in step.vocabulary_.items()}
    _dump_state({"pipeline": p.pipeline}, folder)
    needs = {"ridge_features": ["features"], "ridge_embeddings": ["embedder"]}.get(p.kind, [])
    return {"feature_cols": p.feature_cols, "features": p.features, "embedder": p.embedder, "needs": needs}


def _pipeline_loader(kind: str) -> LoadFn:
    def load(folder: Path, meta: dict[str, Any]) -> PipelinePredictor:
        if kind == "ridge_features":
            _checked(FeaturesParams, meta.get("features"), folder)
        if kind == "ridge_embeddings":
            _checked(EmbedParams, meta.get("embedder"), folder)
        return PipelinePredictor(kind, _load_state(folder)["pipeline"], list(meta.get("feature_cols") or []),
                                 meta.get("features"), meta.get("embedder"))
    return load


register_kind("mean", _save_constant, lambda folder, meta: ConstantPredictor(float(meta["value"])))
register_kind("random", _save_random,
              lambda folder, meta: RandomPredictor(float(meta["low"]), float(meta["high"]), int(meta["seed"])))
register_kind("rule", _save_rule, _load_rule)
for _kind in ("ridge_tfidf", "ridge_features", "ridge_embeddings"):
    register_kind(_kind, _save_pipeline, _pipeline_loader(_kind))


def save_predictor(predictor: Predictor, folder: Path) -> dict[str, Any]:
    """Write `predictor` (with a `kind` attribute) into `folder` (created; must be empty or absent); returns the
    metadata written to predictor.json. Raises ValueError for a kind nobody registered."""
    kind = getattr(predictor, "kind", None)
    if kind not in _KINDS:  # a plugin kind: import its module (torch and all) only when needed
        _load_plugins()
    if kind not in _KINDS:
        raise ValueError(f"predictor {type(predictor).__name__} has kind {kind!r}; registered kinds: "
                         f"{sorted(_KINDS)} (register it with rap_analyzer.models.predictor.register_kind)")
    folder.mkdir(parents=True, exist_ok=True)
    meta = {"kind": kind, "format": "skops" if kind in _BUILTIN else "kind-specific",
            **_KINDS[kind].save(predictor, folder)}
    (folder / META_FILE).write_text(json.dumps(meta, indent=2, default=_jsonable) + "\n")
    return meta


def read_predictor_meta(folder: Path) -> dict[str, Any]:
    path = folder / META_FILE
    if not path.is_file():
        raise UserError(f"{folder} holds no {META_FILE}: it is not a saved predictor")
    return json.loads(path.read_text())


def load_predictor(folder: Path) -> Predictor:
    """The predictor saved in `folder` by `save_predictor`. Raises UserError for a folder that is not one or
    whose kind is not registered here."""
    meta = read_predictor_meta(folder)
    kind = meta.get("kind")
    if kind not in _KINDS:
        _load_plugins()
    if kind not in _KINDS:
        raise UserError(f"{folder} holds a {kind!r} model, a kind this installation cannot load "
                        f"(known: {sorted(_KINDS)})")
    return _KINDS[kind].load(folder, meta)


_BUILTIN = frozenset({"mean", "random", "rule", "ridge_tfidf", "ridge_features", "ridge_embeddings"})


def _jsonable(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


# ---------------------------------------------------------------- the champion in the BentoML store

def model_name(target: str) -> str:
    return f"rap-analyzer-{target}"


def _defined(value: Any) -> Any:
    """`value` without the None entries of its dicts and lists, recursively."""
    if isinstance(value, dict):
        return {k: _defined(v) for k, v in value.items() if v is not None}
    if isinstance(value, list | tuple):
        return [_defined(v) for v in value if v is not None]
    return value


def save_champion(predictor: Predictor, target: str, metadata: dict[str, Any]) -> str:
    """Save `predictor` as a new version of `rap-analyzer-<target>` in the BentoML store; returns its tag.

    `metadata` (JSON-like: target, dataset_hash, mlflow_run_id, metrics, kind, created_at, ...) is stored as
    the model's metadata; its flat string/number entries also become labels. Undefined entries (None, e.g. the
    Spearman of a constant prediction) are left out, at any depth: BentoML's metadata refuses None. Raises
    ValueError for an unregistered kind."""
    import bentoml

    metadata = _defined({**metadata, "target": target})
    labels = {k: str(v) for k, v in metadata.items() if isinstance(v, str | int | float) and not isinstance(v, bool)}
    with bentoml.models.create(model_name(target), labels=labels, metadata=metadata,
                               _model_store=model_store()) as model:
        save_predictor(predictor, Path(model.path) / "predictor")
    return str(model.tag)


def load_champion(target: str, tag: str | None = None) -> Champion:
    """The model `tag` ("rap-analyzer-<target>:<version>", a bare version or "latest"; default latest) from the
    BentoML store, behind `Predictor`.
    Raises UserError when there is none (run `make run` or `dvc repro select`) or the tag is another target's."""
    import bentoml
    from bentoml.exceptions import NotFound

    name = model_name(target)
    ref = tag or "latest"
    if ":" not in ref:  # a bare version, or "latest" (params.yaml serve.champion_tags)
        ref = f"{name}:{ref}"
    if not ref.startswith(f"{name}:"):
        raise UserError(f"tag {ref!r} is not a {target} model; tags look like {name}:<version>")
    try:
        model = bentoml.models.get(ref, _model_store=model_store())
    except NotFound as exc:
        raise UserError(f"no champion {ref} in the BentoML store at {bentoml_home()}: run `make run` or "
                        "`dvc repro select` to select and save one (or set BENTOML_HOME)") from exc
    predictor = load_predictor(Path(model.path) / "predictor")
    return Champion(target=target, tag=str(model.tag), metadata=dict(model.info.metadata), predictor=predictor)
