"""What a rejection must look like over HTTP, shared by the FastAPI-layer tests."""

import base64
import json

import httpx

from fastapi_cognito_jwt.testing import LocalUserPool

Expected = tuple[int, str, dict[str, str]]
NO_CREDENTIALS: Expected = (401, "Bearer", {"detail": "Not authenticated"})
INVALID: Expected = (401, 'Bearer error="invalid_token"', {"detail": "Invalid token"})
EXPIRED_CHALLENGE = 'Bearer error="invalid_token", error_description="The token has expired"'
EXPIRED: Expected = (401, EXPIRED_CHALLENGE, {"detail": "Token has expired"})
DENIED = {"detail": "Insufficient permissions"}
FORBIDDEN: Expected = (403, 'Bearer error="insufficient_scope"', DENIED)
BAD_REQUEST: Expected = (400, 'Bearer error="invalid_request"', {"detail": "Invalid request"})
UNAVAILABLE = {"detail": "Authentication is temporarily unavailable"}


def token_secrets(token: str) -> set[str]:
    """The token, its segments and every string in its header and payload (5+ characters)."""
    needles = {token, *token.split(".")}
    for segment in token.split(".")[:2]:
        try:
            decoded = json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
        except ValueError:
            continue
        if isinstance(decoded, dict):
            for value in decoded.values():
                values = value if isinstance(value, list) else [value]
                needles.update(item for item in values if isinstance(item, str))
    return {needle for needle in needles if len(needle) >= 5}


def assert_echoes_nothing(response: httpx.Response, token: str | bytes, *values: str) -> None:
    """Neither body nor headers contain the token, a segment, its kid or a claim value."""
    if isinstance(token, bytes):
        token = token.decode("latin-1")
    exposed = response.text + "\n" + "\n".join(f"{k}: {v}" for k, v in response.headers.items())
    for needle in token_secrets(token) | {value for value in values if value}:
        assert needle not in exposed, f"response echoes {needle[:40]!r}"


def assert_rejected(
    response: httpx.Response, expected: Expected, pool: LocalUserPool, token: str | bytes = ""
) -> None:
    """The exact status, challenge and body, and nothing of the token or the pool echoed."""
    status, challenge, body = expected
    assert response.status_code == status
    assert response.headers.get_list("www-authenticate") == [challenge]
    assert response.json() == body
    assert_echoes_nothing(
        response, token, pool.signing_kid, pool.client_id, pool.issuer, pool.user_pool_id
    )
