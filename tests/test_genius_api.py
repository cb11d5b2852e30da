"""The Genius client against recorded API responses served over loopback HTTP."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest
import redis
from helpers import GENIUS_TOKEN as TOKEN
from helpers import FakeTime, jim_yosef_routes, make_genius_client, params_with
from http_replay import ReplayServer, Response, cassette, cassette_routes
from pydantic import SecretStr

from rap_analyzer.errors import ApiError, AuthError, CircuitOpenError, MissingCredentialsError, NotFoundError
from rap_analyzer.resilience import RateLimiter, RetryPolicy
from rap_analyzer.scrape.genius_api import GeniusClient, artist_song_cache, skip_reason
from rap_analyzer.scrape.remote import Resilience


@pytest.fixture
def fake() -> FakeTime:
    return FakeTime()


@pytest.fixture(scope="module")
def vcr(shared_dir: Path) -> Path:
    return shared_dir / "fixtures" / "genius_api" / "vcr_2015"


@pytest.fixture(scope="module")
def rec(shared_dir: Path) -> Path:
    return shared_dir / "fixtures" / "genius_api" / "recorded_2025"


def recorded(vcr: Path, name: str, index: int = 0) -> Response:
    return cassette(vcr / name)[index][2]


def test_song_from_cassette_keeps_stats_and_sends_the_token(vcr: Path, fake: FakeTime) -> None:
    with ReplayServer(cassette_routes(vcr / "song-176872.yml")) as server:
        song = make_genius_client(server, fake).song(176872)
    assert song["title"] == "Versace" and song["primary_artist"]["name"] == "Migos"
    assert song["stats"]["pageviews"] == 2256108
    assert [a["name"] for a in song["featured_artists"]] == ["Drake"]
    (request,) = server.requests
    assert request.path == "/songs/176872" and request.param("text_format") == "plain"
    assert request.headers["authorization"] == f"Bearer {TOKEN}"
    assert fake.sleeps == []


def test_search_and_artist_lookup(vcr: Path, rec: Path, fake: FakeTime) -> None:
    with ReplayServer(cassette_routes(vcr / "song-search-the-hills.yml")) as server:
        client = make_genius_client(server, fake)
        hits = client.search("The Hills")
        assert client.find_artist_id("The Weeknd") == 2358
        assert client.find_artist_id("Nobody By This Name") is None
    assert len(hits) == 20 and hits[0]["title"] == "The Hills" and hits[0]["id"] == 727466
    assert server.requests[0].param("q") == "The Hills"

    routes = {"/search": Response(200, json.loads((rec / "api_search.json").read_text())),
              "/songs/3374613": Response(200, json.loads((rec / "api_song_3374613.json").read_text()))}
    with ReplayServer(routes) as server:
        client = make_genius_client(server, fake)
        assert client.find_artist_id("jim yosef") == 992710
        song = client.song(3374613)
    assert server.requests[0].param("q") == "jim yosef"
    assert song["release_date"] == "2017-12-16" and song["stats"]["pageviews"] == 31739


def test_artist_songs_asks_for_popularity_order(vcr: Path, fake: FakeTime) -> None:
    with ReplayServer(cassette_routes(vcr / "artist-16775.yml")) as server:
        songs = make_genius_client(server, fake).artist_songs(16775, max_songs=15)
    assert len(songs) == 15 and songs[1]["title"] == "Academia"
    (request,) = server.requests_to("/artists/16775/songs")
    assert (request.param("sort"), request.param("per_page"), request.param("page")) == ("popularity", "50", "1")


def test_404_is_not_found_without_retry(vcr: Path, fake: FakeTime) -> None:
    with ReplayServer(cassette_routes(vcr / "song-bahahaha.yml")) as server:
        client = make_genius_client(server, fake)
        with pytest.raises(NotFoundError, match="HTTP 404") as info:
            client.song("bahahaha")  # type: ignore[arg-type]
    assert info.value.status == 404
    assert len(server.requests) == 1 and fake.sleeps == []


def test_429_waits_for_retry_after_then_succeeds(vcr: Path, fake: FakeTime) -> None:
    ok = recorded(vcr, "song-176872.yml")
    limited = Response(429, {"meta": {"status": 429}}, {"Retry-After": "7"})
    with ReplayServer({"/songs/176872": [limited, ok]}) as server:
        song = make_genius_client(server, fake).song(176872)
    assert song["id"] == 176872
    assert len(server.requests) == 2 and fake.sleeps == [7.0]


def test_5xx_retried_with_growing_jittered_backoff(vcr: Path, fake: FakeTime) -> None:
    ok = recorded(vcr, "song-176872.yml")
    with ReplayServer({"/songs/176872": [Response(500), Response(503), Response(502), ok]}) as server:
        assert make_genius_client(server, fake).song(176872)["title"] == "Versace"
    assert len(server.requests) == 4
    base = RetryPolicy().base_delay_s  # equal jitter: attempt n waits between half and all of base * 2**n
    assert [base * 2**n / 2 <= d <= base * 2**n for n, d in enumerate(fake.sleeps)] == [True] * 3


def test_retries_run_out_with_a_clear_error(fake: FakeTime) -> None:
    gave_up = r"^Genius GET /songs/1: HTTP 500; gave up after 2 retries$"
    with ReplayServer({"/songs/1": Response(500)}) as server, pytest.raises(ApiError, match=gave_up):
        make_genius_client(server, fake, retries=2).song(1)
    assert len(server.requests) == 3 and len(fake.sleeps) == 2


def test_timeout_is_retried(vcr: Path, fake: FakeTime) -> None:
    slow = Response(200, {"response": {"song": {"id": 0}}}, delay_s=1.0)
    with ReplayServer({"/songs/176872": [slow, recorded(vcr, "song-176872.yml")]}) as server:
        song = make_genius_client(server, fake, timeout_s=0.2).song(176872)
    assert song["id"] == 176872 and len(server.requests) == 2 and len(fake.sleeps) == 1


def test_breaker_opens_fails_fast_and_half_opens_after_cooldown(vcr: Path, fake: FakeTime) -> None:
    ok = recorded(vcr, "song-176872.yml")
    with ReplayServer({"/songs/176872": [Response(500)] * 3 + [ok]}) as server:
        client = make_genius_client(server, fake, retries=0, breaker_failures=3)
        for _ in range(3):
            with pytest.raises(ApiError):
                client.song(176872)
        with pytest.raises(CircuitOpenError):
            client.song(176872)
        assert len(server.requests) == 3  # failed fast: no request while open
        fake.now += 59.0
        with pytest.raises(CircuitOpenError):
            client.song(176872)
        fake.now += 1.0  # cooldown over: one trial call goes through and closes the breaker
        assert client.resilience.breaker is not None and client.resilience.breaker.state == "half-open"
        assert client.song(176872)["title"] == "Versace"
        assert client.resilience.breaker.state == "closed" and len(server.requests) == 4


def test_failed_trial_call_reopens_the_breaker(fake: FakeTime) -> None:
    with ReplayServer({"/songs/1": Response(503)}) as server:
        client = make_genius_client(server, fake, retries=0, breaker_failures=2)
        for _ in range(2):
            with pytest.raises(ApiError):
                client.song(1)
        fake.now += 60.0
        with pytest.raises(ApiError):
            client.song(1)  # the trial call fails
        with pytest.raises(CircuitOpenError):
            client.song(1)
    assert len(server.requests) == 3


def test_every_request_waits_for_the_rate_limiter(vcr: Path, fake: FakeTime) -> None:
    limiter = RateLimiter(60.0, clock=fake.clock, sleep=fake.sleep)
    with ReplayServer(cassette_routes(vcr / "song-176872.yml")) as server:
        client = make_genius_client(server, fake, limiter=limiter)
        for _ in range(3):
            client.song(176872)
    assert fake.sleeps == [1.0, 1.0]


def test_resilience_follows_params(fake: FakeTime) -> None:
    params = params_with({"scrape": {"requests_per_minute": 120, "max_retries": 4, "breaker_failures": 7,
                                     "breaker_cooldown_s": 30}}).scrape
    resilience = Resilience.from_params(params, sleep=fake.sleep, clock=fake.clock)
    assert resilience.policy.max_retries == 4 and resilience.limiter is not None
    assert resilience.limiter.interval == 0.5
    assert resilience.breaker is not None
    assert (resilience.breaker.failure_threshold, resilience.breaker.cooldown_s) == (7, 30)


@pytest.mark.parametrize("token", [None, "", "   ", SecretStr("")])
def test_missing_token_names_the_variable(token: Any) -> None:
    with pytest.raises(MissingCredentialsError, match="GENIUS_ACCESS_TOKEN"):
        GeniusClient(token, params_with().scrape)


def test_token_never_appears_in_reprs_errors_or_logs(fake: FakeTime, caplog: pytest.LogCaptureFixture) -> None:
    secret = "tok-9f8e7d6c5b4a-SECRET"
    routes = {"/songs/1": Response(404), "/songs/2": Response(401, {"meta": {"status": 401}}),
              "/songs/3": Response(500)}
    caplog.set_level(logging.DEBUG)
    errors: list[BaseException] = []
    with ReplayServer(routes) as server:
        client = make_genius_client(server, fake, retries=1, breaker_failures=2, token=secret)
        for song_id, kind in ((1, NotFoundError), (2, AuthError), (3, ApiError), (3, CircuitOpenError)):
            with pytest.raises(kind) as info:
                client.song(song_id)
            errors.append(info.value)
    assert all(r.headers["authorization"] == f"Bearer {secret}" for r in server.requests)
    assert "GENIUS_ACCESS_TOKEN" in str(errors[1])
    texts = [repr(client), str(client), caplog.text, *(f"{e!s} {e!r} {e.__cause__!r}" for e in errors)]
    assert not [text for text in texts if secret in text]
    assert repr(GeniusClient(SecretStr(secret), params_with().scrape)).count("*") >= 3


def test_skip_reason_matches_whole_words() -> None:
    terms = ["live", "remix", "(tracklist)"]
    assert skip_reason({"title": "Alive", "lyrics_state": "complete"}, terms) is None
    assert skip_reason({"title": "Hold On (Live)"}, terms) == "excluded term 'live'"
    assert skip_reason({"title": "Album (Tracklist)"}, terms) == "excluded term '(tracklist)'"
    assert skip_reason({"title": "X", "lyrics_state": "unreleased"}, terms) == "lyrics unreleased"
    assert skip_reason({"title": "X", "instrumental": True}, terms) == "instrumental"


def test_iter_artist_tracks_end_to_end(rec: Path, shared_dir: Path, fake: FakeTime) -> None:
    with ReplayServer(jim_yosef_routes(rec, shared_dir / "fixtures" / "genius_html")) as server:
        client = make_genius_client(server, fake)
        first_two = list(client.iter_artist_tracks("Jim Yosef", max_songs=2, excluded_terms=[]))
        assert len(server.requests_to("/artists/992710/songs")) == 1  # five songs on page 1 were enough
        seven = list(client.iter_artist_tracks("Jim Yosef", max_songs=7, excluded_terms=[], full_info=False))
    (song, lyrics, reason), (other, no_lyrics, why) = first_two
    assert song["id"] == 3374613 and song["album"] is not None  # full song object merged in
    assert lyrics is not None and lyrics.startswith("[Verse 1]\nMore than lovers") and reason is None
    assert other["id"] == 8399766 and no_lyrics is None and why == "lyrics page not found (HTTP 404)"
    assert [s["id"] for s, _, _ in seven] == [3374613, 8399766, 5243561, 4535500, 8733099, 10092545, 9770248]
    pages = [r.param("page") for r in server.requests_to("/artists/992710/songs")]
    assert pages == ["1", "1", "2"]
    assert all(r.param("sort") == "popularity" and r.param("per_page") == "50"
               for r in server.requests_to("/artists/992710/songs"))


def test_iter_artist_tracks_skips_features_and_non_songs(vcr: Path, fake: FakeTime) -> None:
    with ReplayServer(cassette_routes(vcr / "artist-16775.yml")) as server:
        client = make_genius_client(server, fake)
        kept = list(client.iter_artist_tracks("Sia", max_songs=5, artist_id=16775, full_info=False))
    assert [s["title"] for s, _, _ in kept] == [
        "Academia", "Asrep Onosim", "Beautiful Calm Driving", "Be Good To Me", "Big Girls Cry"]
    assert all(lyrics is None and reason == "lyrics page not found (HTTP 404)" for _, lyrics, reason in kept)
    assert client.skipped == {"not the primary artist": 5, "excluded term 'tracklist'": 1}
    assert server.requests_to("/search") == []  # artist id given: no lookup


def test_unknown_artist_is_a_clear_error(vcr: Path, fake: FakeTime) -> None:
    server = ReplayServer(cassette_routes(vcr / "song-search-the-hills.yml"))
    with server, pytest.raises(NotFoundError, match="no artist named 'Nobody By This Name'"):
        next(make_genius_client(server, fake).iter_artist_tracks("Nobody By This Name"))


def test_artist_song_lists_are_cached_in_redis(rec: Path, shared_dir: Path, fake: FakeTime,
                                               redis_client: redis.Redis) -> None:
    params = params_with({"scrape": {"cache_ttl_s": 120}}).scrape
    cache = artist_song_cache(redis_client, params)
    with ReplayServer(jim_yosef_routes(rec, shared_dir / "fixtures" / "genius_html")) as server:
        first = make_genius_client(server, fake, cache=cache).artist_songs(992710, max_songs=3)
        assert 0 < cache.ttl("992710:popularity:50") <= 120
        again = make_genius_client(server, fake, cache=cache).artist_songs(992710, max_songs=5)
        assert len(server.requests_to("/artists/992710/songs")) == 1  # page 1 came from Redis
        more = make_genius_client(server, fake, cache=cache).artist_songs(992710, max_songs=8)
    assert first == again[:3] and [s["id"] for s in more[:5]] == [s["id"] for s in again]
    assert [r.param("page") for r in server.requests_to("/artists/992710/songs")] == ["1", "2"]
    assert cache.get("992710:popularity:50")["next_page"] is None
