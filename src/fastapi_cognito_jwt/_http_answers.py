"""The fixed HTTP answers both halves give: RFC 6750 challenges and their texts.

Nothing from a request, a token or Cognito's replies is ever part of an answer.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import NamedTuple

from fastapi import HTTPException

__all__ = [
    "BEARER",
    "EXPIRED_TOKEN",
    "EXPIRED_TOKEN_CHALLENGE",
    "INSUFFICIENT_SCOPE",
    "INSUFFICIENT_SCOPE_CHALLENGE",
    "INVALID_REQUEST",
    "INVALID_REQUEST_CHALLENGE",
    "INVALID_TOKEN",
    "INVALID_TOKEN_CHALLENGE",
    "HTTPAnswer",
    "unavailable",
]

# `WWW-Authenticate` values (RFC 6750 §3).
BEARER = "Bearer"
INVALID_TOKEN_CHALLENGE = 'Bearer error="invalid_token"'
EXPIRED_TOKEN_CHALLENGE = 'Bearer error="invalid_token", error_description="The token has expired"'
INSUFFICIENT_SCOPE_CHALLENGE = 'Bearer error="insufficient_scope"'
INVALID_REQUEST_CHALLENGE = 'Bearer error="invalid_request"'


class HTTPAnswer(NamedTuple):
    """A status, a fixed `detail` and the headers that go with them."""

    status: int
    detail: str
    headers: Mapping[str, str] | None = None

    def exception(self) -> HTTPException:
        """The `HTTPException` that gives this answer."""
        return HTTPException(
            self.status, self.detail, headers=dict(self.headers) if self.headers else None
        )


INVALID_TOKEN = HTTPAnswer(401, "Invalid token", {"WWW-Authenticate": INVALID_TOKEN_CHALLENGE})
EXPIRED_TOKEN = HTTPAnswer(401, "Token has expired", {"WWW-Authenticate": EXPIRED_TOKEN_CHALLENGE})
INSUFFICIENT_SCOPE = HTTPAnswer(
    403, "Insufficient permissions", {"WWW-Authenticate": INSUFFICIENT_SCOPE_CHALLENGE}
)
INVALID_REQUEST = HTTPAnswer(
    400, "Invalid request", {"WWW-Authenticate": INVALID_REQUEST_CHALLENGE}
)


def unavailable(detail: str, retry_after: float) -> HTTPAnswer:
    """503 with `Retry-After` in whole seconds (at least 1)."""
    return HTTPAnswer(503, detail, {"Retry-After": str(max(1, math.ceil(retry_after)))})
