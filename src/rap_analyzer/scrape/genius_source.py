"""The `genius` source of the scrape stage: the most popular songs of `scrape.artists` from the live API,
turned into records by the same converter as the lyricsgenius dumps."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

from rap_analyzer.config import Params, get_secrets
from rap_analyzer.errors import UserError
from rap_analyzer.scrape.genius_api import GeniusClient, NotFoundError, artist_song_cache
from rap_analyzer.scrape.sources import MalformedSong, SourceError, SourceItem, dump_record
from rap_analyzer.store import services


def genius_client(params: Params) -> GeniusClient:
    cache = artist_song_cache(services.redis_client(params), params.scrape)
    return GeniusClient(get_secrets().genius_access_token, params.scrape, cache=cache)


def iter_genius_records(params: Params, client: GeniusClient | None = None) -> Iterator[SourceItem | SourceError]:
    artists = params.scrape.artists
    if not artists:
        raise UserError("scrape.source is 'genius' but scrape.artists is empty: list the artists in params.yaml")
    client = client or genius_client(params)
    for artist in artists:
        where = Path(f"genius-artist:{artist}")
        try:
            tracks = client.iter_artist_tracks(
                artist, params.scrape.max_songs_per_artist, params.scrape.excluded_terms)
            for index, (song, lyrics, why) in enumerate(tracks):
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
