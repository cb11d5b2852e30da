from __future__ import annotations

import json
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest

from rap_analyzer.scrape.lyrics_page import parse_lyrics_page


@pytest.fixture(scope="module")
def pages(shared_dir: Path) -> Path:
    return shared_dir / "fixtures" / "genius_html"


def test_single_container_page_keeps_stanza_breaks(pages: Path) -> None:
    result = parse_lyrics_page((pages / "ttng_chinchilla.html").read_text())
    assert result.reason is None and result.source == "containers"
    assert result.lines is not None
    assert len(result.lines) == 29
    assert len([line for line in result.lines if line]) == 23
    assert result.lines[0] == "So far we've lost focus"
    assert result.lines[-1] == "In service of another I am beautiful"
    blank = [i for i, line in enumerate(result.lines) if not line]
    assert blank == [2, 7, 11, 16, 20, 24]  # seven stanzas, one blank line between each


def test_split_containers_drop_header_and_join_on_new_lines(pages: Path) -> None:
    result = parse_lyrics_page((pages / "linked_jim_yosef_2025.html").read_text())
    lines = result.lines
    assert lines is not None and result.text is not None
    # The contributors header ("15 Contributors", "Linked Lyrics") is marked data-exclude-from-selection.
    assert "Contributors" not in result.text and "Linked Lyrics" not in result.text
    assert lines[0] == "[Verse 1]" and lines[-1] == "(Oh, woah)"
    assert [line for line in lines if line.startswith("[")] == [
        "[Verse 1]", "[Chorus]", "[Drop]", "[Verse 2]", "[Chorus]", "[Drop]", "[Outro]"]
    # An annotated fragment spans a <br>: its two lines stay two lines.
    i = lines.index("Past the rings of Saturn")
    assert lines[i + 1] == "Across the Milky Way"
    # The first container ends with <br/>, the second is empty, the third starts with "[Drop]": one blank line.
    j = lines.index("[Outro]")
    assert lines[j - 3:j] == ["", "[Drop]", ""] and lines[j - 4] == "We are linked together, together"
    assert len(lines) == 39 and lines.count("We are linked, together") == 4
    assert "" not in (lines[0], lines[-1]) and all(a or b for a, b in pairwise(lines))


def test_page_of_sheet_music_images_has_no_lyrics(pages: Path) -> None:
    result = parse_lyrics_page((pages / "instrumental_beethoven.html").read_text())
    assert result.lines is None and result.text is None
    assert result.reason == "no lyrics: the lyrics section holds no text (15 images)"


def test_page_without_lyrics_section_says_so() -> None:
    result = parse_lyrics_page("<html><body><h1>Page not found</h1></body></html>")
    assert result.lines is None
    assert result.reason is not None and "no lyrics section" in result.reason


def page_with_state(state: dict[str, Any]) -> str:
    """A page whose only content is the embedded state, written as genius.com writes it (a JS string literal)."""
    literal = json.dumps(state).replace("\\", "\\\\").replace("'", "\\'")
    return f"<html><script>window.__PRELOADED_STATE__ = JSON.parse('{literal}');</script></html>"


def test_instrumental_flag_in_embedded_state_is_the_reason() -> None:
    state = {"songPage": {"song": 7, "lyricsData": {}}, "entities": {"songs": {"7": {"instrumental": True}}}}
    assert parse_lyrics_page(page_with_state(state)).reason == "no lyrics: Genius marks the song as instrumental"


def test_embedded_state_is_the_fallback_when_containers_are_missing() -> None:
    html = "<p>[Intro]<br>\nLine one<br>\n<br>\nIt's line two</p>"
    result = parse_lyrics_page(page_with_state({"songPage": {"lyricsData": {"body": {"html": html}}}}))
    assert result.source == "preloaded_state"
    assert result.lines == ["[Intro]", "Line one", "", "It's line two"]


@pytest.mark.parametrize("where", ["lyricsData", "song"])
def test_placeholder_reason_in_embedded_state_is_the_reason(where: str) -> None:
    # Genius' unreleased-song page: no containers, a `lyricsPlaceholderReason`, and sometimes a body that only says
    # the lyrics come later. The placeholder wins over that body: it is no lyrics, whatever the body says.
    body = {"html": "<p>Lyrics will be available upon release</p>"}
    lyrics_data: dict[str, Any] = {"body": body}
    song: dict[str, Any] = {}
    (lyrics_data if where == "lyricsData" else song)["lyricsPlaceholderReason"] = "unreleased"
    state = {"songPage": {"song": 7, "lyricsData": lyrics_data}, "entities": {"songs": {"7": song}}}
    result = parse_lyrics_page(page_with_state(state))
    assert result.lines is None
    assert result.reason == "no lyrics: Genius shows a placeholder (unreleased)"


def containers_page(*containers: str) -> str:
    body = "".join(f'<div data-lyrics-container="true">{c}</div>' for c in containers)
    return f"<html><body>{body}</body></html>"


def test_windows_line_ends_and_no_break_spaces_are_plain_text() -> None:
    # A container whose text has CRLF line ends and a no-break space (&nbsp;) inside a line: by the definition of
    # the lines (one per line end, spaces as typed) the CRs vanish and the no-break space is an ordinary space.
    result = parse_lyrics_page(containers_page("Line\r\none&nbsp;here\r\n\r\n\r\nLine two"))
    assert result.lines == ["Line", "one here", "", "Line two"]


def test_trailing_blank_lines_are_dropped_whatever_the_line_count() -> None:
    assert parse_lyrics_page(containers_page("Only line<br><br><br>")).lines == ["Only line"]
    assert parse_lyrics_page(containers_page("One<br>Two<br>Three<br><br>")).lines == ["One", "Two", "Three"]


def test_embedded_state_that_is_not_an_object_counts_as_no_state() -> None:
    # A JSON array where the page state should be: no lyrics section, not a crash.
    html = "<html><script>window.__PRELOADED_STATE__ = JSON.parse('[1, 2]');</script></html>"
    result = parse_lyrics_page(html)
    assert result.lines is None
    assert result.reason == "no lyrics: no lyrics section on the page (not a song page, or the layout changed)"


# Lyrics containers are divs: the layout the module reads is `div[data-lyrics-container="true"]`, the only elements
# that carry the attribute on the recorded genius.com pages. The same attribute on an element of another kind (here
# a preview paragraph and a link, written for this test) is not a lyrics container: its text is no lyrics.
NOT_A_CONTAINER = ('<p data-lyrics-container="true">Preview: we are linked</p>'
                   '<a href="/songs/1" data-lyrics-container="true">Read all lyrics</a>')


def test_only_divs_are_lyrics_containers_on_a_real_page(pages: Path) -> None:
    html = (pages / "linked_jim_yosef_2025.html").read_text()
    marker = '<div data-lyrics-container="true"'
    assert html.count(marker) == 3
    result = parse_lyrics_page(html.replace(marker, NOT_A_CONTAINER + marker, 1))
    assert result.lines is not None and result.text is not None
    assert result.lines[0] == "[Verse 1]" and result.lines[-1] == "(Oh, woah)" and len(result.lines) == 39
    assert "Preview" not in result.text and "Read all lyrics" not in result.text


def test_a_page_whose_only_marked_elements_are_not_divs_has_no_lyrics_section() -> None:
    html = f"<html><body><h1>Linked</h1><section>{NOT_A_CONTAINER}<img src='cover.png'></section></body></html>"
    result = parse_lyrics_page(html)
    assert result.lines is None
    assert result.reason == "no lyrics: no lyrics section on the page (not a song page, or the layout changed)"
