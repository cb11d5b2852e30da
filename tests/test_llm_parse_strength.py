"""Reply parsing behaviours the parse tests leave open (issue 16): reasoning that a chat template opened, braces
in prose around the answer, nested objects, the detail each failure carries for the failure log, and which error
names a reply with several. Oracles: the json module's own error for the same text, and the documented priority
missing > wrong type > out of range > not an allowed value."""

from __future__ import annotations

import json
from datetime import date

import pytest
from helpers import VALID

from rap_analyzer.models.llm.schema import MIN_ESTIMATED_YEAR, Analysis, ParseFailure, decoding_schema, parse_reply

ANSWER = json.dumps(VALID)


def failure(text: str | None) -> ParseFailure:
    with pytest.raises(ParseFailure) as info:
        parse_reply(text)
    return info.value


def test_reasoning_opened_by_the_template_is_dropped_up_to_its_last_close() -> None:
    assert parse_reply(f"Let me think {{maybe}}.</think>\n{ANSWER}").mood == VALID["mood"]
    assert parse_reply(f"first {{idea}}</THINK> second {{idea}}</Think>{ANSWER}").mood == VALID["mood"]


def test_a_reply_of_reasoning_only_says_so() -> None:
    for text in ("<think>hmm, the hook repeats</think>", "<think>still thinking when the tokens ran out"):
        error = failure(text)
        assert (error.reason, error.detail) == (
            "only_thinking", "the reply held reasoning but no answer (raise max_tokens?)")
        assert str(error) == "only_thinking: the reply held reasoning but no answer (raise max_tokens?)"


def test_the_fenced_answer_wins_over_braces_in_the_prose_before_it() -> None:
    text = f"Using the {{schema}} you gave:\n```json\n{ANSWER}\n```\nDone."
    assert parse_reply(text).themes == VALID["themes"]


def test_an_answer_holding_a_nested_object_is_read_from_its_first_brace() -> None:
    assert parse_reply(json.dumps({**VALID, "notes": {"hook": "repeats"}})).complexity == VALID["complexity"]


def test_failures_carry_the_text_or_error_behind_them() -> None:
    prose = "no json here " * 30
    error = failure(prose)
    assert (error.reason, error.detail) == ("no_json", prose[:200])
    broken = '{"themes": ["a"], mood: defiant}'
    with pytest.raises(json.JSONDecodeError) as expected:
        json.JSONDecoder().raw_decode(broken)
    error = failure(broken)
    assert (error.reason, error.detail) == ("invalid_json", str(expected.value))
    assert str(error) == f"invalid_json: {expected.value}"
    empty = failure("   ")
    assert (empty.reason, empty.detail, str(empty)) == ("empty_reply", "", "empty_reply")


def test_the_most_telling_error_names_the_failure_and_all_are_detailed() -> None:
    # explicitness comes first in field order but a missing field is more telling.
    data = {k: v for k, v in VALID.items() if k != "language"} | {"explicitness": "spicy"}
    error = failure(json.dumps(data))
    assert error.reason == "validation: language missing"
    assert error.detail == ("explicitness: Input should be 'clean', 'mild' or 'explicit'; "
                            "language: Field required")


@pytest.mark.parametrize(("field", "value"), [("mood", 7), ("themes", "ambition")])
def test_a_value_of_the_wrong_json_type_is_a_wrong_type(field: str, value: object) -> None:
    assert failure(json.dumps({**VALID, field: value})).reason == f"validation: {field} wrong type"


def test_the_item_of_a_list_is_named_in_the_detail() -> None:
    assert failure(json.dumps({**VALID, "themes": ["ambition", 5]})).detail == (
        "themes.1: Input should be a valid string")


@pytest.mark.parametrize("text", ["plan</think><think>plan again, out of tokens",
                                  "<think>a first thought <think>a nested one, out of tokens"])
def test_reasoning_left_open_after_other_reasoning_is_still_only_reasoning(text: str) -> None:
    assert failure(text).reason == "only_thinking"


# --- the decoding schema, checked by a JSON Schema validator (jsonschema, Draft 2020-12) --------------------------

def admitted(document: object) -> bool:
    from jsonschema import Draft202012Validator

    schema = decoding_schema()
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema).is_valid(document)


def test_the_schema_admits_a_valid_analysis_at_every_bound() -> None:
    this_year = date.today().year
    for changes in ({}, {"complexity": 1}, {"lyrical_quality": 10}, {"themes": ["one"]}, {"themes": ["t"] * 5},
                    {"estimated_release_year": MIN_ESTIMATED_YEAR}, {"estimated_release_year": this_year},
                    {"explicitness": "clean"}, {"explicitness": "mild"}, {"explicitness": "explicit"}):
        document = {**VALID, **changes}
        assert admitted(document), changes
        Analysis.model_validate(document)  # and the validator agrees


@pytest.mark.parametrize("changes", [
    {"complexity": 0}, {"commercial_potential": 11},
    {"estimated_release_year": MIN_ESTIMATED_YEAR - 1}, {"estimated_release_year": date.today().year + 1},
    {"themes": []}, {"themes": ["t"] * 6}, {"themes": "ambition"}, {"themes": [5]},
    {"mood": 5}, {"flow": "two\nlines"}, {"explicitness": "spicy"}, {"language": 5}, {"language": "eng"},
    {"notes": "an extra key"},
])
def test_the_schema_refuses_out_of_bounds_and_mistyped_values(changes: dict[str, object]) -> None:
    # Stricter than `Analysis` in places on purpose (at most 5 themes, one-line text, no extra keys): it shapes
    # what the sampler writes.
    assert not admitted({**VALID, **changes})


def test_the_schema_wants_an_object_with_every_field() -> None:
    assert not admitted([VALID]) and not admitted("analysis")
    for field in VALID:
        assert not admitted({k: v for k, v in VALID.items() if k != field}), field
