"""/generate and /style_transfer over HTTP against the session's service (tests/serve/conftest.py), whose LLM is the
default local llama.cpp server (SmolLM2-135M, one per worker) and whose artists are the artist classifier's: a tiny
token budget, the retrieved examples belong to the artist (the database says so), bounds at the bound, an unknown
artist with suggestions, the cache rule, and the local server killed mid-run (503, then restarted).

Runs after test_degradation (file order), since the last test kills the workers' LLM servers."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import psycopg
import pytest
from conftest import API_KEY, Served

from rap_analyzer.models.style.classifier import load_from_store
from rap_analyzer.models.style.prompts import PROMPT_VERSION

pytestmark = pytest.mark.slow

PROMPT = "Woke up early with the city in my head"
LYRICS = ("Woke up early with the city in my head\nEvery dollar that I made I put it back in bread\n"
          "Mama told me keep it honest, keep it clean\n")
TOKENS = 6  # the reply budget: enough to show the path works, small enough for 2 busy cores
SLOW = 300.0  # seconds an LLM request may take on the shared CI cores
RESPONSE_KEYS = {"ok", "text", "failure", "failure_detail", "artist", "example_track_ids", "prompt_version", "model",
                 "verbatim_run", "copied", "verbatim_run_words", "style", "prompt_tokens", "completion_tokens",
                 "finish_reason", "cached"}


@pytest.fixture(scope="module")
def artists(served: Served) -> list[str]:
    return load_from_store()[0].artists


@pytest.fixture(scope="module")
def slow_api(served: Served) -> Iterator[httpx.Client]:
    with served.client(timeout=SLOW) as client:
        yield client


def artist_of(served: Served, track_ids: list[int]) -> set[str]:
    with psycopg.connect(served.backing.database_url) as conn:
        rows = conn.execute("SELECT a.name FROM tracks t JOIN artists a ON a.id = t.artist_id WHERE t.id = ANY(%s)",
                            (track_ids,)).fetchall()
    assert len(rows) == len(track_ids)
    return {name for (name,) in rows}


def test_generate_with_an_artist_quotes_their_verses_and_is_cached(served: Served, slow_api: httpx.Client,
                                                                    artists: list[str]) -> None:
    artist = artists[0]
    request = {"prompt": PROMPT, "artist": artist.upper(), "k": 2, "max_tokens": TOKENS, "temperature": 0}
    response = slow_api.post("/generate", json=request)
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == RESPONSE_KEYS  # ids only: no field carries the examples' text
    assert body["ok"] and body["text"].strip() and body["failure"] is None
    assert body["artist"] == artist and body["prompt_version"] == PROMPT_VERSION
    assert body["model"] == "SmolLM2-135M-Instruct.Q4_1"
    assert 1 <= body["completion_tokens"] <= TOKENS and body["prompt_tokens"] > 0
    assert len(body["example_track_ids"]) == 2 and artist_of(served, body["example_track_ids"]) == {artist}
    assert body["style"]["artist"] == artist and 1 <= body["style"]["rank"] <= body["style"]["n_artists"]
    assert body["cached"] is False
    again = slow_api.post("/generate", json=request).json()  # temperature 0: the same request is cached
    assert again["cached"] is True and again["text"] == body["text"]


def test_style_transfer_scores_the_rewrite_as_the_target(served: Served, slow_api: httpx.Client,
                                                        artists: list[str]) -> None:
    target = artists[-1]
    response = slow_api.post("/style_transfer", json={"lyrics": LYRICS, "target_artist": target, "k": 1,
                                                      "max_tokens": TOKENS, "temperature": 0})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["ok"] and body["text"].strip() and body["artist"] == target
    assert len(body["example_track_ids"]) == 1 and artist_of(served, body["example_track_ids"]) == {target}
    style = body["style"]
    assert style["artist"] == target and style["n_artists"] == len(artists) and 0 <= style["probability"] <= 1
    assert 1 <= style["rank"] <= len(artists) and len(style["top"]) == 3
    assert body["verbatim_run"] >= 0 and body["copied"] == (body["verbatim_run"] >= body["verbatim_run_words"])


def test_sampling_is_cached_only_with_a_seed(slow_api: httpx.Client) -> None:
    request = {"prompt": PROMPT, "k": 0, "max_tokens": 2, "temperature": 0.9}
    for _ in range(2):
        response = slow_api.post("/generate", json=request)
        assert response.status_code == 200, response.text
        assert response.json()["cached"] is False and response.json()["artist"] is None
    seeded = [slow_api.post("/generate", json={**request, "seed": 11}).json() for _ in range(2)]
    assert [s["cached"] for s in seeded] == [False, True] and seeded[0]["text"] == seeded[1]["text"]


def test_bounds_are_refused_with_400_at_the_bound(served: Served, api: httpx.Client) -> None:
    limits = served.params.generation
    too_much = [
        ("/generate", {"prompt": "x" * (limits.max_prompt_chars + 1)}, "prompt"),
        ("/generate", {"prompt": PROMPT, "max_tokens": limits.max_tokens_limit + 1}, "max_tokens"),
        ("/generate", {"prompt": PROMPT, "k": limits.max_k + 1}, "k"),
        ("/generate", {"prompt": PROMPT, "temperature": 2.01}, "temperature"),
        ("/generate", {"prompt": "   "}, "prompt"),
        ("/generate", {"prompt": PROMPT, "top_k": 3}, "top_k"),
        ("/style_transfer", {"lyrics": "x" * (limits.max_lyrics_chars + 1), "target_artist": "a"}, "lyrics"),
    ]
    for path, payload, field in too_much:
        response = api.post(path, json=payload)
        assert response.status_code == 400, (payload, response.text)
        assert field in response.text


def test_unknown_artist_gets_404_with_the_closest_names(api: httpx.Client, artists: list[str]) -> None:
    name = artists[1]
    misspelt = name[:-1] + ("x" if name[-1] != "x" else "y")
    for path, payload, field in (("/generate", {"prompt": PROMPT, "artist": misspelt}, "artist"),
                                 ("/style_transfer", {"lyrics": LYRICS, "target_artist": misspelt}, "target_artist")):
        response = api.post(path, json=payload)
        assert response.status_code == 404, response.text
        body = response.json()
        assert body["field"] == field and name in body["suggestions"] and misspelt in body["error"]


def test_health_reports_generation(api: httpx.Client, artists: list[str]) -> None:
    generation = api.get("/health").json()["generation"]
    assert generation["ok"] and generation["enabled"] and generation["n_artists"] == len(artists)
    assert generation["classifier"].startswith("rap-analyzer-artist-classifier:")
    assert generation["prompt_version"] == PROMPT_VERSION and generation["llm"]["backend"] == "local"


def test_page_write_tab(served: Served, artists: list[str]) -> None:
    """The write tab in headless Chromium (as tests/serve/test_browser.py drives it; skipped without a browser)."""
    chromium = os.environ.get("CHROMIUM", "/usr/bin/chromium")
    if not Path(chromium).exists() and os.environ.get("CI", "").lower() != "true":
        pytest.skip(f"no Chromium at {chromium} (apt-get install -y chromium)")
    from playwright import sync_api  # a declared dev dependency: a broken install fails, never skips
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, headless=True,
                                    args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        try:
            page = browser.new_page()
            page.goto(f"{served.url}/ui/")
            page.fill("#api-key", API_KEY)
            page.click("#tab-transfer")
            page.fill("#write-input", LYRICS)
            page.fill("#write-artist", artists[1] + "zz")
            page.click("#write")
            sync_api.expect(page.locator("#write-error")).to_contain_text(f"closest: {artists[1]}", timeout=30_000)
            page.click("#tab-generate")
            page.fill("#write-input", PROMPT)
            page.fill("#write-artist", "")
            page.fill("#write-max-tokens", str(TOKENS))
            page.fill("#write-temperature", "0")
            page.click("#write")
            sync_api.expect(page.locator("#write-meta")).to_contain_text(f"prompt {PROMPT_VERSION}",
                                                                        timeout=SLOW * 1000)
            assert page.locator("#write-text").inner_text().strip()
            assert page.locator("#write-error").inner_text() == ""
        finally:
            browser.close()


def test_llm_server_killed_gives_503_then_restarts(served: Served, slow_api: httpx.Client) -> None:
    # The workers' llama.cpp servers: the children started with the server's `--model_alias` argument.
    servers = [p for p in psutil.Process(served.process.pid).children(recursive=True) if "--model_alias" in p.cmdline()]
    assert len(servers) == served.params.serve.workers  # one per worker
    for server in servers:
        server.kill()
    psutil.wait_procs(servers, timeout=10)
    request = {"prompt": PROMPT, "k": 0, "max_tokens": 2, "temperature": 0.9}
    first = slow_api.post("/generate", json=request)
    assert first.status_code == 503, first.text
    assert "LLM backend" in first.json()["error"] and "connection_error" in first.json()["error"]
    # Each worker restarts its server on its next request after the failure: the service recovers by itself.
    deadline = time.monotonic() + SLOW
    while (status := slow_api.post("/generate", json=request).status_code) != 200:
        assert status == 503 and time.monotonic() < deadline
