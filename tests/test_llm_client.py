"""`LLMClient` against a loopback OpenAI-compatible server that replays scripted replies: retries with the
delays they should have, fatal authentication errors, JSON-mode fallback and the failure accounting."""

from __future__ import annotations

import json
import random
import re
from typing import Any

import pytest
from helpers import CHAT, KEY, VALID, Recorder, bodies, completion, error, params_with
from http_replay import ReplayServer, Response

from rap_analyzer.config import Secrets
from rap_analyzer.errors import LLMAuthError, LLMFatalError, UserError
from rap_analyzer.models.llm.client import LLMClient, resolve_endpoint
from rap_analyzer.models.llm.records import analyze
from rap_analyzer.models.llm.schema import LANGUAGE_PATTERN, TEXT_PATTERN, Analysis, decoding_schema
from rap_analyzer.resilience import RateLimiter, RetryPolicy

LYRICS = "Started from the corner, now the whole block knows\nEvery verse I write is how the story goes"


def make_client(server: ReplayServer, sleeps: Recorder, max_retries: int = 3, **params: Any) -> LLMClient:
    changes = {"backend": "openai", "model": "test-model", "max_retries": max_retries, **params}
    llm = params_with({"llm_eval": changes}).llm_eval
    retry = RetryPolicy(max_retries=max_retries, base_delay_s=0.5, sleep=sleeps, rng=random.Random(0))
    limiter = RateLimiter(60_000, sleep=sleeps)
    return LLMClient(llm, f"{server.url}/v1", KEY, retry=retry, limiter=limiter)


def test_reply_with_think_block_parses_and_is_accounted() -> None:
    sleeps = Recorder()
    content = "<think>The user wants a JSON analysis.</think>\n```json\n" + json.dumps(VALID) + "\n```"
    with ReplayServer({CHAT: completion(content, 150, 60)}) as server:
        record = analyze(make_client(server, sleeps), LYRICS, 1500)
        sent = bodies(server)
    assert record.ok and record.analysis == VALID and record.failure is None
    assert (record.tokens_in, record.tokens_out, record.attempts, record.cached) == (150, 60, 1, False)
    assert record.raw_reply == content and record.json_mode is True and record.latency_s > 0
    assert len(sent) == 1 and sent[0]["response_format"] == {"type": "json_object"}
    assert sent[0]["model"] == "test-model" and sent[0]["temperature"] == 0.0 and sent[0]["max_tokens"] == 400
    headers = {k.lower(): v for k, v in server.requests_to(CHAT)[0].headers.items()}
    assert headers["authorization"] == f"Bearer {KEY}"
    assert sleeps.delays == []


def test_429_honours_retry_after() -> None:
    sleeps = Recorder()
    with ReplayServer({CHAT: [error(429, {"Retry-After": "7"}), completion(json.dumps(VALID))]}) as server:
        record = analyze(make_client(server, sleeps), LYRICS, 1500)
        assert len(server.requests_to(CHAT)) == 2
    assert record.ok and record.attempts == 2
    assert sleeps.delays == [7.0]


def test_5xx_retried_with_exponential_backoff() -> None:
    sleeps = Recorder()
    with ReplayServer({CHAT: [error(500), error(503), completion(json.dumps(VALID))]}) as server:
        record = analyze(make_client(server, sleeps), LYRICS, 1500)
        assert len(server.requests_to(CHAT)) == 3
    assert record.ok and record.attempts == 3
    # equal jitter: attempt k waits in [base·2^k / 2, base·2^k]
    assert len(sleeps.delays) == 2
    assert 0.25 <= sleeps.delays[0] <= 0.5 and 0.5 <= sleeps.delays[1] <= 1.0


def test_retries_exhausted_is_a_recorded_failure() -> None:
    sleeps = Recorder()
    with ReplayServer({CHAT: error(500)}) as server:
        record = analyze(make_client(server, sleeps, max_retries=2), LYRICS, 1500)
        assert len(server.requests_to(CHAT)) == 3
    assert not record.ok and record.failure == "server_error" and record.attempts == 3
    assert record.analysis is None and record.latency_s is None and record.tokens_in is None
    assert len(sleeps.delays) == 2


def test_timeout_is_retried_then_recorded() -> None:
    sleeps = Recorder()
    slow = Response(200, {"never": "read"}, delay_s=1.0)
    with ReplayServer({CHAT: slow}) as server:
        record = analyze(make_client(server, sleeps, max_retries=1, timeout_s=0.2), LYRICS, 1500)
        assert len(server.requests_to(CHAT)) == 2
    assert record.failure == "timeout" and record.attempts == 2 and len(sleeps.delays) == 1


@pytest.mark.parametrize("status", [401, 403])
def test_authentication_error_is_fatal_at_once_and_never_shows_the_key(status: int) -> None:
    sleeps = Recorder()
    with ReplayServer({CHAT: error(status)}) as server:
        with pytest.raises(LLMAuthError) as info:
            analyze(make_client(server, sleeps), LYRICS, 1500)
        assert len(server.requests_to(CHAT)) == 1
    message = str(info.value)
    assert "NOVITA_API_KEY" in message and str(status) in message
    assert KEY not in message and KEY[:8] not in message
    assert info.value.__cause__ is None and info.value.__suppress_context__
    assert sleeps.delays == []


def test_unknown_model_is_fatal() -> None:
    with ReplayServer({CHAT: error(404)}) as server:
        with pytest.raises(LLMFatalError, match=r"llm_eval\.model"):
            analyze(make_client(server, Recorder()), LYRICS, 1500)
        assert len(server.requests_to(CHAT)) == 1


def test_malformed_and_out_of_range_replies_are_failures_with_the_raw_reply_kept() -> None:
    broken = '{"themes": ["money"], "mood": "hungry", "complexity": 7'
    out_of_range = json.dumps({**VALID, "commercial_potential": 11})
    with ReplayServer({CHAT: [completion(broken), completion(out_of_range)]}) as server:
        client = make_client(server, Recorder())
        first, second = analyze(client, LYRICS, 1500), analyze(client, LYRICS, 1500)
    assert (first.ok, first.failure, first.raw_reply, first.attempts) == (False, "invalid_json", broken, 1)
    assert first.tokens_out == 40  # a failed parse still cost tokens
    assert second.failure == "validation: commercial_potential out of range" and second.analysis is None


def test_server_rejecting_json_mode_falls_back_and_remembers() -> None:
    with ReplayServer({CHAT: [error(400), completion(json.dumps(VALID))]}) as server:
        client = make_client(server, Recorder())
        first, second = analyze(client, LYRICS, 1500), analyze(client, LYRICS, 1500)
        sent = bodies(server)
    assert first.ok and second.ok and first.json_mode is False and client.json_mode_rejected
    assert "response_format" in sent[0] and "response_format" not in sent[1]
    assert len(sent) == 3 and "response_format" not in sent[2]  # no second try of JSON mode


def test_other_400_is_a_failure_and_keeps_json_mode() -> None:
    with ReplayServer({CHAT: error(400)}) as server:
        client = make_client(server, Recorder())
        record = analyze(client, LYRICS, 1500)
        assert len(server.requests_to(CHAT)) == 2
    assert record.failure == "bad_request" and client.json_mode and not client.json_mode_rejected


def test_endpoint_resolution(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NOVITA_API_KEY", KEY)
    no_dotenv = Secrets(_env_file=None)  # type: ignore[call-arg]
    openai = params_with({"llm_eval": {"backend": "openai", "base_url": None}}).llm_eval
    assert resolve_endpoint(openai, no_dotenv) == ("https://api.novita.ai/openai", KEY)
    custom = params_with({"llm_eval": {"backend": "openai", "base_url": "http://127.0.0.1:9/v1",
                                       "api_key_env": "VLLM_KEY_UNSET"}}).llm_eval
    assert resolve_endpoint(custom, no_dotenv) == ("http://127.0.0.1:9/v1", "no-key")
    monkeypatch.delenv("NOVITA_API_KEY")
    with pytest.raises(UserError, match="NOVITA_API_KEY") as info:
        resolve_endpoint(openai, Secrets(_env_file=None))  # type: ignore[call-arg]
    assert "backend: local" in str(info.value)


def test_response_schema_is_sent_and_admits_exactly_valid_analyses() -> None:
    schema = decoding_schema()
    assert set(schema["required"]) == set(Analysis.model_fields)
    for score in schema["properties"]["commercial_potential"]["enum"]:
        Analysis.model_validate({**VALID, "commercial_potential": score})
    for year in schema["properties"]["estimated_release_year"]["enum"][:: 25]:
        Analysis.model_validate({**VALID, "estimated_release_year": year})
    with ReplayServer({CHAT: completion(json.dumps(VALID))}) as server:
        client = make_client(server, Recorder())
        client.response_schema = schema
        assert analyze(client, LYRICS, 1500).ok
        (sent,) = bodies(server)
    assert sent["response_format"] == {"type": "json_object", "schema": schema}


def test_schema_holds_the_language_to_an_iso_code_and_llama_cpp_can_follow_it() -> None:
    pattern = decoding_schema()["properties"]["language"]["pattern"]
    assert pattern == LANGUAGE_PATTERN  # the sampler and the validator agree on what a code is
    assert re.search(pattern, "en")
    for junk in ("ISO639-1", "English", "EN", "e"):
        assert not re.search(pattern, junk)
    # llama.cpp falls back to plain JSON when the schema cannot be converted, silently: so convert it here
    from llama_cpp import llama_grammar as grammar  # declared (llama-cpp-python): missing must fail, not skip
    rules = dict(line.split(" ::= ", 1) for line in
                 grammar.json_schema_to_gbnf(json.dumps(decoding_schema())).splitlines() if " ::= " in line)
    assert rules["language"] == '"\\"" language-1 language-1 "\\"" space' and rules["language-1"] == "[a-z]"


def test_local_server_client_neither_retries_nor_times_out() -> None:
    # The project's llama.cpp server keeps decoding a request its client gave up on; a retry would queue behind it.
    llm = params_with({"llm_eval": {"backend": "local", "max_retries": 4, "timeout_s": 0.2}}).llm_eval
    slow = completion(json.dumps(VALID))
    slow.delay_s = 0.6  # three times the configured timeout
    with ReplayServer({CHAT: [error(500), slow]}) as server:
        client = LLMClient.for_local_server(llm, f"{server.url}/v1", "SmolLM2")
        failed = analyze(client, LYRICS, 1500)
        assert len(server.requests_to(CHAT)) == 1  # no retry
        answered = analyze(client, LYRICS, 1500)
        sent = bodies(server)
    assert failed.failure == "server_error" and failed.attempts == 1
    assert answered.ok and answered.latency_s is not None and answered.latency_s >= 0.6
    assert client.kind == "local" and client.model == "SmolLM2"
    assert sent[1]["response_format"] == {"type": "json_object", "schema": decoding_schema()}


def test_schema_text_fields_exclude_control_characters_at_the_length_bounds() -> None:
    text_fields = ["mood", "rhyme_scheme", "flow"]
    properties = decoding_schema()["properties"]
    for name in text_fields:
        assert properties[name]["pattern"] == TEXT_PATTERN
    assert properties["themes"]["items"]["pattern"] == TEXT_PATTERN
    for ok in ("a", "x" * 60, "laid back, with a 'drawl'"):
        assert re.search(TEXT_PATTERN, ok)
    for bad in ("", "x" * 61, "two\nlines", "tab\there", 'a "quote"', "back\\slash"):
        assert not re.search(TEXT_PATTERN, bad)
    # the grammar llama.cpp decodes with must say the same: no raw newline can enter a string (invalid JSON)
    from llama_cpp import llama_grammar as grammar
    rules = dict(line.split(" ::= ", 1) for line in
                 grammar.json_schema_to_gbnf(json.dumps(decoding_schema())).splitlines() if " ::= " in line)
    assert rules["mood-1"] == '[^"\\\\\\x00-\\x1f]'
