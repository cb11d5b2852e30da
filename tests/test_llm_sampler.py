"""`llama_launch.GrammarFirstGreedy` against its oracle, llama.cpp's own grammar sampler applied to every candidate
followed by the highest score (what llama-cpp-python's chain does at temperature 0), on SmolLM2's real vocabulary."""

from __future__ import annotations

import ctypes
import subprocess
import sys
import time
from collections.abc import Iterator

import numpy as np
import pytest

from rap_analyzer.models.llm import llama_launch
from rap_analyzer.models.llm.local_server import smollm2_gguf_path

lib = llama_launch.lib
# A JSON-ish object with one of two keys: after "{" only '"' may follow, then "a" or "b" and so on.
GRAMMAR = 'root ::= "{\\"" ("a" | "b") "\\":" [0-9] "}"'


@pytest.fixture(scope="module")
def model() -> Iterator[object]:
    from llama_cpp import Llama

    llm = Llama(str(smollm2_gguf_path()), vocab_only=True, verbose=False)
    yield llm
    llm.close()


def token(llm: object, text: str) -> int:
    (tok,) = llm.tokenize(text.encode(), add_bos=False, special=False)  # type: ignore[attr-defined]
    return int(tok)


def candidates(n_vocab: int, scores: dict[int, float]) -> tuple[object, object]:
    """A llama_token_data_array over the whole vocabulary: score -1 for every token but `scores`."""
    data = (lib.llama_token_data * n_vocab)()
    for i in range(n_vocab):
        data[i].id, data[i].logit, data[i].p = i, scores.get(i, -1.0), 0.0
    array = lib.llama_token_data_array(data=ctypes.cast(data, ctypes.POINTER(lib.llama_token_data)),
                                       size=n_vocab, selected=-1, sorted=False)
    return array, data


def survivors(array: object) -> dict[int, float]:
    return {array.data[i].id: array.data[i].logit for i in range(array.size)  # type: ignore[attr-defined]
            if np.isfinite(array.data[i].logit)}  # type: ignore[attr-defined]


def oracle_pick(llm: object, accepted: list[int], scores: dict[int, float]) -> int:
    grammar = lib.llama_sampler_init_grammar(llm._model.vocab, GRAMMAR.encode(), b"root")  # type: ignore[attr-defined]
    try:
        for tok in accepted:
            lib.llama_sampler_accept(grammar, tok)
        array, _keep = candidates(llm.n_vocab(), scores)  # type: ignore[attr-defined]
        lib.llama_sampler_apply(grammar, ctypes.byref(array))
        left = survivors(array)
        return max(left, key=left.__getitem__)
    finally:
        lib.llama_sampler_free(grammar)


def pick(first: llama_launch.GrammarFirstGreedy, llm: object, scores: dict[int, float]) -> tuple[int, int]:
    """(the token greedy takes after `first`, the candidate array's size after it: 1 when the favourite was
    allowed, the whole vocabulary when the grammar had to filter it)."""
    array, _keep = candidates(llm.n_vocab(), scores)  # type: ignore[attr-defined]
    first._apply(None, ctypes.pointer(array))
    left = survivors(array)
    return max(left, key=left.__getitem__), int(array.size)  # type: ignore[attr-defined]


def test_grammar_first_greedy_picks_what_grammar_then_greedy_picks(model: object) -> None:
    first = llama_launch.GrammarFirstGreedy(model._model.vocab, GRAMMAR, "root")  # type: ignore[attr-defined]
    brace, quote, a, b, x = (token(model, t) for t in ("{", '"', "a", "b", "x"))
    # the model's favourite is allowed: it alone is left, nothing else is scanned
    assert pick(first, model, {brace: 5.0, x: 4.0}) == (brace, 1) == (oracle_pick(model, [], {brace: 5.0, x: 4.0}), 1)
    first._accept(None, brace)
    # after "{", the favourite "x" is not allowed: the best allowed one wins, as in the oracle
    scores = {x: 9.0, b: 3.0, quote: 2.0}
    chosen, size = pick(first, model, scores)
    assert chosen == quote == oracle_pick(model, [brace], scores) and size == model.n_vocab()  # type: ignore[attr-defined]
    first._accept(None, quote)
    scores = {a: 1.0, b: 1.5, x: 8.0}  # "a" and "b" both allowed, "b" scores higher
    assert pick(first, model, scores)[0] == b == oracle_pick(model, [brace, quote], scores)


def test_sampler_chain_is_patched_only_for_greedy_grammar_decoding(model: object) -> None:
    from llama_cpp import LlamaGrammar

    grammar = LlamaGrammar.from_string(GRAMMAR, verbose=False)
    greedy = llama_launch._init_sampler(model, temp=0.0, grammar=grammar)  # type: ignore[arg-type]
    sampled = llama_launch._init_sampler(model, temp=0.7, grammar=grammar, top_k=40, top_p=0.95,  # type: ignore[arg-type]
                                         min_p=0.05, typical_p=1.0)
    assert [type(s).__name__ for _, s in greedy.custom_samplers] == ["GrammarFirstGreedy"]
    assert sampled.custom_samplers == []
    greedy.close()
    sampled.close()


def test_server_process_exits_when_its_parent_is_gone() -> None:
    # parent: starts a child that watches it, prints the child's pid, then dies without cleanup
    child = ("import sys, time; sys.path.insert(0, sys.argv[1]); import llama_launch; "
             "llama_launch.exit_with_parent(0.1); print('watching', flush=True); time.sleep(60)")
    parent = ("import subprocess, sys; p = subprocess.Popen([sys.executable, '-c', sys.argv[1], sys.argv[2]], "
              "stdout=subprocess.PIPE); p.stdout.readline(); print(p.pid, flush=True)")
    folder = str(llama_launch.__file__).rsplit("/", 1)[0]
    out = subprocess.run([sys.executable, "-c", parent, child, folder], capture_output=True, text=True, timeout=60)
    pid = int(out.stdout.split()[0])
    deadline = time.monotonic() + 30  # the child imports llama_cpp before it starts watching
    while time.monotonic() < deadline:
        try:
            with open(f"/proc/{pid}/stat") as stat:
                if stat.read().split()[2] == "Z":
                    break
        except FileNotFoundError:
            break
        time.sleep(0.2)
    else:
        subprocess.run(["kill", str(pid)], check=False)
        pytest.fail("the orphaned child kept running")
