"""Structured LLM analysis of lyrics (the "QWEN baseline"): one versioned prompt, three backends (llama.cpp
server on loopback, any OpenAI-compatible API, in-process transformers), a reply cache, and the evaluation."""

from __future__ import annotations

from rap_analyzer.errors import LLMAuthError, LLMFatalError
from rap_analyzer.models.llm.backends import open_backend
from rap_analyzer.models.llm.base import Backend, Reply, RequestFailure
from rap_analyzer.models.llm.cache import ReplyCache
from rap_analyzer.models.llm.client import LLMClient, resolve_endpoint
from rap_analyzer.models.llm.evaluate import run_llm_eval, summarize
from rap_analyzer.models.llm.prompt import PROMPT_VERSION, build_messages
from rap_analyzer.models.llm.records import CallRecord, analyze
from rap_analyzer.models.llm.schema import Analysis, ParseFailure, parse_reply
from rap_analyzer.models.llm.store import store_analyses

__all__ = [
    "PROMPT_VERSION", "Analysis", "Backend", "CallRecord", "LLMAuthError", "LLMClient", "LLMFatalError",
    "ParseFailure", "Reply", "ReplyCache", "RequestFailure", "analyze", "build_messages", "open_backend",
    "parse_reply", "resolve_endpoint", "run_llm_eval", "store_analyses", "summarize",
]
