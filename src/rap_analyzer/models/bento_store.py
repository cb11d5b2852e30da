"""The project's BentoML model store, shared by the champions (`models/predictor.py`) and the artist classifier
(`models/style/classifier.py`): `$BENTOML_HOME`, else `<project root>/data/bentoml`.

The location is exported to `BENTOML_HOME` before bentoml is first imported, so that bentoml itself (its CLI,
`bentoml models list`, a service started from this checkout) reads the same store. Kept apart from both model
modules so that the classifier's stage does not depend on every predictor kind, LoRA included.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from rap_analyzer.config import project_root


def bentoml_home() -> Path:
    """$BENTOML_HOME, else `<project root>/data/bentoml` (then exported, so bentoml agrees)."""
    home = os.environ.get("BENTOML_HOME")
    if not home:
        home = str(project_root() / "data" / "bentoml")
        os.environ["BENTOML_HOME"] = home
    return Path(home)


def model_store() -> Any:
    """bentoml's `ModelStore` over `<bentoml_home()>/models` (created if missing)."""
    bentoml_home()  # before bentoml's first import
    from bentoml._internal.models import ModelStore

    folder = bentoml_home() / "models"
    folder.mkdir(parents=True, exist_ok=True)
    return ModelStore(folder)
