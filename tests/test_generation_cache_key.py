"""Completeness of the /generate and /style_transfer reply cache key, as a property: changing any one input that
shapes a reply (a request field, or a setting of `generation`, `index` or `embed`) changes the key; the settings
listed below (with the reason) must not. A new setting fails here until it is keyed or listed."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
from helpers import params_with

from rap_analyzer.config import EmbedParams, GenerationParams, IndexParams
from rap_analyzer.serve.generation import cache_key, reply_fields

REQUEST: dict[str, Any] = {"endpoint": "generate", "text": "late nights in the studio", "artist": "Artist A", "k": 3,
                           "max_tokens": 64, "temperature": 0.0, "seed": None, "model": "smollm2-135m",
                           "classifier_tag": "rap-analyzer-artist-classifier:v1"}
OTHER_REQUEST: dict[str, Any] = {"endpoint": "style_transfer", "text": "late nights in the booth", "artist": "Artist B",
                                 "k": 2, "max_tokens": 65, "temperature": 0.7, "seed": 7, "model": "qwen2.5-7b",
                                 "classifier_tag": "rap-analyzer-artist-classifier:v2"}

# Settings that do not change a reply once the request is known, and why:
NOT_KEYED = {
    ("generation", "enabled"): "switched off, nothing is generated",
    ("generation", "classifier_tag"): "`latest` names other versions over time: the resolved tag is keyed instead",
    ("generation", "default_k"): "a request default, resolved into the request's k before the key is made",
    ("generation", "max_tokens"): "a request default, resolved into the request's max_tokens",
    ("generation", "temperature"): "a request default, resolved into the request's temperature",
    ("generation", "max_k"): "a bound a request is refused against (400), not an input",
    ("generation", "max_prompt_chars"): "a bound (400)", ("generation", "max_lyrics_chars"): "a bound (400)",
    ("generation", "max_tokens_limit"): "a bound (400)",
    ("index", "m"): "takes effect when the corpus is re-indexed, which the key does not follow (TTL-bound)",
    ("index", "ef_construction"): "the same: an index build setting",
    ("index", "batch_size"): "how many tracks are written per transaction while indexing",
    ("embed", "batch_size"): "encoding speed; a query is one text",
    ("embed", "backend"): "the stored vectors' backend (agreeing to cosine 0.99); queries are encoded by torch",
}
# A different valid value per setting (bounds kept: default_k <= max_k, max_tokens <= max_tokens_limit, ...).
OTHER_SETTING: dict[tuple[str, str], Any] = {
    ("generation", "enabled"): "flip", ("generation", "classifier_tag"): "v9", ("generation", "default_k"): 0,
    ("generation", "max_k"): 20, ("generation", "example_chars"): 51, ("generation", "max_prompt_chars"): 19_999,
    ("generation", "max_lyrics_chars"): 19_999, ("generation", "max_tokens"): 1,
    ("generation", "max_tokens_limit"): 4096, ("generation", "temperature"): 1.9,
    ("generation", "verbatim_run_words"): 999, ("index", "m"): 4, ("index", "ef_construction"): 999,
    ("index", "ef_search"): 999, ("index", "batch_size"): 12_345, ("embed", "model"): "/models/another-encoder",
    ("embed", "batch_size"): 12_345, ("embed", "max_seq_length"): 511, ("embed", "backend"): "flip",
}
SETTINGS = [(section, name) for section, model in (("generation", GenerationParams), ("index", IndexParams),
                                                   ("embed", EmbedParams)) for name in model.model_fields]


def key(params: Any = None, **request: Any) -> str:
    return cache_key(reply_fields(params or params_with(), **{**REQUEST, **request}))


@pytest.mark.parametrize("field", sorted(REQUEST))
def test_every_request_field_changes_the_key(field: str) -> None:
    assert key(**{field: OTHER_REQUEST[field]}) != key()


def test_no_artist_and_an_artist_are_different_keys() -> None:
    assert key(artist=None) != key()


@pytest.mark.parametrize(("section", "name"), SETTINGS)
def test_every_setting_that_shapes_a_reply_changes_the_key(section: str, name: str) -> None:
    base = params_with()
    value = getattr(getattr(base, section), name)
    other = OTHER_SETTING[(section, name)]
    if other == "flip":
        other = (not value) if isinstance(value, bool) else ("torch" if value != "torch" else "onnx")
    modified = params_with({section: {name: other}})
    assert getattr(getattr(modified, section), name) != value
    differs = key(modified) != key(base)
    assert differs is ((section, name) not in NOT_KEYED), NOT_KEYED.get((section, name), "must be in the key")


def test_the_key_is_the_sha256_of_the_sorted_json_of_the_fields() -> None:
    fields = {"b": 1, "a": "é"}  # the definition written out: canonical JSON, sorted keys, UTF-8, hex digest
    assert cache_key(fields) == hashlib.sha256('{"a": "é", "b": 1}'.encode()).hexdigest()
