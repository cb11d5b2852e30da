"""The live-API source end to end over recorded responses: API songs become the same records as dumps; the scrape
stage reports what the source skipped and fails before any database work when Genius is misconfigured."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from helpers import FakeTime, jim_yosef_routes, make_genius_client, params_with
from http_replay import ReplayServer, Response, cassette_routes

from rap_analyzer.config import Params, Secrets
from rap_analyzer.errors import MissingCredentialsError, UserError
from rap_analyzer.scrape import genius_source
from rap_analyzer.scrape.genius_api import GeniusClient
from rap_analyzer.scrape.genius_source import genius_client, iter_genius_records
from rap_analyzer.scrape.sources import SourceError, SourceItem
from rap_analyzer.stages import scrape as scrape_stage
from rap_analyzer.store import services

UNFORGIVABLE_PAGE = "/Jim-yosef-and-shiah-maisel-unforgivable-lyrics"  # the second song of jim_yosef_routes


def genius_params(params: Params, artists: list[str], max_songs: int, excluded_terms: list[str] | None = None
                  ) -> Params:
    return params_with({"scrape": {"sources": ["genius"], "dataset_sources": ["genius"], "artists": artists,
                                   "max_songs_per_artist": max_songs,
                                   "excluded_terms": excluded_terms or []}})


def test_api_songs_become_records_and_missing_pages_are_rejects(params: Params, shared_dir: Path) -> None:
    routes = jim_yosef_routes(shared_dir / "fixtures/genius_api/recorded_2025", shared_dir / "fixtures/genius_html")
    with ReplayServer(routes) as server:
        client = make_genius_client(server, FakeTime())
        items = list(iter_genius_records(genius_params(params, ["Jim Yosef"], 2), client))
    assert all(isinstance(i, SourceItem) for i in items)
    stored, missing = items
    assert stored.reject_reason is None and stored.record.source == "genius"
    assert stored.record.source_key == "genius:3374613" and stored.record.artist == "Jim Yosef"
    assert stored.record.lyrics_clean.startswith("More than lovers")  # section header kept as structure
    assert stored.record.sections[0] == "[Verse 1]"
    assert missing.reject_reason == "no_lyrics_page"


def test_unknown_artist_is_reported_and_the_rest_continues(params: Params, shared_dir: Path) -> None:
    vcr = shared_dir / "fixtures/genius_api/vcr_2015"
    with ReplayServer(cassette_routes(vcr / "song-search-the-hills.yml")) as server:
        items = list(iter_genius_records(genius_params(params, ["Nobody By This Name"], 2),
                                         make_genius_client(server, FakeTime())))
    assert len(items) == 1 and isinstance(items[0], SourceError)
    assert "Nobody By This Name" in items[0].reason


def test_a_failed_lyrics_page_is_a_failure_not_a_reject(params: Params, shared_dir: Path) -> None:
    routes = jim_yosef_routes(shared_dir / "fixtures/genius_api/recorded_2025", shared_dir / "fixtures/genius_html")
    with ReplayServer({**routes, UNFORGIVABLE_PAGE: Response(500)}) as server:
        items = list(iter_genius_records(genius_params(params, ["Jim Yosef"], 3),
                                         make_genius_client(server, FakeTime(), retries=1)))
        assert len(server.requests_to(UNFORGIVABLE_PAGE)) == 2  # retried before giving up
    stored, failed, missing = items
    assert isinstance(stored, SourceItem) and stored.reject_reason is None
    assert isinstance(failed, SourceError) and failed.index == 1
    assert "8399766" in failed.reason and "lyrics page failed" in failed.reason and "HTTP 500" in failed.reason
    assert isinstance(missing, SourceItem) and missing.reject_reason == "no_lyrics_page"  # a 404 stays a reject


@pytest.fixture
def no_services(monkeypatch: pytest.MonkeyPatch) -> None:
    """The token check must come before any service: fail the test if one is reached."""
    def forbidden(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a service was used before the configuration was checked")

    monkeypatch.setattr(services, "connect", forbidden)
    monkeypatch.setattr(services, "redis_client", forbidden)


def test_no_artists_is_a_clear_error(params: Params, no_services: None) -> None:
    empty = genius_params(params, [], 2)
    with pytest.raises(UserError, match=r"scrape\.artists"):
        genius_client(empty)
    with pytest.raises(UserError, match=r"scrape\.artists"):
        iter_genius_records(empty, GeniusClient("token", params_with().scrape))  # at the call, not the first `next`


def test_missing_token_stops_the_scrape_before_any_database_work(
        params: Params, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_services: None) -> None:
    monkeypatch.delenv("GENIUS_ACCESS_TOKEN", raising=False)
    monkeypatch.setattr(genius_source, "get_secrets", lambda: Secrets(_env_file=None))  # no .env either
    with pytest.raises(MissingCredentialsError, match="GENIUS_ACCESS_TOKEN"):
        scrape_stage.run(genius_params(params, ["Jim Yosef"], 2), tmp_path / "raw", progress=False)
    with pytest.raises(UserError, match=r"scrape\.artists"):
        scrape_stage.run(genius_params(params, [], 2), tmp_path / "raw", progress=False)
    assert not (tmp_path / "raw").exists()


def test_scrape_report_counts_skipped_songs_and_failed_pages(
        params: Params, shared_dir: Path, tmp_path: Path, db_url: str, redis_server_url: str,
        monkeypatch: pytest.MonkeyPatch) -> None:
    routes = jim_yosef_routes(shared_dir / "fixtures/genius_api/recorded_2025", shared_dir / "fixtures/genius_html")
    first_page = routes["/artists/992710/songs?page=1"]
    songs = first_page.body["response"]["songs"]  # type: ignore[index]
    hate_you = {**songs[2], "primary_artist": {"id": 1, "name": "Riell"}}  # led by someone else: a feature
    page = {"response": {"songs": [*songs[:2], hate_you, *songs[3:]], "next_page": 2}}
    routes.update({"/artists/992710/songs?page=1": Response(200, page), UNFORGIVABLE_PAGE: Response(500)})
    monkeypatch.setenv("DATABASE_URL", db_url)
    monkeypatch.setenv("REDIS_URL", redis_server_url)
    run_params = genius_params(params, ["Jim Yosef"], 4, excluded_terms=["wildfire"])
    with ReplayServer(routes) as server:
        monkeypatch.setattr(genius_source, "genius_client", lambda _: make_genius_client(server, FakeTime(), retries=1))
        report = scrape_stage.run(run_params, tmp_path / "raw", progress=False)
        again = scrape_stage.run(run_params, tmp_path / "raw", progress=False)
        assert len(server.requests_to(UNFORGIVABLE_PAGE)) == 4  # not stored, so asked for again
    # Linked stored, Unforgivable failed, Hate You and WILDFIRE skipped, Volcano and Risk It All without a page.
    assert report.skipped_by_source == {"not the primary artist": 1, "excluded term 'wildfire'": 1}
    assert report.written == 1 and report.rejected == {"no_lyrics_page": 2}
    assert [f["reason"] for f in report.failures] == [f["reason"] for f in again.failures]
    assert len(report.failures) == 1 and "lyrics page failed" in str(report.failures[0]["reason"])
    saved = json.loads((tmp_path / "raw" / "scrape_report.json").read_text())
    assert saved["skipped_by_source"] == {"excluded term 'wildfire'": 1, "not the primary artist": 1}
    assert again.unchanged == 1 and again.written == 0
