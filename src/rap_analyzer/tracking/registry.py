"""The champion in the MLflow Model Registry: a pyfunc model (code: `champion_pyfunc.py`, artifact: the saved
predictor folder) logged in the champion's own run, registered as `rap-analyzer-<target>` with the alias
`champion` (aliases, not the deprecated stages), loadable as `models:/rap-analyzer-<target>@champion`.

The tracking and registry URIs are the project's (`tracking.mlflow_log.tracking_uri`), set for the duration of
the call and restored afterwards, so nothing depends on the working directory.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from importlib.metadata import version
from pathlib import Path
from typing import Any

import mlflow
from mlflow.tracking._model_registry import utils as registry_utils
from mlflow.tracking._tracking_service import utils as tracking_utils

from rap_analyzer.models.predictor import model_name
from rap_analyzer.tracking.mlflow_log import client_for, tracking_uri

ALIAS = "champion"
CODE = Path(__file__).with_name("champion_pyfunc.py")


@contextlib.contextmanager
def _uris(uri: str) -> Iterator[None]:
    """MLflow's fluent API (needed by `pyfunc.log_model`) on `uri` for the block, then everything as it was.

    `mlflow.set_tracking_uri` / `set_registry_uri` also export `MLFLOW_TRACKING_URI` / `MLFLOW_REGISTRY_URI` for
    subprocesses, so restoring with `set_tracking_uri(get_tracking_uri())` would leave MLflow's relative default
    (`sqlite:///mlflow.db`) in the environment, where `tracking_uri()` then finds it and the next champion is
    looked up in a database beside the working directory. The raw settings and the variables are restored instead,
    unset ones unset (as mlflow's own `_use_tracking_uri` does for the tracking URI)."""
    names = ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")
    env_before = {name: os.environ.get(name) for name in names}
    tracking_before, registry_before = tracking_utils._tracking_uri, registry_utils._registry_uri
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    try:
        yield
    finally:
        mlflow.set_tracking_uri(tracking_before)  # None unsets the variable too
        registry_utils._registry_uri = registry_before
        for name, value in env_before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def register_champion(run_id: str, predictor_dir: Path, target: str, tags: dict[str, Any],
                      uri: str | None = None) -> dict[str, str]:
    """Log the champion as a pyfunc model in run `run_id`, register a new version of `rap-analyzer-<target>`
    and point the alias `champion` at it. Returns {"name", "version", "model_uri"}."""
    uri = tracking_uri(uri)
    client = client_for(uri)
    name = model_name(target)
    requirements = [f"{pkg}=={version(pkg)}" for pkg in ("mlflow", "scikit-learn", "skops", "numpy", "pandas")]
    with _uris(uri):
        with mlflow.start_run(run_id=run_id):
            info = mlflow.pyfunc.log_model(name="champion", python_model=str(CODE),
                                           artifacts={"predictor": str(predictor_dir)},
                                           pip_requirements=requirements)
        if not _exists(client, name):
            client.create_registered_model(name, description=f"Best model for {target} (select stage)")
        mv = client.create_model_version(name, info.model_uri, run_id=run_id,
                                         tags={k: str(v) for k, v in tags.items()})
        client.set_registered_model_alias(name, ALIAS, mv.version)
    return {"name": name, "version": str(mv.version), "model_uri": f"models:/{name}@{ALIAS}"}


def _exists(client: Any, name: str) -> bool:
    from mlflow.exceptions import MlflowException

    try:
        client.get_registered_model(name)
    except MlflowException:
        return False
    return True
