"""`rap-analyzer`: one subcommand per pipeline stage (the notebooks call the same functions), plus `db`.

A known failure (any `RapAnalyzerError`; a missing input file) ends in one line `error: ...` on stderr and exit
code 2, with the traceback only under `--verbose`; anything else is a bug and keeps its traceback (exit 1).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sys
import traceback
from pathlib import Path
from typing import Annotated
from urllib.parse import urlsplit

import psycopg
import typer
from pydantic import SecretStr

from rap_analyzer.config import get_secrets, load_params
from rap_analyzer.errors import RapAnalyzerError

app = typer.Typer(help="Reproducible ML research on rap lyrics.", no_args_is_help=True, add_completion=False)
db_app = typer.Typer(help="The PostgreSQL database (embedded unless DATABASE_URL is set).", no_args_is_help=True)
app.add_typer(db_app, name="db")

ParamsOption = Annotated[Path | None, typer.Option(
    "--params", help="params.yaml to read (default: $RAP_ANALYZER_PARAMS, else the project's params.yaml)")]
KNOWN_FAILURES = (RapAnalyzerError, FileNotFoundError)
EXIT_KNOWN_FAILURE = 2
# Values that must never reach the terminal, even if a message from a library quoted them.
SECRET_VARIABLES = ("GENIUS_ACCESS_TOKEN", "SPOTIFY_CLIENT_ID", "SPOTIFY_CLIENT_SECRET", "NOVITA_API_KEY",
                    "OPENAI_API_KEY", "RAP_ANALYZER_API_KEY")
_state = {"verbose": False}


def _redact(message: str) -> str:
    """`message` with every configured secret and every service-URL password replaced by `***`."""
    secrets = [os.environ.get(name, "") for name in (*SECRET_VARIABLES, "PGPASSWORD")]
    urls = [os.environ.get(name, "") for name in ("DATABASE_URL", "REDIS_URL")]
    with contextlib.suppress(Exception):  # the same values from `.env`, which is not exported to the environment
        configured = get_secrets()       # (a malformed .env is the error being reported: nothing more to add)
        for name, value in configured:
            if isinstance(value, SecretStr):
                secrets.append(value.get_secret_value())
            elif name in ("database_url", "redis_url") and value:
                urls.append(value)
    for value in urls:
        with contextlib.suppress(ValueError):  # a malformed URL has no password to hide
            secrets.append(urlsplit(value).password or "")
        with contextlib.suppress(psycopg.Error):  # libpq's key=value form and `?password=` in a URL
            secrets.append(psycopg.conninfo.conninfo_to_dict(value).get("password") or "")
    for secret in sorted(filter(None, secrets), key=len, reverse=True):
        message = message.replace(secret, "***")
    return message


def _fail(exc: BaseException) -> None:
    """One line on stderr (the traceback before it under --verbose), then exit 2."""
    if _state["verbose"]:
        sys.stderr.write(_redact("".join(traceback.format_exception(exc))))
    message = " ".join(str(exc).split()) or type(exc).__name__
    typer.secho(_redact(f"error: {message}"), fg=typer.colors.RED, err=True)
    sys.exit(EXIT_KNOWN_FAILURE)


def _print_json(data: object) -> None:
    typer.echo(json.dumps(data, indent=2, default=str))


@app.callback()
def main(verbose: Annotated[bool, typer.Option("--verbose", "-v", help="log more; tracebacks for known failures")]
         = False) -> None:
    _state["verbose"] = verbose
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, stream=sys.stderr)
    get_secrets()  # a malformed DATABASE_URL / REDIS_URL fails here, before any work


@db_app.command("migrate")
def db_migrate(params_path: ParamsOption = None) -> None:
    """Apply pending schema migrations."""
    from rap_analyzer.store import services
    from rap_analyzer.store.migrate import migrate

    with services.connect(load_params(params_path)) as conn:
        applied = migrate(conn)
    typer.echo(f"applied: {', '.join(applied)}" if applied else "schema up to date")


@db_app.command("status")
def db_status(params_path: ParamsOption = None) -> None:
    """Row counts of the main tables."""
    from rap_analyzer.store import services
    from rap_analyzer.store.migrate import migrate

    with services.connect(load_params(params_path)) as conn:
        migrate(conn)
        counts = {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]  # type: ignore[index]
                  for t in ("artists", "tracks", "spotify_matches", "analyses", "embeddings", "dataset_versions")}
    _print_json(counts)


@app.command()
def scrape(
    out_dir: Annotated[Path, typer.Option(help="where tracks.parquet and scrape_report.json go")] = Path("data/raw"),
    params_path: ParamsOption = None,
) -> None:
    """Import songs from the configured source into PostgreSQL and export them to parquet."""
    from rap_analyzer.stages import scrape as scrape_stage

    report = scrape_stage.run(load_params(params_path), out_dir)
    _print_json({k: v for k, v in report.to_json().items() if k != "per_artist"})


@app.command()
def prepare(
    tracks: Annotated[Path, typer.Option(help="the scrape stage's parquet")] = Path("data/raw/tracks.parquet"),
    out_dir: Annotated[Path, typer.Option(help="where train/eval parquet and dataset_info.json go")] = Path(
        "data/processed"),
    params_path: ParamsOption = None,
) -> None:
    """Features, filters, labels and the artist-disjoint split."""
    from rap_analyzer.stages import prepare as prepare_stage

    result = prepare_stage.run(load_params(params_path), tracks, out_dir)
    _print_json({"dataset_hash": result.dataset_hash, **result.info["counts"], "dropped": result.info["dropped"]})


@app.command()
def embed(
    dataset_dir: Annotated[Path, typer.Option(help="the prepare stage's folder")] = Path("data/processed"),
    out: Annotated[Path, typer.Option(help="embeddings parquet")] = Path("data/processed/embeddings.parquet"),
    params_path: ParamsOption = None,
) -> None:
    """Sentence embeddings of every dataset track, to parquet and pgvector (unchanged tracks are reused)."""
    from rap_analyzer.stages import embed as embed_stage

    _print_json(embed_stage.run(load_params(params_path), dataset_dir, out))


@app.command()
def index(
    corpus: Annotated[Path, typer.Option(help="the scrape stage's corpus parquet")] = Path("data/raw/corpus.parquet"),
    metrics: Annotated[Path, typer.Option(help="index metrics JSON")] = Path("reports/metrics/index.json"),
    timings: Annotated[Path, typer.Option(help="this run's timings JSON")] = Path("reports/timings/index.json"),
    params_path: ParamsOption = None,
) -> None:
    """Embeds every corpus track not yet embedded for the configured model and keeps the HNSW index."""
    from rap_analyzer.stages import index as index_stage

    _print_json(index_stage.run(load_params(params_path), corpus, metrics, timings))


@app.command("artist-classifier")
def artist_classifier(
    corpus: Annotated[Path, typer.Option(help="the scrape stage's corpus parquet")] = Path("data/raw/corpus.parquet"),
    model_dir: Annotated[Path, typer.Option(help="where the classifier is saved (replaced)")] = Path(
        "data/models/artist_classifier"),
    metrics: Annotated[Path, typer.Option(help="held-out metrics JSON")] = Path(
        "reports/metrics/artist_classifier.json"),
    timings: Annotated[Path, typer.Option(help="this run's timings JSON")] = Path(
        "reports/timings/artist_classifier.json"),
    figures_dir: Annotated[Path, typer.Option(help="per-artist F1 plot")] = Path("reports/figures/artist_classifier"),
    save: Annotated[bool, typer.Option(help="also save it to the BentoML store")] = True,
    params_path: ParamsOption = None,
) -> None:
    """Train the artist classifier (text -> artist) and measure it on held-out songs of the same artists."""
    from rap_analyzer.stages import artist_classifier as classifier_stage

    _print_json(classifier_stage.run(load_params(params_path), corpus, model_dir, metrics, timings, figures_dir,
                                     save_store=save))


@app.command()
def baselines(
    dataset_dir: Annotated[Path, typer.Option(help="the prepare stage's folder")] = Path("data/processed"),
    embeddings: Annotated[Path, typer.Option(help="the embed stage's parquet")] = Path(
        "data/processed/embeddings.parquet"),
    reports_dir: Annotated[Path, typer.Option(help="leaderboard, metrics and plots")] = Path("reports"),
    params_path: ParamsOption = None,
) -> None:
    """Every baseline for every target, logged to MLflow and written to the leaderboard."""
    from rap_analyzer.stages import baselines as baselines_stage

    results = baselines_stage.run(load_params(params_path), dataset_dir, embeddings, reports_dir)
    columns = ["target", "model", "status", "mae", "mae_ci_low", "mae_ci_high", "rmse", "spearman"]
    typer.echo(baselines_stage.leaderboard_frame(results).reindex(columns=columns).to_string(index=False))


@app.command("llm-eval")
def llm_eval(
    dataset_dir: Annotated[Path, typer.Option(help="the prepare stage's folder")] = Path("data/processed"),
    reports_dir: Annotated[Path, typer.Option(help="metrics, leaderboard and figures")] = Path("reports"),
    out_dir: Annotated[Path, typer.Option(help="per-request records")] = Path("data/llm"),
    params_path: ParamsOption = None,
) -> None:
    """The LLM baseline: structured analyses of eval lyrics, scored against the labels."""
    from rap_analyzer.stages import llm_eval as llm_eval_stage

    stage = llm_eval_stage.run(load_params(params_path), dataset_dir, reports_dir, out_dir)
    _print_json({k: v for k, v in stage.summary.items()})


@app.command("select")
def select(
    dataset_dir: Annotated[Path, typer.Option(help="the prepare stage's folder")] = Path("data/processed"),
    embeddings: Annotated[Path, typer.Option(help="the embed stage's parquet")] = Path(
        "data/processed/embeddings.parquet"),
    reports_dir: Annotated[Path, typer.Option(help="leaderboard.md/.json and figures/select")] = Path("reports"),
    save: Annotated[bool, typer.Option(help="save the champions to the MLflow registry and BentoML store")] = True,
    params_path: ParamsOption = None,
) -> None:
    """Compare every model MLflow holds for this dataset; register and save each target's champion."""
    from rap_analyzer.stages import select as select_stage

    result = select_stage.run(load_params(params_path), dataset_dir, embeddings, reports_dir, save=save)
    _print_json({target: data["champion"] for target, data in result.report.items()})


def run() -> None:
    """Console entry point: known failures end in one clear line and exit 2, not a traceback."""
    try:
        app()
    except KNOWN_FAILURES as exc:
        _fail(exc)
