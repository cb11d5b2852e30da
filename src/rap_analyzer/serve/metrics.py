"""The service's own Prometheus series, next to BentoML's on `/metrics`.

Created on first use inside a worker, never at import: BentoML sets `PROMETHEUS_MULTIPROC_DIR` in each worker
after importing the service module, and prometheus_client picks its multi-process value store when a series
is created, so that every worker's counts reach `/metrics` (BentoML's `bentoml.metrics` docstring).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

# Search latencies on 2 cores: a few ms for a cached plan, up to seconds when PostgreSQL is failing.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


@dataclass(frozen=True)
class Series:
    cache_hits: Any
    cache_misses: Any
    predictions: Any
    search_latency: Any
    rate_limited: Any


@lru_cache(maxsize=1)
def series() -> Series:
    """The series, created once per process (see the module docstring for why not at import)."""
    from prometheus_client import Counter, Histogram

    return Series(
        cache_hits=Counter("rap_analyzer_cache_hits", "Predictions served from the Redis cache", ["target"]),
        cache_misses=Counter("rap_analyzer_cache_misses", "Predictions computed (not in the cache, or Redis down)",
                             ["target"]),
        predictions=Counter("rap_analyzer_predictions", "Predictions served, by champion model", ["target", "model"]),
        search_latency=Histogram("rap_analyzer_search_latency_seconds",
                                 "Time in PostgreSQL for /search, /similar and the neighbours of /analyze",
                                 ["endpoint"], buckets=LATENCY_BUCKETS),
        rate_limited=Counter("rap_analyzer_rate_limited", "Requests refused with 429 by the rate limit"),
    )
