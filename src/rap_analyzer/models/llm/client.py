"""The `openai` SDK against any OpenAI-compatible endpoint (Novita, OpenAI, vLLM, Ollama, llama.cpp's server).

The SDK's own retries are off (`max_retries=0`): `rap_analyzer.resilience` (tenacity, pybreaker, pyrate-limiter)
retries 429 (honouring `Retry-After`/`retry-after-ms`), 408, 5xx, timeouts and connection errors with backoff,
behind one rate limiter and circuit breaker shared by the run's concurrent requests.
401/403 raise `LLMAuthError` at once, 404 `LLMFatalError`: every later request would fail the same way.

JSON mode: with `json_mode` the request carries `response_format={"type": "json_object"}`. A server that
rejects it with 400 is asked again without it; if that works, JSON mode stays off for the rest of the run and
`json_mode_rejected` is set (and each record's `json_mode` says which way its reply was produced). With
`response_schema` set (the local llama.cpp backend, `llm_eval.schema_decoding`), the JSON object is also held
to the analysis schema during decoding.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import openai

from rap_analyzer.config import LLMParams, Secrets, get_secrets
from rap_analyzer.errors import CircuitOpenError, LLMAuthError, LLMFatalError, UserError
from rap_analyzer.models.llm.base import Reply, RequestFailure, Sampling
from rap_analyzer.models.llm.schema import decoding_schema
from rap_analyzer.resilience import (
    CircuitBreaker,
    RateLimiter,
    RetryableError,
    RetryPolicy,
    parse_retry_after,
)

log = logging.getLogger(__name__)

NOVITA_BASE_URL = "https://api.novita.ai/openai"
# Where `base_url: null` points, by the key variable in use; any other key variable needs an explicit base_url.
DEFAULT_BASE_URLS = {"NOVITA_API_KEY": NOVITA_BASE_URL, "OPENAI_API_KEY": "https://api.openai.com/v1"}
# Self-hosted servers (vLLM, Ollama, llama.cpp) accept any key, but the SDK insists on one.
NO_KEY = "no-key"


def resolve_endpoint(params: LLMParams, secrets: Secrets | None = None) -> tuple[str, str]:
    """(base_url, api_key) for the `openai` backend; a clear error when neither is configured."""
    key = (secrets or get_secrets()).api_key(params.api_key_env)
    base_url = params.base_url or (DEFAULT_BASE_URLS.get(params.api_key_env) if key else None)
    if base_url is None:
        raise UserError(
            f"llm_eval.backend is 'openai' but llm_eval.base_url is not set and {params.api_key_env} is not in "
            "the environment or .env: set the key (Novita with NOVITA_API_KEY), set base_url to any "
            "OpenAI-compatible server, or use backend: local for the offline llama.cpp server"
        )
    return base_url, key or NO_KEY


class _Transient(RetryableError):
    def __init__(self, reason: str, detail: str, retry_after: float | None = None) -> None:
        super().__init__(f"{reason}: {detail}", retry_after)
        self.reason, self.detail = reason, detail


class _JsonModeRejected(Exception):
    pass


def _retry_after(exc: openai.APIStatusError) -> float | None:
    headers = exc.response.headers
    millis = headers.get("retry-after-ms")
    if millis:
        try:
            return max(0.0, float(millis) / 1000.0)
        except ValueError:
            pass
    return parse_retry_after(headers.get("retry-after"))


class LLMClient:
    kind = "openai"
    server_log: Path | None = None  # the local server's log, when this client talks to one

    def __init__(self, params: LLMParams, base_url: str, api_key: str, model: str | None = None, *,
                 retry: RetryPolicy | None = None, limiter: RateLimiter | None = None,
                 breaker: CircuitBreaker | None = None, timeout_s: float | bool | None = True) -> None:
        """`timeout_s`: seconds per HTTP attempt; True (default) takes `params.timeout_s`, None waits for ever."""
        self.params, self.base_url = params, base_url
        self.model = model or params.model
        self.retry = retry or RetryPolicy(max_retries=params.max_retries)
        self.limiter = limiter or RateLimiter(params.requests_per_minute)
        self.breaker = breaker or CircuitBreaker(params.breaker_failures, params.breaker_cooldown_s)
        self.json_mode = params.json_mode
        self.json_mode_rejected = False
        self.response_schema: dict[str, Any] | None = None
        self.timeout_s = params.timeout_s if timeout_s is True else timeout_s
        self._sdk = openai.OpenAI(base_url=base_url, api_key=api_key, max_retries=0, timeout=self.timeout_s)

    @classmethod
    def from_params(cls, params: LLMParams, secrets: Secrets | None = None) -> LLMClient:
        base_url, key = resolve_endpoint(params, secrets)
        return cls(params, base_url, key)

    @classmethod
    def for_local_server(cls, params: LLMParams, base_url: str, model: str) -> LLMClient:
        """The client of the project's own llama.cpp server (`local_server`): no retries and no timeout.

        That server decodes one request at a time and, for a non-streamed request, never notices that the client
        left: a timed-out request keeps decoding to the end, and its retry (the same greedy request, so the same
        outcome) waits behind it, doubling the work. A client timeout would also count the time spent queued
        behind other requests, so under load it fires on healthy requests. The server is a child process: if it
        dies the connection drops and the request fails at once (`connection_error`); `max_tokens` and `n_ctx`
        bound how long a reply can take."""
        client = cls(params, base_url, NO_KEY, model=model, retry=RetryPolicy(max_retries=0), timeout_s=None)
        client.kind = "local"
        if params.json_mode and params.schema_decoding:
            client.response_schema = decoding_schema()
        return client

    def close(self) -> None:
        self._sdk.close()

    def complete(self, messages: list[dict[str, str]], sampling: Sampling | None = None) -> Reply:
        """See `Backend.complete`; retries, rate limit and circuit breaker as configured, shared by both kinds."""
        attempts = 0

        def once(json_mode: bool) -> Reply:
            nonlocal attempts
            attempts += 1
            return self._attempt(messages, json_mode, attempts, sampling)

        try:
            try:
                json_mode = self.json_mode and sampling is None
                return self.retry.call(lambda: once(json_mode), self.breaker, self.limiter, self._on_retry)
            except _JsonModeRejected:
                reply = self.retry.call(lambda: once(False), self.breaker, self.limiter, self._on_retry)
                if not self.json_mode_rejected:
                    log.warning("%s rejected response_format json_object (400); continuing without JSON mode",
                                self.base_url)
                self.json_mode, self.json_mode_rejected = False, True
                return reply
        except _Transient as exc:
            raise RequestFailure(exc.reason, attempts, exc.detail) from None
        except CircuitOpenError as exc:
            raise RequestFailure("circuit_open", attempts, str(exc)) from None

    def _on_retry(self, attempt: int, exc: Exception) -> None:
        log.info("LLM request failed (%s); retry %d of %d", exc, attempt + 1, self.retry.max_retries)

    def _attempt(self, messages: list[dict[str, str]], json_mode: bool, attempt: int,
                 sampling: Sampling | None = None) -> Reply:
        kwargs: dict[str, Any] = {
            "model": self.model, "messages": messages,
            "temperature": self.params.temperature, "max_tokens": self.params.max_tokens,
        }
        if sampling is not None:
            kwargs |= {"temperature": sampling.temperature, "max_tokens": sampling.max_tokens}
            if sampling.seed is not None:
                kwargs["seed"] = sampling.seed
        if json_mode:
            kwargs["response_format"] = {"type": "json_object"}
            if self.response_schema is not None:  # llama.cpp's extension: decoding follows the schema
                kwargs["response_format"]["schema"] = self.response_schema
        started = time.perf_counter()
        try:
            response = self._sdk.chat.completions.create(**kwargs)
        except (openai.AuthenticationError, openai.PermissionDeniedError) as exc:
            # `from None`: the SDK's message may echo part of the key
            raise LLMAuthError(
                f"{self.base_url} refused the API key ({exc.status_code}): check {self.params.api_key_env} "
                "in the environment or .env"
            ) from None
        except openai.NotFoundError:
            raise LLMFatalError(
                f"{self.base_url} answered 404 for model {self.model!r}: check llm_eval.model and "
                "llm_eval.base_url"
            ) from None
        except openai.BadRequestError as exc:
            if json_mode:
                raise _JsonModeRejected() from exc
            raise RequestFailure("bad_request", attempt, exc.message[:300]) from None
        except openai.RateLimitError as exc:
            raise _Transient("rate_limited", "429", _retry_after(exc)) from None
        except openai.APIStatusError as exc:
            if exc.status_code >= 500 or exc.status_code == 408:
                raise _Transient("server_error", str(exc.status_code), _retry_after(exc)) from None
            raise RequestFailure(f"http_{exc.status_code}", attempt, exc.message[:300]) from None
        except openai.APITimeoutError:
            raise _Transient("timeout", f"no reply within {self.timeout_s} s") from None
        except openai.APIConnectionError as exc:
            raise _Transient("connection_error", type(exc.__cause__ or exc).__name__) from None
        latency = time.perf_counter() - started
        choice = response.choices[0] if response.choices else None
        usage = response.usage
        return Reply(
            text=choice.message.content if choice else None,
            latency_s=latency,
            tokens_in=usage.prompt_tokens if usage else None,
            tokens_out=usage.completion_tokens if usage else None,
            attempts=attempt,
            json_mode=json_mode,
            finish_reason=choice.finish_reason if choice else None,
        )
