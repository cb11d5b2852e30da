"""Artist names as a user types them -> the canonical name the corpus stores (the artist classifier's classes).

A name resolves when it equals a known one ignoring case and spacing ("  kendrick   LAMAR" -> "Kendrick Lamar"),
else when its `match_key` (punctuation and accents folded too: "jay z" -> "JAY-Z") equals exactly one known name's.
Anything else raises `UnknownArtistError` with the closest known names by rapidfuzz's `WRatio` on the same keys.
"""

from __future__ import annotations

from collections.abc import Sequence

from rapidfuzz import fuzz, process

from rap_analyzer.errors import UnknownArtistError
from rap_analyzer.text import match_key

SUGGESTIONS = 5  # closest names offered with an unknown artist


def _spacing_key(name: str) -> str:
    return " ".join(name.casefold().split())


def closest_artists(name: str, known: Sequence[str], limit: int = SUGGESTIONS) -> list[str]:
    """Up to `limit` known names closest to `name`, best first (rapidfuzz WRatio on `match_key`s; ties keep the
    order of `known`)."""
    found = process.extract(name, list(known), scorer=fuzz.WRatio, processor=match_key, limit=limit)
    return [str(choice) for choice, _score, _index in found]


def resolve_artist(name: str, known: Sequence[str]) -> str:
    """The canonical name in `known` that `name` means. Raises UnknownArtistError (its `suggestions` the closest
    known names) when there is none, or when the folded name matches several known names (those are suggested)."""
    wanted = _spacing_key(name)
    for candidate in known:
        if _spacing_key(candidate) == wanted:
            return candidate
    key = match_key(name)
    folded = [candidate for candidate in known if key and match_key(candidate) == key]
    if len(folded) == 1:
        return folded[0]
    if folded:
        raise UnknownArtistError(f"artist {name!r} matches several known artists: {', '.join(folded)}; give the "
                                 "exact name", folded)
    suggestions = closest_artists(name, known) if known else []
    hint = f"; closest known names: {', '.join(suggestions)}" if suggestions else ""
    raise UnknownArtistError(f"artist {name!r} is not one of the {len(known)} artists the service knows{hint}",
                             suggestions)
