"""In-process backend: any local Hugging Face checkpoint directory, or a single `.gguf` file (de-quantized by
transformers through the `gguf` package), with the tokenizer's chat template and greedy decoding.

No server and no JSON grammar: the reply is whatever the model writes (`json_mode` is recorded as False), and
`temperature` is ignored, generation is greedy so that a re-run gives the same reply. Nothing is ever
downloaded (`local_files_only`). One `generate` at a time: concurrent calls queue on a lock.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

from rap_analyzer.config import LLMParams
from rap_analyzer.models.llm.base import Reply, RequestFailure, Sampling


def _split_model_path(path: Path) -> tuple[Path, str | None]:
    if path.is_file() and path.suffix == ".gguf":
        return path.parent, path.name
    if path.is_dir():
        return path, None
    raise FileNotFoundError(
        f"local model {path} is neither a Hugging Face model directory nor a .gguf file; "
        "fix llm_eval.local_model_path"
    )


class TransformersBackend:
    kind = "transformers"

    def __init__(self, params: LLMParams, model_path: str | Path | None = None, device: str | None = None) -> None:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        raw = model_path or params.local_model_path
        if not raw:
            raise ValueError("backend 'transformers' needs llm_eval.local_model_path (a model directory or .gguf)")
        path = Path(raw)
        directory, gguf_file = _split_model_path(path)
        self.params = params
        self.model = path.stem if gguf_file else path.name
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        extra = {"gguf_file": gguf_file} if gguf_file else {}
        started = time.perf_counter()
        self.tokenizer = AutoTokenizer.from_pretrained(directory, local_files_only=True, **extra)
        self.lm = AutoModelForCausalLM.from_pretrained(directory, local_files_only=True, **extra)
        self.lm.to(self.device).eval()
        self.load_s = time.perf_counter() - started
        if not self.tokenizer.chat_template:
            raise ValueError(f"{path} has no chat template: use an instruction-tuned model")
        pad = self.tokenizer.pad_token_id
        self._pad_id = pad if pad is not None else self.tokenizer.eos_token_id
        self._lock = threading.Lock()

    def close(self) -> None:
        pass

    def complete(self, messages: list[dict[str, str]], sampling: Sampling | None = None) -> Reply:
        """See `Backend.complete`: greedy decoding for the analysis; with `sampling`, sampled at its temperature
        (greedy at 0) from `torch.manual_seed(seed)` when a seed is given."""
        import torch

        with self._lock:
            encoded = self.tokenizer.apply_chat_template(
                messages, add_generation_prompt=True, return_tensors="pt", return_dict=True
            ).to(self.device)
            n_in = int(encoded["input_ids"].shape[1])
            started = time.perf_counter()
            try:
                decoding: dict[str, Any] = {"max_new_tokens": self.params.max_tokens, "do_sample": False}
                if sampling is not None:
                    decoding["max_new_tokens"] = sampling.max_tokens
                    if sampling.temperature > 0:
                        decoding |= {"do_sample": True, "temperature": sampling.temperature}
                    if sampling.seed is not None:
                        torch.manual_seed(sampling.seed)
                with torch.inference_mode():
                    output = self.lm.generate(**encoded, **decoding, pad_token_id=self._pad_id)
            except (RuntimeError, ValueError) as exc:  # e.g. out of memory, prompt longer than the context
                raise RequestFailure("generation_error", 1, f"{type(exc).__name__}: {exc}"[:300]) from None
            latency = time.perf_counter() - started
        new_tokens = output[0, n_in:]
        n_out = int(new_tokens.shape[0])
        eos = self.lm.generation_config.eos_token_id
        eos_ids = set(eos if isinstance(eos, list) else [eos])
        stopped = n_out > 0 and int(new_tokens[-1]) in eos_ids
        return Reply(
            text=self.tokenizer.decode(new_tokens, skip_special_tokens=True),
            latency_s=latency,
            tokens_in=n_in,
            tokens_out=n_out,
            attempts=1,
            json_mode=False,
            finish_reason="stop" if stopped or n_out < self.params.max_tokens else "length",
        )
