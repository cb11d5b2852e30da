"""Spotify enrichment through spotipy (client credentials): find a scraped track on Spotify, or say it was not found.

A track is searched as `artist:"A" track:"T"`, then loosely as `A T`; each candidate gets a score in [0, 1]: the
lower of normalised title and artist similarity (both must agree), plus a small bonus when the release years agree.
Below `scrape.spotify_min_score` the track is recorded as unmatched with its best score: a wrong track is never
stored.

Every call goes through the same `Resilience` (rate limiter, retry policy, breaker) as the Genius client. spotipy's
own urllib3 retries are off (we hand it plain `requests` sessions) because they would hide `Retry-After` and the
status from our policy. spotipy logs request headers at DEBUG level (the client secret as Basic auth, the access
token as Bearer): a filter on its loggers redacts them.
"""

from __future__ import annotations

import logging
import re
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from itertools import permutations
from typing import Any, Literal, TypeVar

import requests
import spotipy
from pydantic import SecretStr
from rapidfuzz import fuzz
from spotipy.cache_handler import MemoryCacheHandler
from spotipy.exceptions import SpotifyException, SpotifyOauthError

from rap_analyzer.config import ScrapeParams, get_secrets
from rap_analyzer.errors import ApiError, AuthError, MissingCredentialsError, NotFoundError
from rap_analyzer.resilience import RetryableError
from rap_analyzer.scrape.remote import Resilience, status_error
from rap_analyzer.text import fold_punctuation, normalise_artist, normalise_layout, title_parts
from rap_analyzer.text import normalise_title as normalise_title  # the key this module matched on before

T = TypeVar("T")
Track = dict[str, Any]
FeaturesStatus = Literal["ok", "unavailable", "not_requested"]
CREDENTIALS = "SPOTIFY_CLIENT_ID / SPOTIFY_CLIENT_SECRET"
YEAR_BONUS = 0.05
# A version disagreement (remix, live, instrumental... against another recording, or another part number) costs
# half the title score: an exact title with the wrong version scores 0.5, below any sensible threshold, and an
# agreeing version wins over it by the same margin.
VERSION_PENALTY = 0.5
MAX_CREDITED = 6  # candidate artists considered for joint credits: 6 * 5 * 4 ordered triples at most


class _RedactAuthHeaders(logging.Filter):
    _pattern = re.compile(r"\b(Basic|Bearer)\s+[A-Za-z0-9+/=._~-]+")

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if self._pattern.search(message):
            record.msg, record.args = self._pattern.sub(r"\1 <redacted>", message), None
        return True


for _name in ("spotipy.client", "spotipy.oauth2"):
    logging.getLogger(_name).addFilter(_RedactAuthHeaders())


@dataclass(frozen=True, slots=True)
class SpotifyMatch:
    spotify_id: str | None  # None: no candidate reached the minimum score
    name: str | None
    artists: list[str]
    popularity: int | None
    album: str | None
    release_date: str | None
    score: float  # of the accepted match, or the best rejected candidate
    audio_features: dict[str, Any] | None = None
    audio_features_status: FeaturesStatus = "not_requested"

    @property
    def matched(self) -> bool:
        return self.spotify_id is not None


def _similarity(a: str, b: str) -> float:
    """Indel similarity of two keys in [0, 1] (rapidfuzz `fuzz.ratio` / 100: 2 * LCS / total length). Two empty
    keys are no evidence of anything (a title or name of punctuation only): 0, never a match."""
    if not a or not b:
        return 0.0
    return 1.0 if a == b else fuzz.ratio(a, b) / 100


def title_similarity(wanted: str, found: str) -> float:
    """In [0, 1]: the best similarity between the two titles' cores, each with and without its bracketed extras
    (a subtitle, or the translation Genius appends to a native title), less `VERSION_PENALTY` when the version
    words or part numbers disagree ("(Remix)" against the original, "Pt. 2" against "Pt. 1").

    Credits and same-recording markers ("feat. X", "Remastered 2011", "Radio Edit") are ignored; see
    `rap_analyzer.text.titles`."""
    a, b = title_parts(wanted), title_parts(found)
    best = max(_similarity(x, y) for x in a.variants for y in b.variants)
    if a.versions != b.versions or a.part != b.part:
        best -= VERSION_PENALTY
    return max(0.0, best)


def artist_similarity(wanted: str, credited: list[str]) -> float:
    """In [0, 1]: the wanted artist, as one whole name, against each credited artist and against the credit of
    two or three of them together (Genius keeps duo pages such as "Eric B. & Rakim" or "Jim Yosef & Anna Yvette"
    where Spotify credits each). The wanted name is never split, so a fragment ("Rakim" alone) scores as what it
    is, a part of the name: 2 * 5 / (16 + 5) = 0.48 for "eric b and rakim"."""
    key = normalise_artist(wanted)
    names = [n for n in (normalise_artist(c) for c in credited[:MAX_CREDITED]) if n]
    together = [" and ".join(group) for k in (2, 3) for group in permutations(names, k)]
    return max((_similarity(key, name) for name in [*names, *together]), default=0.0)


def match_score(track: Track, artist: str, title: str, year: int | None = None) -> float:
    """In [0, 1]: min(title similarity, artist similarity), plus `YEAR_BONUS` when the candidate's release year
    equals `year`. See `title_similarity` and `artist_similarity`.

    The minimum, not a weighted sum: a sum lets an exact title make up for a wrong artist ("Hotline Bling" by
    "Blake" for Drake) or an exact artist for a wrong title ("Money Trees" for Kendrick Lamar's "Money"); with the
    minimum, the score is only as high as the weaker part. The year bonus is a tie-breaker (the original against a
    re-release or a cover): it moves a score by at most `YEAR_BONUS`, so it never rescues a wrong artist or title.
    """
    title_sim = title_similarity(title, track.get("name") or "")
    artist_sim = artist_similarity(artist, [a.get("name") or "" for a in track.get("artists") or []])
    release = str((track.get("album") or {}).get("release_date") or "")
    bonus = YEAR_BONUS if year is not None and release[:4] == str(year) else 0.0
    return round(min(1.0, min(title_sim, artist_sim) + bonus), 4)


def _query_text(text: str) -> str:
    # Typographic quotes folded, then every double quote out: a quote would end the field filter early.
    return " ".join(fold_punctuation(normalise_layout(text)).replace('"', " ").split())


def query_title(title: str) -> str:
    """The title as a search sends it: without credits, bracketed parts or " - Remastered 2011"-style suffixes,
    part numbers kept ("The Recipe Pt. 2"); a title that is all brackets loses only them ("(Intro)" -> "Intro")."""
    return title_parts(title).query or title.strip()


def search_queries(artist: str, title: str) -> list[str]:
    """The strict field query, then the loose one: quotes folded, typographic ones included."""
    artist_q, title_q = _query_text(artist), _query_text(query_title(title))
    return [f'artist:"{artist_q}" track:"{title_q}"', f"{artist_q} {title_q}"]


def _secret(value: SecretStr | str | None) -> str | None:
    raw = value.get_secret_value() if isinstance(value, SecretStr) else value
    return raw.strip() if raw and raw.strip() else None


class SpotifyEnricher:
    def __init__(self, client_id: SecretStr | str | None, client_secret: SecretStr | str | None,
                 params: ScrapeParams, *, api_url: str = "https://api.spotify.com/v1/",
                 token_url: str = "https://accounts.spotify.com/api/token", resilience: Resilience | None = None,
                 search_limit: int = 10) -> None:
        cid, secret = _secret(client_id), _secret(client_secret)
        if not (cid and secret):
            missing = [n for n, v in (("SPOTIFY_CLIENT_ID", cid), ("SPOTIFY_CLIENT_SECRET", secret)) if not v]
            raise MissingCredentialsError(
                f"{' and '.join(missing)} not set: create an app at https://developer.spotify.com/dashboard and put "
                "SPOTIFY_CLIENT_ID=... and SPOTIFY_CLIENT_SECRET=... in .env or the environment "
                "(or set scrape.spotify_enrich: false)")
        self.min_score, self.search_limit = params.spotify_min_score, search_limit
        self.api_url = api_url if api_url.endswith("/") else api_url + "/"
        self.resilience = resilience or Resilience.from_params(params)
        self._features_forbidden = False
        auth = spotipy.SpotifyClientCredentials(cid, secret, requests_session=requests.Session(),
                                                requests_timeout=params.timeout_s,
                                                cache_handler=MemoryCacheHandler())
        auth.OAUTH_TOKEN_URL = token_url
        # A plain session: spotipy mounts its urllib3 retry adapter only on sessions it builds itself.
        self.sp = spotipy.Spotify(auth_manager=auth, requests_session=requests.Session(),
                                  requests_timeout=params.timeout_s, retries=0, status_retries=0)
        self.sp.prefix = self.api_url

    @classmethod
    def from_settings(cls, params: ScrapeParams, **kwargs: Any) -> SpotifyEnricher:
        secrets = get_secrets()
        return cls(secrets.spotify_client_id, secrets.spotify_client_secret, params, **kwargs)

    def __repr__(self) -> str:
        return f"SpotifyEnricher(api_url={self.api_url!r}, min_score={self.min_score}, credentials='**********')"

    def _call(self, fn: Callable[[], T], what: str) -> T:
        def attempt() -> T:
            try:
                return fn()
            except SpotifyOauthError as exc:  # the token endpoint refused (spotipy keeps no status)
                raise AuthError(f"Spotify token request refused ({exc.error}); check {CREDENTIALS}") from exc
            except SpotifyException as exc:
                error = status_error("Spotify", what, exc.http_status, exc.headers, CREDENTIALS)
                raise (error or ApiError(f"Spotify {what}: {exc.msg}", exc.http_status)) from exc
            except requests.Timeout as exc:
                raise RetryableError(f"Spotify {what}: no answer in time") from exc
            except requests.ConnectionError as exc:
                raise RetryableError(f"Spotify {what}: connection failed ({type(exc).__name__})") from exc

        return self.resilience.call(attempt)

    def search(self, query: str) -> list[Track]:
        result = self._call(lambda: self.sp.search(q=query, limit=self.search_limit, type="track"), "search")
        items = ((result or {}).get("tracks") or {}).get("items") or []
        return [item for item in items if isinstance(item, dict) and item.get("id")]

    def audio_features(self, track_id: str) -> tuple[dict[str, Any] | None, FeaturesStatus]:
        """The track's audio features, or "unavailable" where the API withholds them (403 for apps registered
        since Nov 2024, 404, or no entry): that is a property of the account, not a failure."""
        if self._features_forbidden:
            return None, "unavailable"
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)
                features = self._call(lambda: self.sp.audio_features([track_id]), "audio-features")
        except NotFoundError:
            return None, "unavailable"
        except AuthError as exc:
            if exc.status != 403:
                raise
            self._features_forbidden = True  # it will not change during this run: stop asking
            return None, "unavailable"
        entry = features[0] if isinstance(features, list) and features else None
        if not isinstance(entry, dict) or entry.get("id") != track_id:
            return None, "unavailable"
        return entry, "ok"

    def match(self, artist: str, title: str, year: int | None = None, *,
              with_audio_features: bool = True) -> SpotifyMatch:
        best, best_score = None, 0.0
        for query in search_queries(artist, title):
            for track in self.search(query):
                score = match_score(track, artist, title, year)
                if score > best_score:
                    best, best_score = track, score
            if best_score >= self.min_score:
                break
        if best is None or best_score < self.min_score:
            return SpotifyMatch(None, None, [], None, None, None, best_score)
        features, status = self.audio_features(best["id"]) if with_audio_features else (None, "not_requested")
        album = best.get("album") or {}
        return SpotifyMatch(best["id"], best.get("name"), [a.get("name") for a in best.get("artists") or []],
                            best.get("popularity"), album.get("name"), album.get("release_date"), best_score,
                            features, status)
