"""What the endpoints do, apart from HTTP: `Analyzer` holds the loaded champions, the sentence encoder, the
database and the cache, and answers analyze / search / similar / trends / health / config as plain dicts.

Degradation: without PostgreSQL, search, similar and trends raise ServiceUnavailableError (503) while
/analyze still answers, with `similar: null` and the reason under `unavailable`; without Redis everything
is computed uncached.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from rap_analyzer.config import Params
from rap_analyzer.errors import ServiceUnavailableError
from rap_analyzer.features import extract_features
from rap_analyzer.models.embeddings import encode_one, model_key
from rap_analyzer.serve import trends as trends_sql
from rap_analyzer.serve.access import API_KEY_ENV
from rap_analyzer.serve.database import Database
from rap_analyzer.serve.llm import LLMAnalyst
from rap_analyzer.serve.metrics import series
from rap_analyzer.serve.predictions import InputError, Predictions, ServedModel, normalise
from rap_analyzer.store import search as vector_search
from rap_analyzer.store.services import redact_url


class Analyzer:
    def __init__(self, params: Params, models: Sequence[ServedModel], predictions: Predictions, encoder: Any,
                 database: Database, llm: LLMAnalyst) -> None:
        self.params, self.models, self.predictions = params, list(models), predictions
        self.encoder, self.database, self.llm = encoder, database, llm
        self.embedding_model = model_key(params.embed)
        self.started = time.time()

    def encode(self, text: str) -> np.ndarray:
        """The normalised (unit-length) embedding of one text, shape (384,), as the embed stage makes them."""
        return encode_one(self.encoder, text)

    def _timed_query(self, endpoint: str, run: Any) -> Any:
        started = time.perf_counter()
        try:
            with self.database.connection() as conn:
                return run(conn)
        finally:
            series().search_latency.labels(endpoint).observe(time.perf_counter() - started)

    def analyze(self, lyrics: str, title: str | None, k: int, llm: bool) -> dict[str, Any]:
        """Cleaned text, sections, features, predictions, k similar tracks and (with `llm`) the LLM analysis.
        Raises InputError (field "lyrics") when the lyrics have no words the features can read."""
        cleaned = normalise(lyrics, title)
        try:
            features = extract_features(cleaned.text, self.params.features)
        except ValueError as exc:
            raise InputError("lyrics", str(exc)) from None
        unavailable: dict[str, str] = {}
        similar = None
        try:
            vector = self.encode(cleaned.text)
            similar = self._timed_query("analyze", lambda conn: vector_search.nearest(
                conn, vector, self.embedding_model, k, ef_search=self.params.index.ef_search))
        except ServiceUnavailableError as exc:
            unavailable["similar"] = str(exc)
        analysis = None
        if llm:
            try:
                analysis = self.llm.analyze(cleaned.text)
            except ServiceUnavailableError as exc:
                unavailable["llm_analysis"] = str(exc)
        return {"cleaned_lyrics": cleaned.text, "sections": cleaned.sections, "features": features,
                "predictions": self.predictions.predict([cleaned.text])[0], "similar": similar,
                "llm_analysis": analysis, "unavailable": unavailable}

    def search(self, query: str, k: int, artist: str | None = None, year_from: int | None = None,
               year_to: int | None = None, mode: str = "semantic") -> list[dict[str, Any]]:
        """The k best tracks for `query`: by meaning (`semantic`: cosine similarity as `score`) or `hybrid`
        (reciprocal rank fusion of that ranking with full-text search: the fused score, higher is better)."""
        vector = self.encode(query)
        if mode == "hybrid":
            return self._timed_query("search", lambda conn: vector_search.hybrid(
                conn, vector, query, self.embedding_model, k, artist=artist, year_from=year_from, year_to=year_to,
                ef_search=self.params.index.ef_search))
        return self._timed_query("search", lambda conn: vector_search.nearest(
            conn, vector, self.embedding_model, k, artist=artist, year_from=year_from, year_to=year_to,
            ef_search=self.params.index.ef_search))

    def similar(self, track_id: int, k: int) -> list[dict[str, Any]]:
        return self._timed_query("similar", lambda conn: vector_search.similar(
            conn, track_id, self.embedding_model, k, ef_search=self.params.index.ef_search))

    def trends(self, metric: str, by: str, artist: str | None) -> dict[str, Any]:
        with self.database.connection() as conn:
            points = trends_sql.trend(conn, metric, by, artist)  # type: ignore[arg-type]
        return {"metric": metric, "description": trends_sql.METRICS[metric].description, "by": by,
                "artist": artist, "points": points}

    def health(self) -> dict[str, Any]:
        """`status` ok or degraded, and each dependency's state with the reason when it is not ok."""
        db_reason = self.database.check()
        redis_ok = self.predictions.cache.link.ping()
        checks = {
            "database": {"ok": db_reason is None, "reason": db_reason},
            "redis": {"ok": redis_ok, "reason": None if redis_ok else (self.predictions.cache.link.reason
                                                                        or "Redis unreachable; serving uncached")},
            "models": {"ok": bool(self.models), "loaded": [m.tag for m in self.models], "reason": None},
        }
        status = "ok" if all(c["ok"] for c in checks.values()) else "degraded"
        return {"status": status, **checks, "uptime_s": round(time.time() - self.started, 1)}

    def public_config(self) -> dict[str, Any]:
        """The serve settings and where the data lives, without secrets (URLs lose user and password; the
        API key is only said to be set or not)."""
        return {
            "serve": self.params.serve.model_dump(),
            "embedding_model": self.embedding_model,
            "features": self.params.features.model_dump(),
            "llm_backend": self.params.llm_eval.backend if self.params.serve.llm else None,
            # host, port and database only, as the stages' errors show them (no password in any libpq form)
            **{name: redact_url(url) if (url := os.environ.get(variable)) else None
               for name, variable in (("database", "DATABASE_URL"), ("redis", "REDIS_URL"))},
            "api_key_required": bool(os.environ.get(API_KEY_ENV)),
            "models": {m.target: m.tag for m in self.models},
        }
