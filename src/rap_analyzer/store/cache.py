"""Small Redis-backed caches: JSON values with a TTL, and sets of processed keys."""

from __future__ import annotations

import json
from typing import Any

import redis


class JsonCache:
    """JSON values under `<namespace>:<key>`; `ttl_s=None` keeps them until evicted."""

    def __init__(self, client: redis.Redis, namespace: str, ttl_s: int | None = None) -> None:
        self.client, self.namespace, self.ttl_s = client, namespace, ttl_s

    def _key(self, key: str) -> str:
        return f"{self.namespace}:{key}"

    def get(self, key: str) -> Any | None:
        raw = self.client.get(self._key(key))
        return None if raw is None else json.loads(raw)

    def set(self, key: str, value: Any) -> None:
        self.client.set(self._key(key), json.dumps(value), ex=self.ttl_s)

    def ttl(self, key: str) -> int:
        return int(self.client.ttl(self._key(key)))


class KeySet:
    """A persistent set of processed keys (e.g. song content hashes already imported)."""

    def __init__(self, client: redis.Redis, name: str) -> None:
        self.client, self.name = client, name

    def add(self, *keys: str) -> None:
        if keys:
            self.client.sadd(self.name, *keys)

    def __contains__(self, key: str) -> bool:
        return bool(self.client.sismember(self.name, key))

    def __len__(self) -> int:
        return int(self.client.scard(self.name))

    def clear(self) -> None:
        self.client.delete(self.name)
