"""Good manners towards remote APIs, shared by the Genius, Spotify and LLM clients: a rate limiter, a circuit
breaker, and a retry policy with exponential backoff and jitter that honours `Retry-After`.

The mechanics come from libraries; this module only fits them to the project (injected clock and sleep so
tests run on a fake clock, `CircuitOpenError` as the error users see, "retry only what may pass next time"):

- retries: `tenacity.Retrying`, with `RetryPolicy.wait` as its wait strategy (the server's `Retry-After`,
  else "equal jitter" backoff from an injectable `random.Random`: tenacity's own jittered waits draw from the
  global `random` module, so a test could not pin them) and the injected `sleep`;
- breaker: `pybreaker.CircuitBreaker`, entered through `calling()`. Measured (4 threads, each a 0.2 s call,
  pybreaker 1.4.1): `breaker.call(fn)` holds the breaker's lock for the whole call and takes 0.80 s, i.e. it
  serialises every request and would undo `llm_eval.concurrency`; `calling()` holds it only for the state
  checks and takes 0.20 s. pybreaker times its cooldown with `datetime.now`, so a storage subclass keeps the
  opening time on the injected clock; pybreaker lets every half-open call through, so a lock admits one trial;
- rate limit: `pyrate_limiter`'s GCRA bucket (one request per `60 / per_minute` s, burst 1) on the injected
  clock. Its `Limiter` sleeps with `time.sleep` itself, so `RateLimiter.acquire` asks the bucket how long to
  wait and sleeps with the injected function.
"""

from __future__ import annotations

import math
import random
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import TypeVar

import pybreaker
import tenacity
from pyrate_limiter import GCRA, AbstractClock, Rate, RateItem, StateBucket

from rap_analyzer.errors import CircuitOpenError

T = TypeVar("T")


class _InjectedClock(AbstractClock):
    """pyrate_limiter's clock interface (integer milliseconds) over a clock in seconds."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock

    def now(self) -> int:
        return math.floor(self._clock() * 1000)


class RateLimiter:
    """Spaces calls evenly at `per_minute` (GCRA, burst 1); thread-safe so concurrent workers share one budget.

    Raises `ValueError` when `per_minute` is not positive."""

    def __init__(self, per_minute: float, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        if per_minute <= 0:
            raise ValueError(f"requests per minute must be positive, got {per_minute}")
        self.interval = 60.0 / per_minute  # seconds between calls
        self._clock, self._sleep = _InjectedClock(clock), sleep
        # Rounded up to whole milliseconds (pyrate_limiter's unit): never faster than asked.
        self._bucket = StateBucket([Rate(1, math.ceil(self.interval * 1000), burst=1)], GCRA(), clock=self._clock)

    def acquire(self) -> None:
        """Return when this call may go; sleeps (injected `sleep`) until its slot."""
        while True:
            item = RateItem("call", self._clock.now())
            if self._bucket.put(item):
                return
            wait_ms = self._bucket.waiting(item)
            self._sleep(max(int(wait_ms), 1) / 1000)  # type: ignore[call-overload]


class _ClockStorage(pybreaker.CircuitMemoryStorage):
    """pybreaker's in-memory state, with the opening time read on the injected clock: the getter answers the
    wall time that lies as far in the past as the injected clock says, which is what pybreaker compares with
    `datetime.now` against its cooldown."""

    def __init__(self, clock: Callable[[], float]) -> None:
        super().__init__(pybreaker.STATE_CLOSED)
        self._clock = clock
        self._opened_clock: float | None = None

    def elapsed(self) -> float | None:
        """Seconds since the breaker last opened on the injected clock (None if it never opened)."""
        return None if self._opened_clock is None else self._clock() - self._opened_clock

    @property
    def opened_at(self) -> datetime | None:
        elapsed = self.elapsed()
        return None if elapsed is None else datetime.now(UTC) - timedelta(seconds=elapsed)

    @opened_at.setter
    def opened_at(self, _wall_time: datetime) -> None:
        self._opened_clock = self._clock()


class RetryableError(Exception):
    """A failure worth retrying (429, 5xx, timeouts). `retry_after` is the server's advice in seconds."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


def _answered(exc: BaseException) -> bool:
    """Any error other than a `RetryableError` (404, 401...) means the dependency is up: for the breaker it is
    a success, whatever the caller makes of it."""
    return not isinstance(exc, RetryableError)


class CircuitBreaker:
    """Opens after `failure_threshold` consecutive `RetryableError`s; after `cooldown_s` lets one trial call
    through (half-open): success closes it, failure opens it again. Calls go through `guard()`."""

    def __init__(self, failure_threshold: int = 5, cooldown_s: float = 60.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.failure_threshold, self.cooldown_s = failure_threshold, cooldown_s
        self._storage = _ClockStorage(clock)
        # throw_new_error_on_trip=False: the call that trips the breaker raises its own error, not pybreaker's.
        self._breaker = pybreaker.CircuitBreaker(fail_max=failure_threshold, reset_timeout=cooldown_s,
                                                 exclude=[_answered], state_storage=self._storage,
                                                 throw_new_error_on_trip=False)
        self._trial = threading.Lock()  # held by the one trial call of a half-open breaker

    @property
    def failures(self) -> int:
        """Consecutive failures counted since the last success."""
        return self._breaker.fail_counter

    @property
    def state(self) -> str:
        """'closed', 'open', or 'half-open' (open, cooldown over, the next call is the trial)."""
        current = self._breaker.current_state
        elapsed = self._storage.elapsed()
        if current == pybreaker.STATE_OPEN and elapsed is not None and elapsed >= self.cooldown_s:
            return "half-open"
        return current

    @contextmanager
    def guard(self) -> Iterator[None]:
        """Run the block as one call through the breaker. Raises `CircuitOpenError` without running it while
        the breaker is open, or while another call is the half-open trial."""
        trial = self.state != "closed"
        if trial and not self._trial.acquire(blocking=False):
            raise CircuitOpenError(f"circuit open after {self.failures} consecutive failures; a trial call "
                                   "is under way")
        try:
            with self._breaker.calling():
                yield
        except pybreaker.CircuitBreakerError:
            remaining = max(0.0, self.cooldown_s - (self._storage.elapsed() or 0.0))
            raise CircuitOpenError(
                f"circuit open after {self.failures} consecutive failures; retrying in {remaining:.0f} s"
            ) from None
        finally:
            if trial:
                self._trial.release()


def parse_retry_after(value: str | None) -> float | None:
    """`Retry-After` (RFC 9110 §10.2.3) is either seconds or an HTTP date; seconds from now, None if absent
    or unreadable."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        try:
            return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
        except (TypeError, ValueError):
            return None


class RetryPolicy:
    """Retries `RetryableError`s up to `max_retries` times (tenacity); waits `delay()` between attempts."""

    def __init__(self, max_retries: int = 5, base_delay_s: float = 0.5, max_delay_s: float = 60.0,
                 sleep: Callable[[float], None] = time.sleep, rng: random.Random | None = None) -> None:
        self.max_retries, self.base_delay_s, self.max_delay_s = max_retries, base_delay_s, max_delay_s
        self.sleep = sleep
        self.rng = rng or random.Random()

    def delay(self, attempt: int, retry_after: float | None) -> float:
        """Seconds before retry `attempt` (0-based): the server's `retry_after` (capped at `max_delay_s`), else
        "equal jitter" (AWS Architecture Blog, "Exponential Backoff and Jitter", 2015): half of
        `min(max_delay_s, base_delay_s * 2**attempt)` plus a uniform draw over the other half."""
        if retry_after is not None:
            return min(retry_after, self.max_delay_s)
        backoff = min(self.max_delay_s, self.base_delay_s * 2**attempt)
        return backoff / 2 + self.rng.uniform(0, backoff / 2)

    def wait(self, state: tenacity.RetryCallState) -> float:
        """tenacity wait strategy: `delay()` for the attempt that just failed."""
        exc = state.outcome.exception() if state.outcome else None
        return self.delay(state.attempt_number - 1, getattr(exc, "retry_after", None))

    def call(self, fn: Callable[[], T], breaker: CircuitBreaker | None = None,
             limiter: RateLimiter | None = None, on_retry: Callable[[int, Exception], None] | None = None) -> T:
        """Run `fn` (each attempt through `breaker`, after `limiter`), retrying `RetryableError`s; any other
        exception propagates at once (404, 401...), and so does the last `RetryableError` once the retries
        run out or the breaker opens. `on_retry(attempt, error)` is called before each wait."""

        def worth_retrying(exc: BaseException) -> bool:
            return isinstance(exc, RetryableError) and (breaker is None or breaker.state != "open")

        def before_sleep(state: tenacity.RetryCallState) -> None:
            if on_retry and state.outcome:
                on_retry(state.attempt_number - 1, state.outcome.exception())  # type: ignore[arg-type]

        def attempt() -> T:
            if breaker is None:
                if limiter:
                    limiter.acquire()
                return fn()
            with breaker.guard():  # an open breaker fails fast, before any wait for the limiter
                if limiter:
                    limiter.acquire()
                return fn()

        retrying = tenacity.Retrying(retry=tenacity.retry_if_exception(worth_retrying),
                                     stop=tenacity.stop_after_attempt(self.max_retries + 1),
                                     wait=self.wait, sleep=self.sleep, before_sleep=before_sleep, reraise=True)
        return retrying(attempt)
