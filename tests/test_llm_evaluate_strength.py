"""`run_llm_eval` in process, over a scripted `Backend` (the protocol of models/llm/base.py) whose reply to each row
is written here: an unparseable reply is a counted failure and never a score, failures are counted by reason,
cached replies are kept out of this run's latency, cost and throughput, the summary's numbers are the hand
computations written beside them, and bad input or a fatal error stops the run with a message that says why.
Percentiles are numpy's default (linear interpolation between order statistics), written out by hand."""

from __future__ import annotations

import json
import math
import threading
import time

import numpy as np
import pandas as pd
import pytest
import redis
from helpers import VALID, params_with

from rap_analyzer.config import LLMParams
from rap_analyzer.errors import LLMFatalError
from rap_analyzer.models.llm.base import Reply, RequestFailure, Sampling
from rap_analyzer.models.llm.cache import ReplyCache
from rap_analyzer.models.llm.evaluate import run_llm_eval, schema_constrained, summarize
from rap_analyzer.models.llm.prompt import PROMPT_VERSION
from rap_analyzer.models.metrics import regression_report
from rap_analyzer.store.cache import JsonCache
from rap_analyzer.store.records import text_hash

PRICE_IN, PRICE_OUT = 0.2, 0.8
NAN = math.nan
INVALID_JSON = '{"themes": ["street"], "mood": "cold"'


def params(**changes: object) -> LLMParams:
    base = {"backend": "openai", "model": "fake-model", "concurrency": 1, "n_bootstrap": 30, "seed": 7,
            "price_per_1m_input_usd": PRICE_IN, "price_per_1m_output_usd": PRICE_OUT}
    return params_with({"llm_eval": {**base, **changes}}).llm_eval


def answer(potential: int, year: int) -> str:
    return json.dumps({**VALID, "commercial_potential": potential, "estimated_release_year": year})


def reply(text: str, latency: float, tokens_in: int | None, tokens_out: int | None, attempts: int = 1) -> Reply:
    return Reply(text=text, latency_s=latency, tokens_in=tokens_in, tokens_out=tokens_out, attempts=attempts,
                 json_mode=True, finish_reason="stop")


class ScriptedBackend:
    """Answers each row with the outcome written for its tag (`<r3>` in the lyrics): a Reply, or an exception to
    raise. Records which rows were asked, and how many requests were in flight at most."""

    def __init__(self, outcomes: dict[str, Reply | Exception], kind: str = "openai", model: str = "fake-model",
                 pause_s: float = 0.0, barrier: threading.Barrier | None = None) -> None:
        self.kind, self.model, self.outcomes = kind, model, outcomes
        self.pause_s, self.barrier = pause_s, barrier
        self.asked: list[str] = []
        self.threads: set[str] = set()
        self.in_flight = self.most_in_flight = 0
        self.lock = threading.Lock()

    def complete(self, messages: list[dict[str, str]], sampling: Sampling | None = None) -> Reply:
        tag = next(t for t in self.outcomes if f"<{t}>" in messages[-1]["content"])
        with self.lock:
            self.asked.append(tag)
            self.threads.add(threading.current_thread().name)
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            if self.barrier is not None:
                self.barrier.wait()  # returns only once `parties` requests are in flight together
            time.sleep(self.pause_s)
            outcome = self.outcomes[tag]
            if isinstance(outcome, Exception):
                raise outcome
            return outcome
        finally:
            with self.lock:
                self.in_flight -= 1


def lyrics(i: int) -> str:
    return f"<r{i}> a verse about the city\nand the rhyme that ends line {i}"


def rows(artists: list[str], popularity: list[float], years: list[float], within: list[float]) -> pd.DataFrame:
    n = len(artists)
    return pd.DataFrame({"source_key": [f"k{i}" for i in range(n)], "artist": artists,
                         "lyrics_clean": [lyrics(i) for i in range(n)], "popularity": popularity,
                         "release_year": years, "popularity_within_artist": within})


# r0 and r1 come from the reply cache (generated earlier, with 2 attempts then); r2-r7 are asked now.
TABLE = rows(artists=["A", "B", "A", "C", "B", "C", "A", "B"],
             popularity=[8, 3, 5, NAN, 6, 2, 9, 4],
             years=[2010, 2001, NAN, 2015, 2000, 1995, 2018, 1996],
             within=[0.9, 0.1, 0.5, NAN, 0.6, 0.2, 0.8, 0.4])
CACHED = {0: reply(answer(7, 2008), 0.2, 100, 30, attempts=2), 1: reply(answer(2, 2003), 0.4, 110, 50, attempts=2)}
FRESH: dict[str, Reply | Exception] = {
    "r2": reply(answer(6, 1999), 0.6, 90, 10),
    "r3": reply(answer(4, 2012), 0.3, 100, 20),
    "r4": reply(INVALID_JSON, 0.1, 120, 20),
    "r5": reply(answer(11, 2001), 0.5, 130, 40),  # commercial_potential out of range: a failure, not a 10
    "r6": RequestFailure("server_error", 3, "HTTP 500"),
    "r7": reply(INVALID_JSON, 0.7, None, None),  # a server that reports no usage
}


@pytest.fixture
def reply_cache(redis_client: redis.Redis) -> ReplyCache:
    cache = ReplyCache(JsonCache(redis_client, "llm_reply"), params())
    for i, cached in CACHED.items():
        cache.set("fake-model", text_hash(lyrics(i)), cached)
    return cache


def test_failures_are_counted_by_reason_and_never_scored(reply_cache: ReplyCache) -> None:
    backend = ScriptedBackend(FRESH)
    started = time.perf_counter()
    records, summary = run_llm_eval(TABLE, params(), backend, reply_cache, progress=False)
    elapsed = time.perf_counter() - started

    assert backend.asked == ["r2", "r3", "r4", "r5", "r6", "r7"]  # the cached rows are not asked again
    assert records["source_key"].tolist() == [f"k{i}" for i in range(8)]
    assert records["ok"].tolist() == [True] * 4 + [False] * 4
    assert records["cached"].tolist() == [True, True] + [False] * 6
    assert records["attempts"].tolist() == [0, 0, 1, 1, 1, 1, 3, 1]
    assert records["commercial_potential"][:4].tolist() == [7, 2, 6, 4]
    assert records["commercial_potential"][4:].isna().all() and records["mood"][4:].isna().all()
    assert records["mood"][:4].tolist() == [VALID["mood"]] * 4 and "analysis" not in records.columns
    assert records["failure"].tolist()[4:] == ["invalid_json", "validation: commercial_potential out of range",
                                              "server_error", "invalid_json"]
    assert records["artist"].tolist() == TABLE["artist"].tolist()
    for label in ("popularity", "release_year", "popularity_within_artist"):
        assert records[label].tolist() == pytest.approx(TABLE[label].tolist(), nan_ok=True)

    assert summary["backend"] == "openai" and summary["model"] == "fake-model"
    assert summary["prompt_version"] == PROMPT_VERSION and summary["json_mode_requested"] is True
    assert summary["json_mode_rejected"] is False and summary["schema_decoding"] is False
    assert summary["n"] == 8 and summary["n_ok"] == 4 and summary["n_failed"] == 4
    assert summary["success_rate"] == 0.5
    assert summary["failures_by_reason"] == {
        "invalid_json": 2, "validation: commercial_potential out of range": 1, "server_error": 1}
    assert summary["n_cached"] == 2 and summary["n_latency"] == 5  # fresh replies: r6 got none
    assert summary["attempts_total"] == 8  # this run's requests: the cached rows' 2 attempts were earlier
    assert 0 < summary["wall_s"] <= elapsed
    # this run's latencies .6 .3 .1 .5 .7 sorted: .1 .3 .5 .6 .7; p95 at position 0.95 * 4 = 3.8
    assert summary["latency_p50_s"] == pytest.approx(0.5)
    assert summary["latency_p95_s"] == pytest.approx(0.6 + 0.8 * 0.1)
    assert summary["latency_p99_s"] == pytest.approx(0.6 + 0.96 * 0.1)
    # every recorded latency, cached ones too: .1 .2 .3 .4 .5 .6 .7; p95 at 0.95 * 6 = 5.7
    assert summary["recorded_latency_p50_s"] == pytest.approx(0.4)
    assert summary["recorded_latency_p95_s"] == pytest.approx(0.6 + 0.7 * 0.1)
    assert summary["recorded_latency_p99_s"] == pytest.approx(0.6 + 0.94 * 0.1)
    assert summary["tokens_in_mean"] == pytest.approx((100 + 110 + 90 + 100 + 120 + 130) / 6)
    assert summary["tokens_out_mean"] == pytest.approx((30 + 50 + 10 + 20 + 20 + 40) / 6)
    assert summary["output_tokens_per_s"] == pytest.approx((10 + 20 + 20 + 40) / (0.6 + 0.3 + 0.1 + 0.5 + 0.7))
    # prices are per million tokens; rel=1e-12, since pytest's default 1e-6 would pass a divisor of 1e6 + 1
    assert summary["cost_usd"] == pytest.approx((650 * PRICE_IN + 170 * PRICE_OUT) / 1e6, rel=1e-12)
    assert summary["cost_usd_this_run"] == pytest.approx((440 * PRICE_IN + 90 * PRICE_OUT) / 1e6, rel=1e-12)

    # scored over the successful parses with a label only (r0-r3; r3 has no popularity, r2 no year)
    assert summary["popularity_n"] == 3 and summary["popularity_mae"] == pytest.approx(1.0)  # |8-7| |3-2| |5-6|
    assert summary["popularity_rmse"] == pytest.approx(1.0) and summary["popularity_spearman"] == pytest.approx(1.0)
    assert summary["year_n"] == 3 and summary["year_mae"] == pytest.approx((2 + 2 + 3) / 3)
    assert summary["year_rmse"] == pytest.approx(math.sqrt((4 + 4 + 9) / 3))
    assert summary["within_artist_n"] == 3
    assert summary["within_artist_mae"] == pytest.approx((6.1 + 1.9 + 5.5) / 3)  # |0.9-7| |0.1-2| |0.5-6|
    # intervals: the artist bootstrap of models/metrics with llm_eval's n_bootstrap and seed, on these rows
    reference = regression_report([8, 3, 5], [7, 2, 6], 30, 7, groups=["A", "B", "A"])
    for key in ("mae_ci_low", "mae_ci_high", "within_artist_spearman", "within_artist_n_artists"):
        assert summary[f"popularity_{key}"] == pytest.approx(reference[key], nan_ok=True), key

    # a re-run: the unparseable replies were cached too, so only the row without any reply is asked again
    again = ScriptedBackend(FRESH)
    records, rerun = run_llm_eval(TABLE, params(), again, reply_cache, progress=False)
    assert again.asked == ["r6"] and records["attempts"].tolist() == [0] * 6 + [3, 0]
    assert rerun["n_cached"] == 7 and rerun["n_latency"] == 0 and rerun["attempts_total"] == 3
    assert rerun["latency_p50_s"] is None and rerun["latency_p95_s"] is None and rerun["latency_p99_s"] is None
    assert rerun["recorded_latency_p95_s"] == pytest.approx(0.67)
    assert rerun["output_tokens_per_s"] is None  # no reply fetched now: no time to divide by
    assert rerun["cost_usd_this_run"] == 0 and rerun["cost_usd"] == pytest.approx(summary["cost_usd"])


def test_a_run_without_any_reply_scores_nothing_and_says_so() -> None:
    frame = rows(["A", "B"], [5, 6], [2000, 2001], [0.5, 0.6])
    backend = ScriptedBackend({"r0": RequestFailure("rate_limited", 5), "r1": RequestFailure("timeout", 2)})
    records, summary = run_llm_eval(frame, params(), backend, None, progress=False)
    assert records["ok"].tolist() == [False, False] and records["commercial_potential"].isna().all()
    assert summary["success_rate"] == 0.0 and summary["n_ok"] == 0 and summary["n_failed"] == 2
    assert summary["failures_by_reason"] == {"rate_limited": 1, "timeout": 1}
    assert summary["attempts_total"] == 7 and summary["n_latency"] == 0
    assert summary["recorded_latency_p50_s"] is None and summary["output_tokens_per_s"] is None
    assert summary["tokens_in_mean"] is None and summary["tokens_out_mean"] is None
    assert summary["cost_usd"] == 0
    for prefix in ("popularity", "year", "within_artist"):
        assert summary[f"{prefix}_n"] == 0
        for key in ("mae", "rmse", "spearman", "mae_ci_low", "mae_ci_high", "within_artist_spearman",
                    "within_artist_spearman_ci_low", "within_artist_spearman_ci_high", "within_artist_n_artists"):
            assert summary[f"{prefix}_{key}"] is None, (prefix, key)


def test_summary_of_no_records_has_no_rates() -> None:
    # `summarize` is public (models.llm exports it): no records give no success rate, not NaN
    backend = ScriptedBackend({"r0": reply(answer(5, 2000), 0.1, 10, 5)})
    records, _ = run_llm_eval(rows(["A"], [5], [2000], [5]), params(), backend, None, progress=False)
    summary = summarize(records.iloc[:0], params(), backend, wall_s=0.0)
    assert summary["n"] == 0 and summary["n_failed"] == 0 and summary["success_rate"] is None
    assert summary["popularity_n"] == 0 and summary["latency_p50_s"] is None


@pytest.mark.parametrize(("latencies", "rate"), [
    ((0.0, 0.0), None),  # replies that took no measurable time: no rate rather than infinity
    ((0.25, 0.25), (20 + 30) / 0.5),  # under one second in all
    ((1.0, 0.5), (20 + 30) / 1.5),
])
def test_throughput_is_tokens_out_over_seconds_of_fetched_replies(latencies: tuple[float, float],
                                                                  rate: float | None) -> None:
    frame = rows(["A", "B"], [5, NAN], [2000, NAN], [0.5, NAN])
    backend = ScriptedBackend({"r0": reply(answer(4, 2002), latencies[0], 50, 20),
                               "r1": reply(answer(3, 2004), latencies[1], 60, 30)})
    _, summary = run_llm_eval(frame, params(), backend, None, progress=False)
    assert summary["output_tokens_per_s"] == (None if rate is None else pytest.approx(rate))
    assert summary["popularity_n"] == 1 and summary["year_n"] == 1  # one labelled row each
    assert summary["popularity_mae"] == pytest.approx(1.0) and summary["year_mae"] == pytest.approx(2.0)


def test_concurrency_defaults_to_the_setting_and_an_explicit_value_wins() -> None:
    frame = rows(["A", "B", "C", "A", "B", "C"], [1, 2, 3, 4, 5, 6], [2000] * 6, [1, 2, 3, 4, 5, 6])
    outcomes: dict[str, Reply | Exception] = {f"r{i}": reply(answer(5, 2000), 0.1, 10, 5) for i in range(6)}
    serial = ScriptedBackend(outcomes, pause_s=0.02)
    run_llm_eval(frame, params(concurrency=1), serial, None, concurrency=None, progress=False)
    assert serial.most_in_flight == 1 and serial.asked == [f"r{i}" for i in range(6)]
    # three requests at once or the barrier breaks (after 5 s) and the run fails
    parallel = ScriptedBackend(outcomes, barrier=threading.Barrier(3, timeout=5))
    records, _ = run_llm_eval(frame.iloc[:3], params(concurrency=1), parallel, None, concurrency=3,
                              progress=False)
    assert parallel.most_in_flight == 3 and records["ok"].all()
    # named threads, so that a stack dump (py-spy, faulthandler) shows which pool a stuck request belongs to
    assert all(name.startswith("llm_") for name in serial.threads | parallel.threads)


def test_a_fatal_error_stops_the_run_before_the_next_row() -> None:
    frame = rows(["A"] * 4, [1, 2, 3, 4], [2000] * 4, [1, 2, 3, 4])
    backend = ScriptedBackend({"r0": reply(answer(5, 2000), 0.1, 10, 5), "r1": LLMFatalError("unknown model"),
                               "r2": reply(answer(5, 2000), 0.1, 10, 5), "r3": reply(answer(5, 2000), 0.1, 10, 5)})
    with pytest.raises(LLMFatalError, match="unknown model"):
        run_llm_eval(frame, params(), backend, None, progress=False)
    assert backend.asked == ["r0", "r1"]


def test_progress_bar_names_the_model_and_counts_rows(capsys: pytest.CaptureFixture[str]) -> None:
    frame = rows(["A", "B", "C"], [1, 2, 3], [2000] * 3, [1, 2, 3])
    outcomes: dict[str, Reply | Exception] = {f"r{i}": reply(answer(5, 2000), 0.1, 10, 5) for i in range(3)}
    run_llm_eval(frame, params(), ScriptedBackend(outcomes), None, progress=False)
    assert capsys.readouterr().err == ""
    run_llm_eval(frame, params(), ScriptedBackend(outcomes), None)  # shown by default
    err = capsys.readouterr().err
    assert "llm fake-model" in err and "3/3" in err


@pytest.mark.parametrize(("kind", "schema_decoding", "json_mode", "rejected", "constrained"), [
    ("local", True, True, None, True),  # a backend without the attribute never had JSON mode refused
    ("local", True, True, False, True),
    ("local", True, True, True, False),  # the server refused response_format: the schema went with it
    ("local", False, True, None, False),
    ("local", True, False, None, False),
    ("openai", True, True, None, False),  # only llama.cpp takes the schema
    ("transformers", True, True, None, False),
])
def test_schema_decoding_only_where_llama_cpp_received_the_schema(kind: str, schema_decoding: bool,
                                                                  json_mode: bool, rejected: bool | None,
                                                                  constrained: bool) -> None:
    backend = ScriptedBackend({"r0": reply(answer(5, 2000), 0.1, 10, 5)}, kind=kind)
    if rejected is not None:
        backend.json_mode_rejected = rejected  # type: ignore[attr-defined]
    llm = params(schema_decoding=schema_decoding, json_mode=json_mode)
    assert schema_constrained(llm, backend) is constrained
    _, summary = run_llm_eval(rows(["A"], [5], [2000], [5]), llm, backend, None, progress=False)
    assert summary["schema_decoding"] is constrained and summary["json_mode_rejected"] is bool(rejected)
    assert summary["json_mode_requested"] is json_mode and summary["backend"] == kind


def test_bad_input_is_refused_with_what_to_do() -> None:
    backend = ScriptedBackend({})
    frame = rows(["A", "B", "C", "D", "E"], [1, 2, 3, 4, 5], [2000] * 5, [1, 2, 3, 4, 5])
    with pytest.raises(ValueError) as empty:
        run_llm_eval(frame.iloc[:0], params(), backend, None, progress=False)
    assert str(empty.value) == ("no rows to evaluate: the split is empty (check llm_eval.eval_limit and the "
                                "dataset)")
    with pytest.raises(ValueError) as missing:
        run_llm_eval(frame.drop(columns=["artist", "popularity_within_artist"]), params(), backend, None)
    assert str(missing.value) == ("LLM evaluation needs columns ['artist', 'popularity_within_artist']; pass the "
                                  "dataset split (train/eval parquet)")
    frame["lyrics_clean"] = frame["lyrics_clean"].astype(object)
    frame.loc[[0, 1, 2, 4], "lyrics_clean"] = [None, "", " \n\t", "  "]
    with pytest.raises(ValueError) as blank:
        run_llm_eval(frame, params(), backend, None)
    assert str(blank.value) == ("4 rows have empty lyrics_clean (e.g. ['k0', 'k1', 'k2']); filter them out "
                                "first")
    # params.yaml admits only the versions config.py lists (now just the code's); when it lists an older one too,
    # that older one must still be refused here: model_copy skips the validation to stand for that case
    older = params().model_copy(update={"prompt_version": "v0"})
    with pytest.raises(ValueError) as version:
        run_llm_eval(frame, older, backend, None)
    assert str(version.value) == (
        f"llm_eval.prompt_version is 'v0' but the code's prompt is {PROMPT_VERSION!r}: set "
        "llm_eval.prompt_version to match (it names the prompt the results come from)")
    assert backend.asked == []


def test_seed_and_bootstrap_count_default_to_the_settings() -> None:
    # six artists, so that the bootstrap's draws (and so its interval) depend on the seed
    frame = rows([f"a{i}" for i in range(6)], [2, 4, 6, 8, 1, 9], [2000] * 6, [1] * 6)
    predictions = [5, 4, 9, 5, 2, 3]
    outcomes: dict[str, Reply | Exception] = {f"r{i}": reply(answer(p, 2000), 0.1, 10, 5)
                                              for i, p in enumerate(predictions)}
    groups = [f"a{i}" for i in range(6)]
    by_settings = run_llm_eval(frame, params(n_bootstrap=40, seed=3), ScriptedBackend(outcomes), None,
                               progress=False)[1]
    given = run_llm_eval(frame, params(n_bootstrap=40, seed=3), ScriptedBackend(outcomes), None,
                         n_bootstrap=25, seed=11, progress=False)[1]
    for summary, (n_bootstrap, seed) in ((by_settings, (40, 3)), (given, (25, 11))):
        reference = regression_report([2, 4, 6, 8, 1, 9], predictions, n_bootstrap, seed, groups=groups)
        assert summary["popularity_mae"] == pytest.approx(np.mean([3, 0, 3, 3, 1, 6]))
        assert (summary["popularity_mae_ci_low"], summary["popularity_mae_ci_high"]) == pytest.approx(
            (reference["mae_ci_low"], reference["mae_ci_high"]))
    assert (by_settings["popularity_mae_ci_low"], by_settings["popularity_mae_ci_high"]) != (
        given["popularity_mae_ci_low"], given["popularity_mae_ci_high"])
