"""`ModelResult`: the shape every scored model is logged, ranked and selected in, whatever its kind (a baseline,
the LLM, a LoRA fine-tune, a model a user logs)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd


@dataclass
class ModelResult:
    """One model on one target: eval metrics, artist-grouped CV MAEs on train, per-track eval predictions."""

    model: str
    target: str
    status: str  # "ok" or "skipped"
    reason: str = ""
    metrics: dict[str, float | int] = field(default_factory=dict)
    cv_maes: list[float] = field(default_factory=list)
    predictions: pd.DataFrame | None = None  # source_key, artist, y_true, y_pred on eval
    model_params: dict[str, Any] = field(default_factory=dict)
    seconds: float = float("nan")  # CV plus the final fit and eval prediction
    fitted: Any = field(default=None, repr=False)  # the final fitted model, for persisting (None: not kept)

    @property
    def cv_mae_mean(self) -> float:
        return float(np.mean(self.cv_maes)) if self.cv_maes else float("nan")

    @property
    def cv_mae_std(self) -> float:  # sample std over folds
        return float(np.std(self.cv_maes, ddof=1)) if len(self.cv_maes) > 1 else float("nan")
