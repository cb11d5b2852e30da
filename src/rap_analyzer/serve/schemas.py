"""Request and response bodies of the service, as pydantic models: BentoML validates requests against them
(a 400 whose `detail[].loc` names the field) and publishes them in the OpenAPI document.

Bounds (lyrics length, k, batch size) come from `params.yaml: serve`, read once when this module loads.
Requests forbid unknown fields: a misspelt `top_k` is an error, not silently the default k.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, model_validator

from rap_analyzer.config import load_params
from rap_analyzer.serve.predictions import normalise
from rap_analyzer.serve.trends import METRICS

LIMITS = load_params().serve
GENERATION = load_params().generation
MIN_YEAR, MAX_YEAR = 1900, 2100  # a year filter outside this is a typo, not a query


def _has_text(value: str) -> str:
    if not value.strip():
        raise ValueError("is blank: send the lyrics as text")
    return value


def _normalised(value: str) -> str:
    return normalise(value).text  # raises ValueError (InputError) when nothing is left


Lyrics = Annotated[str, StringConstraints(min_length=1, max_length=LIMITS.max_lyrics_chars), AfterValidator(_has_text)]
# /predict validates and normalises each lyric here, before batching: one bad lyric must fail its own request,
# not the batch it would have been merged into.
CleanLyrics = Annotated[Lyrics, AfterValidator(_normalised)]
K = Annotated[int, Field(ge=1, le=LIMITS.max_k, description="how many tracks to return")]
Year = Annotated[int, Field(ge=MIN_YEAR, le=MAX_YEAR)]
Name = Annotated[str, StringConstraints(min_length=1, max_length=200, strip_whitespace=True)]
MetricName = Literal[tuple(METRICS)]  # type: ignore[valid-type]


class Request(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AnalyzeRequest(Request):
    lyrics: Lyrics
    title: Name | None = None
    artist: Name | None = None
    k: K = LIMITS.default_k
    llm: bool = Field(False, description="also run the LLM's structured analysis (slow; cached)")


class PredictRequest(Request):
    lyrics: Annotated[list[CleanLyrics], Field(min_length=1, max_length=LIMITS.max_batch_items)]


class SearchRequest(Request):
    query: Annotated[str, StringConstraints(min_length=1, max_length=LIMITS.max_query_chars),
                     AfterValidator(_has_text)]
    k: K = LIMITS.default_k
    artist: Name | None = None
    year_from: Year | None = None
    year_to: Year | None = None
    # semantic: by meaning (pgvector); hybrid: reciprocal rank fusion with full-text search, which finds a
    # remembered line (known-item) that the 256-token song vector does not hold (bench/search_scale.py)
    mode: Literal["semantic", "hybrid"] = "semantic"

    @model_validator(mode="after")
    def _years_in_order(self) -> SearchRequest:
        if self.year_from is not None and self.year_to is not None and self.year_from > self.year_to:
            raise ValueError(f"year_from ({self.year_from}) is after year_to ({self.year_to}): swap them")
        return self


class SimilarRequest(Request):
    track_id: Annotated[int, Field(ge=1, description="a track id from /search or /analyze")]
    k: K = LIMITS.default_k


class TrendsRequest(Request):
    metric: MetricName  # type: ignore[valid-type]
    by: Literal["year", "decade"] = "year"
    artist: Name | None = None


GenK = Annotated[int, Field(ge=0, le=GENERATION.max_k,
                            description="verses of the artist quoted to the model as style examples (0: none)")]
MaxTokens = Annotated[int, Field(ge=1, le=GENERATION.max_tokens_limit, description="most tokens of the reply")]
Temperature = Annotated[float, Field(ge=0, le=2, description="sampling temperature (0: greedy)")]
Seed = Annotated[int, Field(ge=0, le=2**31 - 1, description="sampler seed; with a seed the reply is cached")]


class GenerateRequest(Request):
    prompt: Annotated[str, StringConstraints(min_length=1, max_length=GENERATION.max_prompt_chars),
                      AfterValidator(_has_text)] = Field(description="the opening lines to continue")
    artist: Name | None = Field(None, description="write in this artist's style, with their nearest verses")
    k: GenK = GENERATION.default_k
    max_tokens: MaxTokens = GENERATION.max_tokens
    temperature: Temperature = GENERATION.temperature
    seed: Seed | None = None


class StyleTransferRequest(Request):
    lyrics: Annotated[str, StringConstraints(min_length=1, max_length=GENERATION.max_lyrics_chars),
                      AfterValidator(_has_text)]
    target_artist: Name
    k: GenK = GENERATION.default_k
    max_tokens: MaxTokens = GENERATION.max_tokens
    temperature: Temperature = GENERATION.temperature
    seed: Seed | None = None


class ArtistProbability(BaseModel):
    artist: str
    probability: float


class StyleScoreOut(BaseModel):
    """How strongly the text reads as the artist, by the artist classifier."""

    artist: str
    probability: float = Field(description="the classifier's probability of this artist, 0..1")
    rank: int = Field(description="1 = the most likely of all n_artists")
    n_artists: int
    top: list[ArtistProbability] = Field(description="the most likely artists, best first")


class GenerateResponse(BaseModel):
    """A generated verse or rewrite. `text` is the model's reply ("" when `ok` is false: `failure` says why; text
    is never made up). The examples are given by track id only. `copied`: the reply shares `verbatim_run`
    consecutive words with an example, at least `verbatim_run_words`."""

    ok: bool
    text: str
    failure: str | None
    failure_detail: str | None
    artist: str | None = Field(description="the artist's canonical name")
    example_track_ids: list[int] = Field(description="the retrieved verses quoted to the model (/similar ids)")
    prompt_version: str
    model: str
    verbatim_run: int
    copied: bool
    verbatim_run_words: int
    style: StyleScoreOut | None = Field(description="null without an artist, a classifier, or a reply")
    prompt_tokens: int | None
    completion_tokens: int | None
    finish_reason: str | None = Field(description='"length": cut at max_tokens')
    cached: bool


class Prediction(BaseModel):
    """One lyric's predictions: `predictions[target]` in the target's units (popularity 1–10, release year),
    made by the model `models[target]` (a BentoML tag), null where that model cannot score the text; `cached`
    when every value came from Redis."""

    predictions: dict[str, float | None]
    models: dict[str, str]
    cached: bool


class TrackHit(BaseModel):
    track_id: int
    source_key: str = Field(description="the track's key in data/raw/corpus.parquet")
    title: str
    artist: str
    year: int | None
    url: str | None
    score: float = Field(description="cosine similarity of the embeddings, -1..1")


class SearchResponse(BaseModel):
    results: list[TrackHit]


class AnalyzeResponse(BaseModel):
    title: str | None = Field(description="as sent; the title also helps strip a Genius page header")
    artist: str | None = Field(description="as sent")
    cleaned_lyrics: str
    sections: list[str]
    features: dict[str, float]
    predictions: Prediction
    similar: list[TrackHit] | None
    llm_analysis: dict[str, Any] | None
    unavailable: dict[str, str] = Field(description="parts left out and why (e.g. the database is down)")


class TrendPoint(BaseModel):
    period: int = Field(description="the year, or the decade's first year")
    value: float
    n: int = Field(description="songs behind this point")


class TrendsResponse(BaseModel):
    metric: str
    description: str
    by: str
    artist: str | None
    points: list[TrendPoint]
