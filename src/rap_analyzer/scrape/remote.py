"""What a remote API's answers mean (errors by HTTP status) and how every call to it is made (rate limit,
retries, breaker): shared by the Genius and Spotify clients."""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from rap_analyzer.config import ScrapeParams
from rap_analyzer.errors import ApiError, AuthError, NotFoundError
from rap_analyzer.resilience import (
    CircuitBreaker,
    RateLimiter,
    RetryableError,
    RetryPolicy,
    parse_retry_after,
)

log = logging.getLogger(__name__)
T = TypeVar("T")


def status_error(service: str, what: str, status: int, headers: Any, credentials: str) -> Exception | None:
    """The exception an HTTP status stands for (None for success); `credentials` names what to check on 401."""
    if status < 400:
        return None
    if status == 429 or status == 408 or status >= 500:
        retry_after = parse_retry_after(headers.get("Retry-After") if headers else None)
        return RetryableError(f"{service} {what}: HTTP {status}", retry_after=retry_after)
    if status == 404:
        return NotFoundError(f"{service} {what}: not found (HTTP 404)", status)
    if status in (401, 403):
        return AuthError(f"{service} {what}: HTTP {status}, access refused; check {credentials}", status)
    return ApiError(f"{service} {what}: HTTP {status}", status)


@dataclass
class Resilience:
    """One rate budget, retry policy and breaker per remote service, shared by all its calls."""

    policy: RetryPolicy
    breaker: CircuitBreaker | None = None
    limiter: RateLimiter | None = None

    @classmethod
    def from_params(cls, params: ScrapeParams, *, sleep: Callable[[float], None] = time.sleep,
                    clock: Callable[[], float] = time.monotonic, rng: random.Random | None = None) -> Resilience:
        return cls(RetryPolicy(max_retries=params.max_retries, sleep=sleep, rng=rng or random.Random()),
                   CircuitBreaker(params.breaker_failures, params.breaker_cooldown_s, clock=clock),
                   RateLimiter(params.requests_per_minute, clock=clock, sleep=sleep))

    def call(self, fn: Callable[[], T]) -> T:
        def on_retry(attempt: int, exc: Exception) -> None:
            log.warning("%s (retry %d of %d)", exc, attempt + 1, self.policy.max_retries)

        try:
            return self.policy.call(fn, breaker=self.breaker, limiter=self.limiter, on_retry=on_retry)
        except RetryableError as exc:
            raise ApiError(f"{exc}; gave up after {self.policy.max_retries} retries") from exc
