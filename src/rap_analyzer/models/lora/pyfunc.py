"""MLflow "models from code" file for a LoRA run's `pyfunc` artifact: MLflow copies this file into the model and
runs it on `mlflow.pyfunc.load_model(...)`, so nothing is unpickled (like `tracking/champion_pyfunc.py`). Never
imported by the project itself: the stage hands MLflow its path.

Artifact `adapter`: the adapter directory (`rap_analyzer.models.lora.predict.save_adapter`). Input: a DataFrame
with a `lyrics` column, or a list of strings. Output: a DataFrame with one column per target, in target units,
shape (n, k)."""

from __future__ import annotations

from typing import Any

import mlflow
import pandas as pd
from mlflow.pyfunc import PythonModel

from rap_analyzer.models.lora.predict import LoraRegressor


class LoraPyfunc(PythonModel):  # type: ignore[misc]
    def load_context(self, context: Any) -> None:
        self.regressor = LoraRegressor(context.artifacts["adapter"])

    # No type hints here: MLflow would try to derive a model signature from them and warn that it cannot.
    def predict(self, context, model_input, params=None):  # type: ignore[no-untyped-def]
        lyrics = model_input["lyrics"].tolist() if isinstance(model_input, pd.DataFrame) else list(model_input)
        return pd.DataFrame(self.regressor.predict_all(lyrics), columns=list(self.regressor.targets))


mlflow.models.set_model(LoraPyfunc())
