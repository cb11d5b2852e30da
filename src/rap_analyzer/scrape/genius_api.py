"""The live Genius source: lyricsgenius's API methods with every HTTP request sent through our resilience layer.

lyricsgenius fits once its transport is replaced: all calls of its `API` class (`search_songs`, `song`,
`artist_songs`, page fetches) go through one method, `Sender._make_request`, and its roots (`API_ROOT`,
`WEB_ROOT`) are plain attributes, so tests point them at a loopback server. Its own transport does not fit our
policy: no retry on 429 and no `Retry-After`, any non-200 becomes an `AssertionError` without a status, and a
fixed sleep after every request. `_ResilientGenius` therefore overrides `_make_request`: rate limiter, retries
with backoff and jitter (429 honours `Retry-After`; 5xx and timeouts retried; 404 is a `NotFoundError` at once),
circuit breaker, timeout. We build on `API`, not `Genius`: a subclass of `Genius` silently drops the token (its
`PublicAPI.__init__` keeps it only when the class is literally named "Genius"); from `Genius` we reuse the default
excluded terms.
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from collections.abc import Iterable, Iterator
from itertools import islice
from typing import Any, TypeVar
from urllib.parse import urlsplit

import requests
from lyricsgenius import API, Genius
from lyricsgenius.utils import clean_str
from pydantic import SecretStr
from tqdm import tqdm

from rap_analyzer.config import ScrapeParams
from rap_analyzer.errors import ApiError, MissingCredentialsError, NotFoundError
from rap_analyzer.resilience import RetryableError
from rap_analyzer.scrape.lyrics_page import PageLyrics, parse_lyrics_page
from rap_analyzer.scrape.remote import Resilience, status_error
from rap_analyzer.store.cache import JsonCache

log = logging.getLogger(__name__)
T = TypeVar("T")
Song = dict[str, Any]
# How `_lyrics_of` starts the reason of a page that could not be fetched (retries ran out): a failure to retry on
# the next run, unlike a missing page (404) or an instrumental, which are what the song is.
LYRICS_PAGE_FAILED = "lyrics page failed"


class _ResilientGenius(API):
    def __init__(self, token: str, resilience: Resilience, timeout_s: float, base_url: str, web_url: str) -> None:
        super().__init__(access_token=token, timeout=timeout_s, sleep_time=0, retries=0, user_agent="rap-analyzer")
        self.resilience = resilience
        self.API_ROOT = base_url.rstrip("/") + "/"
        self.WEB_ROOT = web_url.rstrip("/") + "/"
        self.PUBLIC_API_ROOT = self.WEB_ROOT + "api/"

    def __repr__(self) -> str:
        return f"_ResilientGenius(api={self.API_ROOT!r})"

    def _make_request(self, path: str, method: str = "GET", params_: Any = None, public_api: bool = False,
                      web: bool = False, **kwargs: Any) -> dict[str, Any]:
        root = self.PUBLIC_API_ROOT if public_api else self.WEB_ROOT if web else self.API_ROOT
        headers = None if (public_api or web) else self.authorization_header
        url = root + path.lstrip("/")
        what = f"{method} {urlsplit(url).path}"

        def attempt() -> dict[str, Any]:
            try:
                response = self._session.request(method, url, params=params_ or {}, headers=headers,
                                                 timeout=self.timeout, **kwargs)
            except requests.Timeout as exc:
                raise RetryableError(f"Genius {what}: no answer within {self.timeout} s") from exc
            except requests.ConnectionError as exc:
                raise RetryableError(f"Genius {what}: connection failed ({type(exc).__name__})") from exc
            error = status_error("Genius", what, response.status_code, response.headers, "GENIUS_ACCESS_TOKEN")
            if error:
                raise error
            if web:
                return {"html": response.text}
            try:
                data = response.json()
            except ValueError as exc:
                raise ApiError(f"Genius {what}: the answer is not JSON", response.status_code) from exc
            return data.get("response", data) if isinstance(data, dict) else {"data": data}

        return self.resilience.call(attempt)


def skip_reason(song: Song, excluded_terms: Iterable[str]) -> str | None:
    """Why a listed song is not a lyrics song we want (None: keep it). Terms match whole words, any case."""
    if song.get("lyrics_state", "complete") != "complete":
        return f"lyrics {song.get('lyrics_state')}"
    if song.get("instrumental"):
        return "instrumental"
    for term in excluded_terms:
        if re.search(rf"(?<!\w){re.escape(term)}(?!\w)", song.get("title") or "", flags=re.IGNORECASE):
            return f"excluded term {term!r}"
    return None


def artist_song_cache(client: Any, params: ScrapeParams) -> JsonCache:
    """The Redis cache of artist song lists (a `redis.Redis`, e.g. `store.services.redis_client()`)."""
    return JsonCache(client, "genius:artist_songs", ttl_s=params.cache_ttl_s)


class GeniusClient:
    """Search, songs, artist song lists (cached in Redis) and lyrics pages of the live Genius API."""

    def __init__(self, token: SecretStr | str | None, params: ScrapeParams, base_url: str = "https://api.genius.com",
                 web_url: str = "https://genius.com", cache: JsonCache | None = None,
                 resilience: Resilience | None = None) -> None:
        secret = token.get_secret_value() if isinstance(token, SecretStr) else token
        if not secret or not secret.strip():
            raise MissingCredentialsError(
                "GENIUS_ACCESS_TOKEN is not set: create an API client at https://genius.com/api-clients and put "
                "GENIUS_ACCESS_TOKEN=<client access token> in .env or the environment (or use scrape.source: dump)"
            )
        self.params, self.cache = params, cache
        self.base_url, self.web_url = base_url.rstrip("/"), web_url.rstrip("/")
        self.resilience = resilience or Resilience.from_params(params)
        self.excluded_terms = [*Genius.default_terms, *params.excluded_terms]
        self.skipped: Counter[str] = Counter()  # why listed songs were passed over, for the scrape report
        self._api = _ResilientGenius(secret.strip(), self.resilience, params.timeout_s, base_url, web_url)

    def __repr__(self) -> str:
        return f"GeniusClient(base_url={self.base_url!r}, web_url={self.web_url!r}, token='**********')"

    def search(self, q: str, per_page: int | None = None, page: int | None = None) -> list[Song]:
        hits = self._api.search_songs(q, per_page=per_page, page=page).get("hits") or []
        return [hit["result"] for hit in hits if hit.get("type", "song") == "song" and "result" in hit]

    def song(self, song_id: int) -> Song:
        return self._api.song(song_id)["song"]

    def artist_songs(self, artist_id: int, sort: str = "popularity", per_page: int = 50,
                     max_songs: int | None = None) -> list[Song]:
        return list(islice(self._songs_of(artist_id, sort, per_page), max_songs))

    def _songs_of(self, artist_id: int, sort: str, per_page: int) -> Iterator[Song]:
        """The artist's songs, page by page as far as the consumer reads; the pages read so far are cached."""
        key = f"{artist_id}:{sort}:{per_page}"
        entry = self.cache.get(key) if self.cache else None
        if not (isinstance(entry, dict) and isinstance(entry.get("songs"), list) and "next_page" in entry):
            entry = {"songs": [], "next_page": 1}
        yield from entry["songs"]
        page = entry["next_page"]
        while page:
            data = self._api.artist_songs(artist_id, per_page=per_page, page=page, sort=sort)
            songs, page = data.get("songs") or [], data.get("next_page")
            entry = {"songs": entry["songs"] + songs, "next_page": page}
            if self.cache:
                self.cache.set(key, entry)
            yield from songs

    def find_artist_id(self, name: str) -> int | None:
        """The id of the primary artist of a search hit whose name matches `name` (punctuation and case aside)."""
        target = clean_str(name)
        for song in self.search(name):
            for artist in [song.get("primary_artist") or {}, *(song.get("primary_artists") or [])]:
                if artist.get("id") is not None and clean_str(artist.get("name") or "") == target:
                    return int(artist["id"])
        return None

    def song_lyrics(self, song_url: str) -> PageLyrics:
        """Fetch a song's lyrics page (its path on `web_url`) and parse it; 404 raises `NotFoundError`."""
        path = urlsplit(song_url).path.lstrip("/")
        if not path:
            raise ValueError(f"not a Genius song URL: {song_url!r}")
        return parse_lyrics_page(self._api._make_request(path, web=True)["html"])

    def _lyrics_of(self, song: Song) -> tuple[str | None, str | None]:
        if not song.get("url"):
            return None, "no lyrics page URL in the song data"
        try:
            page = self.song_lyrics(song["url"])
        except NotFoundError:
            return None, "lyrics page not found (HTTP 404)"
        except ApiError as exc:  # retries ran out for this page; the breaker still counts the failures
            return None, f"{LYRICS_PAGE_FAILED}: {exc}"
        return page.text, page.reason

    def iter_artist_tracks(self, artist_name: str, max_songs: int | None = None,
                           excluded_terms: Iterable[str] | None = None, *, artist_id: int | None = None,
                           full_info: bool = True, include_features: bool = False,
                           ) -> Iterator[tuple[Song, str | None, str | None]]:
        """(song, lyrics text or None, reason when None) for the artist's most popular songs.

        Like lyricsgenius's `search_artist`: songs by popularity, only those the artist leads unless
        `include_features`, non-songs skipped (`skip_reason`), the full song object fetched when `full_info`.
        """
        limit = self.params.max_songs_per_artist if max_songs is None else max_songs
        terms = self.excluded_terms if excluded_terms is None else [*Genius.default_terms, *excluded_terms]
        artist_id = artist_id or self.find_artist_id(artist_name)
        if artist_id is None:
            raise NotFoundError(f"Genius has no artist named {artist_name!r}: check the spelling in scrape.artists")
        kept = 0
        with tqdm(total=limit, desc=artist_name, unit="song", leave=False) as bar:
            for listed in self._songs_of(artist_id, "popularity", 50):
                if kept >= limit:
                    break
                lead = (listed.get("primary_artist") or {}).get("id")
                reason = None if include_features or lead == artist_id else "not the primary artist"
                reason = reason or skip_reason(listed, terms)
                if reason:
                    self.skipped[reason] += 1
                    log.debug("skipping %r: %s", listed.get("title"), reason)
                    continue
                song = listed
                if full_info:
                    try:
                        song = {**listed, **self.song(listed["id"])}
                    except NotFoundError:
                        log.warning("no song details for %s; keeping the listed fields", listed.get("id"))
                lyrics, why = self._lyrics_of(song)
                kept += 1
                bar.update()
                yield song, lyrics, why
