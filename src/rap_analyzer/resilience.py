"""Good manners towards remote APIs, shared by the Genius, Spotify and LLM clients: a rate limiter, a
circuit breaker, and a retry policy with exponential backoff and jitter that honours `Retry-After`."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import TypeVar

from rap_analyzer.errors import CircuitOpenError

T = TypeVar("T")


class RateLimiter:
    """Spaces calls evenly at `per_minute`; thread-safe so concurrent workers share one budget."""

    def __init__(self, per_minute: float, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        if per_minute <= 0:
            raise ValueError(f"requests per minute must be positive, got {per_minute}")
        self.interval = 60.0 / per_minute
        self._clock, self._sleep = clock, sleep
        self._next_slot = 0.0
        self._lock = threading.Lock()

    def acquire(self) -> None:
        with self._lock:
            now = self._clock()
            slot = max(now, self._next_slot)
            self._next_slot = slot + self.interval
        if slot > now:
            self._sleep(slot - now)




@dataclass
class CircuitBreaker:
    """Opens after `failure_threshold` consecutive failures; after `cooldown_s` lets one trial call through
    (half-open): success closes it, failure opens it again."""

    failure_threshold: int = 5
    cooldown_s: float = 60.0
    clock: Callable[[], float] = time.monotonic
    failures: int = 0
    opened_at: float | None = None
    _trial_in_flight: bool = field(default=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def state(self) -> str:
        if self.opened_at is None:
            return "closed"
        return "half-open" if self.clock() - self.opened_at >= self.cooldown_s else "open"

    def before_call(self) -> None:
        with self._lock:
            state = self.state
            if state == "half-open" and not self._trial_in_flight:
                self._trial_in_flight = True  # exactly one trial call; the others wait for its outcome
                return
            if state != "closed":
                remaining = max(0.0, self.cooldown_s - (self.clock() - (self.opened_at or 0.0)))
                raise CircuitOpenError(
                    f"circuit open after {self.failures} consecutive failures; retrying in {remaining:.0f} s"
                )

    def record_success(self) -> None:
        with self._lock:
            self.failures, self.opened_at, self._trial_in_flight = 0, None, False

    def record_failure(self) -> None:
        with self._lock:
            self._trial_in_flight = False
            self.failures += 1
            if self.failures >= self.failure_threshold or self.opened_at is not None:
                self.opened_at = self.clock()


class RetryableError(Exception):
    """A failure worth retrying (429, 5xx, timeouts). `retry_after` is the server's advice in seconds."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


def parse_retry_after(value: str | None) -> float | None:
    """`Retry-After` is either seconds or an HTTP date."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        try:
            return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
        except (TypeError, ValueError):
            return None


@dataclass
class RetryPolicy:
    max_retries: int = 5
    base_delay_s: float = 0.5
    max_delay_s: float = 60.0
    sleep: Callable[[float], None] = time.sleep
    rng: random.Random = field(default_factory=random.Random)

    def delay(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(retry_after, self.max_delay_s)
        backoff = min(self.max_delay_s, self.base_delay_s * 2**attempt)
        return backoff / 2 + self.rng.uniform(0, backoff / 2)  # "equal jitter"

    def call(self, fn: Callable[[], T], breaker: CircuitBreaker | None = None,
             limiter: RateLimiter | None = None, on_retry: Callable[[int, Exception], None] | None = None) -> T:
        """Run `fn`, retrying `RetryableError`s; any other exception propagates at once (404, 401...)."""
        attempt = 0
        while True:
            if breaker:
                breaker.before_call()
            if limiter:
                limiter.acquire()
            try:
                result = fn()
            except RetryableError as exc:
                if breaker:
                    breaker.record_failure()
                if attempt >= self.max_retries or (breaker and breaker.state == "open"):
                    raise
                if on_retry:
                    on_retry(attempt, exc)
                self.sleep(self.delay(attempt, exc.retry_after))
                attempt += 1
                continue
            except Exception:
                if breaker:  # the dependency answered (404, 401...): it is up, whatever the caller thinks
                    breaker.record_success()
                raise
            if breaker:
                breaker.record_success()
            return result
