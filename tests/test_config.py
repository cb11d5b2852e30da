"""Parameters: values only in params.yaml, bounds in config.py, failures at load time naming file, key, value and
the allowed range; the project root; the shape of service URLs in `Secrets`."""

from __future__ import annotations

import math
import typing
from pathlib import Path
from typing import Any

import annotated_types as at
import pytest
import yaml
from helpers import PARAMS_YAML, params_with, raw_params
from pydantic import BaseModel

from rap_analyzer import config
from rap_analyzer.config import Params, load_params, load_secrets, project_root, service_url
from rap_analyzer.errors import ConfigError
from rap_analyzer.models.llm.prompt import PROMPT_VERSION


def sections() -> list[tuple[str, type[BaseModel]]]:
    return [(name, field.annotation) for name, field in Params.model_fields.items()]  # type: ignore[misc]


def test_the_repository_params_load() -> None:
    params = load_params(PARAMS_YAML)
    assert params == params_with()
    assert params.llm_eval.eval_limit == yaml.safe_load(PARAMS_YAML.read_text())["llm_eval"]["eval_limit"]


@pytest.mark.parametrize(("name", "section"), sections())
def test_no_value_defaults_in_config(name: str, section: type[BaseModel]) -> None:
    """Every value is written once, in params.yaml: a default in config.py could drift from it."""
    defaulted = [f"{name}.{key}" for key, field in section.model_fields.items() if not field.is_required()]
    assert defaulted == []


def test_params_yaml_has_no_section_config_does_not_know() -> None:
    assert set(yaml.safe_load(PARAMS_YAML.read_text())) == set(Params.model_fields)


# The bounds the project relies on, written from their meaning (not read from config.py):
# (dotted key, values that must load, values that must fail)
REQUIRED_BOUNDS = [
    ("prepare.eval_fraction", [1e-9, 0.5, 1 - 1e-9], [0.0, 1.0, -0.1]),  # an open interval: both splits non-empty
    ("prepare.n_folds", [2], [1, 0]),  # cross-validation needs two folds
    ("llm_eval.max_lyrics_chars", [1], [0]),
    ("llm_eval.eval_limit", [1, None], [0, -1]),  # null: the whole split
    ("llm_eval.concurrency", [1], [0]),
    ("llm_eval.timeout_s", [0.001], [0, -1]),
    ("llm_eval.requests_per_minute", [0.1], [0]),
    ("llm_eval.temperature", [0.0, 2.0], [-0.1, 2.1]),
    ("scrape.requests_per_minute", [0.1], [0]),
    ("scrape.timeout_s", [0.001], [0]),
    ("scrape.spotify_min_score", [0.0, 1.0], [-0.01, 1.01]),  # a probability-like score
    # scrape.dataset_sources is [dump]: sources must include it
    ("scrape.sources", [["dump"], ["dump", "catalog", "genius"]], [["web"], [], ["catalog"]]),
    ("baselines.targets", [["popularity"], ["release_year"]], [[], ["danceability"]]),
    ("llm_eval.prompt_version", [PROMPT_VERSION], ["v0-unknown"]),
]


def with_value(dotted: str, value: Any) -> Params:
    section, key = dotted.split(".")
    return params_with({section: {key: value}})


@pytest.mark.parametrize(("dotted", "good", "bad"), REQUIRED_BOUNDS)
def test_required_bounds(dotted: str, good: list[Any], bad: list[Any]) -> None:
    section, key = dotted.split(".")
    for value in good:
        assert getattr(getattr(with_value(dotted, value), section), key) == value
    for value in bad:
        with pytest.raises(ConfigError) as info:
            with_value(dotted, value)
        message = str(info.value)
        shown = f".0 = {value[0]!r}" if isinstance(value, list) and value else f" = {value!r}"  # a list: its item
        across = f"{PARAMS_YAML}: {section}: " in message and key in message  # a rule across the section's keys
        assert str(PARAMS_YAML) in message and (f"{dotted}{shown}" in message or across), message


def numeric_bounds() -> list[tuple[str, type, str, float]]:
    """(dotted key, int or float, bound kind, bound) of every numeric Field bound in config.py, so that a section
    added later is tested at its bounds too."""
    found = []
    for name, section in sections():
        for key, field in section.model_fields.items():
            numbers = [t for t in typing.get_args(field.annotation) or (field.annotation,) if t in (int, float)]
            for meta in field.metadata:
                for kind in ("ge", "gt", "le", "lt"):
                    if isinstance(meta, getattr(at, kind.capitalize())) and numbers:
                        found.append((f"{name}.{key}", numbers[0], kind, getattr(meta, kind)))
    return found


def step(kind: type, bound: float, direction: float) -> float:
    """The nearest representable value past `bound` in `direction` (+inf or -inf)."""
    return bound + (1 if direction > 0 else -1) if kind is int else math.nextafter(bound, direction)


@pytest.mark.parametrize(("dotted", "kind", "op", "bound"), numeric_bounds())
def test_every_numeric_bound_at_the_bound(dotted: str, kind: type, op: str, bound: float) -> None:
    inside = {"ge": bound, "le": bound, "gt": step(kind, bound, math.inf), "lt": step(kind, bound, -math.inf)}[op]
    outside = {"ge": step(kind, bound, -math.inf), "le": step(kind, bound, math.inf), "gt": bound, "lt": bound}[op]
    try:
        with_value(dotted, kind(inside))
    except ConfigError as exc:  # another field's rule may object to the value; this key's bound must not
        assert f"{dotted} =" not in str(exc)
    with pytest.raises(ConfigError) as info:
        with_value(dotted, kind(outside))
    words = {"ge": "greater than or equal to", "gt": "greater than", "le": "less than or equal to", "lt": "less than"}
    assert f"{dotted} = {kind(outside)!r}" in str(info.value) and words[op] in str(info.value)


def test_prompt_versions_match_the_prompt_module() -> None:
    allowed = typing.get_args(config.PromptVersion)
    assert PROMPT_VERSION in allowed and params_with().llm_eval.prompt_version == PROMPT_VERSION


def test_missing_and_unknown_keys_are_named(tmp_path: Path) -> None:
    raw = raw_params()
    del raw["llm_eval"]["eval_limit"]
    raw["prepare"]["n_fold"] = 3
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(ConfigError) as info:
        load_params(path)
    message = str(info.value)
    assert f"{path}: llm_eval.eval_limit is missing" in message
    assert f"{path}: prepare.n_fold is not a known parameter" in message
    assert "\n" not in message  # one line for the console


def test_wrong_type_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"prepare\.n_folds = 'five'"):
        with_value("prepare.n_folds", "five")


def test_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_params(tmp_path / "nowhere.yaml")
    broken = tmp_path / "params.yaml"
    broken.write_text("prepare: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_params(broken)


def test_project_root_resolution(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RAP_ANALYZER_ROOT", raising=False)
    project = tmp_path / "project"
    nested = project / "notebooks" / "executed"
    nested.mkdir(parents=True)
    (project / "params.yaml").write_text("{}")
    monkeypatch.chdir(nested)
    assert project_root() == project.resolve()  # nearest ancestor holding params.yaml
    monkeypatch.chdir(tmp_path)
    assert project_root() == tmp_path.resolve()  # none above: the current directory
    monkeypatch.setenv("RAP_ANALYZER_ROOT", str(project))
    monkeypatch.chdir(nested.parent)
    assert project_root() == project.resolve()
    assert config.resolve(Path("data")) == project.resolve() / "data"


def test_load_params_default_path_follows_the_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RAP_ANALYZER_PARAMS", raising=False)
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(raw_params({"prepare": {"seed": 7}})))
    monkeypatch.setenv("RAP_ANALYZER_ROOT", str(tmp_path))
    params = load_params()
    assert params.prepare.seed == 7 and params.data_dir == tmp_path.resolve() / params.paths.data_dir


@pytest.mark.parametrize(("variable", "value"), [
    ("DATABASE_URL", "not-a-url"), ("DATABASE_URL", "http://u:hunter2@db:5432/x"),
    ("DATABASE_URL", "postgresql://u:hunter2@db:port/x"), ("DATABASE_URL", "postgresql://:hunter2@"),
    ("REDIS_URL", "localhost:6379"), ("REDIS_URL", "http://:hunter2@cache:6379/0"),
])
def test_malformed_service_urls(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, variable: str, value: str) -> None:
    monkeypatch.setenv("RAP_ANALYZER_ROOT", str(tmp_path))  # no .env
    monkeypatch.setenv(variable, value)
    from rap_analyzer.store import services

    # the servers' own lookups (stages, CLI, service) go through the same check
    url_of = {"DATABASE_URL": services.database_url, "REDIS_URL": services.redis_url}[variable]
    for load in (load_secrets, lambda: service_url(variable.lower()), url_of):  # type: ignore[arg-type]
        with pytest.raises(ConfigError) as info:
            load()
        message = str(info.value)
        assert variable in message and f"unset {variable}" in message and "embedded server" in message
        assert value not in message and "hunter2" not in message


@pytest.mark.parametrize(("variable", "value"), [
    ("DATABASE_URL", "postgresql://u:pw@127.0.0.1:1/x"), ("DATABASE_URL", "postgres://db/x"),
    ("DATABASE_URL", "postgresql:///x"), ("DATABASE_URL", "host=/tmp/pg dbname=x"),
    ("REDIS_URL", "redis://cache:6379/0"), ("REDIS_URL", "rediss://:pw@cache:6380/1"),
    ("REDIS_URL", "unix:///tmp/valkey.sock"),
])
def test_well_formed_service_urls(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, variable: str, value: str) -> None:
    monkeypatch.setenv("RAP_ANALYZER_ROOT", str(tmp_path))
    monkeypatch.setenv(variable, value)
    assert getattr(load_secrets(), variable.lower()) == value == service_url(variable.lower())  # type: ignore[arg-type]


def test_unset_service_url_means_embedded(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("RAP_ANALYZER_ROOT", str(tmp_path))
    monkeypatch.delenv("DATABASE_URL", raising=False)
    (tmp_path / ".env").write_text("DATABASE_URL=\n")
    assert load_secrets().database_url is None  # empty counts as unset
