"""What every LLM backend is and returns: the `Backend` protocol, its `Reply`, and `RequestFailure` for a request
that produced no usable reply. A leaf module, so the client, the cache and the records all import it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


class RequestFailure(Exception):
    """No usable reply after retries (rate limited, server errors, timeouts, circuit open, other 4xx)."""

    def __init__(self, reason: str, attempts: int, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason, self.attempts, self.detail = reason, attempts, detail


@dataclass
class Reply:
    text: str | None
    latency_s: float  # duration of the attempt that produced this reply
    tokens_in: int | None
    tokens_out: int | None
    attempts: int
    json_mode: bool  # whether the reply was generated under response_format json_object
    finish_reason: str | None = None


@dataclass(frozen=True)
class Sampling:
    """Per-request decoding for free text (generation, style transfer), in place of the backend's analysis
    settings (`llm_eval.temperature`, `max_tokens`): JSON mode and schema decoding off. `seed` is the OpenAI API's
    `seed` field (llama.cpp re-seeds its sampler with it; hosted APIs treat it as best effort)."""

    temperature: float
    max_tokens: int
    seed: int | None = None


class Backend(Protocol):
    kind: str  # "openai", "local" or "transformers"
    model: str  # the name the reply cache and the `analyses` rows are keyed by

    def complete(self, messages: list[dict[str, str]], sampling: Sampling | None = None) -> Reply:
        """The reply to `messages`: the structured-analysis request (JSON mode, schema) when `sampling` is None,
        else free text decoded as `sampling` says. Raises RequestFailure when no usable reply came."""
        ...
