"""Cross-source merging, rule by rule (issue 16: the bugs a one-line change would plant). Every expected winner,
group, alias rule and count is worked out by hand from the module docstring's rules: pageviews, then a release
date, then the number of filled fields, then the source's place in `scrape.sources`, then the reading order."""

from __future__ import annotations

from collections import Counter
from datetime import date
from typing import Any

import pytest

from rap_analyzer.scrape.merge import lyrics_overlap, merge_records
from rap_analyzer.store.records import TrackRecord, content_hash

L0 = "a b c d e f g h"
L1 = L0 + " i"  # Jaccard 8/9 with L0: the same song, another hash
OTHER = "completely unrelated words about something else"


def record(key: str, source: str = "dump", artist: str = "Nas", title: str = "One", lyrics: str = L0,
           **fields: Any) -> TrackRecord:
    return TrackRecord(source_key=key, source=source, title=title, artist=artist, lyrics_raw=lyrics,
                       lyrics_clean=lyrics, content_hash=content_hash(lyrics), **fields)


def keys(records: list[TrackRecord]) -> list[str]:
    return [r.source_key for r in records]


def test_overlap_of_one_empty_text_is_zero() -> None:
    assert lyrics_overlap("", "a b") == 0.0  # 0 shared of 2
    assert lyrics_overlap("a b", "b c") == pytest.approx(1 / 3)


def test_nothing_to_merge() -> None:
    result = merge_records([], ["dump"])
    assert (result.tracks, result.aliases, result.merged, result.kept_apart) == ([], {}, Counter(), 0)
    single = merge_records([record("genius:1")], ["dump"])
    assert keys(single.tracks) == ["genius:1"] and single.aliases == {} and single.kept_apart == 0
    assert single.alias_count() == 0


def test_every_repeat_of_a_key_is_counted() -> None:
    result = merge_records([record("genius:1"), record("genius:1", title="Two"), record("genius:1", lyrics=OTHER)],
                           ["dump"])
    assert [(t.source_key, t.title) for t in result.tracks] == [("genius:1", "One")]  # the first read stays
    assert result.merged == {"source_key": 2}


def test_every_kept_apart_pair_is_counted() -> None:
    # Three songs with one name and disjoint lyrics: 3 pairs, each kept apart once.
    songs = [record(f"genius:{i}", lyrics=f"w{i}a w{i}b w{i}c") for i in range(3)]
    result = merge_records(songs, ["dump"])
    assert keys(result.tracks) == ["genius:0", "genius:1", "genius:2"]
    assert result.kept_apart == 3 and result.merged == Counter()


def test_empty_keys_never_match() -> None:
    # Titles without letters or digits normalise to "": equal empty keys are no evidence of one song.
    result = merge_records([record("genius:1", title="???"), record("genius:2", title="!!!", lyrics=L1)], ["dump"])
    assert keys(result.tracks) == ["genius:1", "genius:2"] and result.kept_apart == 0
    no_artist = merge_records([record("genius:1", artist="..."), record("genius:2", artist="--", lyrics=L1)],
                              ["dump"])
    assert len(no_artist.tracks) == 2
    # Records without a content hash do not share one.
    unhashed = [TrackRecord(source_key=f"genius:{i}", source="dump", title=f"T{i}", artist=f"A{i}",
                            lyrics_raw=text, lyrics_clean=text) for i, text in enumerate([L0, OTHER])]
    assert len(merge_records(unhashed, ["dump"]).tracks) == 2


def test_a_pair_with_equal_lyrics_does_not_stop_the_name_check_of_the_next_pairs() -> None:
    # a and b: equal lyrics (content_hash edge, name pair skipped); c: same name, 8/9 of the words.
    a, b, c = record("genius:a"), record("catalog:b", "catalog"), record("catalog:c", "catalog", lyrics=L1)
    result = merge_records([a, b, c], ["dump", "catalog"])
    assert keys(result.tracks) == ["genius:a"]
    assert [(x.record.source_key, x.track_key, x.rule) for x in result.aliases["genius:a"]] == [
        ("catalog:b", "genius:a", "content_hash"), ("catalog:c", "genius:a", "title_artist")]
    assert result.merged == {"content_hash": 1, "title_artist": 1} and result.alias_count() == 2


def test_aliases_are_credited_breadth_first_from_the_winner() -> None:
    # w~a by name (T1), w~b by lyrics (L0), a~c by lyrics (L1), b~c by name (T3); w and c share nothing.
    # Breadth first from w: a (name) and b (lyrics), then c from a, the first reached: by lyrics.
    w = record("genius:w", title="T1", lyrics=L0, pageviews=5)
    a = record("genius:a", title="T1", lyrics=L1)
    b = record("genius:b", title="T3", lyrics=L0)
    c = record("genius:c", title="T3", lyrics=L1)
    result = merge_records([w, a, b, c], ["dump"])
    assert keys(result.tracks) == ["genius:w"]
    assert [(x.record.source_key, x.rule) for x in result.aliases["genius:w"]] == [
        ("genius:a", "title_artist"), ("genius:b", "content_hash"), ("genius:c", "content_hash")]
    assert result.merged == {"title_artist": 1, "content_hash": 2} and result.alias_count() == 3


def test_a_later_winner_is_reached_from_the_earlier_records_too() -> None:
    # c wins by pageviews; a reaches it only through b (a~b by lyrics, b~c by name), read in reverse.
    a = record("genius:a", title="Other", lyrics=L1)
    b = record("genius:b", lyrics=L1)
    c = record("genius:c", lyrics=L0, pageviews=1)
    result = merge_records([a, b, c], ["dump"])
    assert keys(result.tracks) == ["genius:c"]
    assert [(x.record.source_key, x.rule) for x in result.aliases["genius:c"]] == [
        ("genius:a", "content_hash"), ("genius:b", "title_artist")]


def test_tracks_come_in_reading_order_of_their_winners() -> None:
    # The first component's winner (x2, pageviews) is read after the second component's only record (y); z, read
    # after x2 (merged already), is a song of its own.
    x1, y, x2 = record("genius:x1"), record("genius:y", title="Y", lyrics=OTHER), record("genius:x2", pageviews=3)
    z = record("genius:z", title="Z", lyrics="z words only")
    result = merge_records([x1, y, x2, z], ["dump"])
    assert keys(result.tracks) == ["genius:y", "genius:x2", "genius:z"]
    assert list(result.aliases) == ["genius:x2"]  # a track without aliases has no entry


ALL_FIELDS: dict[str, Any] = {
    "album": "Illmatic", "url": "https://genius.com/x", "genius_id": 7, "annotation_count": 2, "pyongs_count": 1,
    "language": "en", "featured_artists": ["AZ"], "producer_artists": ["Pete Rock"], "writer_artists": ["Nas"],
    "release_date_raw": "April 19, 1994"}


def test_pageviews_even_zero_beat_everything_else() -> None:
    # The loser is read first, from the first-listed source, with a date and every other field filled.
    rich = record("catalog:1", "catalog", release_date=date(1994, 4, 19), **ALL_FIELDS)
    viewed = record("genius:1", "dump", pageviews=0)
    result = merge_records([rich, viewed], ["catalog", "dump"])
    assert keys(result.tracks) == ["genius:1"]


def test_a_release_date_beats_filled_fields() -> None:
    rich = record("catalog:1", "catalog", **ALL_FIELDS)
    dated = record("genius:1", "dump", release_date=date(1994, 4, 19))
    assert keys(merge_records([rich, dated], ["catalog", "dump"]).tracks) == ["genius:1"]


@pytest.mark.parametrize("name", list(ALL_FIELDS))
def test_each_filled_field_beats_the_source_order(name: str) -> None:
    bare = record("catalog:1", "catalog")
    filled = record("genius:1", "dump", **{name: ALL_FIELDS[name]})
    assert keys(merge_records([bare, filled], ["catalog", "dump"]).tracks) == ["genius:1"]


def test_filled_fields_are_counted_not_just_present() -> None:
    one = record("catalog:1", "catalog", album="Illmatic")
    two = record("genius:1", "dump", url="https://genius.com/x", language="en")
    assert keys(merge_records([one, two], ["catalog", "dump"]).tracks) == ["genius:1"]
    # Empty values are not filled: a zero count, an empty list, an empty string.
    empty = record("genius:2", "dump", annotation_count=0, featured_artists=[], album="")
    assert keys(merge_records([record("catalog:2", "catalog"), empty], ["catalog", "dump"]).tracks) == ["catalog:2"]


def test_the_source_order_ranks_every_listed_source_and_unlisted_ones_last() -> None:
    order = ["genius", "dump", "catalog"]
    catalog, dump = record("catalog:1", "catalog"), record("genius:1", "dump")
    assert keys(merge_records([catalog, dump], order).tracks) == ["genius:1"]  # 2nd listed beats 3rd
    stray = record("other:1", "other")  # not listed: after the last listed one, though read first
    assert keys(merge_records([stray, catalog], order).tracks) == ["catalog:1"]
    assert keys(merge_records([catalog, stray], order).tracks) == ["catalog:1"]


def test_the_reading_order_breaks_the_last_tie() -> None:
    first, second = record("genius:1"), record("genius:2")
    assert keys(merge_records([first, second], ["dump"]).tracks) == ["genius:1"]
    assert keys(merge_records([second, first], ["dump"]).tracks) == ["genius:2"]
