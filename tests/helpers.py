"""Helpers shared by the test modules: JOSE encoding, a fake clock, and what a refusal looks like.

Every test module imports from here; nothing here is a test.
"""

import base64
import contextlib
import json
import logging
import socket
import threading
import time
from collections.abc import Iterable, Iterator
from typing import Any

import httpx2

from fastapi_cognito_jwt.testing import LocalUserPool

# -- JOSE encoding ----------------------------------------------------------------------------


def b64u(data: bytes) -> str:
    """Unpadded base64url."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64d(segment: str) -> bytes:
    """Decode unpadded base64url leniently (for building attacks, not for checking)."""
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def compact(value: Any) -> bytes:
    """`value` as compact JSON bytes."""
    return json.dumps(value, separators=(",", ":")).encode()


def segments(token: str) -> tuple[dict[str, Any], dict[str, Any], str]:
    """A token's header, payload (decoded leniently) and signature segment."""
    header, payload, signature = token.split(".")
    return json.loads(b64d(header)), json.loads(b64d(payload)), signature


# -- time -------------------------------------------------------------------------------------


class FakeClock:
    """A clock that moves only when told to."""

    def __init__(self, now: float = 1_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


# -- what a refusal looks like over HTTP ------------------------------------------------------

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
            decoded = json.loads(b64d(segment))
        except ValueError:
            continue
        if isinstance(decoded, dict):
            for value in decoded.values():
                values = value if isinstance(value, list) else [value]
                needles.update(item for item in values if isinstance(item, str))
    return {needle for needle in needles if len(needle) >= 5}


def assert_echoes_nothing(response: httpx2.Response, token: str | bytes, *values: str) -> None:
    """Neither body nor headers contain the token, a segment, its kid or a claim value."""
    if isinstance(token, bytes):
        token = token.decode("latin-1")
    exposed = response.text + "\n" + "\n".join(f"{k}: {v}" for k, v in response.headers.items())
    for needle in token_secrets(token) | {value for value in values if value}:
        assert needle not in exposed, f"response echoes {needle[:40]!r}"


def assert_rejected(
    response: httpx2.Response, expected: Expected, pool: LocalUserPool, token: str | bytes = ""
) -> None:
    """The exact status, challenge and body, and nothing of the token or the pool echoed."""
    status, challenge, body = expected
    assert response.status_code == status
    assert response.headers.get_list("www-authenticate") == [challenge]
    assert response.json() == body
    assert_echoes_nothing(
        response, token, pool.signing_kid, pool.client_id, pool.issuer, pool.user_pool_id
    )


def assert_logs_hide(records: Iterable[logging.LogRecord], *needles: str) -> None:
    """No log record's message or arguments contain any of `needles`."""
    for record in records:
        text = record.getMessage()
        for needle in needles:
            if needle:
                assert needle not in text, f"log repeats {needle[:40]!r}"


# -- requests to an app -----------------------------------------------------------------------


def get_answers(app: Any) -> dict[str, list[str]]:
    """The statuses each GET route of `app` lists in its OpenAPI document, sorted."""
    paths = app.openapi()["paths"]
    return {path: sorted(paths[path]["get"]["responses"]) for path in paths}


def bearer(token: str) -> dict[str, str]:
    """An `Authorization: Bearer <token>` header."""
    return {"Authorization": f"Bearer {token}"}


async def send(
    app: Any,
    path: str,
    headers: Any = None,
    method: str = "GET",
) -> httpx2.Response:
    """One request to an ASGI app through httpx2; an exception in the app raises (never a 500).

    `headers` is a mapping, or a list of raw `(name, value)` byte pairs (repeats kept).
    """
    transport = httpx2.ASGITransport(app=app)
    async with httpx2.AsyncClient(transport=transport, base_url="http://test") as client:
        return await client.request(method, path, headers=headers)


# -- a real server ----------------------------------------------------------------------------


@contextlib.contextmanager
def serve(app: Any) -> Iterator[str]:
    """Run `app` under a real uvicorn on a free 127.0.0.1 port in a thread; yield its base URL."""
    import uvicorn

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
