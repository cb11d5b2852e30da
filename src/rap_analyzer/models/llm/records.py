"""What every backend returns and what one analysed lyric becomes, whichever backend produced it.

A backend only turns chat messages into a `Reply` (or raises `RequestFailure` / `LLMFatalError`);
`analyze` adds the reply cache, the parser and the bookkeeping, so the three backends share one record shape.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Any

from rap_analyzer.models.llm.base import Backend, RequestFailure
from rap_analyzer.models.llm.cache import ReplyCache
from rap_analyzer.models.llm.prompt import PROMPT_VERSION, build_messages
from rap_analyzer.models.llm.schema import ParseFailure, parse_reply
from rap_analyzer.store.records import text_hash


@dataclass
class CallRecord:
    model: str
    prompt_version: str
    lyrics_sha1: str
    ok: bool
    analysis: dict[str, Any] | None
    failure: str | None  # countable reason; None when ok
    failure_detail: str | None
    latency_s: float | None  # model latency when the reply was generated (from the cache when cached)
    elapsed_s: float  # wall time spent in this run: retries, backoff and rate limiting included
    tokens_in: int | None
    tokens_out: int | None
    attempts: int  # HTTP attempts made in this run (0 when served from the cache)
    cached: bool
    json_mode: bool | None
    finish_reason: str | None
    raw_reply: str | None
    source_key: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def analyze(backend: Backend, lyrics: str, max_lyrics_chars: int, cache: ReplyCache | None = None,
            source_key: str | None = None) -> CallRecord:
    """One lyric through `backend` (or the cache): a record holding the analysis or the failure reason.

    `LLMFatalError` propagates; every other failure becomes a record."""
    started = time.perf_counter()
    digest = text_hash(lyrics)  # the same sha1 the embeddings are keyed by
    messages = build_messages(lyrics, max_lyrics_chars)
    reply = cache.get(backend.model, digest) if cache else None
    cached = reply is not None
    if reply is None:
        try:
            reply = backend.complete(messages)
        except RequestFailure as exc:
            return CallRecord(
                model=backend.model, prompt_version=PROMPT_VERSION, lyrics_sha1=digest, ok=False, analysis=None,
                failure=exc.reason, failure_detail=exc.detail or None, latency_s=None,
                elapsed_s=time.perf_counter() - started, tokens_in=None, tokens_out=None,
                attempts=exc.attempts, cached=False, json_mode=None, finish_reason=None, raw_reply=None,
                source_key=source_key,
            )
        if cache:
            # Unparseable replies are cached too: at temperature 0 asking again would cost the same and
            # most likely fail the same way; the parser can improve and re-read them for free.
            cache.set(backend.model, digest, reply)
    analysis: dict[str, Any] | None = None
    failure = detail = None
    try:
        analysis = parse_reply(reply.text).model_dump()
    except ParseFailure as exc:
        failure, detail = exc.reason, exc.detail or None
        if reply.finish_reason == "length":
            detail = f"reply cut at max_tokens; {detail or ''}".rstrip("; ")
    return CallRecord(
        model=backend.model, prompt_version=PROMPT_VERSION, lyrics_sha1=digest, ok=analysis is not None,
        analysis=analysis, failure=failure, failure_detail=detail, latency_s=reply.latency_s,
        elapsed_s=time.perf_counter() - started, tokens_in=reply.tokens_in, tokens_out=reply.tokens_out,
        attempts=0 if cached else reply.attempts, cached=cached, json_mode=reply.json_mode,
        finish_reason=reply.finish_reason, raw_reply=reply.text, source_key=source_key,
    )
