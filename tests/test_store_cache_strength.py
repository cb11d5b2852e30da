"""JsonCache and KeySet (issue 16) read back through the Redis client itself, not through the class under test:
the raw key is `<namespace>:<key>`, the raw value is the JSON text, the TTL is Redis's own, and a KeySet is one
Redis set under its name. A real server (the `redis_client` fixture)."""

from __future__ import annotations

import json
from typing import Any

import pytest
import redis

from rap_analyzer.store.cache import JsonCache, KeySet

VALUE: dict[str, Any] = {"title": "Caf\u00e9 Ol\u00e9", "ids": [1, 2], "score": 0.25, "ok": True, "none": None,
                         "nested": {"k": ["a", {"b": -3}]}}


def test_a_value_is_json_under_namespace_colon_key(redis_client: redis.Redis) -> None:
    JsonCache(redis_client, "songs").set("genius:1", VALUE)
    assert redis_client.keys("*") == [b"songs:genius:1"]
    assert json.loads(redis_client.get("songs:genius:1")) == VALUE  # type: ignore[arg-type]
    assert JsonCache(redis_client, "songs").get("genius:1") == VALUE


def test_json_round_trip_turns_tuples_into_lists(redis_client: redis.Redis) -> None:
    # JSON, not pickle: what comes back is what any other reader of the key gets.
    cache = JsonCache(redis_client, "t")
    cache.set("k", {"pair": (1, "x")})
    assert cache.get("k") == {"pair": [1, "x"]}


def test_a_missing_key_is_none(redis_client: redis.Redis) -> None:
    cache = JsonCache(redis_client, "songs")
    redis_client.set("genius:1", json.dumps(VALUE))  # the same key outside the namespace is another key
    assert cache.get("genius:1") is None
    assert cache.ttl("genius:1") == -2  # Redis: no such key


def test_namespaces_do_not_share_keys(redis_client: redis.Redis) -> None:
    a, b = JsonCache(redis_client, "a"), JsonCache(redis_client, "b")
    a.set("k", 1)
    b.set("k", 2)
    assert (a.get("k"), b.get("k")) == (1, 2)
    a.set("k", 3)  # the latest value wins
    assert (a.get("k"), b.get("k")) == (3, 2)


def test_without_ttl_a_value_never_expires(redis_client: redis.Redis) -> None:
    cache = JsonCache(redis_client, "n")
    cache.set("k", VALUE)
    assert cache.ttl("k") == -1 == redis_client.ttl("n:k")


@pytest.mark.parametrize("ttl_s", [1, 99, 100, 101])
def test_ttl_is_set_in_seconds_on_every_write(redis_client: redis.Redis, ttl_s: int) -> None:
    cache = JsonCache(redis_client, "n", ttl_s=ttl_s)
    cache.set("k", VALUE)
    # Redis's own remaining time in ms: at most the TTL, and less than a second of it gone.
    assert ttl_s * 1000 - 1000 < redis_client.pttl("n:k") <= ttl_s * 1000
    assert cache.ttl("k") in (ttl_s - 1, ttl_s) and isinstance(cache.ttl("k"), int)
    redis_client.expire("n:k", 5000)
    cache.set("k", VALUE)  # a rewrite sets the TTL again
    assert redis_client.ttl("n:k") in (ttl_s - 1, ttl_s)


def test_key_set_is_one_redis_set_under_its_name(redis_client: redis.Redis) -> None:
    seen = KeySet(redis_client, "seen")
    seen.add()  # nothing to add: Redis's SADD would reject an empty member list
    assert len(seen) == 0 and redis_client.exists("seen") == 0
    seen.add("a", "b")
    seen.add("b", "c")
    assert redis_client.smembers("seen") == {b"a", b"b", b"c"}
    assert len(seen) == 3 and isinstance(len(seen), int)
    assert ("a" in seen, "c" in seen, "d" in seen) == (True, True, False)
    other = KeySet(redis_client, "other")
    other.add("x")
    seen.clear()
    assert len(seen) == 0 and "a" not in seen and redis_client.exists("seen") == 0
    assert redis_client.smembers("other") == {b"x"}  # clearing one set leaves the others
