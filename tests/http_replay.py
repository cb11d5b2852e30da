"""A loopback HTTP server for tests: scripted responses per path, every request recorded.

    with ReplayServer({"/songs/1": [Response(500), Response(200, {"response": {...}})]}) as server:
        client = Client(base_url=server.url)
        ...
        assert [r.path for r in server.requests] == ["/songs/1", "/songs/1"]

A route is "/path", "METHOD /path" or either with query parameters ("/songs?page=2") that the request must carry
(others are ignored); the most specific matching route answers. Its responses are served in order and the last one
repeats. A request without a route gets a 404 JSON body naming the missing route, so a test sees what it forgot.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import yaml

JsonBody = dict[str, Any] | list[Any]


@dataclass
class Response:
    status: int = 200
    body: bytes | str | JsonBody = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0  # wait before answering: lets a client time out

    def encoded(self) -> tuple[bytes, str]:
        if isinstance(self.body, bytes):
            return self.body, "application/octet-stream"
        if isinstance(self.body, str):
            return self.body.encode(), "text/html; charset=utf-8"
        return json.dumps(self.body).encode(), "application/json; charset=utf-8"


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]  # names in lower case
    body: bytes

    def param(self, name: str) -> str | None:
        values = self.query.get(name)
        return values[0] if values else None

    def json(self) -> Any:
        return json.loads(self.body)


Routes = dict[str, list[Response] | Response]


class ReplayServer:
    def __init__(self, routes: Routes | None = None) -> None:
        self._routes: dict[str, list[Response]] = {}
        self._served: dict[str, int] = {}
        self._lock = threading.Lock()
        self.requests: list[Request] = []
        for key, responses in (routes or {}).items():
            self.add(key, responses)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def add(self, key: str, responses: list[Response] | Response) -> None:
        """Add or replace a route (also while running: bodies may need `self.url`)."""
        with self._lock:
            self._routes[key] = [responses] if isinstance(responses, Response) else list(responses)
            self._served[key] = 0

    def requests_to(self, path: str) -> list[Request]:
        return [r for r in self.requests if r.path == path]

    def __enter__(self) -> ReplayServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    @staticmethod
    def _specificity(key: str, method: str, path: str, query: dict[str, list[str]]) -> int | None:
        """How specific route `key` is for this request; None when it does not match."""
        first, _, rest = key.partition(" ")
        key_method, target = (first, rest) if first.isalpha() and rest.startswith("/") else ("", key)
        parts = urlsplit(target)
        if parts.path != path or (key_method and key_method.upper() != method):
            return None
        wanted = parse_qs(parts.query, keep_blank_values=True)
        if any(query.get(name) != values for name, values in wanted.items()):
            return None
        return len(wanted) * 2 + bool(key_method)

    def _next_response(self, method: str, path: str, query: dict[str, list[str]]) -> Response:
        with self._lock:
            scored = [(self._specificity(key, method, path, query), key) for key in self._routes]
            matching = [(score, key) for score, key in scored if score is not None]
            if matching:
                key = max(matching)[1]
                responses, n = self._routes[key], self._served[key]
                self._served[key] = n + 1
                return responses[min(n, len(responses) - 1)]
        return Response(404, {"error": f"no replay route for {method} {path}"})

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _serve(self) -> None:
                parts = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                headers = {k.lower(): v for k, v in self.headers.items()}
                body = self.rfile.read(length) if length else b""
                request = Request(self.command, parts.path, parse_qs(parts.query, keep_blank_values=True),
                                  headers, body)
                with server._lock:
                    server.requests.append(request)
                response = server._next_response(self.command, parts.path, request.query)
                if response.delay_s:
                    time.sleep(response.delay_s)
                payload, content_type = response.encoded()
                self.send_response(response.status)
                headers = dict(response.headers)
                if not any(name.lower() == "content-type" for name in headers):
                    headers["Content-Type"] = content_type
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # the client gave up
                    self.wfile.write(payload)

            do_GET = do_POST = do_PUT = do_DELETE = _serve

            def log_message(self, format: str, *args: Any) -> None:  # quiet: pytest shows failures anyway
                pass

        return Handler


# Recorded headers that describe the original connection, not the payload.
_HOP_HEADERS = {"content-length", "connection", "transfer-encoding", "set-cookie", "content-encoding"}


def cassette(path: str | Path) -> list[tuple[str, str, Response]]:
    """The interactions of a VCR cassette (YAML) as (method, path, Response), in recorded order."""
    data = yaml.safe_load(Path(path).read_text())
    out = []
    for interaction in data["http_interactions"]:
        request, response = interaction["request"], interaction["response"]
        headers = {name: values[0] if isinstance(values, list) else str(values)
                   for name, values in (response.get("headers") or {}).items()
                   if name.lower() not in _HOP_HEADERS}
        body = response["body"].get("string", "")
        out.append((request["method"].upper(), urlsplit(request["uri"]).path,
                    Response(int(response["status"]["code"]), body.encode(), headers)))
    return out


def cassette_routes(*paths: str | Path, skip: Iterable[str] = ()) -> dict[str, list[Response]]:
    """Routes serving the GET interactions of cassettes, keyed by path."""
    routes: dict[str, list[Response]] = {}
    for p in paths:
        for method, url_path, response in cassette(p):
            if method == "GET" and url_path not in skip:
                routes.setdefault(url_path, []).append(response)
    return routes
