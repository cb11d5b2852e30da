from __future__ import annotations

import random
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from helpers import FakeTime, errors_then_ok

from rap_analyzer.errors import CircuitOpenError
from rap_analyzer.resilience import (
    CircuitBreaker,
    RateLimiter,
    RetryableError,
    RetryPolicy,
    parse_retry_after,
)


def failing(times: int, retry_after: float | None = None):
    calls = {"n": 0}

    def fn() -> str:
        calls["n"] += 1
        if calls["n"] <= times:
            raise RetryableError("503", retry_after=retry_after)
        return "ok"

    return fn, calls


def test_retry_after_is_honoured_and_backoff_grows() -> None:
    clock = FakeTime()
    fn, calls = failing(1, retry_after=7.0)
    assert RetryPolicy(max_retries=3, sleep=clock.sleep).call(fn) == "ok"
    assert calls["n"] == 2 and clock.sleeps == [7.0]
    policy = RetryPolicy(base_delay_s=1.0, max_delay_s=100.0)
    for attempt in range(4):
        assert 2**attempt / 2 <= policy.delay(attempt, None) <= 2**attempt


def test_retries_stop_at_the_limit_with_the_last_error() -> None:
    clock = FakeTime()
    fn, calls = failing(10)
    with pytest.raises(RetryableError):
        RetryPolicy(max_retries=2, sleep=clock.sleep).call(fn)
    assert calls["n"] == 3 and len(clock.sleeps) == 2


def test_non_retryable_errors_are_not_retried() -> None:
    calls = {"n": 0}

    def not_found() -> None:
        calls["n"] += 1
        raise LookupError("404")

    with pytest.raises(LookupError):
        RetryPolicy(max_retries=5, sleep=lambda s: None).call(not_found)
    assert calls["n"] == 1


def test_breaker_opens_fails_fast_and_half_opens_for_one_trial() -> None:
    clock = FakeTime()
    breaker = CircuitBreaker(failure_threshold=3, cooldown_s=30.0, clock=clock.clock)
    policy = RetryPolicy(max_retries=10, sleep=clock.sleep, rng=random.Random(0))
    fn, calls = failing(100)
    with pytest.raises(RetryableError):
        policy.call(fn, breaker=breaker)
    assert calls["n"] == 3 and breaker.state == "open"  # stopped retrying once the breaker opened
    with pytest.raises(CircuitOpenError):
        policy.call(fn, breaker=breaker)
    assert calls["n"] == 3  # failed fast, no call made
    clock.now += 29.9
    assert breaker.state == "open"
    with pytest.raises(CircuitOpenError):
        policy.call(fn, breaker=breaker)
    clock.now += 0.1  # the cooldown is over at exactly 30 s
    assert breaker.state == "half-open"
    # The one trial call is let through (outer guard), and nobody else until it reports (inner guard).
    with breaker.guard(), pytest.raises(CircuitOpenError), breaker.guard():
        pass
    assert breaker.state == "closed" and breaker.failures == 0 and calls["n"] == 3


def test_a_failed_trial_opens_the_breaker_again() -> None:
    clock = FakeTime()
    breaker = CircuitBreaker(failure_threshold=1, cooldown_s=5.0, clock=clock.clock)
    with pytest.raises(RetryableError), breaker.guard():
        raise RetryableError("503")
    assert breaker.state == "open"
    clock.now += 5.5
    with pytest.raises(RetryableError), breaker.guard():  # the trial call fails...
        raise RetryableError("503")
    assert breaker.state == "open"  # ...and the cooldown starts again
    clock.now += 4.9
    with pytest.raises(CircuitOpenError), breaker.guard():
        pass


def test_an_answering_dependency_counts_as_up() -> None:
    """A 404 (any error other than a RetryableError) resets the count: the service answered."""
    clock = FakeTime()
    breaker = CircuitBreaker(failure_threshold=2, cooldown_s=5.0, clock=clock.clock)
    with pytest.raises(RetryableError), breaker.guard():
        raise RetryableError("503")
    with pytest.raises(LookupError), breaker.guard():
        raise LookupError("404")
    assert breaker.failures == 0
    with pytest.raises(RetryableError), breaker.guard():
        raise RetryableError("503")
    assert breaker.state == "closed"  # one failure since the 404, below the threshold of 2


def test_breaker_does_not_serialise_concurrent_calls() -> None:
    """Four calls that each wait at a barrier for all four: they can only pass if the breaker lets them run
    at the same time (pybreaker's `call()` would hold its lock and the barrier would time out)."""
    breaker = CircuitBreaker(failure_threshold=5, cooldown_s=60.0)
    barrier = threading.Barrier(4, timeout=5.0)

    def call() -> int:
        with breaker.guard():
            return barrier.wait()

    with ThreadPoolExecutor(max_workers=4) as pool:
        assert sorted(pool.map(lambda _: call(), range(4))) == [0, 1, 2, 3]
    assert breaker.state == "closed"


def test_rate_limiter_spaces_calls() -> None:
    clock = FakeTime()
    limiter = RateLimiter(per_minute=120, clock=clock.clock, sleep=clock.sleep)
    for _ in range(4):
        limiter.acquire()
    assert clock.sleeps == [0.5, 0.5, 0.5]
    with pytest.raises(ValueError, match="positive"):
        RateLimiter(per_minute=0)


def test_parse_retry_after() -> None:
    assert parse_retry_after("12") == 12.0
    assert parse_retry_after(None) is None
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0  # a date in the past: no wait
    assert parse_retry_after("soon") is None


def test_retry_after_zero_and_negative_mean_no_wait() -> None:
    # RFC 9110: a delay in seconds; 0 means "now". A negative one is nonsense and must not add a wait either.
    assert parse_retry_after("0") == 0.0
    assert parse_retry_after("0.25") == 0.25
    assert parse_retry_after("-5") == 0.0


def test_rate_limiter_accepts_any_positive_rate_at_the_bound() -> None:
    with pytest.raises(ValueError, match="positive"):
        RateLimiter(per_minute=-1)
    assert RateLimiter(per_minute=1).interval == 60.0  # one call a minute is a valid budget
    assert RateLimiter(per_minute=0.5).interval == 120.0


def test_rate_limiter_waits_only_the_rest_of_the_interval() -> None:
    """Time spent between calls counts towards the interval: by the definition of even spacing, a call 59 s
    after the last one at one call per minute waits 1 s, and one that comes 1 ms short of its slot waits 1 ms."""
    clock = FakeTime()
    limiter = RateLimiter(per_minute=1, clock=clock.clock, sleep=clock.sleep)
    limiter.acquire()
    clock.now += 59.0
    limiter.acquire()
    assert clock.sleeps == pytest.approx([1.0])
    clock.sleeps.clear()
    clock.now += 59.999
    limiter.acquire()
    assert clock.sleeps == pytest.approx([0.001])


def test_backoff_is_equal_jitter_over_the_whole_upper_half() -> None:
    """Equal jitter (AWS Architecture Blog, 2015): half the backoff plus a uniform draw over the other half. Over
    many draws the delays fill [b/2, b]: near both ends, mean 3/4 b."""
    policy = RetryPolicy(base_delay_s=1.0, max_delay_s=100.0, rng=random.Random(0))
    for attempt, backoff in [(0, 1.0), (3, 8.0), (8, 100.0)]:  # 2**8 = 256 > the 100 s cap
        delays = [policy.delay(attempt, None) for _ in range(2000)]
        assert backoff / 2 <= min(delays) < 0.51 * backoff
        assert 0.99 * backoff < max(delays) <= backoff
        assert sum(delays) / len(delays) == pytest.approx(0.75 * backoff, rel=0.02)


def test_waits_between_attempts_grow_from_the_base_delay() -> None:
    clock = FakeTime()
    fn, _ = failing(4)
    assert RetryPolicy(max_retries=4, base_delay_s=1.0, max_delay_s=100.0, sleep=clock.sleep,
                       rng=random.Random(0)).call(fn) == "ok"
    assert len(clock.sleeps) == 4
    for attempt, slept in enumerate(clock.sleeps):  # retry k (0-based) waits within [2**k / 2, 2**k]
        assert 2**attempt / 2 <= slept <= 2**attempt


def test_on_retry_gets_each_attempt_number_and_its_error() -> None:
    clock = FakeTime()
    errors = [RetryableError("HTTP 503"), RetryableError("HTTP 429", retry_after=1.0)]
    seen: list[tuple[int, Exception]] = []
    fn = errors_then_ok(*errors)
    assert RetryPolicy(max_retries=3, sleep=clock.sleep).call(fn, on_retry=lambda a, e: seen.append((a, e))) == "ok"
    assert seen == [(0, errors[0]), (1, errors[1])]
    assert str(errors[0]) == "HTTP 503"  # the message users read in the log and in ApiError
