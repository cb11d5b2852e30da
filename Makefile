# The two commands: `make run` (whole pipeline on the embedded defaults) and `make test`.
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# Stage commands (papermill, rap-analyzer) come from the project's venv.
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)

.PHONY: run test lint setup mlflow-ui jupyter clean-data

$(STAMP): pyproject.toml scripts/setup_venv.sh
	bash scripts/setup_venv.sh

setup: $(STAMP)

run: $(STAMP)
	dvc repro

test: $(STAMP)
	$(VENV)/bin/ruff check src tests bench
	$(PY) -m pytest -q

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests bench

mlflow-ui: $(STAMP)
	$(VENV)/bin/mlflow ui --backend-store-uri sqlite:///mlruns/mlflow.db --default-artifact-root mlruns/artifacts --host 127.0.0.1 --port 5000

jupyter: $(STAMP)
	$(VENV)/bin/jupyter lab --ip 127.0.0.1 --no-browser

clean-data:
	rm -rf data/raw data/processed data/cache
