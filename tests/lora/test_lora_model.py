"""The LoRA regressor on tiny random Llama and Qwen2 checkpoints with SmolLM2's tokenizer: it learns, it survives
save/reload and merging unchanged, batching does not change a prediction, targets scale and un-scale exactly, a
missing label adds no loss, and bad parameters are named."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from helpers import params_with

from rap_analyzer.config import FinetuneParams
from rap_analyzer.errors import ConfigError
from rap_analyzer.models.lora.data import TargetScaler, encode, fit_val_split, format_lyrics
from rap_analyzer.models.lora.predict import LoraRegressor, save_adapter
from rap_analyzer.models.lora.train import (
    build_model,
    load_tokenizer,
    masked_mse,
    pick_runtime,
    predict_z,
    total_steps,
    train,
)

# Made-up lines of different lengths (never real lyrics): distinct enough for a tiny model to tell apart.
TEXTS = [
    "city lights and midnight drives",
    "counting every dollar on the corner, never slowing down, the block is hot tonight",
    "mama told me keep my head up",
    "verse one: started from the bottom of the hill, now the view is clear and the air is still",
    "bass drum knocking through the wall",
    "we was young and we was reckless, nothing in the pockets but a dream",
    "",
    "rain on the window, pen on the pad, writing the chapters of the life that I had",
]
RUNTIME = pick_runtime("cpu")


def finetune(**changes: object) -> FinetuneParams:
    base = {"lora_r": 4, "lora_alpha": 8, "lora_dropout": 0.0, "learning_rate": 0.01, "batch_size": 4,
            "grad_accum": 1, "max_tokens": 32, "eval_every": 5, "patience": 100, "epochs": 25, "max_steps": None}
    return params_with({"finetune": base | changes}).finetune


def labels_z() -> np.ndarray:
    z = np.random.default_rng(3).standard_normal((len(TEXTS), 2))
    z[1, 0] = np.nan  # one track without its first label
    return z


def hand_mse(pred: np.ndarray, target: np.ndarray) -> float:
    ok = ~np.isnan(target)
    return float(((pred[ok] - target[ok]) ** 2).sum() / ok.sum())


@pytest.mark.parametrize("arch", ["llama", "qwen2"])
def test_a_few_lora_steps_overfit_a_batch(arch: str, tiny_base: Callable[[str], Path]) -> None:
    base = tiny_base(arch)
    fp = finetune(epochs=10, learning_rate=0.02, max_tokens=16)
    tokenizer = load_tokenizer(base)
    model = build_model(base, 2, fp, RUNTIME, tokenizer.pad_token_id)
    ids = encode(tokenizer, TEXTS, fp.max_tokens)
    z = labels_z()
    before = hand_mse(predict_z(model, tokenizer, ids, 8, RUNTIME), z)
    history = train(model, tokenizer, ids, z, [], np.empty((0, 2)), fp, RUNTIME)
    after = hand_mse(predict_z(model, tokenizer, ids, 8, RUNTIME), z)
    assert history.n_steps == total_steps(len(TEXTS), fp) == 20
    assert after < 0.2 * before, (before, after)
    assert history.losses[-1] < history.losses[0]


def test_save_reload_and_merge_give_identical_predictions(tiny_base: Callable[[str], Path], tmp_path: Path) -> None:
    base = tiny_base("llama")
    fp = finetune(epochs=3, base_model=str(base))
    tokenizer = load_tokenizer(base)
    model = build_model(base, 2, fp, RUNTIME, tokenizer.pad_token_id)
    ids = encode(tokenizer, TEXTS, fp.max_tokens)
    train(model, tokenizer, ids, labels_z(), [], np.empty((0, 2)), fp, RUNTIME)
    trained = predict_z(model, tokenizer, ids, 8, RUNTIME)
    with model.disable_adapter():  # the adapter and head matter, so the comparisons below can fail
        untouched = predict_z(model, tokenizer, ids, 8, RUNTIME)
    assert np.abs(trained - untouched).max() > 1e-3

    scaler = TargetScaler(("popularity", "release_year"), (5.0, 2005.0), (2.0, 8.0))
    save_adapter(model, tokenizer, scaler, tmp_path / "adapter", fp)
    reloaded = LoraRegressor(tmp_path / "adapter", device="cpu").predict_all(TEXTS)
    np.testing.assert_allclose(reloaded, trained * [2.0, 8.0] + [5.0, 2005.0], rtol=0, atol=1e-4)

    merged = model.merge_and_unload()
    assert not any("lora_" in name for name, _ in merged.named_parameters())
    np.testing.assert_allclose(predict_z(merged, tokenizer, ids, 8, RUNTIME), trained, rtol=0, atol=1e-5)


def test_batching_does_not_change_a_prediction(tiny_base: Callable[[str], Path]) -> None:
    """Padding a short text next to a long one must not move its score: the head reads each row's last real token."""
    base = tiny_base("qwen2")
    fp = finetune()
    tokenizer = load_tokenizer(base)
    model = build_model(base, 2, fp, RUNTIME, tokenizer.pad_token_id)
    ids = encode(tokenizer, TEXTS, fp.max_tokens)
    assert len({len(i) for i in ids}) > 3  # really different lengths, so the batch is padded
    np.testing.assert_allclose(predict_z(model, tokenizer, ids, 8, RUNTIME),
                               predict_z(model, tokenizer, ids, 1, RUNTIME), rtol=0, atol=1e-5)


def test_texts_are_formatted_and_truncated_the_same_way(smollm2_tokenizer: object) -> None:
    ids = encode(smollm2_tokenizer, ["  word " * 200, None, "", "the end <|im_end|>"], 16)
    assert [len(i) for i in ids[:3]] == [16, len(ids[1]), len(ids[2])] and ids[1] == ids[2] and len(ids[1]) >= 1
    # The pad/end id (2) never ends a text, or the head would read the token before it; lyrics cannot inject it.
    assert smollm2_tokenizer.convert_tokens_to_ids("<|im_end|>") == 2 and not any(2 in i for i in ids)
    assert format_lyrics(" a\n") == format_lyrics("a")


def test_target_scaling_round_trips() -> None:
    frame = pd.DataFrame({"popularity": [1.0, 2.0, 3.0, np.nan, 9.0], "release_year": [1990, 2000, 2010, 2020, 1995]})
    scaler = TargetScaler.fit(frame, ["popularity", "release_year"])
    pop = [1.0, 2.0, 3.0, 9.0]
    mean = sum(pop) / 4
    std = math.sqrt(sum((v - mean) ** 2 for v in pop) / 4)  # population std, by its definition
    assert scaler.mean[0] == pytest.approx(mean) and scaler.std[0] == pytest.approx(std)
    y = frame.to_numpy(float)
    z = scaler.transform(y)
    assert z[0, 0] == pytest.approx((1.0 - mean) / std, rel=1e-6) and np.isnan(z[3, 0])
    np.testing.assert_allclose(scaler.inverse(z), y, rtol=1e-6)
    assert TargetScaler.from_dict(scaler.to_dict()) == scaler
    with pytest.raises(ValueError, match="no spread"):
        TargetScaler.fit(pd.DataFrame({"popularity": [4.0, 4.0, np.nan]}), ["popularity"])


def test_a_masked_target_contributes_no_loss() -> None:
    pred = torch.tensor([[0.5, 9.0], [1.0, -1.0], [7.0, 2.0]], requires_grad=True)
    target = torch.tensor([[1.0, float("nan")], [0.0, 0.0], [float("nan"), 1.0]])
    loss = masked_mse(pred, target)
    assert float(loss.detach()) == pytest.approx((0.25 + 1.0 + 1.0 + 1.0) / 4)
    loss.backward()
    assert pred.grad is not None
    assert float(pred.grad[0, 1]) == 0.0 and float(pred.grad[2, 0]) == 0.0
    assert float(pred.grad[1, 0]) == pytest.approx(2 * 1.0 / 4)
    moved = pred.detach().clone()
    moved[0, 1] = -100.0
    assert float(masked_mse(moved, target)) == pytest.approx(float(loss.detach()))
    empty = torch.zeros(2, 2, requires_grad=True)
    none = masked_mse(empty, torch.full((2, 2), float("nan")))
    none.backward()
    assert float(none.detach()) == 0.0 and float(empty.grad.abs().sum()) == 0.0


def test_early_stopping_keeps_the_best_weights(tiny_base: Callable[[str], Path]) -> None:
    """A validation score that never improves on step 0 stops training after `patience` evaluations and leaves
    the step-0 weights in place."""
    base = tiny_base("llama")
    fp = finetune(eval_every=1, patience=2, learning_rate=0.05)
    tokenizer = load_tokenizer(base)
    model = build_model(base, 2, fp, RUNTIME, tokenizer.pad_token_id)
    ids = encode(tokenizer, TEXTS, fp.max_tokens)
    start = predict_z(model, tokenizer, ids, 8, RUNTIME)
    val_z = predict_z(model, tokenizer, ids[:4], 8, RUNTIME)  # the untrained model is perfect on validation
    history = train(model, tokenizer, ids, labels_z(), ids[:4], val_z, fp, RUNTIME)
    assert history.stopped_early and history.best_step == 0 and history.n_steps == 2
    assert history.eval_steps == [0, 1, 2]
    np.testing.assert_allclose(predict_z(model, tokenizer, ids, 8, RUNTIME), start, rtol=0, atol=1e-6)


def test_total_steps_by_hand() -> None:
    fp = finetune(batch_size=4, grad_accum=2, epochs=3)
    assert total_steps(10, fp) == 3 * math.ceil(10 / 8)
    assert total_steps(10, finetune(batch_size=4, grad_accum=2, epochs=3, max_steps=5)) == 5


def test_validation_fold_holds_whole_artists() -> None:
    frame = pd.DataFrame({"artist": list("aabbccdd"), "fold": [0, 0, 1, 1, 2, 2, 1, 1], "x": range(8)})
    fit, val = fit_val_split(frame, 1, None, None, 0)
    assert set(val["artist"]) == {"b", "d"} and set(fit["artist"]) == {"a", "c"}
    fit, val = fit_val_split(frame, 1, 3, 2, 0)
    assert len(fit) == 3 and len(val) == 2 and set(val["artist"]) <= {"b", "d"}
    with pytest.raises(ConfigError, match=r"finetune\.val_fold"):
        fit_val_split(frame, 7, None, None, 0)


def test_parameters_are_bounded_and_named(tiny_base: Callable[[str], Path]) -> None:
    assert finetune(lora_r=1, lora_dropout=0.0).lora_r == 1
    with pytest.raises(ConfigError, match=r"finetune\.lora_r"):
        finetune(lora_r=0)
    with pytest.raises(ConfigError, match=r"finetune\.lora_dropout"):
        finetune(lora_dropout=1.0)
    with pytest.raises(ConfigError, match=r"finetune\.device"):
        finetune(device="tpu")
    base = tiny_base("llama")
    with pytest.raises(ConfigError, match=r"finetune\.target_modules"):
        build_model(base, 2, finetune(target_modules=["no_such_proj"]), RUNTIME, 2)
    with pytest.raises(ConfigError, match=r"finetune\.base_model"):
        from rap_analyzer.models.lora.convert import resolve_base_model

        resolve_base_model(str(base / "missing"), base)
