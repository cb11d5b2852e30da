"""Every failure the project knows how to explain, under a few roots that the CLI and the service catch.

- `UserError`: something the user fixes by changing configuration (a parameter, a path, a token); the
  message says what was wrong and what to set.
- `ServiceUnavailableError`: PostgreSQL or Redis cannot be reached.
- `RemoteError`: a remote API (Genius, Spotify, an LLM endpoint) refused or failed for good.

All derive from `RapAnalyzerError`: the console script prints its message as one line and exits 2; anything
else is a bug and keeps its traceback. Messages never hold a secret: they name the variable, not its value.
Exceptions used only for control flow inside one module (a retryable HTTP answer, an unparseable reply, a
model that cannot run on some data) stay in that module.
"""

from __future__ import annotations


class RapAnalyzerError(Exception):
    """Root of every known failure."""


class UserError(RapAnalyzerError, RuntimeError):
    """Fixed by changing configuration; the message says what to set."""


class ConfigError(UserError, ValueError):
    """A `params.yaml` value or a setting is out of its allowed range; the message names the key."""


class MissingCredentialsError(UserError, ValueError):
    """A token or key is not configured; the message names the variable to set."""


class UnknownArtistError(UserError):
    """An artist name that is not among the known ones (the artist classifier's classes); `suggestions` holds
    the closest known names, best first."""

    def __init__(self, message: str, suggestions: list[str]) -> None:
        super().__init__(message)
        self.suggestions = suggestions


class ServiceUnavailableError(UserError):
    """A database or cache could not be reached; the message says what to set."""


class RemoteError(RapAnalyzerError, RuntimeError):
    """A remote API failed in a way retrying will not fix."""


class ApiError(RemoteError):
    """A remote API answered with an error we do not retry (or retries ran out)."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class NotFoundError(ApiError, LookupError):
    """HTTP 404: the song, artist or page does not exist. Never retried."""


class AuthError(ApiError):
    """HTTP 401/403: the credentials were refused or lack the permission."""


class CircuitOpenError(RemoteError):
    """Raised instead of calling a dependency that failed too often in a row."""


class LLMFatalError(RemoteError):
    """Stops the whole run: every further request would fail the same way (bad key, unknown model)."""


class LLMAuthError(LLMFatalError):
    """401/403 from the LLM API. The message names the key's environment variable, never the key."""
