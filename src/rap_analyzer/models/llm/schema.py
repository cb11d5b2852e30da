"""The structured analysis an LLM returns, and the parser that turns a raw reply into one or a failure.

A reply that cannot be parsed or validated raises `ParseFailure` with a short, countable `reason`
("invalid_json", "validation: commercial_potential out of range", ...); no field is ever filled in or clipped
into range, because a made-up score would look like a measurement.
"""

from __future__ import annotations

import json
import re
from datetime import date
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

MIN_ESTIMATED_YEAR = 1900  # earlier "release years" are not estimates of a recording, they are noise
# An ISO 639-1 code, as the prompt asks; without it "ISO639-1" or "English, mostly" would count as answers.
LANGUAGE_PATTERN = r"^[a-z]{2}$"
# What the decoding schema lets a free-text field hold: 1 to 60 characters, no quote, backslash or control character.
TEXT_PATTERN = r'^[^"\\\x00-\x1f]{1,60}$'


class ParseFailure(ValueError):
    """A reply that is not a valid analysis; `reason` is for counting, `detail` for the failure log."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason, self.detail = reason, detail


class Analysis(BaseModel):
    # Extra keys are ignored (models add commentary fields); missing or mistyped keys are failures.
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    themes: list[str] = Field(min_length=1, max_length=10)
    mood: str = Field(min_length=1, max_length=80)
    rhyme_scheme: str = Field(min_length=1, max_length=80)
    flow: str = Field(min_length=1, max_length=200)
    complexity: int = Field(ge=1, le=10)
    lyrical_quality: int = Field(ge=1, le=10)
    commercial_potential: int = Field(ge=1, le=10)
    estimated_release_year: int
    explicitness: Literal["clean", "mild", "explicit"]
    language: str = Field(pattern=LANGUAGE_PATTERN)

    @field_validator("themes")
    @classmethod
    def _themes_not_blank(cls, themes: list[str]) -> list[str]:
        if any(not theme.strip() for theme in themes):
            raise ValueError("blank theme")
        return themes

    @field_validator("complexity", "lyrical_quality", "commercial_potential", "estimated_release_year",
                     mode="before")
    @classmethod
    def _no_bool_numbers(cls, value: Any) -> Any:
        # pydantic's lax mode reads true as 1; a boolean is not a score
        if isinstance(value, bool):
            raise ValueError("boolean is not an integer")
        return value

    @field_validator("estimated_release_year")
    @classmethod
    def _plausible_year(cls, year: int) -> int:
        if not MIN_ESTIMATED_YEAR <= year <= date.today().year:
            raise ValueError(f"year out of range [{MIN_ESTIMATED_YEAR}, {date.today().year}]")
        return year

    @field_validator("explicitness", "language", mode="before")
    @classmethod
    def _lower(cls, value: Any) -> Any:
        return value.strip().lower() if isinstance(value, str) else value


def decoding_schema() -> dict[str, Any]:
    """The analysis as a JSON schema a grammar-constrained sampler can follow (llama.cpp's server turns it into
    a grammar). Its converter ignores integer minimum/maximum, so score and year ranges are spelled as enums;
    it does support `pattern` (anchored, simple regexes), which holds the language to two lower-case letters.
    It shapes what the model may write; the reply is still validated by `Analysis` like any other."""
    score = {"type": "integer", "enum": list(range(1, 11))}
    # A pattern, not minLength/maxLength: llama-cpp-python's converter lets a length-bounded string hold any
    # character but '"' and '\\', raw newlines included, which no JSON parser accepts (3 of 30 replies were
    # invalid_json for that). This class also leaves out backslash escapes, which a short label does not need.
    text = {"type": "string", "pattern": TEXT_PATTERN}
    properties: dict[str, Any] = {
        "themes": {"type": "array", "items": text, "minItems": 1, "maxItems": 5},
        "mood": text, "rhyme_scheme": text, "flow": text,
        "complexity": score, "lyrical_quality": score, "commercial_potential": score,
        "estimated_release_year": {"type": "integer",
                                   "enum": list(range(MIN_ESTIMATED_YEAR, date.today().year + 1))},
        "explicitness": {"type": "string", "enum": ["clean", "mild", "explicit"]},
        "language": {"type": "string", "pattern": LANGUAGE_PATTERN},
    }
    return {"type": "object", "properties": properties, "required": list(properties),
            "additionalProperties": False}


_THINK_BLOCK = re.compile(r"<think>.*?</think>", re.DOTALL | re.IGNORECASE)
_FENCE = re.compile(r"```(?:json)?\s*(.*?)```", re.DOTALL | re.IGNORECASE)
_RANGE_ERRORS = {"greater_than_equal", "less_than_equal", "greater_than", "less_than"}


def strip_think(text: str) -> str:
    """Drop reasoning: closed `<think>` blocks, an unclosed one (the reply ran out of tokens while thinking),
    and a leading block whose `<think>` was part of the chat template so only `</think>` is in the reply."""
    text = _THINK_BLOCK.sub("", text)
    lower = text.lower()
    if "</think>" in lower:
        text = text[lower.rfind("</think>") + len("</think>"):]
        lower = text.lower()
    if "<think>" in lower:
        text = text[: lower.find("<think>")]
    return text.strip()


def extract_json_object(text: str) -> dict[str, Any]:
    """The first JSON object in `text`, also inside a ```json fence."""
    fenced = _FENCE.search(text)
    if fenced:
        text = fenced.group(1)
    start = text.find("{")
    if start < 0:
        raise ParseFailure("no_json", text[:200])
    try:
        value, _ = json.JSONDecoder().raw_decode(text[start:])
    except json.JSONDecodeError as exc:
        raise ParseFailure("invalid_json", str(exc)) from exc
    return value  # decoding from a "{" always yields a dict


def _error_kind(error: dict[str, Any]) -> str:
    kind, msg = error["type"], error["msg"]
    if kind == "missing":
        return "missing"
    if kind.startswith(("int_", "string_type", "list_type")) or "not an integer" in msg:
        return "wrong type"
    if kind in _RANGE_ERRORS or "out of range" in msg:
        return "out of range"
    if kind in ("literal_error", "string_pattern_mismatch"):
        return "not an allowed value"
    return kind


_PRIORITY = ("missing", "wrong type", "out of range", "not an allowed value")


def _validation_reason(exc: ValidationError) -> tuple[str, str]:
    """The most telling error as a countable reason ("validation: mood missing"), and all of them as detail."""
    errors = exc.errors(include_url=False)
    kinds = [_error_kind(e) for e in errors]
    rank = [_PRIORITY.index(k) if k in _PRIORITY else len(_PRIORITY) for k in kinds]
    first = rank.index(min(rank))
    field = str(errors[first]["loc"][0]) if errors[first]["loc"] else "reply"
    detail = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in errors)
    return f"validation: {field} {kinds[first]}", detail


def parse_reply(text: str | None) -> Analysis:
    """Validated analysis from a raw model reply; raises `ParseFailure` with a reason otherwise."""
    if text is None or not text.strip():
        raise ParseFailure("empty_reply")
    body = strip_think(text)
    if not body:
        raise ParseFailure("only_thinking", "the reply held reasoning but no answer (raise max_tokens?)")
    data = extract_json_object(body)
    try:
        return Analysis.model_validate(data)
    except ValidationError as exc:
        reason, detail = _validation_reason(exc)
        raise ParseFailure(reason, detail) from exc
