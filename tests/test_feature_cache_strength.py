"""The on-disk feature cache (`rap_analyzer.features.cache`) and the errors of `extract_features`: the cache file's
name changes with every part of the definition, the file holds the key and every feature column (read back with
pyarrow, not with the code under test), a file missing a column is refused by name, and the errors quote the
input as documented. Hashes are checked against SHA-1's published test vector and hashlib on explicit bytes."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
from helpers import params_with

from rap_analyzer.features import cache as feature_cache
from rap_analyzer.features.extract import FEATURE_NAMES, FEATURE_VERSION, extract_features, parse_lyrics

PARAMS = params_with().features


def test_text_key_is_the_sha1_of_the_utf8_bytes() -> None:
    assert feature_cache.text_key("abc") == "a9993e364706816aba3e25717850c26c9cd0d89d"  # FIPS 180-1 vector
    assert feature_cache.text_key("caf\u00e9") == hashlib.sha1(b"caf\xc3\xa9").hexdigest()


def test_every_part_of_the_definition_changes_the_cache_file(tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    base = feature_cache.cache_file(tmp_path, PARAMS)
    assert base.parent == tmp_path and base.name.startswith(f"features-v{FEATURE_VERSION}-")
    assert base.suffix == ".parquet"
    changes = {"FEATURE_VERSION": FEATURE_VERSION + "-next", "FEATURE_NAMES": [*FEATURE_NAMES, "new_feature"],
               "code_fingerprint": lambda: "0" * 40}
    for name, value in changes.items():
        with monkeypatch.context() as patch:
            patch.setattr(feature_cache, name, value)
            assert feature_cache.cache_file(tmp_path, PARAMS) != base, name


@pytest.mark.parametrize("source", ["features/rhyme.py", "features/phonetics.py", "features/lexical.py",
                                    "features/extract.py", "features/letters.py", "text/normalise.py",
                                    "text/titles.py"])
def test_an_edit_to_any_feature_or_text_source_file_changes_the_cache_file(source: str, tmp_path: Path,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    # code_fingerprint is memoised (and so not mutated by mutmut): clear it around each reading
    feature_cache.code_fingerprint.cache_clear()
    before = feature_cache.cache_file(tmp_path, PARAMS)
    real = Path.read_bytes
    folder, name = source.split("/")

    def edited(path: Path) -> bytes:
        data = real(path)
        return data + b"\n# edited" if (path.parent.name, path.name) == (folder, name) else data

    monkeypatch.setattr(Path, "read_bytes", edited)
    feature_cache.code_fingerprint.cache_clear()
    try:
        assert feature_cache.cache_file(tmp_path, PARAMS) != before
    finally:
        feature_cache.code_fingerprint.cache_clear()


def rows() -> dict[str, dict[str, float]]:
    # keys given in reverse order: the file's layout must not depend on how a row's dict was built
    return {feature_cache.text_key(t): {n: float(i + k / 10) for i, n in reversed(list(enumerate(FEATURE_NAMES)))}
            for k, t in enumerate(["one verse", "another verse"])}


def test_saved_file_holds_the_key_and_every_feature_column(tmp_path: Path) -> None:
    path = tmp_path / "features" / "nested" / "features-v2-abc.parquet"  # parent folders do not exist yet
    feature_cache.save_cache(path, rows())
    assert pq.read_schema(path).names == ["text_sha1", *FEATURE_NAMES]  # no stray index column
    frame = pd.read_parquet(path)
    assert frame["text_sha1"].tolist() == [feature_cache.text_key("one verse"), feature_cache.text_key("another verse")]
    assert frame.loc[1, "ttr"] == FEATURE_NAMES.index("ttr") + 0.1
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name]  # the temporary file was renamed away
    assert feature_cache.load_cache(path) == rows()


def test_missing_file_is_an_empty_cache(tmp_path: Path) -> None:
    assert feature_cache.load_cache(tmp_path / "absent.parquet") == {}


def test_file_without_a_feature_column_is_refused_by_name(tmp_path: Path) -> None:
    path = tmp_path / "old.parquet"
    frame = pd.DataFrame({"text_sha1": ["x"], **{n: [1.0] for n in FEATURE_NAMES if n != "mtld"}})
    frame.to_parquet(path, index=False)
    with pytest.raises(ValueError) as error:
        feature_cache.load_cache(path)
    assert str(error.value) == f"feature cache {path} lacks columns ['mtld']; delete the file to rebuild it"


def test_lyrics_that_are_not_text_are_a_type_error_naming_the_type() -> None:
    with pytest.raises(TypeError) as error:
        extract_features(b"bytes, not text", PARAMS)  # type: ignore[arg-type]
    assert str(error.value) == "extract_features needs the lyrics as str, got bytes"


def test_lyrics_without_latin_words_quote_their_first_60_characters() -> None:
    greek = "".join(chr(0x3B1 + i % 25) for i in range(70))  # 70 letters, none of them a-z
    with pytest.raises(ValueError) as error:
        extract_features(f"  \n{greek}\n ", PARAMS)
    assert str(error.value) == (
        f"lyrics contain no words in the Latin alphabet (blank, headers, numbers or another script): "
        f"{greek[:60]!r}; pass the cleaned English lyrics of a track, or drop such tracks before this step")


def test_section_headers_end_stanzas_even_with_spaces_around_them() -> None:
    # the header pattern is a module constant, which mutmut leaves alone: these cases stand guard over it
    text = ("we ride tonight\n  [Chorus]  \nwe ride again\n[Hook] we ride [x2]\n"
            "\t[Verse 2: Nas]\t\nback on the road")
    stanzas = parse_lyrics(text)
    # a line with words between two bracketed parts is a lyric line, not a header
    assert [len(stanza) for stanza in stanzas] == [1, 2, 1]
    assert stanzas[0] == [["we", "ride", "tonight"]] and stanzas[2] == [["back", "on", "the", "road"]]
    features = extract_features(text, PARAMS)
    assert (features["n_stanzas"], features["n_lines"]) == (3.0, 4.0)
