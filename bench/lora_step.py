"""Cost of one LoRA training step at several `max_tokens`, to size a full run or a GPU run.

For each max-token setting: seconds per optimizer step (batch `finetune.batch_size` × `grad_accum`, median of the
timed steps after a warm-up step), training tokens/s, prediction seconds per track, the process's peak RSS so far,
and the projected time of one epoch over the whole train split (steps per epoch × s/step) plus one prediction pass
over the eval split. Uses `params.yaml:finetune` (base model, LoRA settings, device) and real lyrics: the prepared
train split when it exists, otherwise the shared catalog.

    .venv/bin/python bench/lora_step.py [--max-tokens 64 128 256 512] [--steps 3]
"""

from __future__ import annotations

import argparse
import math
import resource
import statistics
import time

import numpy as np
import pandas as pd
import torch

from rap_analyzer.config import load_params
from rap_analyzer.models.lora.convert import resolve_base_model
from rap_analyzer.models.lora.data import encode, pad_batch
from rap_analyzer.models.lora.train import build_model, load_tokenizer, masked_mse, pick_runtime, predict_z
from rap_analyzer.scrape.sources import SourceItem, iter_catalog_records


def lyrics_sample(n: int) -> tuple[list[str], int, int]:
    """`n` lyrics, and the train and eval sizes to project over (the prepared split, or 80/20 of the catalog)."""
    params = load_params()
    processed = params.data_dir / "processed"
    if (processed / "train.parquet").exists():
        train = pd.read_parquet(processed / "train.parquet", columns=["lyrics_clean"])
        n_eval = len(pd.read_parquet(processed / "eval.parquet", columns=["source_key"]))
        return train["lyrics_clean"].head(n).tolist(), len(train), n_eval
    texts: list[str] = []
    for item in iter_catalog_records(params.shared_path(params.scrape.catalog_dir), min_words=50):
        if isinstance(item, SourceItem) and item.reject_reason is None:
            texts.append(item.record.lyrics_clean)
            if len(texts) == n:
                break
    return texts, 800, 200


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-tokens", type=int, nargs="+", default=[64, 128, 256, 512])
    parser.add_argument("--steps", type=int, default=3, help="timed optimizer steps per setting (after 1 warm-up)")
    args = parser.parse_args()
    params = load_params().finetune
    runtime = pick_runtime(params.device)
    base_dir = resolve_base_model(params.base_model, load_params().data_dir / "cache" / "hf")
    tokenizer = load_tokenizer(base_dir)
    per_step = params.batch_size * params.grad_accum
    texts, n_train, n_eval = lyrics_sample(per_step * (args.steps + 1))
    k = len(params.targets)
    print(f"base {base_dir.name} on {runtime.device} ({runtime.threads} threads), batch {params.batch_size} × "
          f"accum {params.grad_accum}, LoRA r={params.lora_r} on {params.target_modules}, {k} outputs; "
          f"projections over train {n_train} / eval {n_eval} tracks")
    header = (f"{'max_tok':>7} {'s/step':>8} {'tok/s':>8} {'s/pred':>8} {'rss_MB':>8} {'epoch_min':>9} "
              f"{'eval_min':>8}")
    print(header)
    for max_tokens in args.max_tokens:
        model = build_model(base_dir, k, params, runtime, tokenizer.pad_token_id)
        optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=params.learning_rate)
        ids = encode(tokenizer, texts, max_tokens)
        targets = torch.from_numpy(np.random.default_rng(0).standard_normal((len(ids), k)).astype(np.float32))
        model.train()
        times, tokens = [], []
        for step in range(args.steps + 1):
            started = time.perf_counter()
            optimizer.zero_grad()
            n_tok = 0
            for micro in range(params.grad_accum):
                lo = (step * params.grad_accum + micro) * params.batch_size
                batch = pad_batch(tokenizer, ids[lo:lo + params.batch_size], runtime.device)
                with runtime.autocast_context():
                    loss = masked_mse(model(**batch).logits, targets[lo:lo + params.batch_size].to(runtime.device))
                (loss / params.grad_accum).backward()
                n_tok += int(batch["attention_mask"].sum())
            optimizer.step()
            if runtime.device == "cuda":
                torch.cuda.synchronize()
            if step > 0:  # the first step pays one-off allocation and kernel selection
                times.append(time.perf_counter() - started)
                tokens.append(n_tok)
        started = time.perf_counter()
        predict_z(model, tokenizer, ids[:params.predict_batch_size], params.predict_batch_size, runtime)
        s_pred = (time.perf_counter() - started) / min(len(ids), params.predict_batch_size)
        s_step = statistics.median(times)
        epoch_min = math.ceil(n_train / per_step) * s_step / 60
        print(f"{max_tokens:>7} {s_step:>8.2f} {sum(tokens) / sum(times):>8.0f} {s_pred:>8.3f} {peak_rss_mb():>8.0f} "
              f"{epoch_min:>9.1f} {n_eval * s_pred / 60:>8.1f}")
        del model, optimizer
    if runtime.device == "cuda":
        print(f"peak CUDA memory {torch.cuda.max_memory_allocated() / 2**20:.0f} MB")


if __name__ == "__main__":
    main()
