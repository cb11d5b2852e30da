"""The `genius` source of the scrape stage: the most popular songs of `scrape.artists` from the live API,
turned into records by the same converter as the lyricsgenius dumps."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

from rap_analyzer.config import Params, get_secrets
from rap_analyzer.errors import NotFoundError, UserError
from rap_analyzer.scrape.genius_api import LYRICS_PAGE_FAILED, GeniusClient, artist_song_cache
from rap_analyzer.scrape.sources import MalformedSong, SourceError, SourceItem, dump_record
from rap_analyzer.store import services


def _require_artists(params: Params) -> list[str]:
    if not params.scrape.artists:
        raise UserError("scrape.source is 'genius' but scrape.artists is empty: list the artists in params.yaml")
    return params.scrape.artists


def genius_client(params: Params) -> GeniusClient:
    """The configured client, checked cheapest first: artists listed, token set (MissingCredentialsError
    otherwise), and only then the Redis cache of artist song lists, which may start an embedded server."""
    _require_artists(params)
    client = GeniusClient(get_secrets().genius_access_token, params.scrape)
    client.cache = artist_song_cache(services.redis_client(params), params.scrape)
    return client


def iter_genius_records(params: Params, client: GeniusClient) -> Iterator[SourceItem | SourceError]:
    """Records of the artists' songs. Checks the artists at once (not at the first `next`); `client.skipped`
    counts the listed songs passed over (features, remixes, non-songs) as the iterator advances."""
    return _records(params, _require_artists(params), client)


def _records(params: Params, artists: list[str], client: GeniusClient) -> Iterator[SourceItem | SourceError]:
    for artist in artists:
        where = Path(f"genius-artist:{artist}")
        try:
            tracks = client.iter_artist_tracks(
                artist, params.scrape.max_songs_per_artist, params.scrape.excluded_terms)
            for index, (song, lyrics, why) in enumerate(tracks):
                if lyrics is None and why and why.startswith(LYRICS_PAGE_FAILED):
                    # Not stored, so the next run asks for the page again.
                    yield SourceError(where, f"song {song.get('id')} {song.get('title')!r}: {why}", index)
                    continue
                try:
                    record, reason = dump_record({**song, "lyrics": lyrics}, params.scrape.min_words)
                except MalformedSong as exc:
                    yield SourceError(where, str(exc), index)
                    continue
                if lyrics is None:
                    reason = "instrumental" if why and "instrumental" in why.lower() else "no_lyrics_page"
                yield SourceItem(replace(record, source="genius"), reason, where, index)
        except NotFoundError as exc:
            yield SourceError(where, str(exc))
