"""The LoRA regressor and its training loop.

`AutoModelForSequenceClassification` turns any causal LM into a regressor: a linear `score` head (no bias) on the
hidden state of the last non-pad token, one output per target (`problem_type="regression"`). `peft` LoRA with
`task_type="SEQ_CLS"` adds low-rank adapters to `target_modules` and puts the head in `modules_to_save`, so the head
is trained and saved with the adapter (without it the head is re-initialised on reload).

Loss: mean squared error over the labelled (target, track) cells only (`masked_mse`), so one adapter learns every
target even where a track lacks one of the labels. Early stopping: after every `eval_every` optimizer steps the
validation fold is scored (mean over targets of the MAE in z units); after `patience` evaluations without
improvement training stops, and the best weights seen (step 0 included) are restored.

Device: `auto` uses CUDA when present, loading the base in bf16 with the trainable weights in fp32 under bf16
autocast (the usual mixed-precision recipe), else the CPU in fp32 with `torch.set_num_threads` set to the cores
this process may use. Gradient checkpointing stays off (slower on CPU and broken with PEFT in transformers 5).
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from rap_analyzer.config import FinetuneParams
from rap_analyzer.errors import ConfigError
from rap_analyzer.models.lora.data import pad_batch


@dataclass(frozen=True)
class Runtime:
    """Where the model runs: `device` ("cpu"/"cuda"), `autocast` dtype (None on CPU), CPU `threads`."""

    device: str
    autocast: Any
    threads: int

    def autocast_context(self) -> Any:
        import torch

        if self.autocast is None:
            return nullcontext()
        return torch.autocast(device_type=self.device, dtype=self.autocast)


def cpu_cores() -> int:
    """Cores this process may run on (the affinity mask, which containers and `taskset` narrow)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def pick_runtime(device: str) -> Runtime:
    """`auto`: CUDA with bf16 autocast when available, else CPU fp32. Raises ConfigError for `cuda` without one."""
    import torch

    threads = cpu_cores()
    torch.set_num_threads(threads)
    if device == "cuda" and not torch.cuda.is_available():
        raise ConfigError("finetune.device is 'cuda' but torch sees no CUDA device; set finetune.device: auto or cpu")
    if device in ("auto", "cuda") and torch.cuda.is_available():
        return Runtime("cuda", torch.bfloat16, threads)
    return Runtime("cpu", None, threads)


def load_tokenizer(base_dir: Path) -> Any:
    """The base's tokenizer with a pad token (the end-of-text token when it has none), padding on the right."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(base_dir, local_files_only=True)
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = "right"
    return tokenizer


def build_model(base_dir: Path, n_outputs: int, params: FinetuneParams, runtime: Runtime, pad_token_id: int) -> Any:
    """A fresh PEFT LoRA regressor with `n_outputs` outputs on `base_dir`, on the runtime's device.

    The head is initialised from `torch.manual_seed(params.seed)`. Raises ConfigError naming
    `finetune.target_modules` when one of them is not a linear layer of the model.
    """
    import torch
    from peft import LoraConfig, TaskType, get_peft_model
    from transformers import AutoModelForSequenceClassification

    torch.manual_seed(params.seed)
    dtype = torch.bfloat16 if runtime.autocast is not None else torch.float32
    base = AutoModelForSequenceClassification.from_pretrained(
        base_dir, num_labels=n_outputs, problem_type="regression", dtype=dtype, local_files_only=True)
    base.config.pad_token_id = pad_token_id  # batches > 1 need it to find each row's last real token
    config = LoraConfig(task_type=TaskType.SEQ_CLS, r=params.lora_r, lora_alpha=params.lora_alpha,
                        lora_dropout=params.lora_dropout, target_modules=list(params.target_modules))
    linear = sorted({name.rsplit(".", 1)[-1] for name, module in base.named_modules()
                     if isinstance(module, torch.nn.Linear) and name != "score"})
    missing = sorted(set(params.target_modules) - set(linear))
    if missing:
        raise ConfigError(f"finetune.target_modules {missing} are not linear layers of {base_dir.name}; "
                          f"it has {linear}")
    model = get_peft_model(base, config)
    for param in model.parameters():  # trainable weights in fp32 even when the frozen base is bf16
        if param.requires_grad:
            param.data = param.data.float()
    return model.to(runtime.device)


def masked_mse(pred: Any, target: Any) -> Any:
    """Mean of (pred − target)² over the cells where `target` is not NaN; both (batch, k) tensors.

    A batch with no label at all gives 0 (still connected to the graph, so `backward` works).
    """
    import torch

    mask = ~torch.isnan(target)
    diff = torch.where(mask, pred.float() - torch.nan_to_num(target), torch.zeros_like(pred, dtype=torch.float32))
    count = mask.sum()
    return (diff ** 2).sum() / count.clamp(min=1)


def predict_z(model: Any, tokenizer: Any, ids: Sequence[list[int]], batch_size: int, runtime: Runtime) -> np.ndarray:
    """(n, k) model outputs (z units) for pre-encoded songs, in eval mode, without gradients."""
    import torch

    was_training = model.training
    model.eval()
    outputs = []
    try:
        with torch.inference_mode(), runtime.autocast_context():
            for start in range(0, len(ids), batch_size):
                batch = pad_batch(tokenizer, ids[start:start + batch_size], runtime.device)
                outputs.append(model(**batch).logits.float().cpu().numpy())
    finally:
        model.train(was_training)
    n_out = int(model.config.num_labels)
    return np.concatenate(outputs).astype(np.float64) if outputs else np.empty((0, n_out))


def masked_mae(z_pred: np.ndarray, z_true: np.ndarray) -> np.ndarray:
    """Per-target MAE over the labelled rows, shape (k,); NaN for a target with no label."""
    err = np.abs(z_pred - z_true)
    with np.errstate(invalid="ignore"):
        return np.array([np.nanmean(col) if np.isfinite(col).any() else np.nan for col in err.T])


@dataclass
class TrainHistory:
    """What happened in training: loss per optimizer step, validation MAE (z units, per target) per evaluation."""

    steps: list[int] = field(default_factory=list)
    losses: list[float] = field(default_factory=list)
    eval_steps: list[int] = field(default_factory=list)
    val_mae_z: list[list[float]] = field(default_factory=list)
    best_step: int = 0
    best_val: float = math.inf
    stopped_early: bool = False
    seconds: float = 0.0
    tracks_seen: int = 0
    tokens_seen: int = 0

    @property
    def n_steps(self) -> int:
        return self.steps[-1] if self.steps else 0


def _trainable_state(model: Any) -> dict[str, Any]:
    return {name: p.detach().clone() for name, p in model.named_parameters() if p.requires_grad}


def _restore(model: Any, state: dict[str, Any]) -> None:
    import torch

    with torch.no_grad():
        for name, p in model.named_parameters():
            if name in state:
                p.copy_(state[name])


def total_steps(n_fit: int, params: FinetuneParams) -> int:
    """Optimizer steps the run makes unless stopped early: ceil(n / (batch × accum)) per epoch, capped by max_steps."""
    per_epoch = math.ceil(n_fit / (params.batch_size * params.grad_accum))
    steps = per_epoch * params.epochs
    return min(steps, params.max_steps) if params.max_steps is not None else steps


def train(model: Any, tokenizer: Any, fit_ids: Sequence[list[int]], fit_z: np.ndarray,
          val_ids: Sequence[list[int]], val_z: np.ndarray, params: FinetuneParams, runtime: Runtime,
          on_step: Callable[[int, float], None] | None = None) -> TrainHistory:
    """Train in place with AdamW (constant learning rate) on z-scored labels `fit_z` (n, k; NaN = missing) and
    early-stop on `val_z`; the model ends with the best weights seen (with no validation tracks: the last ones).
    Returns the history."""
    import torch

    if len(fit_ids) == 0:
        raise ValueError("no training tracks: raise finetune.max_train_samples or check the train split")
    history = TrainHistory()
    started = time.perf_counter()
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=params.learning_rate, weight_decay=0.0)
    generator = torch.Generator().manual_seed(params.seed)
    planned = total_steps(len(fit_ids), params)
    micro = params.batch_size
    fit_targets = torch.from_numpy(np.asarray(fit_z, dtype=np.float32))

    def evaluate(step: int) -> bool:
        """Score validation; True when patience is exhausted."""
        if len(val_ids) == 0:
            return False
        per_target = masked_mae(predict_z(model, tokenizer, val_ids, params.predict_batch_size, runtime), val_z)
        score = float(np.nanmean(per_target)) if np.isfinite(per_target).any() else math.inf
        history.eval_steps.append(step)
        history.val_mae_z.append([float(v) for v in per_target])
        if score < history.best_val:
            history.best_val, history.best_step = score, step
            best_state.update(_trainable_state(model))
        return (len(history.eval_steps) - 1 - history.eval_steps.index(history.best_step)) >= params.patience

    best_state: dict[str, Any] = {}
    evaluate(0)
    if val_ids and not best_state:  # no validation score ever finite: the untrained weights stay "best"
        best_state.update(_trainable_state(model))
    model.train()
    step = 0
    done = False
    for _epoch in range(params.epochs):
        order = torch.randperm(len(fit_ids), generator=generator).tolist()
        chunks = [order[i:i + micro] for i in range(0, len(order), micro)]
        for group_start in range(0, len(chunks), params.grad_accum):
            group = chunks[group_start:group_start + params.grad_accum]
            optimizer.zero_grad(set_to_none=True)
            step_loss = 0.0
            for chunk in group:
                batch = pad_batch(tokenizer, [fit_ids[i] for i in chunk], runtime.device)
                with runtime.autocast_context():
                    logits = model(**batch).logits
                loss = masked_mse(logits, fit_targets[chunk].to(runtime.device)) / len(group)
                loss.backward()
                step_loss += float(loss.detach())
                history.tracks_seen += len(chunk)
                history.tokens_seen += int(batch["attention_mask"].sum())
            optimizer.step()
            step += 1
            history.steps.append(step)
            history.losses.append(step_loss)
            if on_step is not None:
                on_step(step, step_loss)
            last = step >= planned
            if (step % params.eval_every == 0 or last) and evaluate(step):
                history.stopped_early = not last
                done = True
            if done or last:
                break
        if done or step >= planned:
            break
    if best_state:
        _restore(model, best_state)
    model.eval()
    history.seconds = time.perf_counter() - started
    return history
