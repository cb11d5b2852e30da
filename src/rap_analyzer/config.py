"""One place for configuration: plain data from `params.yaml` (a section per stage) plus secrets and
service URLs from the environment or `.env`.

Stages read only their own section: `load_params().scrape`, `load_params().prepare`, ...
Secrets are `SecretStr` so that they never appear in reprs, logs or error messages.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_PARAMS = REPO_ROOT / "params.yaml"


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PathsParams(Section):
    shared_dir: Path = Path("../shared")
    data_dir: Path = Path("data")
    reports_dir: Path = Path("reports")


class ScrapeParams(Section):
    source: Literal["dump", "catalog", "genius"] = "dump"
    dump_dirs: list[str] = Field(default_factory=lambda: ["corpus/genius/rap"])
    catalog_dir: str = "corpus/catalog"
    artists: list[str] = Field(default_factory=list)
    max_songs_per_artist: int = 20
    excluded_terms: list[str] = Field(
        default_factory=lambda: ["remix", "live", "skit", "interlude", "instrumental", "demo", "version"]
    )
    min_words: int = 20
    requests_per_minute: float = 60.0
    max_retries: int = 5
    timeout_s: float = 15.0
    breaker_failures: int = 5
    breaker_cooldown_s: float = 60.0
    cache_ttl_s: int = 3600
    spotify_enrich: bool = False
    spotify_min_score: float = 0.75
    limit: int | None = None


class PrepareParams(Section):
    min_words: int = 50
    languages: list[str] = Field(default_factory=lambda: ["en"])
    eval_fraction: float = 0.2
    n_folds: int = 5
    seed: int = 42


class FeaturesParams(Section):
    rhyme_window: int = 15
    first_n_words: int = 100
    mattr_window: int = 50


class EmbedParams(Section):
    model: str = "all-MiniLM-L6-v2"
    batch_size: int = 32
    max_seq_length: int = 256


class BaselinesParams(Section):
    seed: int = 42
    n_bootstrap: int = 1000
    ridge_alpha: float = 1.0
    tfidf_max_features: int = 20000
    targets: list[str] = Field(default_factory=lambda: ["popularity", "release_year"])


class LLMParams(Section):
    backend: Literal["local", "openai", "transformers"] = "local"
    base_url: str | None = None
    model: str = "qwen/qwen3-4b-fp8"
    api_key_env: str = "NOVITA_API_KEY"
    local_model_path: str | None = None
    temperature: float = 0.0
    max_tokens: int = 400
    json_mode: bool = True
    schema_decoding: bool = True  # local backend: llama.cpp constrains decoding to the analysis schema
    prompt_version: str = "v1"
    eval_limit: int | None = 40
    train_sample: int = 0
    concurrency: int = 2
    requests_per_minute: float = 600.0
    max_retries: int = 4
    timeout_s: float = 120.0
    max_lyrics_chars: int = 1500
    n_ctx: int = 4096
    n_threads: int | None = None  # local llama.cpp server; None: every core
    breaker_failures: int = 5
    breaker_cooldown_s: float = 60.0
    n_bootstrap: int = 1000
    seed: int = 42
    price_per_1m_input_usd: float = 0.0
    price_per_1m_output_usd: float = 0.0


class Params(Section):
    paths: PathsParams = PathsParams()
    scrape: ScrapeParams = ScrapeParams()
    prepare: PrepareParams = PrepareParams()
    features: FeaturesParams = FeaturesParams()
    embed: EmbedParams = EmbedParams()
    baselines: BaselinesParams = BaselinesParams()
    llm_eval: LLMParams = LLMParams()

    def shared_path(self, relative: str | Path) -> Path:
        return resolve(self.paths.shared_dir) / relative

    @property
    def data_dir(self) -> Path:
        return resolve(self.paths.data_dir)

    @property
    def reports_dir(self) -> Path:
        return resolve(self.paths.reports_dir)


def resolve(path: Path) -> Path:
    """Relative paths in params.yaml are relative to the repository root, wherever we run from."""
    return path if path.is_absolute() else (REPO_ROOT / path).resolve()


def load_params(path: str | Path | None = None) -> Params:
    path = Path(path or os.environ.get("RAP_ANALYZER_PARAMS", DEFAULT_PARAMS))
    raw = yaml.safe_load(path.read_text()) if path.exists() else {}
    params = Params.model_validate(raw or {})
    shared_override = os.environ.get("RAP_ANALYZER_SHARED_DIR")
    if shared_override:
        paths = params.paths.model_copy(update={"shared_dir": Path(shared_override)})
        params = params.model_copy(update={"paths": paths})
    return params


class Secrets(BaseSettings):
    """Secrets and service URLs. Unset URLs mean: start the embedded server."""

    model_config = SettingsConfigDict(env_file=REPO_ROOT / ".env", extra="ignore")

    database_url: str | None = None
    redis_url: str | None = None
    genius_access_token: SecretStr | None = None
    spotify_client_id: SecretStr | None = None
    spotify_client_secret: SecretStr | None = None
    openai_api_key: SecretStr | None = None
    novita_api_key: SecretStr | None = None

    def api_key(self, env_name: str) -> str | None:
        """The key named by `llm_eval.api_key_env`, from the environment or `.env`."""
        value = os.environ.get(env_name) or getattr(self, env_name.lower(), None)
        if isinstance(value, SecretStr):
            return value.get_secret_value()
        return value


@lru_cache(maxsize=1)
def get_secrets() -> Secrets:
    return Secrets()
