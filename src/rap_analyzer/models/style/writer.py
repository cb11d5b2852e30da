"""`StyleWriter`: generation and artist style transfer, grounded in the artist's own verses.

For a request naming an artist, the `k` tracks of that artist whose stored embedding (pgvector, the index stage's
`embed.model` vectors) is nearest to the prompt or to the lyrics to rewrite are retrieved with
`rap_analyzer.store.search.nearest` (its artist filter), and each is quoted to the LLM as a style example.

What a "verse" is here: the opening of the track's clean lyrics, `generation.example_chars` characters cut back to
a line break. The track embedding the retrieval ranks by covers the song's first `embed.max_seq_length` tokens
(256: a median 956 characters in 500 sampled corpus songs), so the opening 600 characters lie inside the part of the
song that was found similar; and a fixed bound per example keeps every request bounded (k * example_chars + the
input + the instructions), whatever the song length.
Stanza-level retrieval would need stanza embeddings the index does not hold.

The LLM is any `rap_analyzer.models.llm` backend (`open_backend(llm_eval)`, shared with /analyze in the service);
each request carries its own temperature, max_tokens and seed (`Sampling`: free text, JSON mode off). An LLM
that does not answer is a failure in the result (`ok` false, `failure` the reason), never text made up
here. With a classifier, the reply is scored as the target artist (`StyleScore`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import psycopg

from rap_analyzer.config import GenerationParams
from rap_analyzer.errors import ServiceUnavailableError
from rap_analyzer.models.embeddings import encode_one
from rap_analyzer.models.llm.base import Backend, Reply, RequestFailure, Sampling
from rap_analyzer.models.style.artists import resolve_artist
from rap_analyzer.models.style.classifier import CLASSIFIER_NAME, ArtistClassifier, StyleScore, normalise_lyrics
from rap_analyzer.models.style.prompts import (
    PROMPT_VERSION,
    generation_messages,
    quote_example,
    transfer_messages,
)
from rap_analyzer.models.style.verbatim import is_copied, longest_shared_run
from rap_analyzer.store.search import nearest

# RequestFailure reasons that mean the backend is down or overloaded (the service answers 503), as opposed to a
# backend that answered but refused this request (bad_request, http_4xx) or produced nothing usable.
UNAVAILABLE_REASONS = frozenset({"connection_error", "timeout", "circuit_open", "server_error", "rate_limited"})
NO_CLASSIFIER = (f"no artist classifier is loaded, so no artist is known: run `dvc repro artist_classifier` (it "
                 f"saves {CLASSIFIER_NAME} into the BentoML store) and restart the service; /generate without an "
                 "artist still works")

LYRICS_SQL = "SELECT id, lyrics_clean FROM tracks WHERE id = ANY(%s)"


@dataclass(frozen=True)
class Example:
    """One retrieved verse: the track, its pgvector cosine similarity to the query, and the quoted text."""

    track_id: int
    score: float
    text: str


@dataclass(frozen=True)
class Prompt:
    """What is sent to the LLM: the chat messages, the prompt version, the artist and the examples they quote."""

    messages: list[dict[str, str]]
    version: str
    artist: str | None
    examples: list[Example]


@dataclass
class WriteResult:
    """One generation or rewrite. `text` is the model's reply ("" when `ok` is false; never made up), `failure`
    the countable reason when not ok (a RequestFailure reason, or "empty_reply"), `verbatim_run` the longest run
    of consecutive words shared with an example and `copied` whether it reaches `generation.verbatim_run_words`,
    `style` the classifier's score of the text as the target artist (None without an artist or classifier, or
    when not ok). Token counts are the backend's (None when it gives none)."""

    text: str
    example_track_ids: list[int]
    prompt_version: str
    model: str
    verbatim_run: int
    copied: bool
    ok: bool
    failure: str | None
    style: StyleScore | None
    prompt_tokens: int | None
    completion_tokens: int | None
    artist: str | None = None
    failure_detail: str | None = None
    finish_reason: str | None = None  # "length": cut at max_tokens
    latency_s: float | None = None  # the LLM call's

    @property
    def unavailable(self) -> bool:
        """The failure means the backend is down or overloaded (503 in the service)."""
        return self.failure in UNAVAILABLE_REASONS

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _bounded(name: str, value: int | float, low: int | float, high: int | float, setting: str) -> None:
    if not low <= value <= high:
        raise ValueError(f"{name} = {value} is outside [{low}, {high}] ({setting} in params.yaml)")


class StyleWriter:
    """Generation and style transfer for one configuration.

    `llm`: a backend from `open_backend`, or a callable returning one (the service's shared, lazily started
    backend; it may raise ServiceUnavailableError). `encoder`: the sentence-transformers model of `embed.model`
    (`load_model`), `embed_model_key` the `model_key(embed)` its vectors are stored under. `connect`: returns a
    context manager yielding a psycopg connection (`lambda: psycopg.connect(url)`, or the service's
    `Database.connection`). `known_artists`: the names an artist is resolved against; default the classifier's
    artists (without either, a request naming an artist raises ServiceUnavailableError saying what to run)."""

    def __init__(self, params: GenerationParams, llm: Backend | Callable[[], Backend], encoder: Any,
                 connect: Callable[[], AbstractContextManager[psycopg.Connection]],
                 classifier: ArtistClassifier | None, embed_model_key: str, *, ef_search: int = 40,
                 known_artists: Sequence[str] | None = None) -> None:
        self.params, self.encoder, self.connect = params, encoder, connect
        self.classifier, self.embed_model_key, self.ef_search = classifier, embed_model_key, ef_search
        self._llm = llm
        if known_artists is not None:
            self.known_artists: list[str] | None = list(known_artists)
        else:
            self.known_artists = classifier.artists if classifier is not None else None

    # ---------------------------------------------------------------- the parts

    def backend(self) -> Backend:
        """The backend (started on first use when `llm` is a callable)."""
        return self._llm if hasattr(self._llm, "complete") else self._llm()  # type: ignore[operator,return-value]

    def resolve(self, artist: str) -> str:
        """The canonical name of `artist`; UnknownArtistError with suggestions, or ServiceUnavailableError when
        no artists are known (no classifier)."""
        if self.known_artists is None:
            raise ServiceUnavailableError(NO_CLASSIFIER)
        return resolve_artist(artist, self.known_artists)

    def encode(self, text: str) -> np.ndarray:
        """The unit-length embedding of `text`, shape (dim,), as the embed stage makes them."""
        return encode_one(self.encoder, text)

    def retrieve(self, text: str, artist: str, k: int) -> list[Example]:
        """The `k` tracks of `artist` (canonical name) nearest to `text`, best first, each quoted as an example.
        Fewer when the artist has fewer indexed tracks; none for k = 0."""
        if k == 0:
            return []
        vector = self.encode(text)
        with self.connect() as conn:
            hits = nearest(conn, vector, self.embed_model_key, k, artist=artist, ef_search=self.ef_search)
            ids = [hit["track_id"] for hit in hits]
            lyrics = dict(conn.execute(LYRICS_SQL, (ids,)).fetchall()) if ids else {}
        return [Example(hit["track_id"], hit["score"], quote_example(lyrics[hit["track_id"]],
                                                                     self.params.example_chars))
                for hit in hits if lyrics.get(hit["track_id"], "").strip()]

    def _k(self, k: int | None) -> int:
        k = self.params.default_k if k is None else k
        _bounded("k", k, 0, self.params.max_k, "generation.max_k")
        return k

    def generation_prompt(self, prompt: str, artist: str | None = None, k: int | None = None) -> Prompt:
        """The prompt /generate sends: `artist` resolved, its `k` verses nearest to `prompt` retrieved and quoted.
        Raises ValueError for an empty or too long prompt or k out of bounds, UnknownArtistError for an unknown
        artist."""
        k = self._k(k)
        _bounded("prompt length", len(prompt), 1, self.params.max_prompt_chars, "generation.max_prompt_chars")
        canonical = self.resolve(artist) if artist is not None else None
        examples = self.retrieve(normalise_lyrics(prompt) or prompt, canonical, k) if canonical else []
        return Prompt(generation_messages(prompt, canonical, [e.text for e in examples]), PROMPT_VERSION,
                      canonical, examples)

    def transfer_prompt(self, lyrics: str, target_artist: str, k: int | None = None) -> Prompt:
        """The prompt /style_transfer sends: the lyrics (as the classifier reads them: headers out, characters
        folded) to rewrite as `target_artist`, with its `k` verses nearest to them. Raises like
        `generation_prompt`."""
        k = self._k(k)
        _bounded("lyrics length", len(lyrics), 1, self.params.max_lyrics_chars, "generation.max_lyrics_chars")
        canonical = self.resolve(target_artist)
        text = normalise_lyrics(lyrics).strip() or lyrics.strip()
        examples = self.retrieve(text, canonical, k)
        return Prompt(transfer_messages(text, canonical, [e.text for e in examples]), PROMPT_VERSION, canonical,
                      examples)

    def complete(self, prompt: Prompt, max_tokens: int | None = None, temperature: float | None = None,
                 seed: int | None = None) -> WriteResult:
        """Send `prompt`; the reply checked for copying and scored. A backend failure is a result with `ok`
        false (`unavailable` when the backend is down); `LLMFatalError` (bad key, unknown model) propagates, and
        so does ServiceUnavailableError from a backend that cannot start."""
        max_tokens = self.params.max_tokens if max_tokens is None else max_tokens
        temperature = self.params.temperature if temperature is None else temperature
        _bounded("max_tokens", max_tokens, 1, self.params.max_tokens_limit, "generation.max_tokens_limit")
        _bounded("temperature", temperature, 0, 2, "the OpenAI API's range")
        backend = self.backend()
        ids = [e.track_id for e in prompt.examples]
        started = time.perf_counter()
        try:
            reply: Reply = backend.complete(prompt.messages, Sampling(temperature, max_tokens, seed))
        except RequestFailure as exc:
            return WriteResult("", ids, prompt.version, backend.model, 0, False, False, exc.reason, None, None, None,
                               artist=prompt.artist, failure_detail=exc.detail or None,
                               latency_s=time.perf_counter() - started)
        text = (reply.text or "").strip()
        if not text:
            return WriteResult("", ids, prompt.version, backend.model, 0, False, False, "empty_reply", None,
                               reply.tokens_in, reply.tokens_out, artist=prompt.artist,
                               finish_reason=reply.finish_reason, latency_s=reply.latency_s)
        run = longest_shared_run(text, [e.text for e in prompt.examples])
        style = None
        if prompt.artist is not None and self.classifier is not None and prompt.artist in self.classifier.artists:
            style = self.classifier.score(text, prompt.artist)
        copied = is_copied(run, self.params.verbatim_run_words)
        return WriteResult(text, ids, prompt.version, backend.model, run, copied, True, None, style,
                           reply.tokens_in, reply.tokens_out, artist=prompt.artist,
                           finish_reason=reply.finish_reason, latency_s=reply.latency_s)

    # ---------------------------------------------------------------- the two tasks

    def generate(self, prompt: str, artist: str | None = None, k: int | None = None, max_tokens: int | None = None,
                 temperature: float | None = None, seed: int | None = None) -> WriteResult:
        """A verse continuing `prompt`, in the style of `artist` (with its k nearest verses as examples) when
        given. Defaults and bounds: `generation` in params.yaml. Raises ValueError for out-of-bounds inputs,
        UnknownArtistError (with suggestions) for an unknown artist."""
        return self.complete(self.generation_prompt(prompt, artist, k), max_tokens, temperature, seed)

    def style_transfer(self, lyrics: str, target_artist: str, k: int | None = None, max_tokens: int | None = None,
                       temperature: float | None = None, seed: int | None = None) -> WriteResult:
        """`lyrics` rewritten in the style of `target_artist`, with its k verses nearest to them as examples
        (k = 0: none, the artist only named). Raises like `generate`."""
        return self.complete(self.transfer_prompt(lyrics, target_artist, k), max_tokens, temperature, seed)
