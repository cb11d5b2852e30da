"""Who may call the service and how often: an ASGI middleware in front of every route.

- Rate limit per client address: `limits`' moving window in Redis (atomic: a Lua script per hit), shared by
  all workers; over the limit answers 429 with `Retry-After` (seconds until the window frees a slot). When
  Redis is unreachable requests are let through (the service keeps serving, `/health` says degraded).
- API key: when env `RAP_ANALYZER_API_KEY` is set, requests must carry it in `X-API-Key` (or
  `Authorization: Bearer <key>`), else 401. The key is compared in constant time and never logged.

Health, liveness, readiness and metrics are exempt from both (probes and scrapers must always get through);
the page and the API docs are exempt from the key (they hold no data; the page sends the key it is given).
"""

from __future__ import annotations

import hmac
import json
import logging
import math
import os
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from limits import RateLimitItemPerSecond
from limits.storage import RedisStorage
from limits.strategies import MovingWindowRateLimiter

from rap_analyzer.config import ServeParams
from rap_analyzer.serve.metrics import series

log = logging.getLogger(__name__)

API_KEY_ENV = "RAP_ANALYZER_API_KEY"
OPEN_PATHS = ("/health", "/livez", "/readyz", "/healthz", "/metrics")
KEYLESS_PATHS = ("/ui", "/docs.json", "/favicon.ico")  # plus "/" itself: BentoML's API docs
RETRY_REDIS_S = 2.0

Scope = MutableMapping[str, Any]
ASGIApp = Callable[[Scope, Callable[[], Awaitable[Any]], Callable[[Any], Awaitable[None]]], Awaitable[None]]


def _under(path: str, prefixes: tuple[str, ...]) -> bool:
    return any(path == p or path.startswith(p + "/") for p in prefixes)


def presented_key(headers: dict[bytes, bytes]) -> str | None:
    key = headers.get(b"x-api-key")
    if key is None:
        auth = headers.get(b"authorization", b"")
        if auth[:7].lower() == b"bearer ":
            key = auth[7:]
    return None if key is None else key.decode("latin-1").strip()


class AccessGuard:
    """ASGI middleware: rate limit, then API key (see module docstring). `redis_url` is called on the first
    request, in the worker, so that it sees the URL the deployment hook exported."""

    def __init__(self, app: ASGIApp, settings: ServeParams, redis_url: Callable[[], str]) -> None:
        self.app = app
        self.item = RateLimitItemPerSecond(settings.rate_limit_requests, settings.rate_limit_window_s)
        self.timeout_s = settings.redis_timeout_s
        self.redis_url = redis_url
        self._limiter: MovingWindowRateLimiter | None = None
        self._redis_down_until = 0.0

    def _rate_limiter(self) -> MovingWindowRateLimiter:
        if self._limiter is None:
            storage = RedisStorage(self.redis_url(), key_prefix="rap-analyzer:limits",
                                   socket_timeout=self.timeout_s, socket_connect_timeout=self.timeout_s)
            self._limiter = MovingWindowRateLimiter(storage)
        return self._limiter

    def retry_after(self, client: str) -> int | None:
        """None when `client` may go ahead (the hit is counted), else the seconds to wait (at least 1)."""
        if time.monotonic() < self._redis_down_until:
            return None
        try:
            limiter = self._rate_limiter()
            if limiter.hit(self.item, client):
                return None
            reset = limiter.get_window_stats(self.item, client).reset_time
        except Exception as exc:  # any storage failure: let the request through rather than refuse it
            log.warning("rate limit storage unreachable, not limiting for %.0f s: %s", RETRY_REDIS_S,
                        type(exc).__name__)
            self._redis_down_until = time.monotonic() + RETRY_REDIS_S
            return None
        return max(1, math.ceil(reset - time.time()))

    async def __call__(self, scope: Scope, receive: Callable[[], Awaitable[Any]],
                       send: Callable[[Any], Awaitable[None]]) -> None:
        if scope["type"] != "http" or _under(scope["path"], OPEN_PATHS):
            await self.app(scope, receive, send)
            return
        client = (scope.get("client") or ("unknown", 0))[0]
        wait = self.retry_after(client)
        if wait is not None:
            series().rate_limited.inc()
            await _reply(send, 429, f"rate limit exceeded: at most {self.item.amount} requests per "
                         f"{self.item.multiples} s per client; retry after {wait} s", {"retry-after": str(wait)})
            return
        expected = os.environ.get(API_KEY_ENV)
        if expected and scope["path"] != "/" and not _under(scope["path"], KEYLESS_PATHS):
            given = presented_key(dict(scope.get("headers") or []))
            if given is None or not hmac.compare_digest(given.encode(), expected.encode()):
                await _reply(send, 401, "missing or wrong API key: send it in the X-API-Key header "
                             f"(the value of {API_KEY_ENV} on the server)", {"www-authenticate": "ApiKey"})
                return
        await self.app(scope, receive, send)


async def _reply(send: Callable[[Any], Awaitable[None]], status: int, message: str,
                 headers: dict[str, str]) -> None:
    body = json.dumps({"error": message}).encode()
    raw_headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                   *((k.encode(), v.encode()) for k, v in headers.items())]
    await send({"type": "http.response.start", "status": status, "headers": raw_headers})
    await send({"type": "http.response.body", "body": body})
