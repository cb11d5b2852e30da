"""The rap-analyzer BentoML service: the selection stage's champions, semantic search, trends and a web page.

    bentoml serve rap_analyzer.serve.service:RapAnalyzer      # or: make serve

Settings: `params.yaml: serve` of the project root (env `RAP_ANALYZER_ROOT` or `RAP_ANALYZER_PARAMS`, else
the current directory or its nearest parent holding params.yaml); `DATABASE_URL` / `REDIS_URL` (else the
embedded servers, started once by the deployment hook); `RAP_ANALYZER_API_KEY` (optional: required key).

POST /analyze /predict /search /similar /trends /generate /style_transfer (JSON; schemas in
rap_analyzer.serve.schemas, OpenAPI at /docs.json); GET /health /models /cache/stats /config; BentoML's /livez
/readyz /metrics; the page at /ui.

Each worker holds one LLM backend (`llm_eval`, started with the worker when `serve.llm` or `generation.enabled` is
on), shared by /analyze's LLM analysis and by generation. The artist classifier is declared only when the store
holds it, so a store without one still serves (generation then says, in /health and its 503, what to run).
"""

from __future__ import annotations

import os
from importlib import resources
from typing import Any

import bentoml
from bentoml.exceptions import NotFound
from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from rap_analyzer.config import load_params
from rap_analyzer.errors import UserError
from rap_analyzer.models.style.classifier import CLASSIFIER_NAME
from rap_analyzer.serve import schemas
from rap_analyzer.serve.access import AccessGuard
from rap_analyzer.serve.analysis import Analyzer
from rap_analyzer.serve.cache import PredictionCache, RedisLink
from rap_analyzer.serve.database import Database
from rap_analyzer.serve.deployment import export_service_urls, redis_url
from rap_analyzer.serve.generation import Generation
from rap_analyzer.serve.llm import LLMAnalyst, SharedBackend, worker_llm_params
from rap_analyzer.serve.metrics import series
from rap_analyzer.serve.predictions import Predictions, ServedModel
from rap_analyzer.serve.responses import answers_errors

PARAMS = load_params()
SERVE = PARAMS.serve
GENERATION = PARAMS.generation
CHAMPION_NAME = "rap-analyzer-{target}"  # the selection stage saves champions under these names
PAGE_DIR = str(resources.files("rap_analyzer.serve") / "page")


def champion_tag(target: str) -> str:
    return f"{CHAMPION_NAME.format(target=target)}:{SERVE.champion_tags.get(target, 'latest')}"


CLASSIFIER_TAG = f"{CLASSIFIER_NAME}:{GENERATION.classifier_tag}"


def stored(tag: str) -> bool:
    """Whether the BentoML store (BENTOML_HOME) holds `tag`: a model declared on the service must exist, or
    `bentoml serve` refuses to start."""
    try:
        bentoml.models.get(tag)
    except NotFound:
        return False
    return True


ops = FastAPI(title="rap-analyzer operations")
ops.mount("/ui", StaticFiles(directory=PAGE_DIR, html=True), name="ui")


@bentoml.service(
    name="rap_analyzer",
    workers=SERVE.workers,
    threads=SERVE.threads,
    http={"host": SERVE.host, "port": SERVE.port},
    traffic={"timeout": 300},
)
@bentoml.asgi_app(ops, path="/")
class RapAnalyzer:
    popularity_model = bentoml.models.BentoModel(champion_tag("popularity"))
    release_year_model = bentoml.models.BentoModel(champion_tag("release_year"))
    artist_classifier_model = bentoml.models.BentoModel(CLASSIFIER_TAG) if stored(CLASSIFIER_TAG) else None

    @bentoml.on_deployment
    def start_backing_services() -> None:
        export_service_urls(PARAMS)

    def __init__(self) -> None:
        import torch

        from rap_analyzer.models.embeddings import load_model
        from rap_analyzer.models.predictor import load_champion

        torch.set_num_threads(SERVE.torch_threads)  # workers share the cores: oversubscribed torch spin-waits
        series()  # created here, in the worker, so that they are multi-process series
        champions = [load_champion(target, str(model.tag))
                     for target, model in (("popularity", self.popularity_model),
                                           ("release_year", self.release_year_model))]
        models = [ServedModel(c.target, c.tag, c.predictor, c.metadata) for c in champions]
        redis = RedisLink(redis_url, SERVE.redis_timeout_s)
        llm = worker_llm_params(PARAMS.llm_eval, SERVE.workers, os.cpu_count() or 1)
        backend = SharedBackend(llm)  # one per worker: /analyze's LLM path and generation
        encoder = load_model(PARAMS.embed.model, PARAMS.embed.max_seq_length)
        database = Database(PARAMS, SERVE.db_timeout_s)
        self.analyzer = Analyzer(
            PARAMS, models, Predictions(models, PredictionCache(redis, SERVE.cache_ttl_s)),
            encoder=encoder, database=database,
            llm=LLMAnalyst(SERVE.llm, PARAMS.llm_eval, redis, SERVE.cache_ttl_s, backend),
        )
        self.generation = Generation(PARAMS, backend, encoder, database, redis, SERVE.cache_ttl_s,
                                     *self._artist_classifier())
        if SERVE.llm or GENERATION.enabled:  # at worker start-up: the first request must not wait for the server
            backend.start()

    def _artist_classifier(self) -> tuple[Any, str | None, str | None]:
        """(classifier, its tag, None), or (None, None, what to run) when the store holds none or it cannot load."""
        from rap_analyzer.models.style.classifier import load_from_store

        if self.artist_classifier_model is None:
            return None, None, (f"no artist classifier {CLASSIFIER_TAG} in the BentoML store, so no artist is known: "
                                "run `dvc repro artist_classifier` and restart the service; /generate without an "
                                "artist still works")
        try:  # like the champions: the declared (resolved) model's exact tag
            classifier, tag = load_from_store(str(self.artist_classifier_model.tag))
        except UserError as exc:
            return None, None, str(exc)
        return classifier, tag, None

    @bentoml.on_shutdown
    def close(self) -> None:
        self.analyzer.llm.close()

    @bentoml.api(input_spec=schemas.AnalyzeRequest)
    @answers_errors
    def analyze(self, lyrics: str, title: str | None = None, artist: str | None = None, k: int = SERVE.default_k,
                llm: bool = False) -> schemas.AnalyzeResponse:
        return schemas.AnalyzeResponse(title=title, artist=artist, **self.analyzer.analyze(lyrics, title, k, llm))

    @bentoml.api(input_spec=schemas.PredictRequest, batchable=True, max_batch_size=SERVE.max_batch_size,
                 max_latency_ms=SERVE.max_latency_ms)
    def predict(self, lyrics: list[str]) -> list[schemas.Prediction]:
        return [schemas.Prediction(**p) for p in self.analyzer.predictions.predict(lyrics)]

    @bentoml.api(input_spec=schemas.SearchRequest)
    @answers_errors
    def search(self, query: str, k: int = SERVE.default_k, artist: str | None = None, year_from: int | None = None,
               year_to: int | None = None, mode: str = "semantic") -> schemas.SearchResponse:
        return schemas.SearchResponse(results=self.analyzer.search(query, k, artist, year_from, year_to, mode))

    @bentoml.api(input_spec=schemas.SimilarRequest)
    @answers_errors
    def similar(self, track_id: int, k: int = SERVE.default_k) -> schemas.SearchResponse:
        return schemas.SearchResponse(results=self.analyzer.similar(track_id, k))

    @bentoml.api(input_spec=schemas.TrendsRequest)
    @answers_errors
    def trends(self, metric: str, by: str = "year", artist: str | None = None) -> schemas.TrendsResponse:
        return schemas.TrendsResponse(**self.analyzer.trends(metric, by, artist))

    @bentoml.api(input_spec=schemas.GenerateRequest)
    @answers_errors
    def generate(self, prompt: str, artist: str | None = None, k: int = GENERATION.default_k,
                 max_tokens: int = GENERATION.max_tokens, temperature: float = GENERATION.temperature,
                 seed: int | None = None) -> schemas.GenerateResponse:
        return schemas.GenerateResponse(**self.generation.generate(prompt, artist, k, max_tokens, temperature, seed))

    @bentoml.api(input_spec=schemas.StyleTransferRequest)
    @answers_errors
    def style_transfer(self, lyrics: str, target_artist: str, k: int = GENERATION.default_k,
                       max_tokens: int = GENERATION.max_tokens, temperature: float = GENERATION.temperature,
                       seed: int | None = None) -> schemas.GenerateResponse:
        return schemas.GenerateResponse(**self.generation.style_transfer(lyrics, target_artist, k, max_tokens,
                                                                         temperature, seed))

    @ops.get("/health")
    def health(self) -> dict[str, Any]:
        out = self.analyzer.health()
        out["generation"] = self.generation.health()
        if not out["generation"]["ok"]:
            out["status"] = "degraded"
        return out

    @ops.get("/models")
    def models_info(self) -> dict[str, Any]:
        return {m.target: {"tag": m.tag, "version": m.version, **m.metadata} for m in self.analyzer.models}

    @ops.get("/cache/stats")
    def cache_stats(self) -> dict[str, Any]:
        return self.analyzer.predictions.cache.stats()

    @ops.get("/config")
    def config(self) -> dict[str, Any]:
        return {**self.analyzer.public_config(), "generation": GENERATION.model_dump(),
                "artist_classifier": self.generation.classifier_tag}


RapAnalyzer.add_asgi_middleware(AccessGuard, settings=SERVE, redis_url=redis_url)
