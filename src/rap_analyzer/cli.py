"""`rap-analyzer`: one subcommand per pipeline stage (the notebooks call the same functions), plus `db`."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Annotated

import typer

from rap_analyzer.config import load_params
from rap_analyzer.errors import RapAnalyzerError

app = typer.Typer(help="Reproducible ML research on rap lyrics.", no_args_is_help=True, add_completion=False)
db_app = typer.Typer(help="The PostgreSQL database (embedded unless DATABASE_URL is set).", no_args_is_help=True)
app.add_typer(db_app, name="db")

ParamsOption = Annotated[Path, typer.Option("--params", help="params.yaml to read")]


def _fail(message: str) -> None:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(code=2)


def _print_json(data: object) -> None:
    typer.echo(json.dumps(data, indent=2, default=str))


@app.callback()
def main(verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False) -> None:
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, stream=sys.stderr)


@db_app.command("migrate")
def db_migrate(params_path: ParamsOption = Path("params.yaml")) -> None:
    """Apply pending schema migrations."""
    from rap_analyzer.store import services
    from rap_analyzer.store.migrate import migrate

    with services.connect(load_params(params_path)) as conn:
        applied = migrate(conn)
    typer.echo(f"applied: {', '.join(applied)}" if applied else "schema up to date")


@db_app.command("status")
def db_status(params_path: ParamsOption = Path("params.yaml")) -> None:
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
    params_path: ParamsOption = Path("params.yaml"),
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
    params_path: ParamsOption = Path("params.yaml"),
) -> None:
    """Features, filters, labels and the artist-disjoint split."""
    from rap_analyzer.stages import prepare as prepare_stage

    result = prepare_stage.run(load_params(params_path), tracks, out_dir)
    _print_json({"dataset_hash": result.dataset_hash, **result.info["counts"], "dropped": result.info["dropped"]})


@app.command()
def embed(
    dataset_dir: Annotated[Path, typer.Option(help="the prepare stage's folder")] = Path("data/processed"),
    out: Annotated[Path, typer.Option(help="embeddings parquet")] = Path("data/processed/embeddings.parquet"),
    params_path: ParamsOption = Path("params.yaml"),
) -> None:
    """Sentence embeddings of every dataset track, to parquet and pgvector (unchanged tracks are reused)."""
    from rap_analyzer.stages import embed as embed_stage

    _print_json(embed_stage.run(load_params(params_path), dataset_dir, out))


@app.command()
def baselines(
    dataset_dir: Annotated[Path, typer.Option(help="the prepare stage's folder")] = Path("data/processed"),
    embeddings: Annotated[Path, typer.Option(help="the embed stage's parquet")] = Path(
        "data/processed/embeddings.parquet"),
    reports_dir: Annotated[Path, typer.Option(help="leaderboard, metrics and plots")] = Path("reports"),
    params_path: ParamsOption = Path("params.yaml"),
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
    params_path: ParamsOption = Path("params.yaml"),
) -> None:
    """The LLM baseline: structured analyses of eval lyrics, scored against the labels."""
    from rap_analyzer.stages import llm_eval as llm_eval_stage

    stage = llm_eval_stage.run(load_params(params_path), dataset_dir, reports_dir, out_dir)
    _print_json({k: v for k, v in stage.summary.items()})


def run() -> None:
    """Console entry point: known failures end in one clear line, not a traceback."""
    try:
        app()
    except (RapAnalyzerError, FileNotFoundError) as exc:
        _fail(str(exc))
