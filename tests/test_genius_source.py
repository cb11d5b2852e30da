"""The live-API source end to end over recorded responses: API songs become the same records as dumps."""

from __future__ import annotations

from pathlib import Path

import pytest
from http_replay import ReplayServer, cassette_routes
from test_genius_api import FakeTime, jim_yosef_routes, make_client

from rap_analyzer.config import Params
from rap_analyzer.errors import UserError
from rap_analyzer.scrape.genius_source import iter_genius_records
from rap_analyzer.scrape.sources import SourceError, SourceItem


def genius_params(params: Params, artists: list[str], max_songs: int) -> Params:
    scrape = params.scrape.model_copy(update={"source": "genius", "artists": artists,
                                              "max_songs_per_artist": max_songs, "excluded_terms": []})
    return params.model_copy(update={"scrape": scrape})


def test_api_songs_become_records_and_missing_pages_are_rejects(params: Params, shared_dir: Path) -> None:
    routes = jim_yosef_routes(shared_dir / "fixtures/genius_api/recorded_2025", shared_dir / "fixtures/genius_html")
    with ReplayServer(routes) as server:
        items = list(iter_genius_records(genius_params(params, ["Jim Yosef"], 2), make_client(server, FakeTime())))
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
                                         make_client(server, FakeTime())))
    assert len(items) == 1 and isinstance(items[0], SourceError)
    assert "Nobody By This Name" in items[0].reason


def test_no_artists_is_a_clear_error(params: Params) -> None:
    with pytest.raises(UserError, match=r"scrape\.artists"):
        next(iter_genius_records(genius_params(params, [], 2)))
