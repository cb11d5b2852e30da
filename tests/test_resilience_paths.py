"""Resilience paths the other tests do not walk, through the public API (`scrape.remote.Resilience`,
`status_error`): a non-retryable answer (404/401) on the half-open trial call closes the breaker (the service
answered) and is raised at once, not retried; a `Retry-After` far above the cap waits the cap, not the advice; the
default cap is 60 s; the rate limiter reads its clock in seconds."""

from __future__ import annotations

import random

import pytest
from helpers import FakeTime, errors_then_ok, params_with

from rap_analyzer.errors import ApiError, AuthError, NotFoundError
from rap_analyzer.resilience import CircuitBreaker, CircuitOpenError, RateLimiter, RetryableError, RetryPolicy
from rap_analyzer.scrape.remote import Resilience, status_error

COOLDOWN_S = 60.0


def make(fake: FakeTime, retries: int = 0, failures: int = 2, max_delay_s: float = 30.0) -> Resilience:
    return Resilience(RetryPolicy(max_retries=retries, max_delay_s=max_delay_s, sleep=fake.sleep,
                                  rng=random.Random(0)),
                      CircuitBreaker(failures, COOLDOWN_S, clock=fake.clock))


def fail(error: Exception):
    def fn() -> None:
        raise error
    return fn


def open_breaker(res: Resilience, fake: FakeTime) -> None:
    assert res.breaker is not None
    while res.breaker.state != "open":
        with pytest.raises(ApiError):
            res.call(fail(RetryableError("HTTP 503")))
    fake.sleeps.clear()
    with pytest.raises(CircuitOpenError):  # fails fast during the cooldown, without calling
        res.call(fail(AssertionError("must not be called")))
    fake.now += COOLDOWN_S
    assert res.breaker.state == "half-open"


@pytest.mark.parametrize(("status", "error"), [(404, NotFoundError), (401, AuthError), (403, AuthError)])
def test_non_retryable_answer_on_the_half_open_trial_closes_the_breaker(status: int, error: type) -> None:
    fake = FakeTime()
    res = make(fake, retries=3)
    open_breaker(res, fake)
    calls = []

    def trial() -> None:
        calls.append(1)
        raise status_error("Genius", "song", status, {}, "GENIUS_ACCESS_TOKEN")  # type: ignore[misc]

    with pytest.raises(error):
        res.call(trial)
    assert calls == [1]  # raised at once: a 404/401 is an answer, never retried
    assert fake.sleeps == []
    assert res.breaker is not None
    assert res.breaker.state == "closed"  # the service answered: it is up
    assert res.breaker.failures == 0
    assert res.call(lambda: "ok") == "ok"


def test_retryable_failure_on_the_half_open_trial_opens_it_again() -> None:
    fake = FakeTime()
    res = make(fake, retries=3)
    open_breaker(res, fake)
    with pytest.raises(ApiError):
        res.call(fail(RetryableError("HTTP 503")))
    assert res.breaker is not None and res.breaker.state == "open"
    assert fake.sleeps == []  # an open breaker is not waited on: the retry stops at once


@pytest.mark.parametrize("advice", ["86400", "31536000"])
def test_retry_after_far_above_the_cap_waits_the_cap(advice: str) -> None:
    fake = FakeTime()
    res = make(fake, retries=2, failures=10, max_delay_s=30.0)
    fn = errors_then_ok(status_error("Spotify", "search", 429, {"Retry-After": advice}, "X"),
                        status_error("Spotify", "search", 503, {"Retry-After": advice}, "X"))
    assert res.call(fn) == "ok"
    assert fake.sleeps == [30.0, 30.0]


def test_retry_after_below_the_cap_is_followed() -> None:
    fake = FakeTime()
    res = make(fake, retries=1, failures=10, max_delay_s=30.0)
    assert res.call(errors_then_ok(status_error("Genius", "search", 429, {"Retry-After": "7"}, "X"))) == "ok"
    assert fake.sleeps == [7.0]


def test_each_retry_is_logged_with_its_number_and_the_error(caplog: pytest.LogCaptureFixture) -> None:
    fake = FakeTime()
    res = make(fake, retries=3, failures=10)
    fn = errors_then_ok(status_error("Genius", "search", 503, {}, "X"), status_error("Genius", "search", 429, {}, "X"))
    with caplog.at_level("WARNING", logger="rap_analyzer.scrape.remote"):
        assert res.call(fn) == "ok"
    assert [r.getMessage() for r in caplog.records] == [
        "Genius search: HTTP 503 (retry 1 of 3)", "Genius search: HTTP 429 (retry 2 of 3)"]


def test_giving_up_names_the_last_error() -> None:
    fake = FakeTime()
    res = make(fake, retries=1, failures=10)
    with pytest.raises(ApiError, match=r"^Spotify search: HTTP 502; gave up after 1 retries$"):
        res.call(fail(status_error("Spotify", "search", 502, {}, "X")))  # type: ignore[arg-type]


@pytest.mark.parametrize(("advice", "wait"), [("59", 59.0), ("60", 60.0), ("61", 60.0), ("86400", 60.0)])
def test_the_default_cap_on_retry_after_is_60_s(advice: str, wait: float) -> None:
    """The cap every remote client runs with (`Resilience.from_params`, for Genius and Spotify, and `LLMClient`
    build `RetryPolicy` without `max_delay_s`, whose default is 60 s): a server's `Retry-After` is followed up to
    and including 60 s; a longer one (61 s, a day) waits 60 s, and the retry then asks the server again."""
    fake = FakeTime()
    # 6000 requests a minute: the limiter's 0.01 s spacing never adds a sleep after a wait of a minute.
    scrape = params_with({"scrape": {"max_retries": 1, "breaker_failures": 10, "requests_per_minute": 6000}}).scrape
    res = Resilience.from_params(scrape, sleep=fake.sleep, clock=fake.clock, rng=random.Random(0))
    assert res.call(errors_then_ok(status_error("Genius", "search", 429, {"Retry-After": advice}, "X"))) == "ok"
    assert fake.sleeps == [wait]


class BoundedTime(FakeTime):
    """A fake clock whose sleeps run out: a limiter that never lets a call through fails the test at once instead
    of sleeping forever on a clock that does not move for it."""

    def __init__(self, max_sleeps: int) -> None:
        super().__init__()
        self.max_sleeps = max_sleeps

    def sleep(self, seconds: float) -> None:
        if len(self.sleeps) >= self.max_sleeps:
            raise AssertionError(f"still waiting after {self.sleeps} s of sleeps")
        super().sleep(seconds)


def test_the_limiter_reads_its_clock_in_seconds() -> None:
    """120 calls a minute is one every 0.5 s of the injected clock (seconds, like `time.monotonic`): a call 0.5 s
    after the last goes at once, one 0.25 s after that waits the other 0.25 s."""
    fake = BoundedTime(max_sleeps=1)
    limiter = RateLimiter(per_minute=120, clock=fake.clock, sleep=fake.sleep)
    limiter.acquire()
    fake.now += 0.5
    limiter.acquire()
    assert fake.sleeps == []
    fake.now += 0.25
    limiter.acquire()
    assert fake.sleeps == [0.25]
