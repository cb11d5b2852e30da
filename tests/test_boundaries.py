"""Every documented threshold tried at the bound, just below and just above it: an off-by-one (`<` for `<=`, a
bound moved by one) changes which songs are kept or matched and must fail here.

Thresholds: prose words per line (`cleaning.PROSE_WORDS_PER_LINE`, 30), the placeholder word cap
(`PLACEHOLDER_MAX_WORDS`, 30) and the short-link cap, the list rule (`LIST_MIN_LINES` lines, more than half
listed), the instrumental marker (at most 5 words), the Genius blurb length (`BLURB_MAX_CHARS`), `scrape.min_words`
(rejects below it) and `prepare.min_words` (drops below it), `scrape.spotify_min_score` (matches at it)."""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest
from helpers import params_with

from rap_analyzer.dataset.filters import filter_min_words
from rap_analyzer.scrape import cleaning, spotify
from rap_analyzer.scrape.cleaning import (
    BLURB_MAX_CHARS,
    LIST_MIN_LINES,
    PLACEHOLDER_MAX_WORDS,
    PROSE_WORDS_PER_LINE,
    reject_reason,
    strip_blurb,
)
from rap_analyzer.scrape.spotify import SpotifyEnricher


def words(n: int, stem: str = "w") -> list[str]:
    """`n` distinct plain words: no rule but the one under test can fire on them."""
    return [f"{stem}{i}" for i in range(n)]


def lines_of(counts: list[int]) -> str:
    return "\n".join(" ".join(words(c, f"l{k}w")) for k, c in enumerate(counts))


def test_the_documented_values() -> None:
    # The numbers the docstrings, README and params.yaml state; a change must be a decision, not an accident.
    assert (PROSE_WORDS_PER_LINE, PLACEHOLDER_MAX_WORDS, LIST_MIN_LINES, BLURB_MAX_CHARS) == (30, 30, 4, 500)


@pytest.mark.parametrize(("counts", "expected"), [
    ([30, 30], None),           # 60 words / 2 lines = 30.0: at the bound, lyrics
    ([30, 29], None),           # 29.5: below
    ([31, 30], "non_lyrics"),   # 30.5: above, prose
    ([31], "non_lyrics"),       # one line of 31
])
def test_prose_words_per_line(counts: list[int], expected: str | None) -> None:
    assert reject_reason(lines_of(counts), [], min_words=20) == expected


def test_prose_rule_waits_for_min_words() -> None:
    # A short one-line text is too_short, not prose: the prose rule applies from min_words on.
    assert reject_reason(" ".join(words(40)), [], min_words=41) == "too_short"
    assert reject_reason(" ".join(words(41)), [], min_words=41) == "non_lyrics"


@pytest.mark.parametrize(("filler", "expected"), [
    (PLACEHOLDER_MAX_WORDS - 9 - 1, "non_lyrics"),  # 29 words in all
    (PLACEHOLDER_MAX_WORDS - 9, "non_lyrics"),      # 30: at the cap
    (PLACEHOLDER_MAX_WORDS - 9 + 1, None),          # 31: above the cap, a song that quotes the sentence
])
def test_placeholder_sentence_word_cap(filler: int, expected: str | None) -> None:
    # 9 words of Genius' sentence, the filler on short lines (never prose, never a list).
    sentence = "Lyrics for this song have yet to be released"
    body = [" ".join(words(filler)[i:i + 5]) for i in range(0, filler, 5)]
    text = "\n".join([sentence, *body])
    assert len(text.split()) == 9 + filler
    assert reject_reason(text, [], min_words=10) == expected


@pytest.mark.parametrize(("n_words", "expected"), [(29, "non_lyrics"), (30, "non_lyrics"), (31, None)])
def test_short_text_with_a_link_word_cap(n_words: int, expected: str | None) -> None:
    # Fewer than LIST_MIN_LINES lines with a link: a pointer elsewhere up to 30 words, lyrics above.
    first = " ".join(["see", "https://example.org/x", *words(8)])
    rest = words(n_words - 10)
    text = "\n".join([first, " ".join(rest[: len(rest) // 2]), " ".join(rest[len(rest) // 2:])])
    assert len(text.split()) == n_words
    assert reject_reason(text, [], min_words=10) == expected


@pytest.mark.parametrize(("numbered", "plain", "expected"), [
    (3, 1, "non_lyrics"),  # 4 lines, 3 listed: more than half
    (2, 2, None),          # 4 lines, 2 listed: exactly half is not a majority
    (3, 0, None),          # 3 lines: below LIST_MIN_LINES, the list rule does not apply
    (3, 2, "non_lyrics"),  # 5 lines, 3 listed
])
def test_list_rule_bounds(numbered: int, plain: int, expected: str | None) -> None:
    listed = [f"{i + 1}. {' '.join(words(6, f'n{i}w'))}" for i in range(numbered)]
    other = [" ".join(words(6, f"p{i}w")) for i in range(plain)]
    assert reject_reason("\n".join(listed + other), [], min_words=10) == expected


@pytest.mark.parametrize(("text", "expected"), [
    ("instrumental !", "instrumental"),                # 2 tokens: below the bound
    ("this song is an instrumental", "instrumental"),  # 5 tokens: at the bound
    ("this song is an instrumental !", None),          # 6 tokens (the regex still matches): above, judged as words
])
def test_instrumental_marker_word_bound(text: str, expected: str | None) -> None:
    assert reject_reason(text, [], min_words=2) == expected


@pytest.mark.parametrize(("length", "stripped"), [(BLURB_MAX_CHARS - 1, True), (BLURB_MAX_CHARS, True),
                                                  (BLURB_MAX_CHARS + 1, False)])
def test_blurb_length_bound(length: int, stripped: bool) -> None:
    blurb = ("a" * (length - 3)) + "..."
    assert len(blurb) == length
    text = f"{blurb}Read More\n[Verse 1]\nfirst line"
    assert (strip_blurb(text) == "\n[Verse 1]\nfirst line") is stripped


@pytest.mark.parametrize(("n", "expected"), [(19, "too_short"), (20, None), (21, None)])
def test_scrape_min_words(n: int, expected: str | None) -> None:
    min_words = params_with().scrape.min_words
    assert min_words == 20  # params.yaml; the cases below are built around it
    text = "\n".join(" ".join(words(n)[i:i + 5]) for i in range(0, n, 5))
    assert cleaning.clean_lyrics(text, min_words=min_words).reject_reason == expected


def test_prepare_min_words() -> None:
    min_words = params_with().prepare.min_words
    df = pd.DataFrame({"lyrics_clean": [" ".join(words(n)) for n in (min_words - 1, min_words, min_words + 1)]})
    kept, dropped = filter_min_words(df, min_words)
    assert list(kept.index) == [1, 2]
    assert dropped == 1


@pytest.fixture
def enricher(monkeypatch: pytest.MonkeyPatch) -> SpotifyEnricher:
    """An enricher whose searches answer one candidate per query, scored by `SCORES` (no network)."""
    scrape = params_with({"scrape": {"spotify_min_score": 0.75}}).scrape
    enr = SpotifyEnricher("id", "secret", scrape)
    monkeypatch.setattr(enr, "search", lambda query: [{"id": query, "name": "T", "artists": [{"name": "A"}]}])
    return enr


@pytest.mark.parametrize(("score", "matched"), [(0.7499, False), (0.75, True), (0.7501, True)])
def test_spotify_min_score(enricher: SpotifyEnricher, monkeypatch: pytest.MonkeyPatch, score: float,
                           matched: bool) -> None:
    monkeypatch.setattr(spotify, "match_score", lambda *a, **k: score)
    match = enricher.match("A", "T", with_audio_features=False)
    assert match.matched is matched
    assert match.score == score  # the best score is recorded whether or not it was accepted
    assert (match.spotify_id is not None) is matched


def test_spotify_stops_searching_once_a_query_reaches_the_minimum(enricher: SpotifyEnricher,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    queries: list[str] = []
    original = enricher.search

    def search(query: str) -> list[dict[str, Any]]:
        queries.append(query)
        return original(query)

    monkeypatch.setattr(enricher, "search", search)
    monkeypatch.setattr(spotify, "match_score", lambda *a, **k: 0.75)
    enricher.match("A", "T", with_audio_features=False)
    assert len(queries) == 1  # the exact query at the bound is enough; the loose one is not tried
