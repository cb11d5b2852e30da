"""Known failures as HTTP answers with a message saying what was wrong and what to do.

BentoML answers a request body that fails its pydantic model with 400 itself (`detail[].loc` names the
field); this handles what the endpoints find out later. BentoML replaces the message of any 5xx it raises
with a generic one, so a 503 that must say *what* is down is returned as a response object instead.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any, TypeVar

from starlette.responses import JSONResponse

from rap_analyzer.errors import ServiceUnavailableError, UnknownArtistError
from rap_analyzer.serve.predictions import InputError

log = logging.getLogger(__name__)
F = TypeVar("F", bound=Callable[..., Any])


def error(status: int, message: str, field: str | None = None, **extra: Any) -> JSONResponse:
    body: dict[str, Any] = {"error": message}
    if field is not None:
        body["field"] = field
    body.update(extra)
    return JSONResponse(body, status_code=status)


def answers_errors(func: F) -> F:
    """InputError → 400 naming the field; UnknownArtistError → 404 with `suggestions` (the closest known names);
    LookupError → 404; ServiceUnavailableError → 503. Anything else
    propagates (BentoML answers 500 and logs the traceback: a bug)."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except InputError as exc:
            return error(400, str(exc), exc.field)
        except UnknownArtistError as exc:
            # the request field that named it (`field`, set by the endpoint), else "artist"
            return error(404, str(exc), getattr(exc, "field", "artist"), suggestions=exc.suggestions)
        except LookupError as exc:
            return error(404, str(exc.args[0] if exc.args else exc))
        except ServiceUnavailableError as exc:
            log.warning("%s: %s", func.__name__, exc)
            return error(503, str(exc))

    return wrapper  # type: ignore[return-value]
