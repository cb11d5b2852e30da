"""Redis cache of raw LLM replies, so that re-running the evaluation costs nothing.

Key: `llm_reply:<model>|<prompt version>|<settings>|<sha1 of the lyrics>`, where `<settings>` is a short hash
of the prompt text and of what else changes a reply (temperature, max_tokens, json_mode, max_lyrics_chars, the
decoding schema when llama.cpp follows one, the sampler seed above temperature 0; tests/test_cache_keys.py lists
every other `LLMParams` field with the reason it is not in the key):
editing any of them, or the prompt without a version bump, misses the cache instead of serving stale replies.
The endpoint is not part of the key: one model name is one model, whoever serves it.

The raw reply is cached, not the parsed analysis, so a better parser re-reads old replies for free. Only
replies are cached; transport failures (429, 5xx, timeouts) are retried on the next run.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict

from rap_analyzer.config import LLMParams
from rap_analyzer.models.llm.base import Reply
from rap_analyzer.models.llm.prompt import PROMPT_VERSION, prompt_fingerprint
from rap_analyzer.models.llm.schema import decoding_schema
from rap_analyzer.store.cache import JsonCache

NAMESPACE = "llm_reply"


def _schema_fingerprint() -> str:
    return hashlib.sha1(json.dumps(decoding_schema(), sort_keys=True).encode()).hexdigest()[:10]


def settings_fingerprint(params: LLMParams) -> str:
    # A tightened schema changes what the sampler may write, so it must miss replies made under the old one.
    schema = _schema_fingerprint() if params.schema_decoding and params.backend == "local" else False
    settings = {
        "prompt": prompt_fingerprint(),
        "temperature": params.temperature,
        "max_tokens": params.max_tokens,
        "json_mode": params.json_mode,
        "schema_decoding": schema,
        "max_lyrics_chars": params.max_lyrics_chars,
    }
    if params.temperature > 0:
        # Above temperature 0 the sampler's seed (passed to the local server) picks the reply; at 0 it does not,
        # and leaving it out there keeps a new bootstrap seed (the same setting) and the keys of replies cached
        # before it was added valid.
        settings["seed"] = params.seed
    return hashlib.sha1(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:10]


class ReplyCache:
    def __init__(self, cache: JsonCache, params: LLMParams) -> None:
        self.cache = cache
        self.settings = settings_fingerprint(params)

    @classmethod
    def from_client(cls, client: object, params: LLMParams) -> ReplyCache:
        return cls(JsonCache(client, NAMESPACE), params)  # type: ignore[arg-type]

    def key(self, model: str, lyrics_sha1: str) -> str:
        return f"{model}|{PROMPT_VERSION}|{self.settings}|{lyrics_sha1}"

    def get(self, model: str, lyrics_sha1: str) -> Reply | None:
        value = self.cache.get(self.key(model, lyrics_sha1))
        try:
            return None if value is None else Reply(**value)
        except TypeError:  # written by an older Reply shape: ask again rather than guess
            return None

    def set(self, model: str, lyrics_sha1: str, reply: Reply) -> None:
        self.cache.set(self.key(model, lyrics_sha1), asdict(reply))
