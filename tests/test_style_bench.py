"""bench/style_transfer.py's sampling and counting (the LLM run itself is the bench, not a test): sources are
held-out songs, targets another artist, seeded; a failed rewrite counts as a miss, never as a score."""

from __future__ import annotations

import importlib.util
from types import ModuleType

import pandas as pd
import pytest
from helpers import REPO_ROOT

from rap_analyzer.models.style.classifier import StyleScore
from rap_analyzer.models.style.writer import WriteResult


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("style_transfer_bench", REPO_ROOT / "bench" / "style_transfer.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_excerpt_cuts_at_a_line_break(bench: ModuleType) -> None:
    assert bench.excerpt("abc\ndef\nghi", 9) == "abc\ndef"  # "abc\ndef\ng": back to the last break
    assert bench.excerpt("abc\ndef", 7) == "abc\ndef"  # fits whole, at the bound
    assert bench.excerpt("abcdefgh\nij", 4) == "abcd"  # a first line longer than the cut


def test_pairs_are_held_out_songs_with_another_target(bench: ModuleType) -> None:
    artists = ["A", "B", "C"]
    corpus = pd.DataFrame({"source_key": [f"k{i:02d}" for i in range(30)],
                           "artist": [artists[i % 3] for i in range(30)],
                           "lyrics_clean": [f"line {i}\nmore" for i in range(30)]})
    held_out = [f"k{i:02d}" for i in range(0, 30, 2)]
    pairs = bench.sample_pairs(corpus, held_out, artists, n=8, seed=3, chars=100)
    assert len(pairs) == 8 and set(pairs["source_key"]) <= set(held_out)
    assert (pairs["source_artist"] != pairs["target_artist"]).all()
    assert pairs["target_artist"].isin(artists).all()
    assert pairs.equals(bench.sample_pairs(corpus, held_out, artists, n=8, seed=3, chars=100))  # seeded
    with pytest.raises(SystemExit, match="only 15 held-out songs"):
        bench.sample_pairs(corpus, held_out, artists, n=16, seed=3, chars=100)


def result(ok: bool, rank: int | None) -> WriteResult:
    style = None if rank is None else StyleScore("A", 0.5, rank, 10, [("A", 0.5)])
    return WriteResult("text" if ok else "", [], "v", "m", 0, False, ok, None if ok else "timeout", style, None, None)


def test_a_failed_rewrite_is_a_miss(bench: ModuleType) -> None:
    top = 3
    assert bench.in_top(result(True, 3), top) and not bench.in_top(result(True, 4), top)  # the bound
    assert not bench.in_top(result(False, None), top)
    assert bench.rate([True, False, False, False]) == 0.25


def test_the_target_name_is_removed_whole(bench: ModuleType) -> None:
    assert bench.without_name("yo t.i. and T.I. here, not T.I.P", "T.I.") == "yo   and   here, not T.I.P"
    assert bench.without_name("JAY-Z, jay-z!", "JAY-Z") == " ,  !"
    assert bench.without_name("Nasty Nas", "Nas") == "Nasty  "
