"""Spotify enrichment behaviours the recorded-payload tests leave open (issue 16): what a match carries, how ties
and the release year decide between candidates, the messages users read on each failure, time-outs, and the
settings path. Payloads are written here (the shape of Spotify's Web API search and audio-features answers)."""

from __future__ import annotations

import logging
import socket
import warnings
from typing import Any

import pytest
from helpers import CLIENT_ID, CLIENT_SECRET, FORBIDDEN, SPOTIFY_TOKEN, Sleeps, params_with
from http_replay import ReplayServer, Response
from pydantic import SecretStr

from rap_analyzer import config
from rap_analyzer.errors import ApiError, AuthError, MissingCredentialsError
from rap_analyzer.resilience import CircuitBreaker, RetryPolicy
from rap_analyzer.scrape import spotify
from rap_analyzer.scrape.remote import Resilience
from rap_analyzer.scrape.spotify import (
    VERSION_PENALTY,
    SpotifyEnricher,
    artist_similarity,
    match_score,
    title_similarity,
)

TOKEN = {"POST /api/token": Response(200, SPOTIFY_TOKEN)}


def item(track_id: str | None, name: str | None, artists: list[str], release: str | None = None,
         album: str = "Album", popularity: int = 50) -> dict[str, Any]:
    return {"id": track_id, "name": name, "artists": [{"name": a} for a in artists], "popularity": popularity,
            "album": {"name": album, "release_date": release}}


def search(*items: Any) -> Response:
    return Response(200, {"tracks": {"items": list(items)}})


def routes(**extra: Any) -> dict[str, Any]:
    return {**TOKEN, **extra}


def enricher(server: ReplayServer, retries: int = 0, timeout_s: float = 5.0, min_score: float = 0.75,
             **kwargs: Any) -> SpotifyEnricher:
    resilience = Resilience(RetryPolicy(max_retries=retries, sleep=Sleeps()), CircuitBreaker(5, 60.0))
    scrape = params_with({"scrape": {"spotify_min_score": min_score, "timeout_s": timeout_s}}).scrape
    kwargs.setdefault("api_url", f"{server.url}/v1/")
    return SpotifyEnricher(CLIENT_ID, CLIENT_SECRET, scrape, token_url=f"{server.url}/api/token",
                           resilience=resilience, **kwargs)


# --- what a match carries --------------------------------------------------------------------------------------

def test_an_accepted_match_carries_the_candidate_and_its_own_audio_features() -> None:
    found = item("t1", "Xxplosive", ["Dr. Dre", "Hittman"], "1999-11-16", album="2001", popularity=61)
    features = {"id": "t1", "danceability": 0.75, "energy": 0.6}
    with ReplayServer(routes(**{"/v1/search": search(found),
                                "/v1/audio-features/": Response(200, {"audio_features": [features]})})) as server:
        match = enricher(server).match("Dr. Dre", "Xxplosive")
    assert (match.spotify_id, match.name, match.artists) == ("t1", "Xxplosive", ["Dr. Dre", "Hittman"])
    assert (match.popularity, match.album, match.release_date, match.score) == (61, "2001", "1999-11-16", 1.0)
    assert match.audio_features == features and match.audio_features_status == "ok"


def test_an_unmatched_track_carries_no_candidate_fields() -> None:
    with ReplayServer(routes(**{"/v1/search": search(item("t1", "Other Song", ["Somebody Else"]))})) as server:
        match = enricher(server).match("Dr. Dre", "Xxplosive")
    assert not match.matched and match.artists == [] and match.name is None and match.release_date is None


def test_a_search_asks_for_tracks_with_the_configured_limit() -> None:
    # Spotify's search needs `type`; `limit` is how many candidates are scored (SpotifyEnricher's search_limit).
    with ReplayServer(routes(**{"/v1/search": search()})) as server:
        enricher(server, search_limit=3).match("Dr. Dre", "Xxplosive", with_audio_features=False)
    sent = server.requests_to("/v1/search")
    assert [(r.param("type"), r.param("limit")) for r in sent] == [("track", "3"), ("track", "3")]


def test_a_search_asks_for_10_candidates_unless_told_otherwise() -> None:
    # SpotifyEnricher's default: the first 10 of Spotify's relevance-ordered hits are scored (the Web API itself
    # would send 20 without a `limit`).
    with ReplayServer(routes(**{"/v1/search": search()})) as server:
        enricher(server).match("Dr. Dre", "Xxplosive", with_audio_features=False)
    assert [r.param("limit") for r in server.requests_to("/v1/search")] == ["10", "10"]


@pytest.mark.parametrize(("min_score", "matched"), [(0.9411, True), (0.9412, True), (0.9413, False)])
def test_the_score_is_recorded_at_4_decimals_and_the_threshold_applies_to_it(min_score: float,
                                                                             matched: bool) -> None:
    """"Xplosive" against "Xxplosive": Indel similarity 2 * 8 / 17 = 0.941176..., recorded as 0.9412 (the score a
    match carries to `spotify_matches.score`, 4 decimals); the candidate is accepted when that recorded score
    reaches `spotify_min_score`, so a threshold of exactly 0.9412 accepts it and 0.9413 does not."""
    found = item("t1", "Xxplosive", ["Dr. Dre"])
    with ReplayServer(routes(**{"/v1/search": search(found)})) as server:
        match = enricher(server, min_score=min_score).match("Dr. Dre", "Xplosive", with_audio_features=False)
    assert match.score == 0.9412
    assert match.matched is matched


def test_candidates_without_an_id_or_not_objects_are_skipped() -> None:
    good = item("t2", "Xxplosive", ["Dr. Dre"])
    with ReplayServer(routes(**{"/v1/search": search(None, item(None, "Xxplosive", ["Dr. Dre"]), good)})) as server:
        match = enricher(server).match("Dr. Dre", "Xxplosive", with_audio_features=False)
    assert match.spotify_id == "t2"


def test_a_tie_keeps_spotifys_first_candidate_and_the_year_breaks_it() -> None:
    # Same title and artist, one letter off the wanted title: equal scores below 1. Spotify lists by relevance, so
    # the first one listed is kept; given the release year, the one released that year gets YEAR_BONUS and wins.
    original = item("orig", "Xxplosive", ["Dr. Dre"], "1999-11-16")
    reissue = item("re", "Xxplosive", ["Dr. Dre"], "2019-01-01")
    with ReplayServer(routes(**{"/v1/search": search(reissue, original)})) as server:
        first = enricher(server).match("Dr. Dre", "Xplosive", with_audio_features=False)
        by_year = enricher(server).match("Dr. Dre", "Xplosive", 1999, with_audio_features=False)
    assert first.spotify_id == "re" and first.score == pytest.approx(2 * 8 / 17, abs=1e-4)
    assert by_year.spotify_id == "orig" and by_year.score == pytest.approx(2 * 8 / 17 + 0.05, abs=1e-4)


def test_an_api_url_without_trailing_slash_still_reaches_the_endpoints() -> None:
    with ReplayServer(routes(**{"/v1/search": search(item("t1", "Xxplosive", ["Dr. Dre"]))})) as server:
        match = enricher(server, api_url=f"{server.url}/v1").match("Dr. Dre", "Xxplosive", with_audio_features=False)
    assert match.spotify_id == "t1"


def test_the_default_endpoints_are_spotifys() -> None:
    # Spotify Web API reference: API base https://api.spotify.com/v1/, client-credentials token endpoint
    # https://accounts.spotify.com/api/token.
    enr = SpotifyEnricher("id", "secret", params_with().scrape)
    assert enr.api_url == "https://api.spotify.com/v1/"
    assert enr.sp.auth_manager.OAUTH_TOKEN_URL == "https://accounts.spotify.com/api/token"


# --- audio features ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("answer", [Response(404, {"error": {"status": 404, "message": "Not found"}}),
                                    Response(200, {"audio_features": []}),
                                    Response(200, {"audio_features": [None]})])
def test_audio_features_missing_for_the_track_are_unavailable(answer: Response) -> None:
    with ReplayServer(routes(**{"/v1/audio-features/": answer})) as server:
        assert enricher(server).audio_features("t1") == (None, "unavailable")


def test_audio_features_silence_only_spotipys_deprecation_warning(monkeypatch: pytest.MonkeyPatch) -> None:
    # spotipy warns (DeprecationWarning) on every audio_features call since Spotify deprecated the endpoint: that
    # one is known and silenced; any other warning raised during the call (here a RuntimeWarning raised just before
    # spotipy's) still reaches the caller.
    features = {"id": "t1", "energy": 0.6}
    with ReplayServer(routes(**{"/v1/audio-features/": Response(200, {"audio_features": [features]})})) as server:
        enr = enricher(server)
        spotipy_call = enr.sp.audio_features

        def warning_call(tracks: list[str]) -> Any:
            warnings.warn("client-side trouble", RuntimeWarning, stacklevel=1)
            return spotipy_call(tracks)

        monkeypatch.setattr(enr.sp, "audio_features", warning_call)
        with warnings.catch_warnings(record=True) as seen:
            warnings.simplefilter("always")
            assert enr.audio_features("t1") == (features, "ok")
    assert [(w.category, str(w.message)) for w in seen] == [(RuntimeWarning, "client-side trouble")]


def test_audio_features_stay_unavailable_after_a_403_without_asking_again() -> None:
    with ReplayServer(routes(**{"/v1/audio-features/": FORBIDDEN})) as server:
        enr = enricher(server)
        assert [enr.audio_features("t1"), enr.audio_features("t2")] == [(None, "unavailable")] * 2
    assert len(server.requests_to("/v1/audio-features/")) == 1


# --- messages users read -----------------------------------------------------------------------------------------

@pytest.mark.parametrize(("path", "call", "what"), [
    ("/v1/search", lambda e: e.search("q"), "search"),
    ("/v1/audio-features/", lambda e: e.audio_features("t1"), "audio-features"),
])
def test_a_server_error_names_spotify_and_the_request(path: str, call: Any, what: str) -> None:
    with ReplayServer(routes(**{path: Response(500)})) as server, pytest.raises(ApiError) as info:
        call(enricher(server))
    assert str(info.value) == f"Spotify {what}: HTTP 500; gave up after 0 retries"


def test_a_refused_token_on_search_names_the_credentials_to_check() -> None:
    with ReplayServer(routes(**{"/v1/search": Response(401)})) as server, pytest.raises(AuthError) as info:
        enricher(server).search("q")
    assert str(info.value) == ("Spotify search: HTTP 401, access refused; check "
                               "SPOTIFY_CLIENT_ID / SPOTIFY_CLIENT_SECRET")


def test_no_answer_in_time_is_a_timeout_error() -> None:
    # timeout_s is 0.3 s and the API answers after 1.5 s: the call must give up at the timeout (spotipy's own
    # default, 5 s, would wait for the answer and succeed).
    slow = Response(200, {"tracks": {"items": []}}, delay_s=1.5)
    with ReplayServer(routes(**{"/v1/search": slow})) as server, pytest.raises(ApiError) as info:
        enricher(server, timeout_s=0.3).search("q")
    assert str(info.value) == "Spotify search: no answer in time; gave up after 0 retries"


def test_a_token_endpoint_that_does_not_answer_in_time_times_out() -> None:
    slow_token = {"POST /api/token": Response(200, SPOTIFY_TOKEN, delay_s=1.5)}
    with ReplayServer(slow_token) as server, pytest.raises(ApiError, match="no answer in time"):
        enricher(server, timeout_s=0.3).search("q")


def test_a_refused_connection_names_the_error_kind() -> None:
    with socket.socket() as sock:  # a port nobody listens on once this socket is closed
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with ReplayServer(TOKEN) as server, pytest.raises(ApiError) as info:
        enricher(server, api_url=f"http://127.0.0.1:{port}/v1/").search("q")
    assert str(info.value) == "Spotify search: connection failed (ConnectionError); gave up after 0 retries"


@pytest.mark.parametrize(("client_id", "secret", "missing"), [
    (None, "x", "SPOTIFY_CLIENT_ID"), ("x", SecretStr(" "), "SPOTIFY_CLIENT_SECRET"),
    ("", None, "SPOTIFY_CLIENT_ID and SPOTIFY_CLIENT_SECRET")])
def test_missing_credentials_say_exactly_what_is_missing_and_how_to_fix_it(client_id: Any, secret: Any,
                                                                           missing: str) -> None:
    with pytest.raises(MissingCredentialsError) as info:
        SpotifyEnricher(client_id, secret, params_with().scrape)
    assert str(info.value) == (
        f"{missing} not set: create an app at https://developer.spotify.com/dashboard and put "
        "SPOTIFY_CLIENT_ID=... and SPOTIFY_CLIENT_SECRET=... in .env or the environment "
        "(or set scrape.spotify_enrich: false)")


def test_auth_headers_in_spotipy_logs_keep_their_scheme_and_lose_their_value(
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="spotipy.client")
    logging.getLogger("spotipy.client").debug("headers: {'Authorization': 'Bearer %s'}", "abc.DEF-123_~+/=")
    assert caplog.records[-1].getMessage() == "headers: {'Authorization': 'Bearer <redacted>'}"


# --- settings ----------------------------------------------------------------------------------------------------

def test_from_settings_reads_both_credentials_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SPOTIFY_CLIENT_ID", CLIENT_ID)
    monkeypatch.setenv("SPOTIFY_CLIENT_SECRET", CLIENT_SECRET)
    config.get_secrets.cache_clear()
    try:
        hits = item("t1", "Xxplosive", ["Dr. Dre"])
        with ReplayServer(routes(**{"/v1/search": search(hits)})) as server:
            enr = spotify.SpotifyEnricher.from_settings(
                params_with({"scrape": {"spotify_min_score": 0.9}}).scrape, api_url=f"{server.url}/v1/",
                token_url=f"{server.url}/api/token")
            assert enr.min_score == 0.9
            assert enr.match("Dr. Dre", "Xxplosive", with_audio_features=False).spotify_id == "t1"
        (token,) = server.requests_to("/api/token")
        assert token.headers["authorization"] == make_basic(CLIENT_ID, CLIENT_SECRET)
    finally:
        config.get_secrets.cache_clear()


def make_basic(client_id: str, secret: str) -> str:
    import base64

    return "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()


# --- scores ------------------------------------------------------------------------------------------------------

def test_a_version_disagreement_subtracts_the_penalty_from_a_partial_title() -> None:
    # "song" vs "songs": Indel similarity 2 * LCS / total = 2 * 4 / 9; the live version costs VERSION_PENALTY.
    assert title_similarity("Song (Live)", "Songs") == pytest.approx(2 * 4 / 9 - VERSION_PENALTY)


def test_a_candidate_without_a_name_is_no_evidence() -> None:
    # Titles and artists with x's in them must not score against a missing name.
    nameless = {"id": "x", "name": None, "artists": [{"name": None}], "album": {}}
    assert match_score(nameless, "XXXTentacion", "Xxplosive") == 0.0
    assert match_score({**nameless, "name": "Xxplosive"}, "XXXTentacion", "Xxplosive") == 0.0
    assert match_score({**nameless, "artists": [{"name": "XXXTentacion"}]}, "XXXTentacion", "Xxplosive") == 0.0


def test_a_trio_credited_apart_is_the_trio() -> None:
    # Genius' "Peter, Paul and Mary" against Spotify crediting each of the three (in any order); with a fourth
    # credited artist the trio is still found among the credits.
    assert artist_similarity("Peter & Paul & Mary", ["Mary", "Peter", "Paul"]) == 1.0
    assert artist_similarity("Peter & Paul & Mary", ["Mary", "Peter", "Paul", "Ringo"]) == 1.0
    assert artist_similarity("Peter & Paul", ["Paul", "Peter", "Ringo"]) == 1.0
