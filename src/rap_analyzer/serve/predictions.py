"""The champions' predictions for lyrics as users send them: normalised like the training data, looked up in
the cache, computed in one batch for the misses, stored back.

Normalisation is the scrape stage's cleaning (`clean_text`: Genius page furniture and section headers out,
lines stripped, blank runs collapsed) after Unicode NFC, i.e. the text the models were trained on
(`lyrics_clean`). The cache key hashes exactly that text, so two inputs share a cached prediction only when
the models would see the same string.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from rap_analyzer.scrape.cleaning import clean_text
from rap_analyzer.serve.cache import PredictionCache, lyrics_digest
from rap_analyzer.serve.metrics import series


class InputError(ValueError):
    """A request value the service cannot use; `field` names it (e.g. "lyrics[2]")."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


@dataclass(frozen=True)
class Normalised:
    text: str
    sections: list[str]


def normalise(lyrics: str, title: str | None = None, field: str = "lyrics") -> Normalised:
    """Cleaned lyrics and the section headers taken out. Raises InputError naming `field` when nothing is
    left (only headers, or page furniture)."""
    text, sections = clean_text(unicodedata.normalize("NFC", lyrics), title)
    if not text.strip():
        raise InputError(field, "no lyrics left after removing section headers and page furniture; "
                         "send the song's text")
    return Normalised(text, sections)


@dataclass
class ServedModel:
    """One champion as served: its target, BentoML tag and predictor (`predict(texts) -> (n,) array`)."""

    target: str
    tag: str
    predictor: Any
    metadata: Mapping[str, Any]

    @property
    def version(self) -> str:
        return self.tag.rsplit(":", 1)[-1]


class Predictions:
    """Every champion over a batch of normalised texts, through the cache."""

    def __init__(self, models: Sequence[ServedModel], cache: PredictionCache) -> None:
        self.models, self.cache = list(models), cache

    def predict(self, texts: Sequence[str]) -> list[dict[str, Any]]:
        """One `{predictions, models, cached}` dict per text (see schemas.Prediction). A model that cannot
        score a text returns NaN (its Predictor contract): served as null, never cached. Raises ValueError
        when a model returns the wrong number of values."""
        digests = [lyrics_digest(t) for t in texts]
        keys = [[self.cache.key(m.tag, d) for d in digests] for m in self.models]
        flat = self.cache.lookup([k for per_model in keys for k in per_model])
        found = [flat[i * len(texts):(i + 1) * len(texts)] for i in range(len(self.models))]
        cached_all = [True] * len(texts)
        fresh_items: dict[str, float] = {}
        metrics = series()
        for model, values, model_keys in zip(self.models, found, keys, strict=True):
            todo = [i for i, v in enumerate(values) if v is None]
            if todo:
                fresh = np.asarray(model.predictor.predict([texts[i] for i in todo]), dtype=np.float64)
                if fresh.shape != (len(todo),):
                    raise ValueError(f"champion {model.tag} returned shape {fresh.shape} for {len(todo)} texts")
                for i, value in zip(todo, fresh.tolist(), strict=True):
                    cached_all[i] = False
                    if np.isfinite(value):
                        values[i] = fresh_items[model_keys[i]] = value
            metrics.cache_hits.labels(model.target).inc(len(texts) - len(todo))
            metrics.cache_misses.labels(model.target).inc(len(todo))
            metrics.predictions.labels(model.target, model.tag).inc(len(texts))
        self.cache.store(fresh_items)
        tags = {m.target: m.tag for m in self.models}
        return [{"predictions": {m.target: values[i] for m, values in zip(self.models, found, strict=True)},
                 "models": tags, "cached": cached_all[i]} for i in range(len(texts))]
