"""Cross-source de-duplication on small hand-made records: the expected groups, winners and rules are worked out
by hand from the module's rules, and the word-overlap bound is tested at the bound."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

import psycopg
import pytest
import redis

from rap_analyzer.scrape.merge import MIN_LYRICS_OVERLAP, lyrics_overlap, merge_records
from rap_analyzer.scrape.pipeline import ScrapeReport, processed_set, store_merged
from rap_analyzer.store.records import TrackRecord, content_hash
from rap_analyzer.store.tracks import aliases_frame, tracks_frame

VERSE = ("started from the bottom now we here the whole team in the building late nights early flights "
         "counting every dollar that we made on the road")


def record(key: str, source: str, artist: str, title: str, lyrics: str, pageviews: int | None = None,
           released: date | None = None) -> TrackRecord:
    return TrackRecord(source_key=key, source=source, title=title, artist=artist, lyrics_raw=lyrics,
                       lyrics_clean=lyrics, pageviews=pageviews, release_date=released,
                       content_hash=content_hash(lyrics))


def test_lyrics_overlap_is_the_jaccard_index_of_word_sets() -> None:
    assert lyrics_overlap("a b c d", "a b c e") == pytest.approx(3 / 5)  # {a,b,c} of {a,b,c,d,e}
    assert lyrics_overlap("It's A, a", "its a") == 1.0  # case, punctuation and apostrophes do not count
    assert lyrics_overlap("", "") == 0.0


def test_same_song_two_spellings_is_one_track_and_the_richer_row_wins() -> None:
    dump = record("genius:1", "dump", "JAY-Z", "Don’t Stop (feat. Beyoncé)", VERSE, pageviews=1000)
    catalog = record("catalog:1", "catalog", "Jay-Z", "Dont Stop", VERSE + " yeah yeah", released=date(2003, 1, 1))
    result = merge_records([catalog, dump], ["catalog", "dump"])  # catalog read first and listed first
    assert [t.source_key for t in result.tracks] == ["genius:1"]  # pageviews beat a release date and the order
    [alias] = result.aliases["genius:1"]
    assert (alias.record.source_key, alias.rule) == ("catalog:1", "title_artist")
    assert result.merged == {"title_artist": 1}


def test_two_different_songs_with_one_title_stay_two() -> None:
    nas = record("genius:1", "dump", "Nas", "Intro", VERSE)
    drake = record("genius:2", "dump", "Drake", "Intro", "a different intro about other things entirely " * 3)
    translation = record("catalog:1", "catalog", "Nas", "Intro (Türkçe Çeviri)",
                         "en alttan başladık şimdi buradayız bütün takım binada gece geç saatler")
    result = merge_records([nas, drake, translation], ["dump", "catalog"])
    assert [t.source_key for t in result.tracks] == ["genius:1", "genius:2", "catalog:1"]
    assert result.aliases == {} and sum(result.merged.values()) == 0
    assert result.kept_apart == 1  # Nas' Intro and its translation: same key, lyrics apart


def test_same_lyrics_under_two_artists_is_one_track() -> None:
    first = record("catalog:1", "catalog", "Tupac", "Changes", VERSE)
    second = record("genius:7", "dump", "2Pac", "Changes (Remix)", VERSE.upper(), released=date(1998, 10, 13))
    result = merge_records([first, second], ["dump", "catalog"])
    assert [t.source_key for t in result.tracks] == ["genius:7"]  # the release date wins
    assert [(a.record.source_key, a.rule) for a in result.aliases["genius:7"]] == [("catalog:1", "content_hash")]


def test_word_overlap_bound_is_inclusive() -> None:
    # {w0..w5} vs {w0..w5} ∪ {x0..x5}: 6/12 = 0.5 exactly; one more new word: 6/13 < 0.5.
    base = " ".join(f"w{i}" for i in range(6))
    at_bound = base + " " + " ".join(f"x{i}" for i in range(6))
    below = at_bound + " x6"
    assert lyrics_overlap(base, at_bound) == MIN_LYRICS_OVERLAP == 0.5
    a = record("genius:1", "dump", "Nas", "One", base)
    merged = merge_records([a, record("catalog:1", "catalog", "Nas", "One", at_bound)], ["dump", "catalog"])
    assert len(merged.tracks) == 1
    apart = merge_records([a, record("catalog:2", "catalog", "Nas", "One", below)], ["dump", "catalog"])
    assert len(apart.tracks) == 2 and apart.kept_apart == 1


def test_merges_are_transitive_and_ties_go_to_the_first_source() -> None:
    a = record("catalog:a", "catalog", "Nas", "N.Y. State of Mind", VERSE)
    b = record("genius:b", "dump", "Nas", "N.Y. State Of Mind", VERSE + " one more line")  # a~b by name
    c = record("genius:c", "dump", "Nas feat. AZ", "Another Title", VERSE + " one more line")  # b~c by lyrics
    result = merge_records([a, b, c], ["dump", "catalog"])
    # No pageviews or dates anywhere, equal other metadata: "dump" is listed first, b is read before c.
    assert [t.source_key for t in result.tracks] == ["genius:b"]
    assert sorted((x.record.source_key, x.rule) for x in result.aliases["genius:b"]) == [
        ("catalog:a", "title_artist"), ("genius:c", "content_hash")]
    assert result.merged == {"title_artist": 1, "content_hash": 1}


def test_a_key_seen_twice_is_dropped_and_counted() -> None:
    dump = record("genius:1", "dump", "Nas", "One", VERSE)
    live = record("genius:1", "genius", "Nas", "One", VERSE)
    result = merge_records([dump, live], ["dump", "genius"])
    assert [t.source for t in result.tracks] == ["dump"] and result.aliases == {}
    assert result.merged == {"source_key": 1}


def test_stored_aliases_follow_the_winner_across_runs(db_factory: Callable[[], str],
                                                      redis_client: redis.Redis) -> None:
    catalog = record("catalog:1", "catalog", "Jay-Z", "Dont Stop", VERSE, released=date(2003, 1, 1))
    dump = record("genius:1", "dump", "JAY-Z", "Don't Stop", VERSE + " yeah", pageviews=10)
    with psycopg.connect(db_factory()) as conn:
        processed = processed_set(conn, redis_client)
        # A catalog-only run stores the catalog song as a track ...
        store_merged(merge_records([catalog], ["catalog"]), conn, ScrapeReport(["catalog"]), processed,
                     progress=False)
        assert list(tracks_frame(conn)["source_key"]) == ["catalog:1"]
        # ... which becomes an alias once the dump, with pageviews, is read too; twice gives the same rows.
        for _ in range(2):
            report = store_merged(merge_records([catalog, dump], ["dump", "catalog"]), conn,
                                  ScrapeReport(["dump", "catalog"]), processed, progress=False)
        assert report.unchanged == 1 and report.written == 0
        assert list(tracks_frame(conn)["source_key"]) == ["genius:1"]
        aliases = aliases_frame(conn)
        assert aliases[["source_key", "track_key", "source", "rule"]].values.tolist() == [
            ["catalog:1", "genius:1", "catalog", "title_artist"]]
