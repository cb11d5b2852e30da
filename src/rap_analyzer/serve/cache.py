"""The service's Redis cache of predictions: JSON numbers (never pickles) under a key made of the model's tag
(name and version) and the SHA-256 of the normalised lyrics, each with the TTL of `serve.cache_ttl_s`.

Redis is optional at run time: every call goes through a circuit breaker, so a Redis that is down or stops
mid-run costs one short timeout (`serve.redis_timeout_s`), after which requests skip Redis for a cooldown
and are served uncached; `/health` reports it. Hit and miss counts live in Redis so all workers share them.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import redis

from rap_analyzer.errors import CircuitOpenError
from rap_analyzer.resilience import CircuitBreaker, RetryableError

log = logging.getLogger(__name__)
T = TypeVar("T")

PREFIX = "rap-analyzer:serve"
COOLDOWN_S = 2.0  # how long a failed Redis is left alone before one request tries it again


def lyrics_digest(normalised: str) -> str:
    """SHA-256 hex of the normalised lyrics (the exact text the models see)."""
    return hashlib.sha256(normalised.encode()).hexdigest()


class RedisLink:
    """A Redis client that fails fast: `call(fn)` returns fn(client), or None when Redis is unreachable,
    in which case `reason` says why."""

    def __init__(self, url: Callable[[], str], timeout_s: float, cooldown_s: float = COOLDOWN_S) -> None:
        self._url, self._timeout_s = url, timeout_s
        self._client: redis.Redis | None = None
        self._breaker = CircuitBreaker(failure_threshold=1, cooldown_s=cooldown_s)
        self.reason: str | None = None

    def _connect(self) -> redis.Redis:
        if self._client is None:
            self._client = redis.Redis.from_url(self._url(), socket_timeout=self._timeout_s,
                                                socket_connect_timeout=self._timeout_s)
        return self._client

    def call(self, fn: Callable[[redis.Redis], T]) -> T | None:
        try:
            with self._breaker.guard():
                try:
                    result = fn(self._connect())
                except (redis.RedisError, OSError) as exc:
                    raise RetryableError(f"{type(exc).__name__}: {exc}") from exc
        except RetryableError as exc:
            if self.reason is None:
                log.warning("Redis unreachable, serving uncached: %s", exc)
            self.reason = f"Redis unreachable ({exc}); serving uncached"
            return None
        except CircuitOpenError:
            return None
        self.reason = None
        return result

    def ping(self) -> bool:
        return bool(self.call(lambda client: client.ping()))


# One round trip per request: the values, and the hit and miss counts every worker shares (KEYS[1], KEYS[2]).
_LOOKUP = """
local values = redis.call('MGET', unpack(KEYS, 3))
local hits = 0
for _, value in ipairs(values) do if value then hits = hits + 1 end end
redis.call('INCRBY', KEYS[1], hits)
redis.call('INCRBY', KEYS[2], #values - hits)
return values
"""
HITS_KEY, MISSES_KEY = f"{PREFIX}:stats:hits", f"{PREFIX}:stats:misses"


class PredictionCache:
    """Cached predictions per (model tag, lyrics digest)."""

    def __init__(self, link: RedisLink, ttl_s: int) -> None:
        self.link, self.ttl_s = link, ttl_s

    @staticmethod
    def key(model_tag: str, digest: str) -> str:
        return f"{PREFIX}:pred:{model_tag}:{digest}"

    def lookup(self, keys: Sequence[str]) -> list[float | None]:
        """Cached values in order, None for a miss; all None when Redis is down. Counts hits and misses."""
        if not keys:
            return []
        raw = self.link.call(lambda client: client.register_script(_LOOKUP)(keys=[HITS_KEY, MISSES_KEY, *keys]))
        if raw is None:
            return [None] * len(keys)
        return [None if item is None else float(json.loads(item)) for item in raw]

    def store(self, items: dict[str, float]) -> None:
        """Store key → value with the TTL; does nothing when Redis is down."""
        if not items:
            return

        def write(client: redis.Redis) -> None:
            with client.pipeline(transaction=False) as pipe:
                for key, value in items.items():
                    pipe.set(key, json.dumps(float(value)), ex=self.ttl_s)
                pipe.execute()

        self.link.call(write)

    def stats(self) -> dict[str, Any]:
        """hits, misses, ratio (hits / lookups, None before the first lookup) and keys (cached predictions),
        shared by every worker; `available: false` and no numbers when Redis is down."""

        def read(client: redis.Redis) -> dict[str, Any]:
            hits, misses = (int(v or 0) for v in client.mget(HITS_KEY, MISSES_KEY))
            keys = sum(1 for _ in client.scan_iter(match=f"{PREFIX}:pred:*", count=1000))
            return {"available": True, "hits": hits, "misses": misses,
                    "ratio": hits / (hits + misses) if hits + misses else None, "keys": keys}

        result = self.link.call(read)
        if result is None:
            return {"available": False, "reason": self.link.reason or "Redis unreachable",
                    "hits": None, "misses": None, "ratio": None, "keys": None}
        return result
