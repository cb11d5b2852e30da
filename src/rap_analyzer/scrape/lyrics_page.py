"""Lyrics from a genius.com song page (current layout: `div[data-lyrics-container="true"]`).

Follows lyricsgenius's reading of the page (`<br>` is a line break, elements marked
`data-exclude-from-selection` such as the contributors header and in-lyrics ads are not lyrics, the embedded
`__PRELOADED_STATE__` is a fallback) but keeps the result as lines and says *why* when a page has no lyrics, so
the scrape report can count instrumentals and layout changes instead of storing an empty song.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from bs4 import BeautifulSoup, NavigableString, Tag
from lyricsgenius.utils import decode_js_string

_PRELOADED_STATE = re.compile(r"window\.__PRELOADED_STATE__\s*=\s*JSON\.parse\('((?:[^'\\]|\\.)*)'\)", re.S)
_CONTAINER = {"data-lyrics-container": "true"}


@dataclass(frozen=True, slots=True)
class PageLyrics:
    lines: list[str] | None  # stanzas separated by one "" line; None: the page has no lyrics
    reason: str | None = None  # why `lines` is None
    source: str | None = None  # "containers" or "preloaded_state": where the lines were read

    @property
    def text(self) -> str | None:
        return None if self.lines is None else "\n".join(self.lines)


def _as_lines(text: str) -> list[str]:
    """Trailing spaces off, runs of blank lines collapsed to one, none at either end."""
    lines: list[str] = []
    for raw in text.replace("\r\n", "\n").replace("\xa0", " ").split("\n"):
        line = raw.strip()
        if line or (lines and lines[-1]):
            lines.append(line)
    while lines and not lines[-1]:
        lines.pop()
    return lines


def _container_text(container: Tag) -> str:
    for excluded in container.find_all(attrs={"data-exclude-from-selection": "true"}):
        excluded.decompose()
    for br in container.find_all("br"):
        br.replace_with(NavigableString("\n"))
    return container.get_text()


def _preloaded_state(html: str) -> dict[str, Any] | None:
    match = _PRELOADED_STATE.search(html)
    if not match:
        return None
    try:
        state = json.loads(decode_js_string(match.group(1)))
    except ValueError:
        return None
    return state if isinstance(state, dict) else None


def _page_song(state: dict[str, Any]) -> dict[str, Any]:
    page = state.get("songPage") or {}
    songs = (state.get("entities") or {}).get("songs") or {}
    song = songs.get(str(page.get("song")))
    return song if isinstance(song, dict) else {}


def parse_lyrics_page(html: str) -> PageLyrics:
    soup = BeautifulSoup(html, "html.parser")
    containers = [c for c in soup.find_all("div", attrs=_CONTAINER) if isinstance(c, Tag)]
    images = sum(len(c.find_all("img")) for c in containers)  # counted before the excluded parts go
    # Genius splits the lyrics into several containers around ads; each starts on a new line.
    lines = _as_lines("\n".join(_container_text(c) for c in containers))
    if lines:
        return PageLyrics(lines, source="containers")

    state = _preloaded_state(html) or {}
    lyrics_data = (state.get("songPage") or {}).get("lyricsData") or {}
    song = _page_song(state)
    placeholder = lyrics_data.get("lyricsPlaceholderReason") or song.get("lyricsPlaceholderReason")
    if song.get("instrumental"):
        return PageLyrics(None, "no lyrics: Genius marks the song as instrumental")
    if placeholder:
        return PageLyrics(None, f"no lyrics: Genius shows a placeholder ({placeholder})")
    body = (lyrics_data.get("body") or {}).get("html")
    if isinstance(body, str) and not containers:
        fragment = BeautifulSoup(body.replace("\n", ""), "html.parser")  # line breaks come from <br> only
        lines = _as_lines(_container_text(fragment))  # type: ignore[arg-type]
        if lines:
            return PageLyrics(lines, source="preloaded_state")
    if containers:
        return PageLyrics(None, f"no lyrics: the lyrics section holds no text ({images} images)")
    return PageLyrics(None, "no lyrics: no lyrics section on the page (not a song page, or the layout changed)")
