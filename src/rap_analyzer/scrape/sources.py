"""The two offline sources of the `scrape` stage (`scrape.sources` lists which run), as streams of cleaned
`TrackRecord`s.

- dump: `lyricsgenius` `Artist.to_json()` files (`{"name": ..., "songs": [song objects]}`).
- catalog: per-artist JSON lists of `{artist, album, title, lyrics, year}`.

Both yield, in a deterministic order (files sorted by name, songs in file order):
- `SourceItem(record, reject_reason, path, index)` for every song that parsed. `reject_reason` is the
  cleaning verdict ("empty", "instrumental", "non_lyrics", "too_short") or None; rejected songs are
  yielded too so that the consumer counts them by reason and nothing disappears silently.
- `SourceError(path, reason, index)` for a file that cannot be read as the expected structure
  (index None; the file is skipped) or a song inside a good file that lacks what a record needs.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from rap_analyzer.config import Params
from rap_analyzer.scrape.cleaning import clean_lyrics, strip_zero_width
from rap_analyzer.store.records import TrackRecord, catalog_key, content_hash

# Sound recording starts in 1877 (phonograph); an earlier release date is a typo such as 0141-07-27.
EARLIEST_RELEASE_YEAR = 1877


@dataclass(frozen=True, slots=True)
class SourceError:
    path: Path
    reason: str
    index: int | None = None  # position of the song in the file; None when the whole file is skipped

    def __str__(self) -> str:
        where = self.path.name if self.index is None else f"{self.path.name} song #{self.index}"
        return f"{where}: {self.reason}"


@dataclass(slots=True)
class SourceItem:
    record: TrackRecord
    reject_reason: str | None
    path: Path
    index: int


class MalformedSong(ValueError):
    """A song object without what a record needs (id, title, artist, lyrics of the right types)."""


def parse_release_date(value: Any) -> tuple[date | None, str | None]:
    """(date, raw): the date only for a complete, real ISO date; the raw text is kept whatever it was."""
    if value is None or value == "":
        return None, None
    raw = str(value).strip()
    try:
        parsed = date.fromisoformat(raw)
    except ValueError:
        return None, raw
    if parsed.year < EARLIEST_RELEASE_YEAR or parsed > date.today():
        return None, raw
    return parsed, raw


def components_raw(components: Any) -> str | None:
    """Genius' `release_date_components` as "YYYY", "YYYY-MM" or "YYYY-MM-DD" (partial dates happen)."""
    if not isinstance(components, dict) or not isinstance(components.get("year"), int):
        return None
    parts = [f"{components['year']:04d}"]
    for key in ("month", "day"):
        if not isinstance(components.get(key), int):
            break
        parts.append(f"{components[key]:02d}")
    return "-".join(parts)


def _name(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    name = strip_zero_width(value).strip()
    return name or None


def _names(value: Any) -> list[str]:
    if not isinstance(value, list):
        return []
    return [n for item in value if isinstance(item, dict) and (n := _name(item.get("name")))]


def _int_or_none(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _lyrics(song: dict[str, Any], key: str) -> str | None:
    lyrics = song.get(key)
    if lyrics is not None and not isinstance(lyrics, str):
        raise MalformedSong(f"'{key}' is {type(lyrics).__name__}, expected text or null")
    return lyrics


def dump_record(song: Any, min_words: int) -> tuple[TrackRecord, str | None]:
    """One lyricsgenius song object -> (record, reject_reason). Raises MalformedSong."""
    if not isinstance(song, dict):
        raise MalformedSong(f"song is {type(song).__name__}, expected an object")
    genius_id = _int_or_none(song.get("id"))
    if genius_id is None:
        raise MalformedSong(f"'id' is {song.get('id')!r}, expected an integer")
    title = _name(song.get("title"))
    primary = song.get("primary_artist")
    artist = _name(primary.get("name")) if isinstance(primary, dict) else None
    artist = artist or _name(song.get("artist"))
    if title is None or artist is None:
        raise MalformedSong(f"genius id {genius_id}: missing title or artist")
    lyrics = _lyrics(song, "lyrics")
    pyongs = _int_or_none(song.get("pyongs_count"))
    cleaned = clean_lyrics(lyrics, title=title, embed_count=pyongs, min_words=min_words)
    released, raw_date = parse_release_date(song.get("release_date"))
    if raw_date is None:
        raw_date = components_raw(song.get("release_date_components"))
    album = song.get("album")
    stats = song.get("stats")
    record = TrackRecord(
        source_key=f"genius:{genius_id}",
        source="dump",
        title=title,
        artist=artist,
        lyrics_raw=lyrics or "",
        lyrics_clean=cleaned.text,
        sections=cleaned.sections,
        genius_id=genius_id,
        featured_artists=_names(song.get("featured_artists")),
        producer_artists=_names(song.get("producer_artists")),
        writer_artists=_names(song.get("writer_artists")),
        album=_name(album.get("name")) if isinstance(album, dict) else None,
        release_date=released,
        release_date_raw=raw_date,
        url=song.get("url") if isinstance(song.get("url"), str) else None,
        pageviews=_int_or_none(stats.get("pageviews")) if isinstance(stats, dict) else None,
        annotation_count=_int_or_none(song.get("annotation_count")),
        pyongs_count=pyongs,
        language=song.get("language") if isinstance(song.get("language"), str) else None,
        content_hash=content_hash(cleaned.text),
    )
    return record, cleaned.reject_reason


def catalog_record(entry: Any, min_words: int) -> tuple[TrackRecord, str | None]:
    """One `{artist, album, title, lyrics, year}` entry -> (record, reject_reason). Raises MalformedSong."""
    if not isinstance(entry, dict):
        raise MalformedSong(f"entry is {type(entry).__name__}, expected an object")
    title, artist = _name(entry.get("title")), _name(entry.get("artist"))
    if title is None or artist is None:
        raise MalformedSong("missing title or artist")
    lyrics = _lyrics(entry, "lyrics")
    cleaned = clean_lyrics(lyrics, title=title, min_words=min_words)
    released, raw_date = parse_release_date(entry.get("year"))
    record = TrackRecord(
        source_key=catalog_key(artist, title),
        source="catalog",
        title=title,
        artist=artist,
        lyrics_raw=lyrics or "",
        lyrics_clean=cleaned.text,
        sections=cleaned.sections,
        album=_name(entry.get("album")),
        release_date=released,
        release_date_raw=raw_date,
        content_hash=content_hash(cleaned.text),
    )
    return record, cleaned.reject_reason


def json_files(directory: Path) -> list[Path]:
    if not directory.is_dir():
        raise FileNotFoundError(
            f"source directory {directory} does not exist; check scrape.dump_dirs / scrape.catalog_dir "
            "in params.yaml and paths.shared_dir (or RAP_ANALYZER_SHARED_DIR)"
        )
    return sorted(directory.glob("*.json"))


def load_songs(path: Path) -> list[Any] | SourceError:
    """The song list of a dump or catalog file, or why the file is skipped."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return SourceError(path, f"unreadable: {exc}")
    if not text.strip():
        return SourceError(path, "empty file, expected JSON")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        return SourceError(path, f"invalid JSON: {exc}")
    if isinstance(data, list):
        return data
    if isinstance(data, dict) and isinstance(data.get("songs"), list):
        return data["songs"]
    return SourceError(path, f"top level is {type(data).__name__}, expected a list or {{'songs': [...]}}")


def _iter_files(files: Iterable[Path], parse: Any, min_words: int) -> Iterator[SourceItem | SourceError]:
    for path in files:
        songs = load_songs(path)
        if isinstance(songs, SourceError):
            yield songs
            continue
        for index, song in enumerate(songs):
            try:
                record, reason = parse(song, min_words)
            except MalformedSong as exc:
                yield SourceError(path, str(exc), index)
                continue
            yield SourceItem(record, reason, path, index)


def dump_files(dirs: Iterable[Path]) -> list[Path]:
    return [path for directory in dirs for path in json_files(Path(directory))]


def iter_dump_records(
    dirs: Iterable[Path], *, min_words: int
) -> Iterator[SourceItem | SourceError]:
    return _iter_files(dump_files(dirs), dump_record, min_words)


def iter_catalog_records(directory: Path, *, min_words: int) -> Iterator[SourceItem | SourceError]:
    return _iter_files(json_files(Path(directory)), catalog_record, min_words)


def count_source_items(files: Iterable[Path]) -> int:
    """Songs in the readable files (for progress totals); unreadable files count 0 here and are reported
    by the iterators."""
    total = 0
    for path in files:
        songs = load_songs(path)
        total += 0 if isinstance(songs, SourceError) else len(songs)
    return total


OFFLINE_SOURCES = ("dump", "catalog")


def offline_files(params: Params, source: str) -> list[Path]:
    """The files `iter_offline_records` reads for the offline source `source` ("dump" or "catalog")."""
    scrape = params.scrape
    if source == "dump":
        return dump_files(params.shared_path(d) for d in scrape.dump_dirs)
    if source == "catalog":
        return json_files(params.shared_path(scrape.catalog_dir))
    raise ValueError(f"scrape source {source!r} is not an offline source; use one of {OFFLINE_SOURCES}")


def iter_offline_records(params: Params, source: str) -> Iterator[SourceItem | SourceError]:
    """The songs of one offline source, in file-name then file order (see the module docstring)."""
    parse = dump_record if source == "dump" else catalog_record
    return _iter_files(offline_files(params, source), parse, params.scrape.min_words)
