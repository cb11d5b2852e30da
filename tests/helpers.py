"""Helpers shared by test modules (test modules never import each other): `params_with`, the one way tests
build parameters, and the scripted clients and replies several test modules use."""

from __future__ import annotations

import ast
import json
import random
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import yaml
from http_replay import ReplayServer, Response

from rap_analyzer.config import Params, params_from
from rap_analyzer.resilience import CircuitBreaker, RateLimiter, RetryPolicy
from rap_analyzer.scrape.genius_api import GeniusClient
from rap_analyzer.scrape.remote import Resilience
from rap_analyzer.scrape.spotify import SpotifyEnricher

REPO_ROOT = Path(__file__).resolve().parents[1]
PARAMS_YAML = REPO_ROOT / "params.yaml"
PACKAGE = REPO_ROOT / "src" / "rap_analyzer"


def _merge(base: Any, changes: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in changes.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def raw_params(overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The repository's params.yaml as parsed YAML, with `overrides` merged in key by key."""
    return _merge(yaml.safe_load(PARAMS_YAML.read_text()), overrides or {})


def params_with(overrides: Mapping[str, Any] | None = None) -> Params:
    """The repository's params.yaml with `overrides` merged in, validated like `load_params` (so a bad override
    raises ConfigError): `params_with({"llm_eval": {"concurrency": 1}}).llm_eval`."""
    return params_from(raw_params(overrides), str(PARAMS_YAML))


# --- the package's import graph (test_layering, test_dvc_deps) -------------------------------------------------

def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path: Path, text: str | None = None) -> list[tuple[str, int]]:
    """Absolute names of the `rap_analyzer` modules `path` (or `text` placed at `path`) imports, relative imports
    resolved, with line numbers. `from pkg import name` counts as importing `pkg.name` (it may be a module)."""
    tree = ast.parse(path.read_text() if text is None else text, filename=str(path))
    here = module_name(path).split(".")
    package = here if path.name == "__init__.py" else here[:-1]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package[:len(package) - node.level + 1] + ([base] if base else []))
            found += [(f"{base}.{alias.name}", node.lineno) for alias in node.names]
    return [(name, line) for name, line in found if name.split(".")[0] == "rap_analyzer"]


# --- calls that fail, then answer ------------------------------------------------------------------------------

def errors_then_ok(*errors: Exception) -> Callable[[], str]:
    """A call that raises `errors` one per attempt, then answers "ok"."""
    pending = iter(errors)

    def fn() -> str:
        error = next(pending, None)
        if error is not None:
            raise error
        return "ok"
    return fn


# --- clocks and sleeps ---------------------------------------------------------------------------------------

class FakeTime:
    """A clock that only moves when something sleeps (or the test says so)."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


class Recorder:
    """Injected sleep: records the delays instead of waiting."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


class Sleeps(list[float]):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


# --- Genius --------------------------------------------------------------------------------------------------

GENIUS_TOKEN = "dummy-genius-access-token"  # the token the 2015 cassettes were recorded with


def make_genius_client(server: ReplayServer, fake: FakeTime, *, retries: int = 3, breaker_failures: int = 5,
                       limiter: RateLimiter | None = None, token: str = GENIUS_TOKEN, timeout_s: float = 5.0,
                       cache: Any = None) -> GeniusClient:
    params = params_with({"scrape": {"max_retries": retries, "timeout_s": timeout_s,
                                     "breaker_failures": breaker_failures}}).scrape
    resilience = Resilience(RetryPolicy(max_retries=retries, sleep=fake.sleep, rng=random.Random(0)),
                            CircuitBreaker(breaker_failures, 60.0, clock=fake.clock), limiter)
    return GeniusClient(token, params, base_url=server.url, web_url=server.url, cache=cache, resilience=resilience)


def jim_yosef_routes(rec: Path, html_dir: Path) -> dict[str, Any]:
    """Recorded 2025 responses. No artist-songs page was recorded, so the two pages served for
    /artists/992710/songs are the recorded search hits (all led by Jim Yosef, id 992710) split five and five."""
    search = json.loads((rec / "api_search.json").read_text())
    songs = [hit["result"] for hit in search["response"]["hits"]]
    pages = [Response(200, {"response": {"songs": songs[:5], "next_page": 2}}),
             Response(200, {"response": {"songs": songs[5:], "next_page": None}})]
    return {"/search": Response(200, search),
            "/artists/992710/songs?page=1": pages[0], "/artists/992710/songs?page=2": pages[1],
            "/songs/3374613": Response(200, json.loads((rec / "api_song_3374613.json").read_text())),
            "/Jim-yosef-and-anna-yvette-linked-lyrics": Response(
                200, (html_dir / "linked_jim_yosef_2025.html").read_text())}


# --- an OpenAI-compatible chat endpoint ----------------------------------------------------------------------

CHAT = "/v1/chat/completions"
KEY = "sk-test-do-not-log-0123456789"
VALID = {
    "themes": ["ambition"], "mood": "proud", "rhyme_scheme": "couplets", "flow": "steady",
    "complexity": 5, "lyrical_quality": 6, "commercial_potential": 8, "estimated_release_year": 2011,
    "explicitness": "mild", "language": "en",
}


def completion(content: str, prompt_tokens: int = 120, completion_tokens: int = 40) -> Response:
    return Response(200, {
        "id": "chatcmpl-1", "object": "chat.completion", "created": 0, "model": "test-model",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                  "total_tokens": prompt_tokens + completion_tokens},
    })


def error(status: int, headers: dict[str, str] | None = None) -> Response:
    return Response(status, {"error": {"message": f"error {status} for key {KEY[:8]}...", "type": "x"}},
                    headers or {})


def bodies(server: ReplayServer) -> list[dict[str, Any]]:
    return [json.loads(r.body) for r in server.requests_to(CHAT)]


# --- Spotify -------------------------------------------------------------------------------------------------

CLIENT_ID, CLIENT_SECRET = "test-client-id", "test-client-SECRET-5e4d"
ACCESS_TOKEN = "test-access-token-77aa"  # what the replayed token endpoint hands out
SPOTIFY_TOKEN = {"access_token": ACCESS_TOKEN, "token_type": "Bearer", "expires_in": 3600}
FORBIDDEN = Response(403, {"error": {"status": 403, "message": "Forbidden"}})


def load(payloads: Path, name: str) -> Any:
    return json.loads((payloads / name).read_text())


def make_enricher(server: ReplayServer, sleeps: Sleeps | None = None, retries: int = 3,
                  client_secret: str = CLIENT_SECRET) -> SpotifyEnricher:
    resilience = Resilience(RetryPolicy(max_retries=retries, sleep=sleeps if sleeps is not None else Sleeps(),
                                        rng=random.Random(0)), CircuitBreaker(5, 60.0))
    scrape = params_with({"scrape": {"spotify_min_score": 0.75, "timeout_s": 5}}).scrape
    return SpotifyEnricher(CLIENT_ID, client_secret, scrape, api_url=f"{server.url}/v1/",
                           token_url=f"{server.url}/api/token", resilience=resilience)


def spotify_routes(payloads: Path, **extra: Any) -> dict[str, Any]:
    return {"POST /api/token": Response(200, SPOTIFY_TOKEN),
            "/v1/search": Response(200, load(payloads, "zmb3/search_tracks.txt")), **extra}
