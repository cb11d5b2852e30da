"""Phonetic and lexical lyric features: hand-checked examples, the spelling fallback, the cache, and ranges
on real songs (read from the shared corpus, never copied here)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
import pytest
from helpers import params_with

from rap_analyzer.config import FeaturesParams, Params
from rap_analyzer.features import FEATURE_NAMES, extract, extract_features, features_frame, parse_lyrics
from rap_analyzer.features.lexical import mattr, mtld, profanity_ratio, repetition_ratio, ttr
from rap_analyzer.features.phonetics import cmu_dict, syllables, tokenize, word_sound
from rap_analyzer.features.rhyme import internal_rhyme_rate, longest_rhymes, rhymes
from rap_analyzer.scrape.cleaning import clean_lyrics

PARAMS = params_with({"features": {"rhyme_window": 15, "first_n_words": 5, "mattr_window": 4}}).features

# CMU (first pronunciations, stress dropped, vowels only):
#   I AY | got AA | the AH | flow OW | that's AE | contagious AH EY AH
#   they EY | all AO | know OW | it's IH | outrageous AW EY AH
# Vowel sequence: AY AA AH OW AE [AH EY AH] | EY AO OW IH [AW EY AH]
# Longest rhyme per word, looking back over the earlier words, read from each word's last vowel:
#   contagious: AH = "the" AH -> 1;  know: OW = "flow" OW (then AO != AH) -> 1;
#   outrageous: AH EY = contagious' AH EY, then AW != AH -> 2;  all other words 0.
#   rhyme density = (1 + 1 + 2) / 11 words; multisyllabic (>= 2 vowels) = 1 / 11.
# End rhyme: contagious and outrageous both end EY JH AH S from the stressed EY -> 1 of 1 line pairs.
# Internal: of the 9 words that do not end a line only "know" rhymes (OW) with an earlier word, "flow".
# Syllables: 1+1+1+1+1+3 = 8 and 1+1+1+1+3 = 7 -> 7.5 per line; 6 and 5 words -> 5.5 per line.
COUPLET = "I got the flow that's contagious\nthey all know it's outrageous"


def test_couplet_with_a_multisyllabic_rhyme() -> None:
    words = tokenize(COUPLET.replace("\n", " "))
    assert longest_rhymes(words, 15) == [0, 0, 0, 0, 0, 1, 0, 0, 1, 0, 2]
    f = extract_features(COUPLET, PARAMS)
    assert list(f) == FEATURE_NAMES
    assert all(isinstance(v, float) for v in f.values())
    assert f["rhyme_density"] == pytest.approx(4 / 11)
    assert f["multisyllabic_rhyme_rate"] == pytest.approx(1 / 11)
    assert f["end_rhyme_rate"] == 1.0
    assert f["internal_rhyme_rate"] == pytest.approx(1 / 9)
    assert f["syllables_per_line"] == 7.5
    assert f["words_per_line"] == 5.5
    assert (f["n_words"], f["n_lines"], f["n_stanzas"]) == (11.0, 2.0, 1.0)
    assert f["cmu_coverage"] == 1.0


def test_rhyme_window_limits_how_far_back_a_rhyme_is_found() -> None:
    # "contagious" is the 5th word before "outrageous"; the 4 words between end in EY AO OW IH, not AH.
    words = tokenize(COUPLET.replace("\n", " "))
    assert longest_rhymes(words, 4)[-1] == 0
    assert longest_rhymes(words, 5)[-1] == 2


def test_repeating_a_word_is_not_a_rhyme() -> None:
    f = extract_features("I go\nI go", PARAMS)
    assert f["rhyme_density"] == 0.0
    assert f["end_rhyme_rate"] == 0.0
    assert f["repetition_ratio"] == 1.0
    assert not rhymes("go", "go")
    assert rhymes("go", "know")


def test_end_rhymes_are_counted_within_stanzas_only() -> None:
    assert extract_features("I fly\nup high", PARAMS)["end_rhyme_rate"] == 1.0
    assert extract_features("I fly\n\nup high", PARAMS)["end_rhyme_rate"] == 0.0
    # "clothes" is also said without its "th": it rhymes with "foes" in that pronunciation.
    assert extract_features("in street clothes\ni'll defeat foes", PARAMS)["end_rhyme_rate"] == 1.0


HOOK = "we on top now we on top\nand we never gonna stop"
SONG = f"""[Verse 1]
I came up from the bottom of the street
now every single night I got a seat
the city lights are shining on my face
I never slow I'm running at my pace

[Hook]
{HOOK}

they told me that I'd never make it far
now look at me I'm driving in a car
money in the bank and that's a fact
you know I'm never ever looking back
[Hook]
{HOOK}
We on top, now we ON top!
and we never gonna stop


{HOOK}
"""


def test_hook_sung_four_times_and_stanza_counts() -> None:
    # Stanzas: verse 1 (4 lines) | hook (2) | verse 2 (4) | "[Hook]" header starts one: hook twice (4) |
    # hook (2) -> 5 stanzas, 16 lines. The 8 hook lines (one spelled differently) repeat: 8 / 16.
    f = extract_features(SONG, PARAMS)
    assert f["n_stanzas"] == 5.0
    assert f["n_lines"] == 16.0
    assert f["repetition_ratio"] == 0.5
    assert repetition_ratio([["a"], ["b"], ["a"], ["c"]]) == 0.5


def test_type_token_measures_by_hand() -> None:
    tokens = tokenize("one two three one two four five six four")
    # TTR: 6 types / 9 tokens.
    assert ttr(tokens) == pytest.approx(6 / 9)
    # MATTR, window 4: [one two three one] 3/4, [two three one two] 3/4, [three one two four] 1,
    # [one two four five] 1, [two four five six] 1, [four five six four] 3/4 -> 5.25 / 6.
    assert mattr(tokens, 4) == pytest.approx(5.25 / 6)
    assert mattr(tokens, 50) == pytest.approx(6 / 9)  # shorter than the window: plain TTR
    # MTLD, threshold 0.72. Forward: TTR 1, 1, 1, 3/4, 3/5 <= .72 -> factor 1 after "two"; the rest
    # "four five six four" ends at TTR 3/4: partial factor (1 - 3/4) / (1 - .72) = 25/28; 9 / (53/28).
    # Backward: "four six five four two one three two one" first falls to 6/9 <= .72 at its very end:
    # exactly 1 factor -> 9. MTLD = (252/53 + 9) / 2 = 729/106.
    assert mtld(tokens) == pytest.approx(729 / 106)
    # Alternating words: TTR hits 2/3 after every third token -> 6 tokens / 2 factors both ways.
    assert mtld(tokenize("one two one two one two")) == pytest.approx(3.0)


def test_type_token_measures_agree_with_lexicalrichness() -> None:
    import lexicalrichness  # a declared dependency: a broken install must fail here, not skip
    tokens = tokenize(SONG)
    reference = lexicalrichness.LexicalRichness(tokens, preprocessor=None, tokenizer=None)
    assert mtld(tokens) == pytest.approx(reference.mtld(threshold=0.72))
    assert mattr(tokens, 10) == pytest.approx(reference.mattr(window_size=10))
    assert ttr(tokens) == pytest.approx(reference.ttr)


def test_lexical_features_of_a_tiny_text() -> None:
    f = extract_features("one two three one two\nfour five six four", PARAMS)
    assert f["ttr"] == pytest.approx(6 / 9)
    assert f["mattr"] == pytest.approx(5.25 / 6)
    assert f["mtld"] == pytest.approx(729 / 106)
    assert f["unique_words_first_n"] == 3.0  # first 5 words: one two three one two


def test_profanity_ratio() -> None:
    # 2 of the 7 words ("fuck", "shit"); "fuckin'" style spellings match by prefix.
    assert extract_features("Fuck that shit\nyou know the deal", PARAMS)["profanity_ratio"] == pytest.approx(2 / 7)
    assert profanity_ratio(["fuckin", "assume", "classic"]) == pytest.approx(1 / 3)


def test_coverage_and_spelling_fallback() -> None:
    cmu = cmu_dict()
    assert "shawty" not in cmu and "naughty" in cmu
    sound = word_sound("shawty")
    assert not sound.in_cmu
    assert sound.phones == ("SH", "AO1", "T", "IY0")  # sh-aw-t-y, stress on the first vowel
    assert syllables("shawty") == 2
    assert rhymes("shawty", "naughty")  # spelled guess against the dictionary: AO T IY both
    # 6 words, one ("shawty") not in CMU; 4 syllables per line either way.
    f = extract_features("she my shawty\nshe so naughty", PARAMS)
    assert f["cmu_coverage"] == pytest.approx(5 / 6)
    assert f["syllables_per_line"] == 4.0
    assert f["end_rhyme_rate"] == 1.0


@pytest.mark.parametrize(
    ("word", "n_syllables"),
    [("jiggy", 2), ("blingy", 2), ("finna", 2), ("tryna", 2), ("homie", 2), ("flexin", 2), ("skrrt", 0)],
)
def test_fallback_syllable_counts(word: str, n_syllables: int) -> None:
    # "flexin" is the dictionary's "flexing" with the g dropped; the others are spelled out.
    assert word not in cmu_dict()
    assert syllables(word) == n_syllables


def test_lyric_spellings_of_dictionary_words() -> None:
    assert tokenize("Runnin\u2019 'cause (x2) 1996 y'all") == ["runnin", "cause", "y'all"]
    assert tokenize("Caf\u00e9 se\u00f1or") == ["cafe", "senor"]
    for spelled, dictionary in [("runnin", "running"), ("dont", "don't"), ("thats", "that's")]:
        assert word_sound(spelled).in_cmu
        assert word_sound(spelled).phones == cmu_dict()[dictionary][0]


def test_text_without_words_is_an_error() -> None:
    with pytest.raises(ValueError, match="no words"):
        extract_features("\n\n[Chorus]\n\n1996\n", PARAMS)
    with pytest.raises(ValueError, match="no words"):
        extract_features("", PARAMS)
    with pytest.raises(ValueError, match="no words in the Latin alphabet"):
        extract_features("\u03ba\u03b1\u03bb\u03b7\u03bc\u03ad\u03c1\u03b1 \u03ba\u03cc\u03c3\u03bc\u03b5", PARAMS)


def test_frame_caches_per_text_and_params(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    real = extract.extract_features

    def counting(text: str, params: FeaturesParams) -> dict[str, float]:
        calls.append(text)
        return real(text, params)

    monkeypatch.setattr(extract, "extract_features", counting)
    texts = pd.Series([COUPLET, SONG, COUPLET], index=["a", "b", "c"])
    first = features_frame(texts, PARAMS, cache_dir=tmp_path, progress=False)
    assert len(calls) == 2  # the repeated text is computed once
    assert list(first.columns) == FEATURE_NAMES and list(first.index) == ["a", "b", "c"]
    assert len(list(tmp_path.glob("features-v*.parquet"))) == 1

    again = features_frame(texts, PARAMS, cache_dir=tmp_path, progress=False)
    assert len(calls) == 2  # served from the cache file
    pd.testing.assert_frame_equal(first, again)
    assert first.loc["a", "rhyme_density"] == pytest.approx(4 / 11)

    other = params_with({"features": {**PARAMS.model_dump(), "rhyme_window": 3}}).features
    features_frame([COUPLET], other, cache_dir=tmp_path, progress=False)
    assert len(calls) == 3  # other params, other cache entry
    assert len(list(tmp_path.glob("features-v*.parquet"))) == 2


def test_frame_errors() -> None:
    with pytest.raises(ValueError, match=r"track 'empty'.*no words"):
        features_frame([COUPLET, "\n"], PARAMS, ids=["ok", "empty"], progress=False)
    frame = features_frame([COUPLET, "\n"], PARAMS, ids=["ok", "empty"], progress=False, on_error="record")
    assert pd.isna(frame.loc["ok", "feature_error"])
    assert "no words" in frame.loc["empty", "feature_error"]
    assert frame.loc["empty", FEATURE_NAMES].isna().all()
    with pytest.raises(ValueError, match="2 texts but 1 ids"):
        features_frame([COUPLET, SONG], PARAMS, ids=["x"], progress=False)


def test_real_songs(shared_dir: Path, params: Params) -> None:
    songs = json.loads((shared_dir / params.scrape.catalog_dir / "Nas.json").read_text(encoding="utf-8"))
    texts = []
    for song in songs:
        cleaned = clean_lyrics(song["lyrics"], title=song["title"], min_words=100)
        if cleaned.reject_reason is None:
            texts.append(cleaned.text)
        if len(texts) == 20:
            break
    frame = features_frame(texts, params.features, progress=False)
    assert len(frame) == 20
    assert not frame.isna().any().any()
    assert (frame["cmu_coverage"] > 0.8).all()
    assert (frame["rhyme_density"] > 0).all()
    # Malmi et al. report rhyme densities of roughly 0.7-1.2 for US rappers; Nas is no outlier.
    assert 0.6 < frame["rhyme_density"].median() < 1.5
    assert (frame["end_rhyme_rate"] > 0).mean() > 0.5
    assert ((frame["ttr"] > 0) & (frame["ttr"] <= 1)).all()
    # Over the mattr window a text repeats itself far less than over the whole song.
    long = frame["n_words"] > 2 * params.features.mattr_window
    assert (frame.loc[long, "mattr"] > frame.loc[long, "ttr"]).all()
    assert (frame["syllables_per_line"] >= frame["words_per_line"]).all()
    assert all(math.isfinite(v) for v in frame["mtld"])


def test_cache_file_changes_with_the_feature_code_and_dictionary(monkeypatch: pytest.MonkeyPatch,
                                                                  tmp_path: Path) -> None:
    from rap_analyzer.features import cache

    params = params_with().features
    cache.code_fingerprint.cache_clear()
    before = cache.cache_file(tmp_path, params)
    monkeypatch.setattr(cache.metadata, "version", lambda name: "0.0-other")
    cache.code_fingerprint.cache_clear()
    try:
        assert cache.cache_file(tmp_path, params) != before
    finally:
        cache.code_fingerprint.cache_clear()


# --- issue 7, part E: one normaliser before the ASCII-only token pattern ---------------------------------------

@pytest.mark.parametrize(("line", "tokens"), [
    ("don\u00b4t can`t y\u2032all", ["don't", "can't", "y'all"]),  # the three look-alikes
    ("ain\u02bct it\uff07s rock \u2018n\u2019 roll", ["ain't", "it's", "rock", "n", "roll"]),
    ("What\x92s up", ["what's", "up"]),  # windows-1252 apostrophe read as a C1 control (catalog: Snoop Dogg)
    ("olay\u0131nday\u0131m \u0142\u00f3d\u017a stra\u00dfe \u00e6ther", ["olayindayim", "lodz", "strasse", "aether"]),
    ("\ufb01re \uff46\uff55\uff4c\uff4c", ["fire", "full"]),  # ligature and full-width forms
])
def test_tokens_fold_look_alikes_and_letters(line: str, tokens: list[str]) -> None:
    assert tokenize(line) == tokens


def test_look_alike_apostrophes_make_no_fake_words() -> None:
    # Before: "don´t" was "don" + "t" and "y′all" was "y" + "all": 6 words and 2 of them not words at all.
    text = "Y\u2032all don\u00b4t know\nCan`t stop now"
    straight = text.replace("\u2032", "'").replace("\u00b4", "'").replace("`", "'")
    assert extract_features(text, PARAMS) == extract_features(straight, PARAMS)
    assert extract_features(text, PARAMS)["n_words"] == 6.0


def test_features_and_cleaning_see_the_same_lines() -> None:
    raw = "[Verse 1]\u2028I got the flow\u2028That's contagious\u2029\u2029[Chorus]\u2028Yeah yeah\u2028Okay"
    cleaned = clean_lyrics(raw, min_words=1)
    assert cleaned.sections == ["[Verse 1]", "[Chorus]"]
    stanzas = parse_lyrics(cleaned.text)
    assert [len(s) for s in stanzas] == [2, 2] and len(cleaned.text.split("\n")) == 5  # 4 lines + 1 blank
    assert parse_lyrics(raw) == stanzas  # the raw separators split the same lines (headers end stanzas)


def test_cache_file_changes_with_the_text_normaliser(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from rap_analyzer.features import cache

    params = params_with().features
    cache.code_fingerprint.cache_clear()
    before = cache.cache_file(tmp_path, params)
    real = Path.read_bytes

    def edited(path: Path) -> bytes:
        data = real(path)
        return data + b"\n# edited" if path.parent.name == "text" and path.name == "normalise.py" else data

    monkeypatch.setattr(Path, "read_bytes", edited)
    cache.code_fingerprint.cache_clear()
    try:
        assert cache.cache_file(tmp_path, params) != before
    finally:
        cache.code_fingerprint.cache_clear()


def test_a_multi_word_rhyme_never_overlaps_itself() -> None:
    # cat, bat, hat, mad: one vowel each, all AE, so the vowel sequence is AE AE AE AE (positions 0..3).
    # bat-cat and hat-bat/hat-cat: 1 (extending back would reuse the other word's own vowel: overlap).
    # mad against bat (end 1): vowels 2-3 against 0-1, disjoint -> 2 ("hat mad" ~ "cat bat").
    # Without the no-overlap bound hat would score 2 and mad 3; without the start bound mad would read seq[-1].
    assert longest_rhymes(["cat", "bat", "hat", "mad"], 15) == [0, 1, 1, 2]
    # Each word's value is the best over the window: with window 1 mad only sees hat -> 1.
    assert longest_rhymes(["cat", "bat", "hat", "mad"], 1) == [0, 1, 1, 1]


@pytest.mark.parametrize("line", [["duh", "a", "end"], ["a", "duh", "end"], ["the", "a", "end"]])
def test_an_unstressed_article_is_no_internal_rhyme(line: list[str]) -> None:
    # "a" (AH0) and "the" (DH AH0) are unstressed; "duh" (D AH1) is stressed with the same tail ("AH",):
    # neither order may count, so both the word's and the earlier word's stress are checked.
    assert internal_rhyme_rate([line], 15) == 0.0


def test_a_stressed_pair_is_an_internal_rhyme() -> None:
    # Positive control for the test above: "uh" (AH1) after "duh" (AH1) rhymes; 2 words do not end the line.
    assert internal_rhyme_rate([["duh", "uh", "end"]], 15) == pytest.approx(1 / 2)
    assert internal_rhyme_rate([["duh", "uh", "end"]], 0) == 0.0  # nothing in a window of 0
