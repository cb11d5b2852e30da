"""The page at /ui in headless Chromium (Debian's `chromium`, driven by Playwright through `executable_path`;
`playwright install` is never needed): type lyrics, read the rendered analysis, search, draw a trend, and save
a screenshot. Without Chromium the test is skipped with the command that installs it, except under CI=true,
where a missing browser is a failure."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import httpx
import pytest
from conftest import API_KEY, Served

from rap_analyzer.models.predictor import load_champion
from rap_analyzer.scrape.cleaning import clean_text

pytestmark = pytest.mark.slow

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]
LYRICS = ("[Verse]\nWoke up early with the city in my head\nEvery dollar that I made I put it back in bread\n"
          "Mama told me keep it honest, keep it clean\nNow I'm living out the pictures from my dream\n")


def _browser_or_skip() -> None:
    missing = []
    if not (Path(CHROMIUM).exists() or shutil.which(CHROMIUM)):
        missing.append(f"Chromium at {CHROMIUM} (install: apt-get install -y chromium, as root)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        missing.append("Playwright (install: .venv/bin/python -m pip install playwright; never `playwright install`)")
    if missing:
        message = "browser test needs " + " and ".join(missing)
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message + " — CI must run it")
        pytest.skip(message)


def test_page_analyzes_searches_and_draws_a_trend(served: Served, api: httpx.Client, tmp_path: Path) -> None:
    _browser_or_skip()
    from playwright.sync_api import expect, sync_playwright

    popularity = load_champion("popularity").predictor.predict([clean_text(LYRICS)[0]])[0]
    trend_points = api.post("/trends", json={"metric": "rhyme_density", "by": "year"}).json()["points"]
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(f"{served.url}/ui/")
            page.fill("#api-key", API_KEY)
            page.fill("#lyrics", LYRICS)
            page.fill("#k", "3")
            page.click("#analyze")
            row = page.locator('#predictions tr[data-target="popularity"] td').nth(1)
            expect(row).to_have_text(f"{popularity:.2f}", timeout=60_000)
            expect(page.locator("#similar li")).to_have_count(3)
            expect(page.locator("#features tr")).to_have_count(16)

            page.fill("#query", "growing up poor and making it")
            page.click("#search")
            expect(page.locator("#results li")).to_have_count(10, timeout=30_000)

            page.select_option("#metric", "rhyme_density")
            page.click("#trend")
            expect(page.locator("#chart circle.point")).to_have_count(len(trend_points), timeout=30_000)
            expect(page.locator("#trend-caption")).to_contain_text(f"{sum(pt['n'] for pt in trend_points)} songs")

            page.fill("#lyrics", "")
            page.click("#analyze")
            expect(page.locator("#analyze-error")).to_contain_text("lyrics")

            shot = Path(os.environ.get("RAP_ANALYZER_SCREENSHOT", tmp_path / "ui.png"))
            page.fill("#lyrics", LYRICS)
            page.click("#analyze")
            expect(page.locator("#analyze-error")).to_have_text("")
            page.screenshot(path=str(shot), full_page=True)
            assert shot.stat().st_size > 10_000
        finally:
            browser.close()
