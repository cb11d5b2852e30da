"""The LLM reply cache (issue 16) against its definition, written out here from the module's docstring: the key is
`llm_reply:<model>|<prompt version>|<settings>|<sha1 of the lyrics>`, `<settings>` the first 10 hex digits of the
sha1 of the sorted JSON of what changes a reply. A key computed any other way silently drops every reply cached
under the old one (each a paid or slow LLM call), so the exact key is pinned, not only that keys differ
(tests/test_cache_keys.py). Replies are read back from a real Redis (the `redis_client` fixture)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict
from typing import Any

import pytest
import redis
from helpers import params_with

from rap_analyzer.config import LLMParams
from rap_analyzer.models.llm.base import Reply
from rap_analyzer.models.llm.cache import ReplyCache, settings_fingerprint
from rap_analyzer.models.llm.prompt import PROMPT_VERSION, prompt_fingerprint
from rap_analyzer.models.llm.schema import decoding_schema

LYRICS_SHA1 = hashlib.sha1(b"I got money on my mind").hexdigest()
REPLY = Reply(text='{"themes": ["money"]}', latency_s=1.5, tokens_in=600, tokens_out=40, attempts=2,
              json_mode=True, finish_reason="stop")


def llm(**changes: Any) -> LLMParams:
    return params_with({"llm_eval": changes}).llm_eval


def sha10(text: str) -> str:
    return hashlib.sha1(text.encode()).hexdigest()[:10]


def expected_settings(params: LLMParams, schema_keyed: bool, seed_keyed: bool) -> str:
    """The settings part as the docstring defines it; which of schema and seed count is given by each test."""
    settings: dict[str, Any] = {
        "prompt": prompt_fingerprint(), "temperature": params.temperature, "max_tokens": params.max_tokens,
        "json_mode": params.json_mode, "max_lyrics_chars": params.max_lyrics_chars,
        "schema_decoding": sha10(json.dumps(decoding_schema(), sort_keys=True)) if schema_keyed else False,
    }
    if seed_keyed:
        settings["seed"] = params.seed
    return sha10(json.dumps(settings, sort_keys=True))


@pytest.mark.parametrize(("changes", "schema_keyed", "seed_keyed"), [
    ({"backend": "local", "schema_decoding": True, "temperature": 0.0}, True, False),  # the local server follows it
    ({"backend": "local", "schema_decoding": False, "temperature": 0.0}, False, False),
    ({"backend": "openai", "schema_decoding": True, "temperature": 0.0}, False, False),  # hosted APIs do not
    ({"backend": "local", "schema_decoding": True, "temperature": 0.7}, True, True),  # above 0 the seed picks
    ({"backend": "openai", "schema_decoding": False, "temperature": 0.01, "seed": 11}, False, True),  # just above 0
])
def test_settings_part_is_the_sha1_of_the_sorted_settings(changes: dict[str, Any], schema_keyed: bool,
                                                           seed_keyed: bool) -> None:
    params = llm(**changes)
    assert settings_fingerprint(params) == expected_settings(params, schema_keyed, seed_keyed)


def test_reply_is_stored_under_the_documented_key_without_expiry(redis_client: redis.Redis) -> None:
    params = llm(backend="local", schema_decoding=True, temperature=0.0)
    ReplyCache.from_client(redis_client, params).set("smol-135m", LYRICS_SHA1, REPLY)
    key = f"llm_reply:smol-135m|{PROMPT_VERSION}|{expected_settings(params, True, False)}|{LYRICS_SHA1}"
    assert redis_client.keys("*") == [key.encode()]
    stored = json.loads(redis_client.get(key))  # type: ignore[arg-type]
    assert stored == {"text": '{"themes": ["money"]}', "latency_s": 1.5, "tokens_in": 600, "tokens_out": 40,
                      "attempts": 2, "json_mode": True, "finish_reason": "stop"}
    assert redis_client.ttl(key) == -1  # a reply costs a model call: kept until Redis evicts it


def test_a_cached_reply_comes_back_whole_for_the_same_model_settings_and_lyrics(redis_client: redis.Redis) -> None:
    params = llm(temperature=0.0)
    cache = ReplyCache.from_client(redis_client, params)
    assert cache.get("smol-135m", LYRICS_SHA1) is None  # nothing cached yet
    cache.set("smol-135m", LYRICS_SHA1, REPLY)
    assert ReplyCache.from_client(redis_client, params).get("smol-135m", LYRICS_SHA1) == REPLY
    assert cache.get("other-model", LYRICS_SHA1) is None
    assert cache.get("smol-135m", hashlib.sha1(b"other lyrics").hexdigest()) is None
    hotter = ReplyCache.from_client(redis_client, llm(temperature=0.5))
    assert hotter.get("smol-135m", LYRICS_SHA1) is None


@pytest.mark.parametrize("stored", [
    {**asdict(REPLY), "reasoning": "a field this Reply no longer has"},
    {key: value for key, value in asdict(REPLY).items() if key != "attempts"},  # a field it has now, missing
])
def test_a_reply_of_another_shape_is_asked_again(redis_client: redis.Redis, stored: dict[str, Any]) -> None:
    params = llm(temperature=0.0)
    cache = ReplyCache.from_client(redis_client, params)
    redis_client.set(f"llm_reply:{cache.key('smol-135m', LYRICS_SHA1)}", json.dumps(stored))
    assert cache.get("smol-135m", LYRICS_SHA1) is None
