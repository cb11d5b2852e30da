"""The prompt and the reply parser: no example values in the prompt, think blocks and fences handled, and every
unusable reply a failure with a countable reason (never a filled-in score)."""

from __future__ import annotations

import json
import re

import pytest

from rap_analyzer.models.llm.prompt import SYSTEM_PROMPT, build_messages, truncate_lyrics
from rap_analyzer.models.llm.schema import Analysis, ParseFailure, parse_reply, strip_think

VALID = {
    "themes": ["ambition", "loyalty"], "mood": "defiant", "rhyme_scheme": "couplets", "flow": "steady, laid back",
    "complexity": 6, "lyrical_quality": 7, "commercial_potential": 4, "estimated_release_year": 2004,
    "explicitness": "explicit", "language": "en",
}


def reply(**changes: object) -> str:
    data = {**VALID, **changes}
    return json.dumps({k: v for k, v in data.items() if v is not ...})


def test_prompt_names_every_field_and_gives_no_example_values() -> None:
    for field in Analysis.model_fields:
        assert f'"{field}"' in SYSTEM_PROMPT
    # a key followed by a value would be an example the model could copy
    assert re.search(r'"\w+"\s*:\s*["\d\[{]', SYSTEM_PROMPT) is None
    assert "ISO 639-1" in SYSTEM_PROMPT  # the language field is validated as such a code
    assert "{" not in SYSTEM_PROMPT


def test_long_lyrics_are_truncated_and_the_prompt_says_so() -> None:
    lyrics = "\n".join(f"line number {i} of a long verse" for i in range(200))
    messages = build_messages(lyrics, max_chars=300)
    user = messages[1]["content"]
    assert "first 300 characters" in user
    shown, cut = truncate_lyrics(lyrics, 300)
    assert cut and len(shown) <= 300 and shown in user and not shown.endswith("of a long")
    short = build_messages("just one short line", max_chars=300)[1]["content"]
    assert "characters are shown" not in short and "just one short line" in short
    with pytest.raises(ValueError, match="empty lyrics"):
        build_messages("   ", max_chars=300)


def test_valid_reply_parses_to_the_values_given() -> None:
    analysis = parse_reply(reply())
    assert analysis.model_dump() == VALID


@pytest.mark.parametrize("text", [
    "<think>The user wants JSON. {\"complexity\": 2}</think>\n" + reply(),
    "reasoning that started in the template</think>" + reply(),
    "```json\n" + reply() + "\n```",
    "<think>hmm</think>Here is the analysis:\n```json\n" + reply() + "\n```\nHope this helps!",
    "Sure! " + reply() + " Anything else?",
])
def test_think_blocks_fences_and_chatter_are_removed(text: str) -> None:
    assert parse_reply(text).model_dump() == VALID


def test_unclosed_think_block_is_dropped() -> None:
    assert strip_think(reply() + "<think>and now I reconsider {") == reply()
    with pytest.raises(ParseFailure) as info:
        parse_reply("<think>the lyrics mention money, so complexity might be")
    assert info.value.reason == "only_thinking"


@pytest.mark.parametrize(("text", "reason"), [
    ("", "empty_reply"),
    (None, "empty_reply"),
    ("I cannot analyse these lyrics.", "no_json"),
    ('{"themes": ["x"], "mood": "sad",', "invalid_json"),
    ("[1, 2, 3]", "no_json"),
    ('"just a string"', "no_json"),
    (reply(commercial_potential=11), "validation: commercial_potential out of range"),
    (reply(complexity=0), "validation: complexity out of range"),
    (reply(lyrical_quality=7.5), "validation: lyrical_quality wrong type"),
    (reply(lyrical_quality=True), "validation: lyrical_quality wrong type"),
    (reply(estimated_release_year="the nineties"), "validation: estimated_release_year wrong type"),
    (reply(estimated_release_year=1776), "validation: estimated_release_year out of range"),
    (reply(explicitness="very"), "validation: explicitness not an allowed value"),
    # what SmolLM2 wrote under the old schema: the name of the standard, not a code
    (reply(language="ISO639-1"), "validation: language not an allowed value"),
    (reply(language="English"), "validation: language not an allowed value"),
    (reply(language="e"), "validation: language not an allowed value"),
    (reply(language="en-US"), "validation: language not an allowed value"),
    (reply(language=...), "validation: language missing"),
    (reply(mood=...), "validation: mood missing"),
    (reply(themes=[]), "validation: themes too_short"),
    # a missing field outranks other problems in the countable reason
    (reply(complexity=42, flow=...), "validation: flow missing"),
])
def test_unusable_replies_fail_with_a_reason(text: str | None, reason: str) -> None:
    with pytest.raises(ParseFailure) as info:
        parse_reply(text)
    assert info.value.reason == reason


def test_answer_wrapped_in_a_list_is_still_the_answer() -> None:
    assert parse_reply("[" + reply() + "]").model_dump() == VALID


def test_lenient_where_it_cannot_change_a_score() -> None:
    analysis = parse_reply(reply(explicitness=" Explicit ", complexity="6", extra_commentary="nice"))
    assert analysis.explicitness == "explicit" and analysis.complexity == 6
    assert parse_reply(reply(language=" EN ")).language == "en"
    assert not hasattr(analysis, "extra_commentary")


def test_release_year_bounds_are_today_and_the_documented_minimum() -> None:
    # A year not yet reached is a guess, not an estimate: it fails (counted), never clipped to this year.
    from datetime import date

    from rap_analyzer.models.llm.schema import MIN_ESTIMATED_YEAR

    this_year = date.today().year
    assert parse_reply(reply(estimated_release_year=this_year)).estimated_release_year == this_year
    assert parse_reply(reply(estimated_release_year=MIN_ESTIMATED_YEAR)).estimated_release_year == MIN_ESTIMATED_YEAR
    for year in (this_year + 1, MIN_ESTIMATED_YEAR - 1):
        with pytest.raises(ParseFailure) as info:
            parse_reply(reply(estimated_release_year=year))
        assert info.value.reason == "validation: estimated_release_year out of range"


@pytest.mark.parametrize("themes", [["ambition", ""], ["   "], ["\t\n"]])
def test_a_blank_theme_is_a_failure(themes: list[str]) -> None:
    with pytest.raises(ParseFailure) as info:
        parse_reply(reply(themes=themes))
    assert info.value.reason.startswith("validation: themes")
