"""`python llama_launch.py <llama_cpp.server arguments>`: llama-cpp-python's OpenAI-compatible server with two
changes to llama-cpp-python 0.3.36, both applied before the server loads the model. Run as a file (not `-m`), so the
server process imports llama_cpp only, not this project's packages.

1. llama.cpp's "extra buffer types" off (`use_extra_bufts`, which the server's options do not reach). On a CPU with
   AMX (e.g. Sapphire Rapids) a source build repacks the Q4_1 weights for AMX, and every decode of more than one
   token then dies with SIGSEGV (seen on this project's build machine: a 1-token prompt decodes, a 4-token one
   crashes; with extra buffers off both decode). Without AMX, the extra buffers only repack Q4_0/Q*_K weights, so
   for the bundled Q4_1 model nothing else changes.

2. Grammar checked on the greedy choice first. llama-cpp-python puts the grammar sampler in the chain before the
   greedy pick, so every generated token runs the grammar over the whole vocabulary (49,152 tokens for SmolLM2):
   that more than halved generation speed (issue 12: 40 -> 15-19 tokens/s on one thread). llama.cpp's own
   `common_sampler_sample` checks only the token the model would pick and applies the grammar to the whole
   vocabulary only when that token is rejected; `GrammarFirstGreedy` does the same. At temperature 0 the result is
   the same token (the highest-scoring one the grammar allows) and the grammar state advances by the same token;
   other temperatures and logits processors keep llama-cpp-python's chain unchanged.
"""

from __future__ import annotations

import ctypes
import os
import runpy
import sys
import threading
import time
from typing import Any

import llama_cpp.llama_cpp as lib
import numpy as np
from llama_cpp import _internals
from llama_cpp.llama import Llama

# llama_token_data {int32 id; float logit; float p}: 12 bytes, no padding
_TOKEN_DATA = np.dtype([("id", np.intc), ("logit", np.single), ("p", np.single)])


def _model_params_without_extra_bufts() -> Any:
    params = _default_model_params()
    params.use_extra_bufts = False
    return params


_default_model_params = lib.llama_model_default_params


class GrammarFirstGreedy:
    """A llama.cpp sampler (placed before `greedy` in a chain) that keeps only the highest-scoring candidate when
    the grammar accepts it, and otherwise removes every candidate the grammar rejects; the grammar advances on
    `accept`. Owns its grammar sampler; the chain must not free this one (it is registered as a custom sampler)."""

    def __init__(self, vocab: Any, grammar: str, root: str) -> None:
        self.grammar = lib.llama_sampler_init_grammar(vocab, grammar.encode(), root.encode())
        if not self.grammar:
            raise ValueError("llama.cpp could not parse the grammar")
        self._one = lib.llama_token_data()
        self._one_array = lib.llama_token_data_array(data=ctypes.pointer(self._one), size=1, selected=-1,
                                                     sorted=False)
        # The callbacks must stay referenced as long as llama.cpp may call them.
        self._callbacks = (lib.llama_sampler_i_apply(self._apply), lib.llama_sampler_i_accept(self._accept),
                           lib.llama_sampler_i_reset(self._reset))
        iface = lib.llama_sampler_i()
        iface.name = lib.llama_sampler_i_name(0)
        iface.apply, iface.accept, iface.reset = self._callbacks
        iface.clone = lib.llama_sampler_i_clone(0)
        iface.free = lib.llama_sampler_i_free(0)
        self._iface = iface
        self.sampler = lib.llama_sampler()
        self.sampler.iface = ctypes.pointer(iface)
        self.sampler.ctx = None

    def _apply(self, _sampler: Any, cur_p: Any) -> None:
        array = cur_p.contents
        n = int(array.size)
        raw = (ctypes.c_char * (n * _TOKEN_DATA.itemsize)).from_address(ctypes.addressof(array.data.contents))
        candidates = np.frombuffer(raw, dtype=_TOKEN_DATA)
        best = int(np.argmax(candidates["logit"]))
        self._one.id, self._one.logit, self._one.p = (int(candidates["id"][best]),
                                                       float(candidates["logit"][best]), 0.0)
        self._one_array.size, self._one_array.selected = 1, -1
        lib.llama_sampler_apply(self.grammar, ctypes.byref(self._one_array))
        if np.isfinite(self._one.logit):  # allowed: it is what grammar-then-greedy would pick
            if best:
                candidates[0], candidates[best] = candidates[best].copy(), candidates[0].copy()
            array.size = 1
        else:
            lib.llama_sampler_apply(self.grammar, cur_p)

    def _accept(self, _sampler: Any, token: int) -> None:
        lib.llama_sampler_accept(self.grammar, token)

    def _reset(self, _sampler: Any) -> None:
        lib.llama_sampler_reset(self.grammar)

    def __del__(self) -> None:
        if getattr(self, "grammar", None):
            lib.llama_sampler_free(self.grammar)
            self.grammar = None


_default_init_sampler = Llama._init_sampler


def _init_sampler(self: Llama, **kwargs: Any) -> _internals.LlamaSampler:
    grammar = kwargs.get("grammar")
    if grammar is None or kwargs.get("temp", 0.8) != 0.0 or kwargs.get("logits_processor") is not None:
        return _default_init_sampler(self, **kwargs)
    # llama-cpp-python's chain at temperature 0 is penalties -> grammar -> greedy; same order, grammar checked first
    sampler = _internals.LlamaSampler()
    sampler.add_penalties(n_vocab=self._n_vocab, penalty_last_n=self.last_n_tokens_size,
                          penalty_repeat=kwargs.get("repeat_penalty", 1.0),
                          penalty_freq=kwargs.get("frequency_penalty", 0.0),
                          penalty_present=kwargs.get("presence_penalty", 0.0))
    first = GrammarFirstGreedy(self._model.vocab, grammar._grammar, grammar._root)
    lib.llama_sampler_chain_add(sampler.sampler, ctypes.pointer(first.sampler))
    # listed as custom: LlamaSampler removes it from the chain before freeing the chain (Python owns it)
    sampler.custom_samplers.append((lib.llama_sampler_chain_n(sampler.sampler) - 1, first))  # type: ignore[arg-type]
    sampler.add_greedy()
    return sampler


def exit_with_parent(poll_s: float = 1.0) -> None:
    """End this process when the one that started it is gone: a parent killed without running its cleanup (a
    timeout, SIGKILL) would otherwise leave the server decoding on cores that other work needs."""
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(poll_s)
        os._exit(0)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


def patch() -> None:
    lib.llama_model_default_params = _model_params_without_extra_bufts
    Llama._init_sampler = _init_sampler  # type: ignore[method-assign]


if __name__ == "__main__":
    exit_with_parent()
    patch()
    sys.argv[0] = "llama_cpp.server"
    runpy.run_module("llama_cpp.server", run_name="__main__", alter_sys=True)
