"""The `finetune` stage end to end on a 16-track slice of the real corpus with a tiny base model and 2 steps: it
writes the adapter, metrics and plots, and one MLflow run per target that the select stage can read and serve."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import mlflow.pyfunc
import numpy as np
import pandas as pd
import pytest
from helpers import params_with
from mlflow.tracking import MlflowClient
from sklearn.metrics import mean_absolute_error

from rap_analyzer.dataset.labels import popularity_score
from rap_analyzer.models.llm.local_server import smollm2_gguf_path
from rap_analyzer.models.lora.convert import MARKER, _gguf_identity, convert_gguf
from rap_analyzer.models.predictor import load_predictor
from rap_analyzer.stages import finetune as finetune_stage

ARTISTS = ["Nas", "Eminem", "OutKast", "Drake"]  # the last one is the eval artist


def slice_dataset(shared_dir: Path, folder: Path) -> Path:
    """train/eval parquet and dataset_info.json: 4 songs of each artist, three training artists in folds 0..2."""
    rows = []
    for i, artist in enumerate(ARTISTS):
        dump = json.loads((shared_dir / "corpus/genius/rap" / f"Lyrics_{artist}.json").read_text())
        for song in dump["songs"][:4]:
            date = song.get("release_date") or ""
            rows.append({"source_key": f"genius:{song['id']}", "artist": artist, "lyrics_clean": song["lyrics"],
                         "pageviews": (song.get("stats") or {}).get("pageviews"),
                         "release_year": float(date[:4]) if date[:4].isdigit() else np.nan,
                         "fold": i if i < 3 else -1})
    frame = pd.DataFrame(rows)
    frame["popularity"] = popularity_score(frame["pageviews"])
    folder.mkdir(parents=True)
    frame[frame["fold"] >= 0].to_parquet(folder / "train.parquet")
    frame[frame["fold"] < 0].to_parquet(folder / "eval.parquet")
    (folder / "dataset_info.json").write_text(json.dumps({"dataset_hash": "slice-hash"}))
    return folder


def stage_params(base: Path, **changes: object) -> object:
    values = {"base_model": str(base), "targets": ["popularity", "release_year"], "max_steps": 2, "batch_size": 4,
              "eval_every": 1, "max_tokens": 32, "max_train_samples": None, "max_val_samples": None, "val_fold": 0,
              "n_bootstrap": 200, "device": "cpu", "predict_batch_size": 8}
    return params_with({"finetune": values | changes})


def test_stage_writes_its_outputs_and_mlflow_runs(shared_dir: Path, tiny_base: Callable[[str], Path],
                                                  tmp_path: Path) -> None:
    dataset = slice_dataset(shared_dir, tmp_path / "processed")
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    params = stage_params(tiny_base("llama"))
    outcome = finetune_stage.run(params, dataset, tmp_path / "adapter", tmp_path / "reports", uri, progress=False)

    assert [(r.target, r.status) for r in outcome.results] == [("popularity", "ok"), ("release_year", "ok")]
    assert outcome.history is not None and outcome.history.steps == [1, 2] and outcome.history.eval_steps == [0, 1, 2]
    assert {"adapter_model.safetensors", "adapter_config.json", "lora_meta.json"} <= {
        p.name for p in (tmp_path / "adapter").iterdir()}
    figures = tmp_path / "reports" / "figures" / "finetune"
    assert {"learning_curve.png", "popularity_lora_pred_vs_actual.png", "release_year_lora_pred_vs_actual.png"} <= {
        p.name for p in figures.iterdir()}
    metrics = json.loads((tmp_path / "reports" / "metrics" / "finetune.json").read_text())

    eval_ = pd.read_parquet(dataset / "eval.parquet")
    client = MlflowClient(uri)
    for target in ("popularity", "release_year"):
        runs = client.search_runs([client.get_experiment_by_name(target).experiment_id])
        assert len(runs) == 1
        run = runs[0]
        assert {k: run.data.tags[k] for k in ("model", "kind", "eval_scope", "dataset_hash", "target")} == {
            "model": "lora", "kind": "lora", "eval_scope": "full", "dataset_hash": "slice-hash", "target": target}
        csv = Path(client.download_artifacts(run.info.run_id, f"predictions_{target}_lora.csv", str(tmp_path)))
        predictions = pd.read_csv(csv)
        assert list(predictions.columns) == ["source_key", "artist", "y_true", "y_pred"]
        labelled = eval_[eval_[target].notna()]
        assert predictions["source_key"].tolist() == labelled["source_key"].tolist()
        # The reported numbers, recomputed from the logged predictions with independent code.
        mae = mean_absolute_error(predictions["y_true"], predictions["y_pred"])
        assert metrics[target]["mae"] == pytest.approx(mae, rel=1e-9)
        assert run.data.metrics["mae"] == pytest.approx(mae, rel=1e-9)
        ratio = predictions["y_pred"].std(ddof=0) / predictions["y_true"].std(ddof=0)
        assert metrics[target]["pred_std_ratio"] == pytest.approx(ratio, rel=1e-6)
        assert metrics[target]["collapsed"] is bool(ratio <= params.finetune.collapse_std_ratio)
        assert [m.step for m in client.get_metric_history(run.info.run_id, "train_loss")] == [1, 2]
        assert [m.step for m in client.get_metric_history(run.info.run_id, "val_mae")] == [0, 1, 2]

        # The saved model (what the select stage serves) and the pyfunc predict what was scored.
        model_dir = Path(client.download_artifacts(run.info.run_id, "model", str(tmp_path / target)))
        served = load_predictor(model_dir).predict(labelled["lyrics_clean"].tolist())
        np.testing.assert_allclose(served, predictions["y_pred"], rtol=0, atol=1e-4)
        pyfunc = mlflow.pyfunc.load_model(client.download_artifacts(run.info.run_id, "pyfunc", str(tmp_path / target)))
        out = pyfunc.predict(pd.DataFrame({"lyrics": labelled["lyrics_clean"]}))
        np.testing.assert_allclose(out[target].to_numpy(), predictions["y_pred"], rtol=0, atol=1e-4)


def test_a_target_without_labels_is_skipped_visibly(shared_dir: Path, tiny_base: Callable[[str], Path],
                                                    tmp_path: Path) -> None:
    dataset = slice_dataset(shared_dir, tmp_path / "processed")
    for split in ("train", "eval"):
        frame = pd.read_parquet(dataset / f"{split}.parquet").assign(popularity=np.nan)  # like the catalog source
        frame.to_parquet(dataset / f"{split}.parquet")
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    outcome = finetune_stage.run(stage_params(tiny_base("qwen2"), max_steps=1), dataset, tmp_path / "adapter",
                                 tmp_path / "reports", uri, progress=False)
    assert [(r.target, r.status) for r in outcome.results] == [("popularity", "skipped"), ("release_year", "ok")]
    metrics = json.loads((tmp_path / "reports" / "metrics" / "finetune.json").read_text())
    assert "no usable popularity labels" in metrics["popularity"]["skipped"] and "mae" in metrics["release_year"]
    client = MlflowClient(uri)
    run = client.search_runs([client.get_experiment_by_name("popularity").experiment_id])[0]
    assert run.data.tags["status"] == "skipped" and run.data.tags["kind"] == "lora"
    meta = json.loads((tmp_path / "adapter" / "lora_meta.json").read_text())
    assert meta["scaler"]["targets"] == ["release_year"]


def test_a_converted_base_is_reused(tmp_path: Path) -> None:
    """A cache whose marker matches the wheel's GGUF is returned as is (no 20-second de-quantisation)."""
    out = tmp_path / "converted"
    out.mkdir()
    (out / MARKER).write_text(json.dumps({"source": _gguf_identity(smollm2_gguf_path())}))
    assert convert_gguf(smollm2_gguf_path(), out) == out
    assert [p.name for p in out.iterdir()] == [MARKER]
