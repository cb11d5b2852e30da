"""`rap-analyzer`: one subcommand per pipeline stage (the notebooks call the same functions), plus `db`."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Annotated

import typer

from rap_analyzer.config import load_params
from rap_analyzer.errors import UserError

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
    from rap_analyzer.scrape.stage import run_scrape

    report = run_scrape(load_params(params_path), out_dir)
    _print_json({k: v for k, v in report.to_json().items() if k != "per_artist"})


def run() -> None:
    """Console entry point: known failures end in one clear line, not a traceback."""
    try:
        app()
    except (UserError, FileNotFoundError) as exc:
        _fail(str(exc))
