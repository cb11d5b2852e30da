"""The slow path of /analyze: the LLM's structured analysis (the llm_eval stage's backend, prompt and parser),
started with each worker when `serve.llm` is true and cached in Redis for `serve.cache_ttl_s`. Measured on the
2 shared cores (load ~12): SmolLM2-135M answered in 49 s uncached, 0.37 s from the cache.

An unparseable reply is returned as a failure with its reason, never as made-up fields.
"""

from __future__ import annotations

import threading
from contextlib import ExitStack
from typing import Any

from rap_analyzer.config import LLMParams
from rap_analyzer.errors import ServiceUnavailableError
from rap_analyzer.models.llm.backends import open_backend
from rap_analyzer.models.llm.cache import ReplyCache
from rap_analyzer.models.llm.records import analyze
from rap_analyzer.serve.cache import PREFIX, RedisLink
from rap_analyzer.store.cache import JsonCache


class _LinkedJsonCache(JsonCache):
    """JsonCache whose reads and writes go through the service's fail-fast Redis link (down: a miss)."""

    def __init__(self, link: RedisLink, namespace: str, ttl_s: int) -> None:
        self.link, self.namespace, self.ttl_s = link, namespace, ttl_s

    def get(self, key: str) -> Any | None:
        return self.link.call(lambda client: JsonCache(client, self.namespace, self.ttl_s).get(key))

    def set(self, key: str, value: Any) -> None:
        self.link.call(lambda client: JsonCache(client, self.namespace, self.ttl_s).set(key, value))


class LLMAnalyst:
    def __init__(self, enabled: bool, params: LLMParams, link: RedisLink, ttl_s: int) -> None:
        self.enabled, self.params = enabled, params
        self.cache = ReplyCache(_LinkedJsonCache(link, f"{PREFIX}:llm", ttl_s), params)
        self._backend: Any = None
        self._stack = ExitStack()
        self._lock = threading.Lock()
        if enabled:  # at worker start-up: the first request must not wait for the model server to start
            self._ready_backend()

    def _ready_backend(self) -> Any:
        with self._lock:
            if self._backend is None:
                self._backend = self._stack.enter_context(open_backend(self.params))
        return self._backend

    def analyze(self, text: str) -> dict[str, Any]:
        """`{ok, model, cached, analysis | failure}` for one normalised lyric. Raises ServiceUnavailableError
        when the LLM path is switched off (the message says which setting turns it on)."""
        if not self.enabled:
            raise ServiceUnavailableError("LLM analysis is switched off on this server: set serve.llm: true in "
                                          "params.yaml (the backend is llm_eval.backend) and restart")
        record = analyze(self._ready_backend(), text, self.params.max_lyrics_chars, cache=self.cache)
        out: dict[str, Any] = {"ok": record.ok, "model": record.model, "cached": record.cached}
        if record.ok:
            out["analysis"] = record.analysis
        else:
            out["failure"] = record.failure
            out["failure_detail"] = record.failure_detail
        return out

    def close(self) -> None:
        self._stack.close()
