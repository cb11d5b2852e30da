"""Offline sources: the real rap dump and catalog, and malformed files made in tmp_path."""

from __future__ import annotations

import json
from collections import Counter
from datetime import date
from pathlib import Path

import pytest
from helpers import params_with

from rap_analyzer.config import Params
from rap_analyzer.scrape.cleaning import REJECT_REASONS
from rap_analyzer.scrape.sources import (
    SourceError,
    SourceItem,
    count_source_items,
    dump_files,
    iter_catalog_records,
    iter_dump_records,
    iter_offline_records,
    json_files,
    offline_files,
    parse_release_date,
)
from rap_analyzer.store.records import catalog_key, content_hash

MIN_WORDS = params_with().scrape.min_words  # the pipeline's threshold


def split(items) -> tuple[list[SourceItem], list[SourceError]]:
    items = list(items)
    return [i for i in items if isinstance(i, SourceItem)], [i for i in items if isinstance(i, SourceError)]


@pytest.fixture(scope="module")
def rap_dir(shared_dir: Path) -> Path:
    return shared_dir / "corpus/genius/rap"


@pytest.fixture(scope="module")
def rap_items(rap_dir: Path) -> list[SourceItem | SourceError]:
    return list(iter_dump_records([rap_dir], min_words=MIN_WORDS))


def raw_rap_songs(rap_dir: Path) -> list[dict]:
    return [song for path in sorted(rap_dir.glob("*.json")) for song in json.loads(path.read_text())["songs"]]


def test_rap_dump_counts(rap_dir: Path, rap_items: list) -> None:
    items, errors = split(rap_items)
    raw = raw_rap_songs(rap_dir)
    files = dump_files([rap_dir])
    assert errors == []
    assert len(files) == 49  # shared/README.md: 49 artists
    assert len(items) == len(raw) == count_source_items(files) == 981  # README: 981 songs
    ids = {i.record.genius_id for i in items}
    assert len(ids) == len(items)  # de-duplicated by song id
    assert {i.record.source_key for i in items} == {f"genius:{g}" for g in ids}
    assert [i.record.genius_id for i in items] == [s["id"] for s in raw]  # sorted files, file order
    assert all(i.record.source == "dump" and i.reject_reason is None for i in items)


def test_dump_record_fields(rap_dir: Path, rap_items: list) -> None:
    raw = next(s for s in raw_rap_songs(rap_dir) if s["title"] == "Bank Account")
    record = next(i.record for i in split(rap_items)[0] if i.record.genius_id == raw["id"])
    assert record.artist == raw["primary_artist"]["name"]
    assert record.title == raw["title"]
    assert record.album == raw["album"]["name"]
    assert record.release_date == date.fromisoformat(raw["release_date"])
    assert record.release_date_raw == raw["release_date"]
    assert record.pageviews == raw["stats"]["pageviews"]
    assert record.annotation_count == raw["annotation_count"]
    assert record.pyongs_count == raw["pyongs_count"]
    assert record.url == raw["url"] and record.language == raw["language"]
    assert record.producer_artists == [a["name"] for a in raw["producer_artists"]]
    assert record.writer_artists == [a["name"] for a in raw["writer_artists"]]
    assert record.featured_artists == [a["name"] for a in raw["featured_artists"]]
    assert record.lyrics_raw == raw["lyrics"]
    assert record.lyrics_clean and "Contributors" not in record.lyrics_clean
    assert record.content_hash == content_hash(record.lyrics_clean)


def test_impossible_and_partial_dates_kept_raw(rap_dir: Path, rap_items: list) -> None:
    by_id = {i.record.genius_id: i.record for i in split(rap_items)[0]}
    raw = raw_rap_songs(rap_dir)
    impossible = next(s for s in raw if s["release_date"] == "0141-07-27")  # README: the one impossible date
    assert by_id[impossible["id"]].release_date is None
    assert by_id[impossible["id"]].release_date_raw == "0141-07-27"
    partial = [s for s in raw if s["release_date"] is None and (s.get("release_date_components") or {}).get("year")]
    assert partial
    for song in partial:
        record = by_id[song["id"]]
        assert record.release_date is None
        assert record.release_date_raw.startswith(str(song["release_date_components"]["year"]))
    n_dates = sum(r.release_date is not None for r in by_id.values())
    assert n_dates == sum(1 for s in raw if s["release_date"] and s["release_date"] != "0141-07-27")


def test_parse_release_date() -> None:
    assert parse_release_date("2006-05-23") == (date(2006, 5, 23), "2006-05-23")
    assert parse_release_date("0001-01-01") == (None, "0001-01-01")
    assert parse_release_date("2004-02-30") == (None, "2004-02-30")
    assert parse_release_date("1994") == (None, "1994")
    assert parse_release_date(None) == (None, None)


def test_catalog(shared_dir: Path) -> None:
    catalog = shared_dir / "corpus/catalog"
    items, errors = split(iter_catalog_records(catalog, min_words=MIN_WORDS))
    assert [(e.path.name, e.index) for e in errors] == [("The Game.json", None)]  # README: one empty file
    assert "The Game.json" in str(errors[0])
    assert len(items) == count_source_items(json_files(catalog)) == 11758  # README: 11,758 songs
    assert all(i.record.source_key == catalog_key(i.record.artist, i.record.title) for i in items)
    reasons = Counter(i.reject_reason for i in items)
    assert set(reasons) <= {None, *REJECT_REASONS}
    n_null = sum(
        1 for p in json_files(catalog) if p.stat().st_size for e in json.loads(p.read_text()) if e["lyrics"] is None
    )
    assert reasons["empty"] >= n_null > 0
    assert reasons[None] > 0.9 * len(items)
    dated = [i.record for i in items if i.record.release_date_raw]
    assert all(r.release_date is None or r.release_date.isoformat() == r.release_date_raw for r in dated)


def write(path: Path, content: str) -> Path:
    path.write_text(content, encoding="utf-8")
    return path


def song(i: int, **overrides) -> dict:
    base = {"id": i, "title": f"Song {i}", "artist": "Some Artist", "lyrics": "a line of words here\n" * 6}
    return {**base, **overrides}


def test_malformed_files_reported_by_name_and_skipped(tmp_path: Path) -> None:
    write(tmp_path / "a_invalid.json", '{"songs": [')
    write(tmp_path / "b_empty.json", "")
    write(tmp_path / "c_wrong_shape.json", json.dumps({"name": "X"}))
    bad_songs = [song(1), "not a song", song(2, id="7"), song(3, lyrics=42), song(4, title=None), song(5)]
    write(tmp_path / "d_good.json", json.dumps({"name": "X", "songs": bad_songs}))
    items = list(iter_dump_records([tmp_path], min_words=MIN_WORDS))
    errors = [(i.path.name, i.index) for i in items if isinstance(i, SourceError)]
    assert errors == [
        ("a_invalid.json", None),
        ("b_empty.json", None),
        ("c_wrong_shape.json", None),
        ("d_good.json", 1),
        ("d_good.json", 2),
        ("d_good.json", 3),
        ("d_good.json", 4),
    ]
    assert [i.record.genius_id for i in items if isinstance(i, SourceItem)] == [1, 5]
    messages = [str(i) for i in items if isinstance(i, SourceError)]
    assert messages[0].startswith("a_invalid.json: invalid JSON")
    assert "'id'" in messages[4] and "'lyrics'" in messages[5]
    assert count_source_items(json_files(tmp_path)) == len(bad_songs)


def test_catalog_entries_malformed_and_null(tmp_path: Path) -> None:
    entries = [
        {"artist": "A", "album": None, "title": "One", "lyrics": None, "year": None},
        {"artist": None, "album": None, "title": "Two", "lyrics": "x", "year": None},
        {
            "artist": "A",
            "album": "LP",
            "title": "Three",
            "lyrics": "[Verse]\n" + "some words\n" * 12,
            "year": "1999-02-30",
        },
    ]
    write(tmp_path / "A.json", json.dumps(entries))
    items, errors = split(iter_catalog_records(tmp_path, min_words=MIN_WORDS))
    assert [(e.path.name, e.index) for e in errors] == [("A.json", 1)]
    assert [(i.record.title, i.reject_reason) for i in items] == [("One", "empty"), ("Three", None)]
    three = items[1].record
    assert three.sections == ["[Verse]"] and three.album == "LP"
    assert three.release_date is None and three.release_date_raw == "1999-02-30"


def test_missing_directory_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"scrape\.dump_dirs"):
        iter_dump_records([tmp_path / "nowhere"], min_words=MIN_WORDS)


def test_offline_records_follow_params(params: Params, tmp_path: Path) -> None:
    write(tmp_path / "b.json", json.dumps({"songs": [song(2)]}))
    write(tmp_path / "a.json", json.dumps({"songs": [song(1), song(3, lyrics="too short")]}))
    local = params_with({"scrape": {"sources": ["dump"], "dataset_sources": ["dump"], "dump_dirs": [str(tmp_path)],
                                    "min_words": 5}})
    assert [p.name for p in offline_files(local, "dump")] == ["a.json", "b.json"]
    items = list(iter_offline_records(local, "dump"))
    assert [(i.record.genius_id, i.reject_reason) for i in items] == [(1, None), (3, "too_short"), (2, None)]
    with pytest.raises(ValueError, match="not an offline source"):
        offline_files(local, "genius")
