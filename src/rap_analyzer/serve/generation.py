"""/generate and /style_transfer apart from HTTP: the `StyleWriter` on the worker's shared LLM backend, database and
sentence encoder, the artist classifier from the BentoML store, and a Redis cache of replies.

Known artists are the artist classifier's classes (`rap-analyzer-artist-classifier` in the BentoML store, the
`artist_classifier` stage). Without it the service still starts: /health says `generation.ok: false` and what to
run, a request naming an artist answers 503 with the same, and /generate without an artist works.

Caching: a reply is cached (Redis, `serve.cache_ttl_s`) under the SHA-256 of every input that shapes it: the
endpoint, the text, the canonical artist, k, max_tokens, temperature, seed, the model, the prompt version and the
prompt texts' fingerprint, the example length, the verbatim threshold, `index.ef_search`, the embedding model and
the classifier's tag (`reply_fields`). Re-indexing the corpus is not in the key: a reply cached before it is served
until its TTL ends. Only deterministic requests are cached: temperature 0, or a seed. A request at temperature > 0
without a seed asks for a new sample each time, so it is never answered from the cache (nor stored). A seeded request is
answered from the cache the second time, which is also what makes it repeatable on the local llama.cpp server
(whose seeded replies can still differ between uncached calls: its KV-cache reuse changes the floating-point path,
see `rap_analyzer.models.llm.local_server`). Failures are never cached.
"""

from __future__ import annotations

import hashlib
import json
import logging
from typing import Any

from rap_analyzer.config import Params
from rap_analyzer.errors import LLMFatalError, ServiceUnavailableError, UnknownArtistError
from rap_analyzer.models.embeddings import model_key
from rap_analyzer.models.style.classifier import ArtistClassifier
from rap_analyzer.models.style.prompts import PROMPT_VERSION, prompt_fingerprint
from rap_analyzer.models.style.writer import NO_CLASSIFIER, StyleWriter, WriteResult
from rap_analyzer.serve.cache import PREFIX, RedisLink
from rap_analyzer.serve.database import Database
from rap_analyzer.serve.llm import LinkedJsonCache, SharedBackend

log = logging.getLogger(__name__)

SWITCHED_OFF = ("generation is switched off on this server: set generation.enabled: true in params.yaml (the LLM "
                "is llm_eval.backend) and restart")


def cache_key(fields: dict[str, Any]) -> str:
    """SHA-256 hex of the request's fields as canonical JSON (sorted keys)."""
    return hashlib.sha256(json.dumps(fields, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def reply_fields(params: Params, *, endpoint: str, text: str, artist: str | None, k: int, max_tokens: int,
                 temperature: float, seed: int | None, model: str, classifier_tag: str | None) -> dict[str, Any]:
    """Every input that shapes a reply, for `cache_key`: the request (its defaults already applied), the model, the
    prompt's version and texts, the settings that decide which verses are retrieved and how they are quoted
    (`generation.example_chars`, `index.ef_search`, the embedding model) and how the reply is flagged
    (`generation.verbatim_run_words`), and the classifier version that scores it. tests/test_generation_cache_key.py
    lists the settings left out (bounds a request is checked against, defaults resolved before this) and why."""
    return {"endpoint": endpoint, "text": text, "artist": artist, "k": k, "max_tokens": max_tokens,
            "temperature": temperature, "seed": seed, "model": model, "prompt_version": PROMPT_VERSION,
            "prompt": prompt_fingerprint(), "example_chars": params.generation.example_chars,
            "verbatim_run_words": params.generation.verbatim_run_words, "ef_search": params.index.ef_search,
            "embedding": model_key(params.embed), "classifier": classifier_tag}


def response_body(result: WriteResult, verbatim_run_words: int, cached: bool) -> dict[str, Any]:
    """The response fields of a result: the example track ids, never their text."""
    style = None
    if result.style is not None:
        style = {"artist": result.style.artist, "probability": result.style.probability, "rank": result.style.rank,
                 "n_artists": result.style.n_artists,
                 "top": [{"artist": a, "probability": p} for a, p in result.style.top]}
    return {"ok": result.ok, "text": result.text, "failure": result.failure, "failure_detail": result.failure_detail,
            "artist": result.artist, "example_track_ids": result.example_track_ids,
            "prompt_version": result.prompt_version, "model": result.model, "verbatim_run": result.verbatim_run,
            "copied": result.copied, "verbatim_run_words": verbatim_run_words, "style": style,
            "prompt_tokens": result.prompt_tokens, "completion_tokens": result.completion_tokens,
            "finish_reason": result.finish_reason, "cached": cached}


class Generation:
    """`classifier`/`classifier_tag`: the loaded artist classifier and its BentoML tag, or None with
    `classifier_reason` saying why there is none."""

    def __init__(self, params: Params, backend: SharedBackend, encoder: Any, database: Database, link: RedisLink,
                 ttl_s: int, classifier: ArtistClassifier | None, classifier_tag: str | None,
                 classifier_reason: str | None = None) -> None:
        self.params, self.settings = params, params.generation
        self.backend, self.classifier_tag = backend, classifier_tag
        self.classifier_reason = None if classifier is not None else (classifier_reason or NO_CLASSIFIER)
        self.embed_model = model_key(params.embed)
        self.writer = StyleWriter(params.generation, backend.get, encoder, database.connection, classifier,
                                  self.embed_model, ef_search=params.index.ef_search)
        self.cache = LinkedJsonCache(link, f"{PREFIX}:gen", ttl_s)

    def _run(self, endpoint: str, text: str, artist: str | None, k: int, max_tokens: int, temperature: float,
             seed: int | None) -> dict[str, Any]:
        if not self.settings.enabled:
            raise ServiceUnavailableError(SWITCHED_OFF)
        if artist is not None and self.writer.known_artists is None:
            raise ServiceUnavailableError(self.classifier_reason or NO_CLASSIFIER)
        canonical = self.writer.resolve(artist) if artist is not None else None  # UnknownArtistError: 404
        used = self.backend.get()  # ServiceUnavailableError when it cannot start
        model = used.model
        key = None
        if temperature == 0 or seed is not None:
            key = cache_key(reply_fields(self.params, endpoint=endpoint, text=text, artist=canonical, k=k,
                                         max_tokens=max_tokens, temperature=temperature, seed=seed, model=model,
                                         classifier_tag=self.classifier_tag))
            hit = self.cache.get(key)
            if hit is not None:
                return {**hit, "cached": True}
        try:
            if endpoint == "generate":
                result = self.writer.generate(text, canonical, k, max_tokens, temperature, seed)
            else:
                result = self.writer.style_transfer(text, canonical or "", k, max_tokens, temperature, seed)
        except LLMFatalError as exc:  # a refused key or unknown model: every request would fail the same way
            # the detail (it names the endpoint URL) goes to the log, for the operator, not to the caller
            log.error("the LLM backend refused a %s request: %s", endpoint, exc)
            raise ServiceUnavailableError("the LLM backend refused the request (its API key or model name); the "
                                          "service's log says which; fix llm_eval in params.yaml") from None
        if result.unavailable:
            self.backend.failed(result.failure, used)
            raise ServiceUnavailableError(
                f"the LLM backend ({self.backend.params.backend}, model {result.model}) did not answer "
                f"({result.failure}); try again shortly, and check /health")
        body = response_body(result, self.settings.verbatim_run_words, cached=False)
        if key is not None and result.ok:
            self.cache.set(key, body)
        return body

    def generate(self, prompt: str, artist: str | None, k: int, max_tokens: int, temperature: float,
                 seed: int | None) -> dict[str, Any]:
        """The /generate response body (see `response_body`). Raises UnknownArtistError (404 with suggestions),
        ServiceUnavailableError (503: switched off, no classifier for an artist, backend down or not started,
        database down)."""
        return self._run("generate", prompt, artist, k, max_tokens, temperature, seed)

    def style_transfer(self, lyrics: str, target_artist: str, k: int, max_tokens: int, temperature: float,
                       seed: int | None) -> dict[str, Any]:
        """The /style_transfer response body; raises like `generate` (the 404 names the field `target_artist`)."""
        try:
            return self._run("style_transfer", lyrics, target_artist, k, max_tokens, temperature, seed)
        except UnknownArtistError as exc:
            exc.field = "target_artist"  # type: ignore[attr-defined]
            raise

    def health(self) -> dict[str, Any]:
        """`ok` when switched off, or when the backend is up and the classifier loaded; else `reason` says what
        to do."""
        llm = self.backend.describe()
        out: dict[str, Any] = {"enabled": self.settings.enabled, "classifier": self.classifier_tag,
                               "n_artists": len(self.writer.known_artists or []), "llm": llm,
                               "prompt_version": PROMPT_VERSION}
        if not self.settings.enabled:
            return {"ok": True, "reason": None, **out}
        reasons = []
        if self.classifier_reason:
            reasons.append(self.classifier_reason)
        if not llm["started"]:
            reasons.append(f"LLM backend not running ({llm['reason'] or 'it starts on the next request'})")
        return {"ok": not reasons, "reason": "; ".join(reasons) or None, **out}
