"""MLflow "models from code" file for the registered champion: MLflow copies this file into the model and runs
it on `mlflow.pyfunc.load_model("models:/rap-analyzer-<target>@champion")`, so nothing is unpickled. The model's
artifact `predictor` is a folder written by `rap_analyzer.models.predictor.save_predictor`.

Input: a DataFrame with a `lyrics` column (cleaned lyrics), or a list of strings. Output: a float array of shape
(n,) in target units (NaN where the model cannot score a text)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd
from mlflow.pyfunc import PythonModel

from rap_analyzer.models.predictor import load_predictor


class ChampionModel(PythonModel):  # type: ignore[misc]
    def load_context(self, context: Any) -> None:
        self.predictor = load_predictor(Path(context.artifacts["predictor"]))

    # No type hints on predict: MLflow would derive (and enforce) an input schema from them.
    def predict(self, context, model_input, params=None):  # type: ignore[no-untyped-def]
        if isinstance(model_input, pd.DataFrame):
            lyrics = model_input["lyrics"].astype(str).tolist()
        else:
            lyrics = [str(x) for x in model_input]
        return np.asarray(self.predictor.predict(lyrics), dtype=float)


mlflow.models.set_model(ChampionModel())
