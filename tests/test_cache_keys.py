"""Completeness of cache keys and fingerprints, as a property: for every field of the settings section or record,
changing that one field changes the key, except the fields listed (with the reason) as not changing a reply or a
stored row. A new field fails here until it is either put into the key or listed with its reason."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pytest
from helpers import params_with

from rap_analyzer.config import FeaturesParams, LLMParams
from rap_analyzer.features import cache as feature_cache
from rap_analyzer.models.llm.cache import settings_fingerprint
from rap_analyzer.scrape.merge import Alias
from rap_analyzer.scrape.pipeline import _processed_key
from rap_analyzer.store.records import TrackRecord

BASE = params_with({"llm_eval": {"backend": "local", "temperature": 0.7, "schema_decoding": True}}).llm_eval
# LLMParams fields that do not change what the model replies (so a cached reply stays valid), and why:
NOT_IN_REPLY_KEY = {
    "backend": "one model name is one model, whoever serves it (cache.py); the schema it implies is keyed",
    "base_url": "where the model is served, not which model",
    "model": "in the key itself (ReplyCache.key), not in the settings part",
    "api_key_env": "a credential's name",
    "local_model_path": "the served model's name (LocalServer.model) is the key's model part",
    "eval_limit": "how many tracks are asked, not what they answer",
    "train_sample": "how many tracks are asked",
    "concurrency": "requests in flight; replies at temperature 0 do not depend on it",
    "requests_per_minute": "pacing", "max_retries": "transport", "timeout_s": "transport",
    "n_ctx": "context size; a prompt that does not fit fails instead of replying",
    "n_threads": "speed", "breaker_failures": "transport", "breaker_cooldown_s": "transport",
    "n_bootstrap": "scoring after the replies", "price_per_1m_input_usd": "cost accounting",
    "price_per_1m_output_usd": "cost accounting",
}


def changed(value: Any) -> Any:
    """A different valid value of the same type."""
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return value + 1
    if isinstance(value, float):
        return value / 2 + 0.1
    if value is None:
        return 3
    return f"{value}-other"


# prompt_version has one allowed value today; a bump is in the key itself (ReplyCache.key).
@pytest.mark.parametrize("name", sorted(set(LLMParams.model_fields) - {"prompt_version"}))
def test_every_llm_setting_that_changes_a_reply_changes_the_reply_cache_key(name: str) -> None:
    # The backend alone: without schema decoding (keyed separately, below), which only the local backend follows.
    base = BASE.model_copy(update={"schema_decoding": False}) if name == "backend" else BASE
    value = getattr(base, name)
    other = {"backend": "openai", "api_key_env": "OTHER_KEY", "base_url": "http://127.0.0.1:9/v1",
             "local_model_path": "/models/other.gguf"}.get(name, changed(value))
    modified = LLMParams.model_validate({**base.model_dump(), name: other})
    assert getattr(modified, name) != value
    differs = settings_fingerprint(modified) != settings_fingerprint(base)
    assert differs is (name not in NOT_IN_REPLY_KEY), f"{name}: {NOT_IN_REPLY_KEY.get(name, 'must be in the key')}"


def test_seed_does_not_split_the_cache_at_temperature_zero() -> None:
    # At temperature 0 the sampler's seed changes nothing: a new bootstrap seed must still reuse the replies.
    zero = BASE.model_copy(update={"temperature": 0.0})
    assert settings_fingerprint(zero) == settings_fingerprint(zero.model_copy(update={"seed": zero.seed + 1}))


def test_schema_is_keyed_only_where_the_local_server_follows_it() -> None:
    remote = BASE.model_copy(update={"backend": "openai"})
    assert settings_fingerprint(remote) == settings_fingerprint(remote.model_copy(update={"schema_decoding": False}))
    assert settings_fingerprint(BASE) != settings_fingerprint(BASE.model_copy(update={"schema_decoding": False}))


RECORD = TrackRecord(
    source_key="genius:1", source="dump", title="T", artist="A", lyrics_raw="raw", lyrics_clean="clean",
    sections=["[Verse 1]"], genius_id=1, featured_artists=["F"], producer_artists=["P"], writer_artists=["W"],
    album="Al", release_date=date(2010, 1, 2), release_date_raw="2010-01-02", url="https://genius.com/x",
    pageviews=10, annotation_count=2, pyongs_count=3, language="en", content_hash="h")
# TrackRecord fields a re-scrape may change without the stored row changing: none. Every field is a column.
NOT_IN_FINGERPRINT: set[str] = set()


def changed_field(value: Any) -> Any:
    if isinstance(value, list):
        return [*value, "x"]
    if isinstance(value, date):
        return date(value.year + 1, 1, 1)
    return changed(value)


@pytest.mark.parametrize("name", sorted(TrackRecord.__dataclass_fields__))
def test_every_stored_field_changes_the_unchanged_fingerprint(name: str) -> None:
    # A re-scraped record whose pageviews (or any column) changed must be rewritten, not counted "unchanged".
    modified = TrackRecord(**{**RECORD.as_row(), name: changed_field(getattr(RECORD, name))})
    before, after = _processed_key(RECORD), _processed_key(modified)
    assert (before != after) is (name not in NOT_IN_FINGERPRINT), name


@pytest.mark.parametrize("name", ["source_key", "source", "artist", "title", "content_hash"])
def test_every_alias_field_changes_the_unchanged_fingerprint(name: str) -> None:
    alias_record = TrackRecord(source_key="catalog:2", source="catalog", title="T", artist="A2", lyrics_raw="r",
                               content_hash="h2")
    alias = Alias(alias_record, RECORD.source_key, "same_lyrics")
    other = TrackRecord(**{**alias_record.as_row(), name: changed(getattr(alias_record, name))})
    assert _processed_key(RECORD, [alias]) != _processed_key(RECORD, [Alias(other, RECORD.source_key, "same_lyrics")])
    assert _processed_key(RECORD, [alias]) != _processed_key(RECORD, [Alias(alias_record, RECORD.source_key, "x")])
    assert _processed_key(RECORD, [alias]) != _processed_key(RECORD)


@pytest.mark.parametrize("name", sorted(FeaturesParams.model_fields))
def test_every_feature_setting_changes_the_feature_cache_file(name: str, tmp_path: Path) -> None:
    # Every FeaturesParams field changes some feature value, so none may be left out of the cache file's name.
    base = params_with().features
    other = base.model_copy(update={name: getattr(base, name) + 1})
    assert feature_cache.cache_file(tmp_path, other) != feature_cache.cache_file(tmp_path, base)


@pytest.mark.parametrize("package", ["pronouncing", "anyascii"])
def test_each_dictionary_package_version_changes_the_feature_cache_file(package: str, tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    # One package at a time (patching both at once would hide one of them missing from the fingerprint).
    base = params_with().features
    feature_cache.code_fingerprint.cache_clear()
    before = feature_cache.cache_file(tmp_path, base)
    real = feature_cache.metadata.version
    monkeypatch.setattr(feature_cache.metadata, "version", lambda n: "0.0-other" if n == package else real(n))
    feature_cache.code_fingerprint.cache_clear()
    try:
        assert feature_cache.cache_file(tmp_path, base) != before
    finally:
        feature_cache.code_fingerprint.cache_clear()
