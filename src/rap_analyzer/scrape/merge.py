"""Cross-source de-duplication: the same song reached through two sources (the rap dump and the catalog) or two
artist files becomes one track; the other records become aliases of it.

Two accepted records are the same song when
- `title_artist`: their normalised primary artist and normalised title are equal (`rap_analyzer.text`'s
  `normalise_artist` / `normalise_title`) AND their lyrics share at least `MIN_LYRICS_OVERLAP` of their words
  (Jaccard index of the word sets). The lyric check keeps apart what only shares a name: the catalog holds
  translations ("1985 (Türkçe Çeviri)"), alternate mixes and freestyles whose titles normalise to the original's;
- `content_hash`: their cleaned lyrics are equal up to case and spacing (`store.records.content_hash`), whatever
  the names ("same lyrics, two artists");
- `source_key`: the same upsert key twice (a Genius id in the dump and the live API): the later one is dropped.

Merging is transitive (connected components of the "same song" pairs). In each component the record with the most
metadata wins: pageviews first, then a release date, then the number of other filled fields; ties go to the
source listed first in `scrape.sources`, then to the record read first. Everything is a pure function of the
records in their (deterministic) reading order, so a rerun merges identically.
"""

from __future__ import annotations

from collections import Counter, defaultdict, deque
from collections.abc import Sequence
from dataclasses import dataclass, field

import polars as pl

from rap_analyzer.store.records import TrackRecord
from rap_analyzer.text import match_key, normalise_artist, normalise_title

# Measured on the default corpus (rap dump × catalog, 2026-11-30): of the 397 cross-source pairs with equal
# normalised artist and title, 376 share >= 0.5 of their words (267 share >= 0.9); the pairs below 0.5 that were
# read were translations, "Hip Hop Mix"/"Original Version" recordings, tour freestyles and radio edits.
MIN_LYRICS_OVERLAP = 0.5
RULES = ("source_key", "title_artist", "content_hash")


@dataclass(frozen=True, slots=True)
class Alias:
    """A record merged into the track `track_key` by `rule`."""

    record: TrackRecord
    track_key: str
    rule: str


@dataclass
class MergeResult:
    tracks: list[TrackRecord]  # the winners, in reading order
    aliases: dict[str, list[Alias]]  # track source_key -> its aliases, in reading order
    merged: Counter[str] = field(default_factory=Counter)  # records merged away, by rule
    kept_apart: int = 0  # pairs with equal artist and title whose lyrics differ: two songs

    def alias_count(self) -> int:
        return sum(len(v) for v in self.aliases.values())


def lyrics_overlap(a: str, b: str) -> float:
    """Jaccard index |A ∩ B| / |A ∪ B| of the two texts' word sets (words: `match_key` tokens); 0.0 when both
    are empty."""
    words_a, words_b = set(match_key(a).split()), set(match_key(b).split())
    union = words_a | words_b
    return len(words_a & words_b) / len(union) if union else 0.0


def _metadata_rank(record: TrackRecord) -> tuple[int, int, int]:
    filled = sum(bool(v) for v in (record.album, record.url, record.genius_id, record.annotation_count,
                                  record.pyongs_count, record.language, record.featured_artists,
                                  record.producer_artists, record.writer_artists, record.release_date_raw))
    return (record.pageviews is not None, record.release_date is not None, filled)


def _pairs(frame: pl.DataFrame, keys: list[str]) -> list[tuple[int, int]]:
    """(i, j), i < j, of the rows equal on every column of `keys` (empty keys never match)."""
    rows = frame.filter(pl.all_horizontal(pl.col(k) != "" for k in keys)).select("i", *keys)
    joined = rows.join(rows, on=keys, suffix="_b").filter(pl.col("i") < pl.col("i_b")).sort("i", "i_b")
    return list(zip(joined["i"].to_list(), joined["i_b"].to_list(), strict=True))


def merge_records(records: Sequence[TrackRecord], source_order: Sequence[str]) -> MergeResult:
    """One track per song (see the module docstring). `records` are accepted records in reading order;
    `source_order` is `scrape.sources` (a source not listed ranks last)."""
    result = MergeResult(tracks=[], aliases={})
    unique: list[TrackRecord] = []
    seen_keys: set[str] = set()
    for record in records:
        if record.source_key in seen_keys:
            result.merged["source_key"] += 1
            continue
        seen_keys.add(record.source_key)
        unique.append(record)
    if not unique:
        return result

    # The cross-source join: polars joins the key columns; the lyric check runs on the few candidate pairs only.
    frame = pl.DataFrame({
        "i": list(range(len(unique))),
        "artist_key": [normalise_artist(r.artist) for r in unique],
        "title_key": [normalise_title(r.title) for r in unique],
        "content_hash": [r.content_hash for r in unique],
    })
    edges: dict[int, list[tuple[int, str]]] = defaultdict(list)
    for i, j in _pairs(frame, ["content_hash"]):
        edges[i].append((j, "content_hash"))
        edges[j].append((i, "content_hash"))
    for i, j in _pairs(frame, ["artist_key", "title_key"]):
        if unique[i].content_hash == unique[j].content_hash:
            continue  # already an edge, by the stronger rule
        if lyrics_overlap(unique[i].lyrics_clean, unique[j].lyrics_clean) >= MIN_LYRICS_OVERLAP:
            edges[i].append((j, "title_artist"))
            edges[j].append((i, "title_artist"))
        else:
            result.kept_apart += 1

    rank = {source: position for position, source in enumerate(source_order)}

    def preference(i: int) -> tuple:
        has_views, has_date, filled = _metadata_rank(unique[i])
        return (-has_views, -has_date, -filled, rank.get(unique[i].source, len(rank)), i)

    done: set[int] = set()
    winners: dict[int, list[tuple[int, str]]] = {}
    for start in range(len(unique)):
        if start in done:
            continue
        component, queue = [start], deque([start])
        done.add(start)
        while queue:  # the component, in discovery order
            for j, _ in edges[queue.popleft()]:
                if j not in done:
                    done.add(j)
                    component.append(j)
                    queue.append(j)
        winner = min(component, key=preference)
        # Each alias is credited to the rule of the edge by which a breadth-first walk from the winner reaches it.
        reached, walk, members = {winner}, deque([winner]), []
        while walk:
            node = walk.popleft()
            for j, rule in sorted(edges[node]):
                if j not in reached:
                    reached.add(j)
                    walk.append(j)
                    members.append((j, rule))
        winners[winner] = sorted(members)
    for i in sorted(winners):
        track = unique[i]
        result.tracks.append(track)
        aliases = [Alias(unique[j], track.source_key, rule) for j, rule in winners[i]]
        if aliases:
            result.aliases[track.source_key] = aliases
        result.merged.update(alias.rule for alias in aliases)
    return result
