"""Run an LLM backend over a split and measure it: how well its scores predict the labels, how fast, how
reliably and at what cost.

Latency: `latency_p*_s` are over replies fetched in this run (cache hits excluded, `n_latency` says how many);
`recorded_latency_p*_s` are over every reply, cached ones with the latency measured when they were generated,
so a fully cached re-run still reports the model's speed. Cost likewise: `cost_usd` for all replies (what the
analysis costs), `cost_usd_this_run` for the replies fetched now. Scores are compared with labels only over
successful parses (`*_n` says how many were scored); a failure never becomes a number.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from typing import Any

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from rap_analyzer.config import LLMParams
from rap_analyzer.errors import LLMFatalError
from rap_analyzer.models.llm.base import Backend
from rap_analyzer.models.llm.cache import ReplyCache
from rap_analyzer.models.llm.prompt import PROMPT_VERSION
from rap_analyzer.models.llm.records import CallRecord, analyze
from rap_analyzer.models.llm.store import ANALYSIS_FIELDS
from rap_analyzer.models.metrics import regression_report

REQUIRED_COLUMNS = ("source_key", "artist", "lyrics_clean", "popularity", "release_year",
                    "popularity_within_artist")  # artist: for the CIs
# (prediction column, label column, prefix in the summary). The within-artist target is read from the same
# commercial_potential: only its order inside each artist counts there (the within-artist Spearman). Its prefix is
# not "popularity_within_artist": "popularity_" + "within_artist_spearman" (a key of the popularity target's
# block) would then name two numbers.
COMPARISONS = (("commercial_potential", "popularity", "popularity"),
               ("estimated_release_year", "release_year", "year"),
               ("commercial_potential", "popularity_within_artist", "within_artist"))
SCORE_PREFIXES = tuple(f"{prefix}_" for _, _, prefix in COMPARISONS)  # summary keys that are scores, not operations


def check_prompt_version(params: LLMParams) -> None:
    if params.prompt_version != PROMPT_VERSION:
        raise ValueError(
            f"llm_eval.prompt_version is {params.prompt_version!r} but the code's prompt is {PROMPT_VERSION!r}: "
            "set llm_eval.prompt_version to match (it names the prompt the results come from)"
        )


def _check_frame(frame: pd.DataFrame) -> None:
    if frame.empty:
        raise ValueError("no rows to evaluate: the split is empty (check llm_eval.eval_limit and the dataset)")
    missing = [c for c in REQUIRED_COLUMNS if c not in frame.columns]
    if missing:
        raise ValueError(f"LLM evaluation needs columns {missing}; pass the dataset split (train/eval parquet)")
    empty = frame["lyrics_clean"].fillna("").str.strip().eq("")
    if empty.any():
        keys = list(frame.loc[empty, "source_key"][:3])
        raise ValueError(f"{int(empty.sum())} rows have empty lyrics_clean (e.g. {keys}); filter them out first")


def schema_constrained(params: LLMParams, backend: Backend) -> bool:
    """Whether decoding followed `decoding_schema()`: only llama.cpp (local) takes the schema, and the client
    sends it inside response_format, so JSON mode must be on and accepted."""
    return bool(params.schema_decoding and backend.kind == "local" and params.json_mode
                and not getattr(backend, "json_mode_rejected", False))


def _row(record: CallRecord) -> dict[str, Any]:
    row = record.to_dict()
    analysis = row.pop("analysis") or {}
    row.update({name: analysis.get(name) for name in ANALYSIS_FIELDS})
    return row


def run_llm_eval(frame: pd.DataFrame, params: LLMParams, backend: Backend, cache: ReplyCache | None = None,
                 concurrency: int | None = None, *, n_bootstrap: int | None = None,
                 seed: int | None = None, progress: bool = True) -> tuple[pd.DataFrame, dict[str, Any]]:
    """One record per row (in input order) and the summary. `LLMFatalError` (bad key, unknown model) stops
    the run at once: queued rows are cancelled and the error propagates."""
    check_prompt_version(params)
    _check_frame(frame)
    workers = concurrency or params.concurrency
    started = time.perf_counter()
    rows = frame[list(REQUIRED_COLUMNS)].reset_index(drop=True)
    records: list[CallRecord | None] = [None] * len(rows)
    stop = threading.Event()

    def work(lyrics: str, source_key: str) -> CallRecord | None:
        if stop.is_set():  # a fatal error elsewhere: send nothing more
            return None
        try:
            return analyze(backend, lyrics, params.max_lyrics_chars, cache, source_key)
        except LLMFatalError:
            stop.set()
            raise

    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="llm") as pool:
        futures: dict[Future[CallRecord | None], int] = {
            pool.submit(work, row.lyrics_clean, row.source_key): i
            for i, row in enumerate(rows.itertuples(index=False))
        }
        try:
            for future in tqdm(as_completed(futures), total=len(futures), desc=f"llm {backend.model}",
                               disable=not progress):
                records[futures[future]] = future.result()
        except BaseException:
            stop.set()
            pool.shutdown(wait=True, cancel_futures=True)
            raise
    wall_s = time.perf_counter() - started
    out = pd.DataFrame([_row(r) for r in records if r is not None])
    for _, label, _ in COMPARISONS:
        out[label] = rows[label].to_numpy(dtype=float)
    out["artist"] = rows["artist"].to_numpy()
    return out, summarize(out, params, backend, wall_s, n_bootstrap=n_bootstrap, seed=seed)


def _percentiles(values: pd.Series, prefix: str) -> dict[str, float | None]:
    values = values.dropna().to_numpy(dtype=float)
    return {f"{prefix}_p{q}_s": float(np.percentile(values, q)) if len(values) else None for q in (50, 95, 99)}


def _cost(records: pd.DataFrame, params: LLMParams) -> float:
    tokens_in = records["tokens_in"].fillna(0).astype(float).sum()
    tokens_out = records["tokens_out"].fillna(0).astype(float).sum()
    return float(tokens_in * params.price_per_1m_input_usd + tokens_out * params.price_per_1m_output_usd) / 1e6


def summarize(records: pd.DataFrame, params: LLMParams, backend: Backend, wall_s: float, *,
              n_bootstrap: int | None = None, seed: int | None = None) -> dict[str, Any]:
    """`n_bootstrap` and `seed` default to `params.n_bootstrap` / `params.seed`."""
    n_bootstrap = params.n_bootstrap if n_bootstrap is None else n_bootstrap
    seed = params.seed if seed is None else seed
    n = len(records)
    ok = records["ok"].astype(bool)
    fresh = ~records["cached"].astype(bool)
    replied = records["latency_s"].notna()
    summary: dict[str, Any] = {
        "backend": backend.kind, "model": backend.model, "prompt_version": PROMPT_VERSION,
        "json_mode_requested": params.json_mode,
        "json_mode_rejected": bool(getattr(backend, "json_mode_rejected", False)),
        "schema_decoding": schema_constrained(params, backend),
        "n": n, "n_ok": int(ok.sum()), "n_failed": int((~ok).sum()),
        "success_rate": float(ok.mean()) if n else None,
        "failures_by_reason": {str(k): int(v) for k, v in records.loc[~ok, "failure"].value_counts().items()},
        "n_cached": int((~fresh).sum()), "n_latency": int((fresh & replied).sum()),
        "attempts_total": int(records["attempts"].sum()), "wall_s": wall_s,
        **_percentiles(records.loc[fresh, "latency_s"], "latency"),
        **_percentiles(records["latency_s"], "recorded_latency"),
        "tokens_in_mean": _mean(records["tokens_in"]), "tokens_out_mean": _mean(records["tokens_out"]),
        "output_tokens_per_s": _rate(records.loc[fresh & replied]),
        "cost_usd": _cost(records, params), "cost_usd_this_run": _cost(records.loc[fresh], params),
    }
    for pred, label, prefix in COMPARISONS:
        summary.update(_comparison(records.loc[ok], pred, label, prefix, n_bootstrap, seed))
    return summary


def _mean(values: pd.Series) -> float | None:
    values = values.dropna()
    return float(values.astype(float).mean()) if len(values) else None


def _rate(records: pd.DataFrame) -> float | None:
    seconds = records["latency_s"].astype(float).sum()
    return float(records["tokens_out"].fillna(0).astype(float).sum() / seconds) if seconds > 0 else None


def _comparison(ok: pd.DataFrame, pred: str, label: str, prefix: str, n_bootstrap: int,
                seed: int) -> dict[str, Any]:
    keys = ("n", "mae", "rmse", "spearman", "mae_ci_low", "mae_ci_high", "within_artist_spearman",
            "within_artist_spearman_ci_low", "within_artist_spearman_ci_high", "within_artist_n_artists")
    scorable = ok[label].notna()
    if not scorable.any():  # no successful parse with a label: nothing to measure, and we say so
        return {f"{prefix}_{k}": (0 if k == "n" else None) for k in keys}
    report = regression_report(ok.loc[scorable, label].to_numpy(float), ok.loc[scorable, pred].to_numpy(float),
                               n_bootstrap=n_bootstrap, seed=seed, groups=ok.loc[scorable, "artist"])
    return {f"{prefix}_{k}": report[k] for k in keys}
