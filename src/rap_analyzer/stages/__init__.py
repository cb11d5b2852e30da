"""One module per DVC stage, named after it: each has a `run(...)` that reads its own `params.yaml` section and
the paths it is given, and writes the stage's outputs. Notebooks, `dvc.yaml` and the CLI call only these."""
