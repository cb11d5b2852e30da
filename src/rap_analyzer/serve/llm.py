"""The worker's one LLM backend and the slow path of /analyze.

`SharedBackend`: the llm_eval stage's backend (`open_backend(llm_eval)`: by default a local llama.cpp server with
SmolLM2-135M), one per worker, shared by /analyze's LLM analysis (`serve.llm`) and by /generate and
/style_transfer (`generation.enabled`); started with the worker when either is on. A backend that cannot start
answers 503 saying why; a local server that stops answering is restarted on the next request.

`LLMAnalyst`: the LLM's structured analysis (the stage's prompt and parser) cached in Redis for
`serve.cache_ttl_s` (its uncached speed is the stage's: README, LLM section, `bench/llm_local.py`). An
unparseable reply is returned as a failure with its reason, never as made-up fields.
"""

from __future__ import annotations

import logging
import threading
from contextlib import ExitStack, suppress
from typing import Any

from rap_analyzer.config import LLMParams
from rap_analyzer.errors import ServiceUnavailableError
from rap_analyzer.models.llm.backends import open_backend
from rap_analyzer.models.llm.base import Backend
from rap_analyzer.models.llm.cache import ReplyCache
from rap_analyzer.models.llm.records import analyze
from rap_analyzer.serve.cache import PREFIX, RedisLink
from rap_analyzer.store.cache import JsonCache

log = logging.getLogger(__name__)


def worker_llm_params(llm: LLMParams, workers: int, cores: int) -> LLMParams:
    """`llm` for one of `workers` service workers on `cores` CPU cores. `n_threads: null` means every core for the
    llm_eval stage, which runs alone; here each worker runs its own llama.cpp server, and servers sharing cores wait
    on each other's threads (README, LLM baseline), so each gets `cores // workers` threads (at least 1). A set
    `n_threads` is kept."""
    if llm.n_threads is not None:
        return llm
    return llm.model_copy(update={"n_threads": max(1, cores // workers)})


class LinkedJsonCache(JsonCache):
    """JsonCache whose reads and writes go through the service's fail-fast Redis link (down: a miss)."""

    def __init__(self, link: RedisLink, namespace: str, ttl_s: int) -> None:
        self.link, self.namespace, self.ttl_s = link, namespace, ttl_s

    def get(self, key: str) -> Any | None:
        return self.link.call(lambda client: JsonCache(client, self.namespace, self.ttl_s).get(key))

    def set(self, key: str, value: Any) -> None:
        self.link.call(lambda client: JsonCache(client, self.namespace, self.ttl_s).set(key, value))


class SharedBackend:
    """The worker's LLM backend, opened on first use (or by `start`) and kept until `close`."""

    def __init__(self, params: LLMParams) -> None:
        self.params = params
        self._backend: Backend | None = None
        self._stack = ExitStack()
        self._lock = threading.Lock()
        self.reason: str | None = None  # why the last start failed

    def get(self) -> Backend:
        """The running backend, started when needed. Raises ServiceUnavailableError naming the reason when it
        cannot start (a missing model file, a server that exits, a remote backend without a URL or key)."""
        with self._lock:
            if self._backend is None:
                try:
                    self._backend = self._stack.enter_context(open_backend(self.params))
                except Exception as exc:  # any start-up failure: the endpoints answer 503 with it, the worker lives
                    self._stack.close()
                    self.reason = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"[:300]
                    log.warning("LLM backend %s did not start: %s", self.params.backend, self.reason)
                    raise ServiceUnavailableError(
                        f"the LLM backend (llm_eval.backend: {self.params.backend}) did not start ({self.reason}); "
                        "fix llm_eval in params.yaml (or the model it names) and restart the service") from None
                self.reason = None
            return self._backend

    def start(self) -> None:
        """Start now (at worker start-up, so the first request does not wait); a failure is logged, not raised."""
        with suppress(ServiceUnavailableError):
            self.get()

    def failed(self, reason: str | None, used: Backend) -> None:
        """A request on `used` failed with `reason`: a local server that no longer accepts connections is stopped,
        and the next request starts a new one (a remote endpoint is left to the client's retries and circuit
        breaker). Only when `used` is still the current backend: a late failure of a request on the old server
        must not stop the new one another request has started meanwhile."""
        if reason != "connection_error" or self.params.backend != "local":
            return
        with self._lock:
            if self._backend is not used:
                return
            log.warning("the local LLM server stopped answering; it is restarted on the next request")
            self._backend = None
            self._stack.close()
            self._stack = ExitStack()

    def describe(self) -> dict[str, Any]:
        """backend, model (None until started), started, and the reason of the last failed start."""
        backend = self._backend
        return {"backend": self.params.backend, "model": backend.model if backend is not None else None,
                "started": backend is not None, "reason": self.reason}

    def close(self) -> None:
        with self._lock:
            self._backend = None
            self._stack.close()
            self._stack = ExitStack()


class LLMAnalyst:
    def __init__(self, enabled: bool, params: LLMParams, link: RedisLink, ttl_s: int,
                 backend: SharedBackend | None = None) -> None:
        self.enabled, self.params = enabled, params
        self.cache = ReplyCache(LinkedJsonCache(link, f"{PREFIX}:llm", ttl_s), params)
        self.backend = backend or SharedBackend(params)

    def analyze(self, text: str) -> dict[str, Any]:
        """`{ok, model, cached, analysis | failure}` for one normalised lyric. Raises ServiceUnavailableError
        when the LLM path is switched off (the message says which setting turns it on) or the backend cannot
        start."""
        if not self.enabled:
            raise ServiceUnavailableError("LLM analysis is switched off on this server: set serve.llm: true in "
                                          "params.yaml (the backend is llm_eval.backend) and restart")
        used = self.backend.get()
        record = analyze(used, text, self.params.max_lyrics_chars, cache=self.cache)
        out: dict[str, Any] = {"ok": record.ok, "model": record.model, "cached": record.cached}
        if record.ok:
            out["analysis"] = record.analysis
        else:
            self.backend.failed(record.failure, used)
            out["failure"] = record.failure
            out["failure_detail"] = record.failure_detail
        return out

    def close(self) -> None:
        self.backend.close()
