"""Lyrics cleaning and reject reasons, on real corpus songs (loaded by title, never copied here)."""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from rap_analyzer.scrape.cleaning import (
    PROSE_WORDS_PER_LINE,
    REJECT_REASONS,
    clean_lyrics,
    format_embed_count,
)

HEADER_LINE = re.compile(r"^\d+ Contributors")


@cache
def _load(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def dump_song(shared_dir: Path, relative: str, title: str) -> dict[str, Any]:
    songs = _load(shared_dir / "corpus/genius" / relative)["songs"]
    return next(s for s in songs if s["title"].replace("\u200b", "") == title)


def catalog_entry(shared_dir: Path, file: str, title: str) -> dict[str, Any]:
    return next(e for e in _load(shared_dir / "corpus/catalog" / file) if e["title"] == title)


def clean_song(song: dict[str, Any]):
    return clean_lyrics(song["lyrics"], title=song["title"], embed_count=song["pyongs_count"])


def first_lyric_line(raw: str) -> str:
    """The first non-blank raw line after the Genius header line, zero-width characters removed."""
    lines = (line.replace("\u200b", "").strip() for line in raw.split("\n")[1:])
    return next(line for line in lines if line)


@pytest.mark.parametrize(
    ("relative", "title"),
    [
        ("rap/Lyrics_21Savage.json", "Bank Account"),  # "TranslationsFrançaisРусскийPortuguês" run together
        ("rap/Lyrics_LilNasX.json", "THATS WHAT I WANT"),  # a translation title contains the song title
        ("rap/Lyrics_KendrickLamar.json", "i (Album Version)"),  # zero-width characters around the title
    ],
)
def test_genius_header_removed(shared_dir: Path, relative: str, title: str) -> None:
    song = dump_song(shared_dir, relative, title)
    assert HEADER_LINE.match(song["lyrics"])
    cleaned = clean_song(song)
    assert cleaned.text.split("\n")[0] == first_lyric_line(song["lyrics"])
    assert "Contributors" not in cleaned.text
    assert "Translation" not in cleaned.text and "Tradução" not in cleaned.text
    assert cleaned.reject_reason is None


def test_lyric_glued_to_header_is_kept(shared_dir: Path) -> None:
    song = dump_song(shared_dir, "pop/Lyrics_CharliXCX.json", "Next Level Charli")
    glued = song["lyrics"].split("\n")[0].split(" Lyrics", 1)[1]
    assert glued  # the first lyric sits on the header line
    assert clean_song(song).text.split("\n")[0] == glued


@pytest.mark.parametrize(
    ("relative", "title"),
    [
        ("rap/Lyrics_TheNotoriousBIG.json", "Who Shot Ya?"),  # lyric ends in "9-5", count 119: "9-5119Embed"
        ("rap/Lyrics_PushaT.json", "Untouchable"),  # lyric ends in "600", count 62
        ("rap/Lyrics_Drake.json", "Back to Back"),  # count printed as "1.3K"
        ("rap/Lyrics_KendrickLamar.json", "King Kunta"),  # 1967 printed as "2K"
    ],
)
def test_embed_count_removed_exactly(shared_dir: Path, relative: str, title: str) -> None:
    song = dump_song(shared_dir, relative, title)
    printed = format_embed_count(song["pyongs_count"]) + "Embed"
    assert song["lyrics"].endswith(printed)
    expected_last_line = song["lyrics"].removesuffix(printed).split("\n")[-1].strip()
    cleaned = clean_song(song)
    assert cleaned.text.split("\n")[-1] == expected_last_line
    assert not cleaned.text.endswith("Embed")


def test_embed_without_count_hint() -> None:
    assert clean_lyrics("1 Contributor\nwe never change345Embed").text == "we never change"
    assert clean_lyrics("5 ContributorsX Lyrics\nwe never change\nEmbed").text == "we never change"


def test_you_might_also_like_removed_and_stanza_break_kept(shared_dir: Path) -> None:
    song = dump_song(shared_dir, "rap/Lyrics_21Savage.json", "Bank Account")
    raw = song["lyrics"]
    lone = raw.count("\nYou might also like\n")
    assert lone >= 1
    cleaned = clean_song(song)
    assert "You might also like" not in cleaned.text
    assert "\n\n\n" not in cleaned.text
    # Every stanza break survives, and each lone "You might also like" line marks one more.
    assert cleaned.text.count("\n\n") == raw.count("\n\n") + lone
    line_after = raw.split("\nYou might also like\n", 1)[1].split("\n", 1)[0]
    assert f"\n\n{line_after}\n" in cleaned.text


def test_you_might_also_like_glued_to_lyrics(shared_dir: Path) -> None:
    song = dump_song(shared_dir, "pop/Lyrics_CharliXCX.json", "Next Level Charli")
    glued_line = re.search(r"You might also like(\S[^\n]*)", song["lyrics"])
    assert glued_line
    cleaned = clean_song(song)
    assert "You might also like" not in cleaned.text
    assert glued_line.group(1) in cleaned.text.split("\n")  # the lyric keeps its own line, uncut

    short = dump_song(shared_dir, "rap/Lyrics_Deltron3030.json", "State of the Nation")
    assert short["lyrics"].endswith("You might also likeEmbed")
    last = short["lyrics"].removesuffix("You might also likeEmbed").split("\n")[-1]
    assert clean_song(short).text.split("\n")[-1] == last


def test_sections_extracted_from_catalog(shared_dir: Path) -> None:
    entry = catalog_entry(shared_dir, "Nas.json", "1996 Freestyle")
    raw_headers = [line.strip() for line in entry["lyrics"].split("\n") if re.fullmatch(r"\[[^\]]+\]", line.strip())]
    assert raw_headers
    cleaned = clean_lyrics(entry["lyrics"], title=entry["title"])
    assert cleaned.sections == raw_headers
    assert not any(line.startswith("[") for line in cleaned.text.split("\n"))
    assert "\n\n" in cleaned.text
    assert cleaned.reject_reason is None


def test_section_header_forms() -> None:
    raw = (
        "[Produced by Someone]\n[Verse 1: Nas]\nline one here\n\n\n\nYou might also like[Chorus]\n"
        "line two\n(Hook)\n[Hook]Nate Dogg sings\nhands up [x2]\n  padded line  "
    )
    cleaned = clean_lyrics(raw, min_words=1)
    assert cleaned.sections == ["[Verse 1: Nas]", "[Chorus]", "(Hook)", "[Hook]"]
    assert cleaned.text == "line one here\n\nline two\nNate Dogg sings\nhands up [x2]\npadded line"


def test_read_more_description_and_ticket_advert() -> None:
    raw = (
        "12 ContributorsSong Lyrics“Song” is about things. Read More \nfirst line\n"
        "See Some Artist LiveGet tickets as low as $45You might also like\nsecond line"
    )
    assert clean_lyrics(raw, title="Song", min_words=1).text == "first line\n\nsecond line"


@pytest.mark.parametrize(
    ("file", "title", "reason"),
    [
        ("André 3000.json", "Look Ma No Hands", "instrumental"),  # "[Instrumental]" only
        ("Method Man.json", "O.D.", "instrumental"),  # "(instrumental)"
        ("Logic.json", "Bobby", "non_lyrics"),  # "...have yet to be transcribed"
        ("Lil Wayne.json", "Xxx", "non_lyrics"),  # "This song has no lyrics"
        ("Chance the Rapper.json", "Yup (Bath Time Playlist)", "non_lyrics"),  # a tracklist
        ("Drake.json", "Statement on Wireless", "non_lyrics"),  # a press statement in one paragraph
        ("Kanye West.json", "The College Dropout [Booklet]", "empty"),
        ("Wiz Khalifa.json", "Ziplocc", "too_short"),
        ("Method Man.json", "Outro", None),  # a spoken outro saying "coming soon" is no placeholder
    ],
)
def test_reject_reasons_on_catalog(shared_dir: Path, file: str, title: str, reason: str | None) -> None:
    entry = catalog_entry(shared_dir, file, title)
    assert clean_lyrics(entry["lyrics"], title=title).reject_reason == reason


def test_reject_reasons_synthetic() -> None:
    assert clean_lyrics(None).reject_reason == "empty"
    assert clean_lyrics("  \n ").reject_reason == "empty"
    assert clean_lyrics("This song is an instrumental").reject_reason == "instrumental"
    placeholder = "Lyrics for this song have yet to be released. Please check back once the song has been released."
    assert clean_lyrics(placeholder).reject_reason == "non_lyrics"
    assert clean_lyrics("Na na na na, hey hey", min_words=20).reject_reason == "too_short"
    assert clean_lyrics("word " * 19, min_words=20).reject_reason == "too_short"
    assert clean_lyrics("word " * 20, min_words=20).reject_reason is None  # one long line is still lyrics
    assert clean_lyrics("word " * (PROSE_WORDS_PER_LINE + 1), min_words=20).reject_reason == "non_lyrics"
    assert clean_lyrics("word word\n" * 10, min_words=20).reject_reason is None


def test_every_dump_song_cleans_to_accepted_lyrics(shared_dir: Path) -> None:
    """The curated Genius dumps are all real lyrics: none is rejected, no page furniture is left, and their
    longest lines stay far below the prose bound."""
    files = sorted((shared_dir / "corpus/genius").glob("*/*.json"))
    assert files
    max_words_per_line = 0.0
    n = 0
    for path in files:
        for song in _load(path)["songs"]:
            cleaned = clean_song(song)
            n += 1
            assert cleaned.reject_reason is None, (path.name, song["title"])
            assert cleaned.reject_reason in (None, *REJECT_REASONS)
            text = cleaned.text
            assert not HEADER_LINE.match(text) and "You might also like" not in text, song["title"]
            assert not text.endswith("Embed") and "\n\n\n" not in text, song["title"]
            n_lines = len([line for line in text.split("\n") if line])
            max_words_per_line = max(max_words_per_line, len(text.split()) / n_lines)
    assert n > 1000
    assert max_words_per_line < PROSE_WORDS_PER_LINE / 2
