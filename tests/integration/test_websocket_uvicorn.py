"""`CognitoWebSocketBearer` over real uvicorn on 127.0.0.1, with the `websockets` client.

What a real client sees: the accepted subprotocol header, uvicorn's WebSocket denial
responses (status, `WWW-Authenticate`, body), and uvicorn's own answer to a close before
accept. The tokens come from the test kit's local pool; nothing here leaves 127.0.0.1.
"""

# No `from __future__ import annotations`: this file defines FastAPI routes.

import asyncio
import json
import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

import httpx2
import pytest
import uvicorn
from fastapi import Depends, FastAPI, WebSocket
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from examples.fastcognito.emulator import free_port
from fastapi_cognito_jwt import CognitoCredentials, CognitoVerifier, CognitoWebSocketBearer
from fastapi_cognito_jwt.testing import LocalUserPool
from tests.helpers import (
    BAD_REQUEST,
    EXPIRED,
    FORBIDDEN,
    INVALID,
    NO_CREDENTIALS,
    UNAVAILABLE,
    Expected,
    assert_logs_hide,
)

pytestmark = pytest.mark.integration


def build_app(auth: CognitoWebSocketBearer) -> FastAPI:
    app = FastAPI()

    @app.websocket("/ws")
    async def ws(websocket: WebSocket, creds: Annotated[CognitoCredentials, Depends(auth)]) -> None:
        await auth.accept(websocket)
        await websocket.send_text(creds.claims.username or "-")
        await websocket.close()

    @app.websocket("/admin")
    async def admin(
        websocket: WebSocket,
        creds: Annotated[CognitoCredentials, Depends(auth.require_groups("admin"))],
    ) -> None:
        await auth.accept(websocket)
        await websocket.send_text(creds.claims.username or "-")
        await websocket.close()

    return app


@contextmanager
def serving(app: FastAPI) -> Iterator[str]:
    """Run `app` under uvicorn (its default WebSocket implementation) on a free port."""
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.01)
    try:
        yield f"ws://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


@pytest.fixture
def logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    """The library's logs at every level; uvicorn's and the client's at INFO.

    At DEBUG, uvicorn and `websockets` print every handshake header, tokens included.
    """
    caplog.set_level(logging.INFO)
    caplog.set_level(logging.DEBUG, logger="fastapi_cognito_jwt")
    return caplog


def ws_bearer(pool: LocalUserPool, **kwargs: Any) -> CognitoWebSocketBearer:
    return CognitoWebSocketBearer(token_use="access", verifier=pool.verifier(), **kwargs)


async def talk(url: str, **kwargs: Any) -> tuple[str, str | None, dict[str, str]]:
    """Open, read the first message; the accepted subprotocol and the 101's headers."""
    async with connect(url, open_timeout=10, **kwargs) as websocket:
        assert websocket.response is not None
        headers = {name.lower(): value for name, value in websocket.response.headers.raw_items()}
        return str(await websocket.recv()), websocket.subprotocol, headers


def refused(url: str, **kwargs: Any) -> tuple[int, list[str], bytes, str]:
    """The status, `WWW-Authenticate` values, body and all headers of a refused handshake."""
    with pytest.raises(InvalidStatus) as error:
        asyncio.run(talk(url, **kwargs))
    response = error.value.response
    shown = "\n".join(f"{name}: {value}" for name, value in response.headers.raw_items())
    return (
        response.status_code,
        response.headers.get_all("WWW-Authenticate"),
        bytes(response.body or b""),
        shown,
    )


def assert_refused(url: str, expected: Expected, token: str, **kwargs: Any) -> None:
    status, challenges, body, shown = refused(url, **kwargs)
    assert (status, challenges, json.loads(body)) == (expected[0], [expected[1]], expected[2])
    for needle in filter(None, (token, *token.split("."))):
        assert needle not in shown and needle.encode() not in body


def test_every_token_location_is_accepted(
    pool: LocalUserPool, logs: pytest.LogCaptureFixture
) -> None:
    token = pool.access_token(username="alice")
    with serving(build_app(ws_bearer(pool, query_param="access_token"))) as base:
        header = asyncio.run(
            talk(f"{base}/ws", additional_headers={"Authorization": f"Bearer {token}"})
        )
        protocol = asyncio.run(talk(f"{base}/ws", subprotocols=["cognito-jwt", f"bearer.{token}"]))
        query = asyncio.run(talk(f"{base}/ws?access_token={token}"))
    assert (header[0], header[1]) == ("alice", None)
    assert "sec-websocket-protocol" not in header[2]
    assert (protocol[0], protocol[1]) == ("alice", "cognito-jwt")
    assert protocol[2]["sec-websocket-protocol"] == "cognito-jwt"
    for segment in token.split("."):
        assert segment not in "\n".join(protocol[2].values())
    assert (query[0], query[1]) == ("alice", None)
    library = [record for record in logs.records if record.name.startswith("fastapi_cognito_jwt")]
    assert_logs_hide(library, token, *token.split("."))


def test_the_query_parameter_is_ignored_unless_enabled(pool: LocalUserPool) -> None:
    token = pool.access_token()
    with serving(build_app(ws_bearer(pool))) as base:
        assert_refused(f"{base}/ws?access_token={token}", NO_CREDENTIALS, token)


def test_bad_and_missing_tokens_get_http_denials(
    pool: LocalUserPool, logs: pytest.LogCaptureFixture
) -> None:
    expired = pool.access_token(expires_in=-10)
    forged = pool.access_token()[:-4] + "AAAA"
    staff = pool.access_token(groups=["staff"])
    with serving(build_app(ws_bearer(pool))) as base:
        assert_refused(f"{base}/ws", NO_CREDENTIALS, "")
        for token, expected in [(expired, EXPIRED), (forged, INVALID)]:
            assert_refused(
                f"{base}/ws", expected, token, subprotocols=["cognito-jwt", f"bearer.{token}"]
            )
            headers = {"Authorization": f"Bearer {token}"}
            assert_refused(f"{base}/ws", expected, token, additional_headers=headers)
        assert_refused(
            f"{base}/admin",
            FORBIDDEN,
            staff,
            additional_headers={"Authorization": f"Bearer {staff}"},
        )
        two = [("Authorization", f"Bearer {staff}")] * 2
        assert_refused(f"{base}/ws", BAD_REQUEST, staff, additional_headers=two)
    for token in (expired, forged, staff):
        assert_logs_hide(logs.records, token, *token.split("."))


def test_without_http_denial_uvicorn_answers_a_close_before_accept_with_403(
    pool: LocalUserPool,
) -> None:
    token = pool.access_token(expires_in=-10)
    with serving(build_app(ws_bearer(pool, http_denial=False))) as base:
        status, challenges, body, shown = refused(
            f"{base}/ws", additional_headers={"Authorization": f"Bearer {token}"}
        )
    assert (status, challenges) == (403, [])
    assert token.split(".")[1] not in shown and not body.strip(b"\r\n")


def test_no_signing_key_is_a_503_denial_with_retry_after(pool: LocalUserPool) -> None:
    down = httpx2.MockTransport(lambda request: httpx2.Response(500))
    verifier = CognitoVerifier(pool.settings(), transport=down)
    token = pool.access_token()
    with serving(build_app(CognitoWebSocketBearer(token_use="access", verifier=verifier))) as base:
        status, challenges, body, shown = refused(
            f"{base}/ws", subprotocols=["cognito-jwt", f"bearer.{token}"]
        )
    assert (status, challenges, json.loads(body)) == (503, [], UNAVAILABLE)
    assert "retry-after: " in shown.lower() and token.split(".")[1] not in shown
