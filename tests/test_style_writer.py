"""The style writer: retrieval over pgvector keeps to the target artist (exact cosine over that artist's tracks is the
oracle), the prompt quotes the examples and carries the version, the verbatim-run detector on hand-made runs around
the threshold, unknown artists with suggestions, and the request the LLM receives (a real `LLMClient` against a
loopback server replaying scripted replies)."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import numpy as np
import psycopg
import pytest
from helpers import CHAT, KEY, bodies, completion, error, params_with
from http_replay import ReplayServer
from pgvector.psycopg import register_vector

from rap_analyzer.config import GenerationParams
from rap_analyzer.errors import ServiceUnavailableError, UnknownArtistError
from rap_analyzer.models.llm.client import LLMClient
from rap_analyzer.models.style.artists import resolve_artist
from rap_analyzer.models.style.prompts import PROMPT_VERSION, SYSTEM_PROMPT
from rap_analyzer.models.style.verbatim import longest_shared_run
from rap_analyzer.models.style.writer import StyleWriter
from rap_analyzer.resilience import RateLimiter, RetryPolicy
from rap_analyzer.store.records import TrackRecord, content_hash, text_hash
from rap_analyzer.store.tracks import track_ids, upsert_tracks

MODEL_KEY = "test-embedder"
DIM = 384
GENERATION: GenerationParams = params_with().generation
REPLY = "Fresh lines about the rain on the avenue\nnothing borrowed, every word is new"


def unit(*weights: tuple[int, float]) -> np.ndarray:
    """A unit vector of DIM dimensions with the given (axis, weight) components."""
    vector = np.zeros(DIM, dtype=np.float32)
    for axis, weight in weights:
        vector[axis] = weight
    return vector / np.linalg.norm(vector)


class AxisEncoder:
    """A stand-in sentence encoder: every text maps to one fixed vector (the query of the test)."""

    def __init__(self, vector: np.ndarray) -> None:
        self.vector, self.texts = vector, []

    def encode(self, texts: list[str], **_: Any) -> np.ndarray:
        self.texts.extend(texts)
        return np.stack([self.vector for _ in texts])


# Artist A's tracks lie at angles from axis 0, artist B's right on it: the query (axis 0) is nearer to every B track
# than to any A track, so an unfiltered search would return B's.
TRACKS = {
    "genius:a1": ("Artist A", unit((0, 0.9), (1, 0.44)), "A one: midnight trains and the river light\n" * 30),
    "genius:a2": ("Artist A", unit((0, 0.5), (2, 0.87)), "A two: paper crowns on a borrowed throne\n" * 3),
    "genius:a3": ("Artist A", unit((0, 0.1), (3, 0.99)), "A three: far from the query, the farthest one\n"),
    "genius:b1": ("Artist B", unit((0, 1.0)), "B one: the closest of all to the query\n"),
    "genius:b2": ("Artist B", unit((0, 0.99), (4, 0.1)), "B two: almost as close\n"),
}


@pytest.fixture
def corpus(db: psycopg.Connection) -> dict[str, int]:
    records = [TrackRecord(source_key=key, source="dump", title=key, artist=artist, lyrics_raw=text, lyrics_clean=text,
                           content_hash=content_hash(text)) for key, (artist, _, text) in TRACKS.items()]
    upsert_tracks(db, records)
    ids = track_ids(db, list(TRACKS))
    register_vector(db)
    for key, (_, vector, text) in TRACKS.items():
        db.execute("INSERT INTO embeddings (track_id, model, text_hash, embedding) VALUES (%s, %s, %s, %s)",
                   (ids[key], MODEL_KEY, text_hash(text), vector))
    db.commit()
    return ids


def llm_client(server: ReplayServer, max_retries: int = 0) -> LLMClient:
    llm = params_with({"llm_eval": {"backend": "openai", "model": "test-model", "max_retries": max_retries}}).llm_eval
    return LLMClient(llm, f"{server.url}/v1", KEY, retry=RetryPolicy(max_retries, sleep=lambda _: None,
                                                                       rng=random.Random(0)),
                     limiter=RateLimiter(60_000))


def make_writer(llm: Any, db_url: str | None = None, known: list[str] | None = None,
                params: GenerationParams = GENERATION) -> tuple[StyleWriter, AxisEncoder]:
    encoder = AxisEncoder(unit((0, 1.0)))
    connect: Callable[[], psycopg.Connection] = lambda: psycopg.connect(db_url or "")  # noqa: E731
    writer = StyleWriter(params, llm, encoder, connect, None, MODEL_KEY,
                         known_artists=["Artist A", "Artist B"] if known is None else known)
    return writer, encoder


def test_retrieval_keeps_to_the_target_artist_in_exact_cosine_order(corpus: dict[str, int], db_url: str) -> None:
    writer, _ = make_writer(None, db_url)
    query = unit((0, 1.0))
    # Oracle: exact cosine of the query with each of artist A's vectors, best first.
    a_keys = [key for key, (artist, _, _) in TRACKS.items() if artist == "Artist A"]
    expected = sorted(a_keys, key=lambda key: -float(TRACKS[key][1] @ query))
    examples = writer.retrieve("anything", "Artist A", 2)
    assert [e.track_id for e in examples] == [corpus[k] for k in expected[:2]]
    assert [e.score for e in examples] == pytest.approx([float(TRACKS[k][1] @ query) for k in expected[:2]], abs=1e-5)
    # k above the artist's track count: all three of A's, never one of B's (which are all nearer the query).
    assert [e.track_id for e in writer.retrieve("anything", "Artist A", 5)] == [corpus[k] for k in expected]
    assert writer.retrieve("anything", "Artist A", 0) == []


def test_prompt_quotes_the_examples_bounded_and_carries_the_version(corpus: dict[str, int], db_url: str) -> None:
    with ReplayServer({CHAT: completion(REPLY, 321, 17)}) as server:
        writer, encoder = make_writer(llm_client(server), db_url)
        result = writer.generate("rain on the avenue", artist="artist a", k=2, max_tokens=40, temperature=0.5,
                                 seed=7)
        sent = bodies(server)
    assert encoder.texts == ["rain on the avenue"]
    assert result.ok and result.text == REPLY.strip() and result.failure is None
    assert result.artist == "Artist A" and result.prompt_version == PROMPT_VERSION == "style-v1"
    assert result.example_track_ids == [corpus["genius:a1"], corpus["genius:a2"]]
    assert (result.prompt_tokens, result.completion_tokens, result.model) == (321, 17, "test-model")
    assert len(sent) == 1
    body = sent[0]
    assert (body["temperature"], body["max_tokens"], body["seed"]) == (0.5, 40, 7)
    assert "response_format" not in body  # free text, not JSON mode
    system, user = (m["content"] for m in body["messages"])
    assert system == SYSTEM_PROMPT
    a1 = TRACKS["genius:a1"][2]
    # a1 is 30 lines of 42 characters: quoted as its first whole lines within example_chars.
    quoted = a1[:GENERATION.example_chars].rsplit("\n", 1)[0]
    assert len(quoted) <= GENERATION.example_chars and quoted in user and a1.strip() not in user
    assert TRACKS["genius:a2"][2].strip() in user and "Artist A" in user and "rain on the avenue" in user
    assert "A three" not in user and "B one" not in user and "B two" not in user


def test_style_transfer_without_examples_names_the_artist_only(db_url: str) -> None:
    with ReplayServer({CHAT: completion(REPLY)}) as server:
        writer, encoder = make_writer(llm_client(server), db_url)
        result = writer.style_transfer("[Verse 1]\nmy own old lines\n", "ARTIST B", k=0, temperature=0.0)
        user = bodies(server)[0]["messages"][1]["content"]
    assert encoder.texts == []  # k = 0: no retrieval at all
    assert result.ok and result.example_track_ids == [] and result.verbatim_run == 0 and not result.copied
    assert "style of Artist B" in user and "my own old lines" in user and "Example 1" not in user
    assert "[Verse 1]" not in user  # section headers are not lyrics


def test_failures_are_reported_never_invented(db_url: str) -> None:
    with ReplayServer({CHAT: [error(503)]}) as server:
        writer, _ = make_writer(llm_client(server), db_url)
        down = writer.generate("rain on the avenue", max_tokens=10)
    assert not down.ok and down.text == "" and down.failure == "server_error" and down.unavailable
    with ReplayServer({CHAT: completion("   \n")}) as server:
        empty = make_writer(llm_client(server), db_url)[0].generate("rain on the avenue", max_tokens=10)
    assert not empty.ok and empty.text == "" and empty.failure == "empty_reply" and not empty.unavailable


def test_bounds_are_enforced_at_the_bound() -> None:
    with ReplayServer({CHAT: completion(REPLY)}) as server:
        writer, _ = make_writer(llm_client(server))
        limit = GENERATION.max_tokens_limit
        assert writer.generate("x" * GENERATION.max_prompt_chars, max_tokens=limit).ok
        assert bodies(server)[0]["max_tokens"] == limit
    with pytest.raises(ValueError, match="max_tokens"):
        writer.generate("rain", max_tokens=limit + 1)
    with pytest.raises(ValueError, match="prompt length"):
        writer.generate("x" * (GENERATION.max_prompt_chars + 1))
    with pytest.raises(ValueError, match="lyrics length"):
        writer.style_transfer("x" * (GENERATION.max_lyrics_chars + 1), "Artist A")
    with pytest.raises(ValueError, match=r"generation\.max_k"):
        writer.generate("rain", artist="Artist A", k=GENERATION.max_k + 1)


EXAMPLE = ("one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
           "sixteen seventeen eighteen nineteen twenty")


@pytest.mark.parametrize("run", [11, 12, 13])
def test_verbatim_run_counted_and_flagged_at_the_threshold(run: int) -> None:
    words = EXAMPLE.split()
    # The copied run from word 3 on, typed with other case, punctuation and line breaks, between fresh words.
    copied = " ".join(w.upper() if i % 3 == 0 else w + "," for i, w in enumerate(words[3:3 + run]))
    text = f"brand new opener\n{copied}!\nand a different ending here"
    assert longest_shared_run(text, ["unrelated words only", EXAMPLE]) == run
    assert (run >= GENERATION.verbatim_run_words) == (run >= 12)


def test_verbatim_run_edge_cases() -> None:
    assert longest_shared_run("", [EXAMPLE]) == 0
    assert longest_shared_run("one two", []) == 0
    assert longest_shared_run("Don't stop", ["dont stop"]) == 2  # apostrophes dropped, case folded
    assert longest_shared_run("a b c x a b c d", ["a b c d"]) == 4  # the longest of two runs
    assert longest_shared_run("the the the the", ["the the"]) == 2  # repeated words: never beyond the source


def test_unknown_artist_gets_the_closest_names() -> None:
    known = ["Kendrick Lamar", "JAY-Z", "Drake", "Eminem", "Nas"]
    assert resolve_artist("  kendrick   LAMAR ", known) == "Kendrick Lamar"
    assert resolve_artist("jay z", known) == "JAY-Z"
    with pytest.raises(UnknownArtistError) as raised:
        resolve_artist("Kendrik Lamarr", known)
    assert raised.value.suggestions[0] == "Kendrick Lamar" and len(raised.value.suggestions) <= 5
    assert "Kendrick Lamar" in str(raised.value)
    with pytest.raises(UnknownArtistError) as ambiguous:
        resolve_artist("jay z", ["JAY-Z", "Jay-Z!", "Nas"])  # both fold to "jay z"
    assert ambiguous.value.suggestions == ["JAY-Z", "Jay-Z!"]


def test_unknown_artist_is_refused_before_any_llm_call() -> None:
    with ReplayServer({CHAT: completion(REPLY)}) as server:
        writer, encoder = make_writer(llm_client(server))
        with pytest.raises(UnknownArtistError) as raised:
            writer.style_transfer("some lines", "Artist C")
        assert raised.value.suggestions[:2] and set(raised.value.suggestions) <= {"Artist A", "Artist B"}
        assert server.requests_to(CHAT) == [] and encoder.texts == []
    without = StyleWriter(GENERATION, None, None, None, None, MODEL_KEY)  # type: ignore[arg-type]
    with pytest.raises(ServiceUnavailableError, match="dvc repro artist_classifier"):
        without.generate("rain", artist="Artist A")


# --- the service's wiring, without a server (tests/serve/test_generation.py covers it over HTTP) ---------------

def unreachable_generation(overrides: dict[str, Any]) -> Any:
    from rap_analyzer.serve.cache import RedisLink
    from rap_analyzer.serve.database import Database
    from rap_analyzer.serve.generation import Generation
    from rap_analyzer.serve.llm import SharedBackend

    params = params_with(overrides)
    return Generation(params, SharedBackend(params.llm_eval), None, Database(params, 0.1),
                      RedisLink(lambda: "redis://127.0.0.1:1/0", 0.1), 60, None, None)


def test_generation_switched_off_says_which_setting() -> None:
    generation = unreachable_generation({"generation": {"enabled": False}})
    with pytest.raises(ServiceUnavailableError, match=r"generation\.enabled: true"):
        generation.generate("rain", None, 0, 10, 0.0, None)
    assert generation.health()["ok"] is True and generation.health()["enabled"] is False


def test_backend_that_cannot_start_and_missing_classifier_are_explained(tmp_path: Any) -> None:
    missing = tmp_path / "absent.gguf"
    generation = unreachable_generation({"llm_eval": {"backend": "local", "local_model_path": str(missing)}})
    with pytest.raises(ServiceUnavailableError, match="dvc repro artist_classifier"):
        generation.style_transfer("some lines", "Artist A", 0, 10, 0.0, None)  # no classifier: no artists known
    with pytest.raises(ServiceUnavailableError, match=r"did not start \(FileNotFoundError"):
        generation.generate("rain", None, 0, 10, 0.0, None)
    health = generation.health()
    assert health["ok"] is False and "dvc repro artist_classifier" in health["reason"]
    assert health["llm"]["started"] is False and "FileNotFoundError" in health["llm"]["reason"]


@pytest.mark.parametrize("n_words", [11, 12])
def test_a_reply_copying_an_example_is_flagged(corpus: dict[str, int], db_url: str, n_words: int) -> None:
    # The reply repeats the first n words of example a2 ("A two: paper crowns on a borrowed throne", three times):
    # the rule is that 12 or more consecutive words of an example make a copy.
    words = ("A two: paper crowns on a borrowed throne\n" * 3).replace(":", "").split()
    reply = " ".join(words[:n_words])
    with ReplayServer({CHAT: completion(reply)}) as server:
        writer, _ = make_writer(llm_client(server), db_url)
        result = writer.generate("rain on the avenue", artist="Artist A", k=2, temperature=0.0)
    assert corpus["genius:a2"] in result.example_track_ids
    assert result.ok and result.verbatim_run == n_words
    assert result.copied is (n_words >= 12)
