# The two commands: `make run` (whole pipeline on the embedded defaults) and `make test`.
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# Stage commands (papermill, rap-analyzer) come from the project's venv.
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)

.PHONY: run test test-fast lint mutate setup serve bento mlflow-ui jupyter clean-data

$(STAMP): pyproject.toml scripts/setup_venv.sh
	bash scripts/setup_venv.sh

setup: $(STAMP)

run: $(STAMP)
	dvc repro

test: $(STAMP)
	$(VENV)/bin/ruff check src tests bench
	$(PY) -m pytest -q

# The quick local loop: tests that start real servers or models (marked `slow`) are left out; `make test` runs all.
test-fast: $(STAMP)
	$(PY) -m pytest -q -m "not slow"

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests bench

# Mutation testing on demand (not part of `make test`: hours over every module). Score per module; one module:
# `make mutate MODULES=scrape/cleaning.py` (names in scripts/mutate.py). Work folders under $TMPDIR.
mutate: $(STAMP)
	$(PY) scripts/mutate.py $(MODULES)

# The service on 127.0.0.1:3000 (params.yaml serve), champions from `select` in data/bentoml, embedded
# PostgreSQL/Redis under data/ unless DATABASE_URL/REDIS_URL are set. The page: http://127.0.0.1:3000/ui/
serve: $(STAMP)
	BENTOML_HOME=$${BENTOML_HOME:-$(CURDIR)/data/bentoml} BENTOML_DO_NOT_TRACK=True \
	  $(VENV)/bin/bentoml serve rap_analyzer.serve.service:RapAnalyzer

# A Bento of the service and its champions, built offline (the project as a wheel; no package locking).
bento: $(STAMP)
	$(PY) -m pip wheel --no-deps --no-build-isolation -q -w dist . && rm -rf build
	BENTOML_HOME=$${BENTOML_HOME:-$(CURDIR)/data/bentoml} BENTOML_DO_NOT_TRACK=True $(VENV)/bin/bentoml build

mlflow-ui: $(STAMP)
	$(VENV)/bin/mlflow ui --backend-store-uri sqlite:///mlruns/mlflow.db --default-artifact-root mlruns/artifacts --host 127.0.0.1 --port 5000

jupyter: $(STAMP)
	$(VENV)/bin/jupyter lab --ip 127.0.0.1 --no-browser

clean-data:
	rm -rf data/raw data/processed data/cache
