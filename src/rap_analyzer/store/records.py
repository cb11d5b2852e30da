"""The track record every source produces and the store and `data/raw/tracks.parquet` hold, and the content
hashes that de-duplicate tracks and key embeddings and cached LLM replies."""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field
from datetime import date
from typing import Any


@dataclass(slots=True)
class TrackRecord:
    source_key: str  # "genius:<id>" or "catalog:<sha1 of artist|title>": the upsert key
    source: str  # "genius" (live API), "dump" or "catalog"
    title: str
    artist: str
    lyrics_raw: str
    lyrics_clean: str = ""
    sections: list[str] = field(default_factory=list)  # "[Verse 1: Nas]"-style headers, in order
    genius_id: int | None = None
    featured_artists: list[str] = field(default_factory=list)
    producer_artists: list[str] = field(default_factory=list)
    writer_artists: list[str] = field(default_factory=list)
    album: str | None = None
    release_date: date | None = None
    release_date_raw: str | None = None
    url: str | None = None
    pageviews: int | None = None
    annotation_count: int | None = None
    pyongs_count: int | None = None
    language: str | None = None
    content_hash: str = ""

    def as_row(self) -> dict[str, Any]:
        return asdict(self)


def content_hash(text: str) -> str:
    """Hash of the cleaned lyrics, normalised so the same song under two artists collides."""
    normalised = " ".join(text.lower().split())
    return hashlib.sha1(normalised.encode()).hexdigest()


def text_hash(text: str) -> str:
    """SHA-1 of the text exactly as given: the key of embeddings and of cached LLM replies."""
    return hashlib.sha1(text.encode()).hexdigest()


def catalog_key(artist: str, title: str) -> str:
    return "catalog:" + hashlib.sha1(f"{artist.strip().lower()}|{title.strip().lower()}".encode()).hexdigest()[:16]


# Column order of data/raw/tracks.parquet (one row per TrackRecord).
TRACK_COLUMNS = list(TrackRecord.__dataclass_fields__)
