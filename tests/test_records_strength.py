"""The hashes and keys of `store.records` against their definitions, with hashlib as the oracle (issue 16): the
content hash ignores case and runs of whitespace (so copies of one song under two artists collide), the text hash
does not, and a catalog key is the first 16 hex digits of SHA-1 over "artist|title", trimmed and lower-cased."""

from __future__ import annotations

import hashlib
from datetime import date

from rap_analyzer.store.records import TRACK_COLUMNS, TrackRecord, catalog_key, content_hash, text_hash


def sha1(text: str) -> str:
    return hashlib.sha1(text.encode()).hexdigest()


def test_content_hash_is_sha1_of_the_lower_cased_words_joined_by_one_space() -> None:
    assert content_hash("  Hello\tWORLD \n\n again ") == sha1("hello world again")
    assert content_hash("Same Song\nline two") == content_hash("same song line   two\n")
    assert content_hash("one song") != content_hash("another song")


def test_text_hash_is_sha1_of_the_text_as_given() -> None:
    assert text_hash("Hello  World\n") == sha1("Hello  World\n")
    assert text_hash("a b") != text_hash("a  b")


def test_catalog_key_is_a_prefix_of_sha1_over_artist_and_title() -> None:
    assert catalog_key(" Nas ", "N.Y. State of Mind ") == "catalog:" + sha1("nas|n.y. state of mind")[:16]
    assert catalog_key("NAS", "n.y. state of mind") == catalog_key("nas", "N.Y. State Of Mind")


def test_a_record_row_holds_every_field_under_its_name() -> None:
    record = TrackRecord("genius:1", "genius", "Title", "Artist", "raw", lyrics_clean="clean", sections=["[Intro]"],
                         genius_id=1, featured_artists=["F"], producer_artists=["P"], writer_artists=["W"],
                         album="Album", release_date=date(1994, 4, 19), release_date_raw="1994-04-19", url="u",
                         pageviews=10, annotation_count=2, pyongs_count=3, language="en", content_hash="h")
    row = record.as_row()
    assert list(row) == TRACK_COLUMNS
    assert row == {"source_key": "genius:1", "source": "genius", "title": "Title", "artist": "Artist",
                   "lyrics_raw": "raw", "lyrics_clean": "clean", "sections": ["[Intro]"], "genius_id": 1,
                   "featured_artists": ["F"], "producer_artists": ["P"], "writer_artists": ["W"], "album": "Album",
                   "release_date": date(1994, 4, 19), "release_date_raw": "1994-04-19", "url": "u", "pageviews": 10,
                   "annotation_count": 2, "pyongs_count": 3, "language": "en", "content_hash": "h"}
    defaults = TrackRecord("catalog:x", "catalog", "T", "A", "raw").as_row()
    assert defaults["lyrics_clean"] == "" and defaults["content_hash"] == ""
    assert defaults["sections"] == [] and defaults["featured_artists"] == [] and defaults["pageviews"] is None
