"""`CognitoWebSocketBearer` through Starlette's TestClient: token locations, refusals, helpers.

The same handshakes over real uvicorn and the `websockets` client are in
tests/integration/test_websocket_uvicorn.py; malformed handshakes are fuzzed in
tests/security/test_fuzz.py.
"""

# No `from __future__ import annotations`: this file defines FastAPI routes.

import asyncio
from pathlib import Path
from typing import Annotated, Any

import httpx2
import pytest
from fastapi import Depends, FastAPI, WebSocket
from fastapi.testclient import TestClient
from starlette.testclient import WebSocketDenialResponse
from starlette.types import Message
from starlette.websockets import WebSocketDisconnect

from fastapi_cognito_jwt import (
    CognitoCredentials,
    CognitoVerifier,
    CognitoWebSocketBearer,
    ConfigurationError,
)
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
    token_secrets,
)


def build_app(auth: CognitoWebSocketBearer) -> FastAPI:
    """`/ws` needs a token, `/admin` the admin group, `/read` api/read, `/maybe` nothing."""
    app = FastAPI()

    async def greet(websocket: WebSocket, creds: CognitoCredentials | None) -> None:
        await auth.accept(websocket)
        await websocket.send_text(creds.claims.username or "-" if creds else "anonymous")
        await websocket.close()

    @app.websocket("/ws")
    async def ws(websocket: WebSocket, creds: Annotated[CognitoCredentials, Depends(auth)]) -> None:
        await greet(websocket, creds)

    @app.websocket("/admin")
    async def admin(
        websocket: WebSocket,
        creds: Annotated[CognitoCredentials, Depends(auth.require_groups("admin", "ops"))],
    ) -> None:
        await greet(websocket, creds)

    @app.websocket("/all")
    async def all_groups(
        websocket: WebSocket,
        creds: Annotated[
            CognitoCredentials, Depends(auth.require_groups("admin", "ops", match="all"))
        ],
    ) -> None:
        await greet(websocket, creds)

    @app.websocket("/read")
    async def read(
        websocket: WebSocket,
        creds: Annotated[CognitoCredentials, Depends(auth.require_scopes("api/read"))],
    ) -> None:
        await greet(websocket, creds)

    @app.websocket("/maybe")
    async def maybe(
        websocket: WebSocket, creds: Annotated[CognitoCredentials | None, Depends(auth)]
    ) -> None:
        await greet(websocket, creds)

    return app


def ws_bearer(pool: LocalUserPool, **kwargs: Any) -> CognitoWebSocketBearer:
    kwargs.setdefault("token_use", "access")
    return CognitoWebSocketBearer(verifier=pool.verifier(), **kwargs)


def connect(app: FastAPI, path: str = "/ws", **kwargs: Any) -> tuple[str, str | None]:
    """Open a handshake; return what the route sent and the accepted subprotocol."""
    if isinstance(kwargs.get("headers"), dict):  # the TestClient adds to the dict it is given
        kwargs["headers"] = dict(kwargs["headers"])
    with TestClient(app).websocket_connect(path, **kwargs) as session:
        return session.receive_text(), session.accepted_subprotocol


def denied(app: FastAPI, path: str = "/ws", **kwargs: Any) -> WebSocketDenialResponse:
    with pytest.raises(WebSocketDenialResponse) as refused:
        connect(app, path, **kwargs)
    return refused.value


def assert_denied(refused: WebSocketDenialResponse, expected: Expected, *secrets: str) -> None:
    """The bearer's HTTP answer, and nothing of the token in it."""
    status, challenge, body = expected
    assert refused.status_code == status
    assert refused.headers.get_list("www-authenticate") == [challenge]
    assert refused.json() == body
    shown = refused.text + "\n".join(f"{k}: {v}" for k, v in refused.headers.items())
    for secret in secrets:
        for needle in token_secrets(secret) or {secret}:
            assert needle not in shown


# -- the three token locations ------------------------------------------------------------


def test_token_in_the_authorization_header(pool: LocalUserPool) -> None:
    app = build_app(ws_bearer(pool))
    token = pool.access_token(username="alice")
    assert connect(app, headers={"Authorization": f"Bearer {token}"}) == ("alice", None)


@pytest.mark.parametrize(
    "offered",
    [
        ["cognito-jwt", "bearer.{token}"],
        ["bearer.{token}", "cognito-jwt"],
        ["chat.v2", "bearer.{token}", "cognito-jwt"],
    ],
)
def test_token_in_the_subprotocols_is_accepted_with_the_app_protocol(
    pool: LocalUserPool, offered: list[str]
) -> None:
    app = build_app(ws_bearer(pool, subprotocols=["cognito-jwt", "chat.v1"]))
    token = pool.access_token(username="alice")
    subprotocols = [item.format(token=token) for item in offered]
    assert connect(app, subprotocols=subprotocols) == ("alice", "cognito-jwt")


def test_the_app_protocol_is_negotiated_whatever_carries_the_token(pool: LocalUserPool) -> None:
    auth = ws_bearer(pool, subprotocols=["chat.v2", "chat.v1"])
    headers = {"Authorization": f"Bearer {pool.access_token()}"}
    app = build_app(auth)
    assert connect(app, headers=headers, subprotocols=["chat.v1", "chat.v2"])[1] == "chat.v2"
    assert connect(app, headers=headers, subprotocols=["other"])[1] is None


def test_token_in_the_query_only_when_enabled(pool: LocalUserPool) -> None:
    token = pool.access_token(username="alice")
    enabled = build_app(ws_bearer(pool, query_param="access_token"))
    assert connect(enabled, f"/ws?x=1&access_token={token}") == ("alice", None)
    refused = denied(build_app(ws_bearer(pool)), f"/ws?access_token={token}")
    assert_denied(refused, NO_CREDENTIALS, token)


def test_a_dependency_override_stands_in_for_the_bearer(pool: LocalUserPool) -> None:
    auth = ws_bearer(pool)
    app = build_app(auth)
    app.dependency_overrides[auth] = lambda: pool.credentials(username="bob")
    assert connect(app) == ("bob", None)


# -- refusals -----------------------------------------------------------------------------

LONG = "a" * 18_000  # past max_token_bytes (16 KiB) + 1 KiB
REFUSALS: list[tuple[str, dict[str, Any], Expected | None]] = [  # None: 400 invalid_request
    ("nothing", {}, NO_CREDENTIALS),
    ("another scheme", {"headers": {"Authorization": "Basic {token}"}}, NO_CREDENTIALS),
    ("query disabled", {"path": "/ws?access_token={token}"}, NO_CREDENTIALS),
    (
        "header and subprotocol",
        {
            "headers": {"Authorization": "Bearer {token}"},
            "subprotocols": ["cognito-jwt", "bearer.{token}"],
        },
        None,
    ),
    ("two token items", {"subprotocols": ["cognito-jwt", "bearer.{token}", "bearer.x"]}, None),
    ("no app protocol", {"subprotocols": ["bearer.{token}"]}, None),
    ("unknown app protocol", {"subprotocols": ["chat", "bearer.{token}"]}, None),
    ("empty token item", {"subprotocols": ["cognito-jwt", "bearer."]}, None),
    ("empty item", {"subprotocols": ["cognito-jwt", "", "bearer.{token}"]}, None),
    ("duplicate item", {"subprotocols": ["cognito-jwt", "cognito-jwt", "bearer.{token}"]}, None),
    ("not a token name", {"subprotocols": ["cognito jwt", "bearer.{token}"]}, None),
    (
        "non-ASCII",
        {
            "headers": {
                "sec-websocket-protocol": "cognito-jwt, bearer.{token}\xe9".encode("latin-1")
            }
        },
        None,
    ),
    ("17 items", {"subprotocols": ["cognito-jwt", *(f"p{i}" for i in range(16))]}, None),
    ("oversized list", {"subprotocols": ["cognito-jwt", LONG]}, None),
]


@pytest.mark.parametrize(
    ("case", "request_", "expected"), REFUSALS, ids=[case for case, *_ in REFUSALS]
)
def test_malformed_or_ambiguous_handshakes_are_refused(
    pool: LocalUserPool, case: str, request_: dict[str, Any], expected: Expected | None
) -> None:
    token = pool.access_token()
    kwargs = format_request(request_, token)
    refused = denied(build_app(ws_bearer(pool)), kwargs.pop("path", "/ws"), **kwargs)
    assert_denied(refused, expected or BAD_REQUEST, token)


QUERY_REFUSALS = [
    ("access_token={token}&access_token={token}", BAD_REQUEST),
    ("access_token=", BAD_REQUEST),
    ("access_token={token}%FF", BAD_REQUEST),
    ("&".join(f"f{i}=1" for i in range(65)) + "&access_token={token}", BAD_REQUEST),
    ("access_token=" + "a" * 60_000, BAD_REQUEST),
    ("access_token=not-a-token", INVALID),
]


@pytest.mark.parametrize(("query", "expected"), QUERY_REFUSALS)
def test_malformed_query_strings_are_refused(
    pool: LocalUserPool, query: str, expected: Expected
) -> None:
    token = pool.access_token()
    app = build_app(ws_bearer(pool, query_param="access_token"))
    assert_denied(denied(app, "/ws?" + query.format(token=token)), expected, token)


def test_bad_tokens_and_missing_rights_get_the_bearers_answers(
    pool: LocalUserPool, library_logs: pytest.LogCaptureFixture
) -> None:
    app = build_app(ws_bearer(pool))
    expired = pool.access_token(expires_in=-10)
    forged = pool.access_token()[:-4] + "AAAA"
    staff = pool.access_token(groups=["staff"])
    cases = [("/ws", expired, EXPIRED), ("/ws", forged, INVALID), ("/admin", staff, FORBIDDEN)]
    cases += [("/all", pool.access_token(groups=["admin"]), FORBIDDEN)]
    cases += [("/read", pool.access_token(), FORBIDDEN)]
    for path, token, expected in cases:
        refused = denied(app, path, subprotocols=["cognito-jwt", f"bearer.{token}"])
        assert_denied(refused, expected, token)
        assert_logs_hide(library_logs.records, token, *token.split("."))
    messages = [r.getMessage() for r in library_logs.records if "WebSocket" in r.getMessage()]
    assert messages == [
        "WebSocket token rejected: TokenExpiredError: token has expired",
        "WebSocket token rejected: InvalidSignatureError: signature does not match",
        *["WebSocket handshake denied: required group missing"] * 2,
        "WebSocket handshake denied: required scope missing",
    ]


def test_groups_and_scopes_that_are_held_pass(pool: LocalUserPool) -> None:
    app = build_app(ws_bearer(pool))
    for path, token in [
        ("/admin", pool.access_token(username="ann", groups=["ops"])),
        ("/all", pool.access_token(username="ann", groups=["ops", "admin"])),
        ("/read", pool.access_token(username="ann", scopes=["api/read"])),
    ]:
        assert connect(app, path, headers={"Authorization": f"Bearer {token}"})[0] == "ann"


def test_without_auto_error_no_token_is_anonymous_but_a_bad_one_is_refused(
    pool: LocalUserPool,
) -> None:
    app = build_app(ws_bearer(pool, auto_error=False))
    assert connect(app, "/maybe") == ("anonymous", None)
    assert_denied(denied(app, "/admin"), NO_CREDENTIALS)
    bad = {"Authorization": "Bearer not-a-token"}
    assert_denied(denied(app, "/maybe", headers=bad), INVALID)


def test_no_signing_key_is_503_with_retry_after(pool: LocalUserPool) -> None:
    down = httpx2.MockTransport(lambda request: httpx2.Response(500))
    auth = CognitoWebSocketBearer(
        token_use="access", verifier=CognitoVerifier(pool.settings(), transport=down)
    )
    refused = denied(build_app(auth), headers={"Authorization": f"Bearer {pool.access_token()}"})
    assert refused.status_code == 503
    assert refused.json() == UNAVAILABLE
    assert int(refused.headers["retry-after"]) >= 1


# -- closing instead of an HTTP answer ----------------------------------------------------


@pytest.mark.parametrize(
    ("path", "token", "code", "reason"),
    [
        ("/ws", "", 1008, "Not authenticated"),
        ("/ws", "not-a-token", 1008, "Invalid token"),
        ("/admin", "{token}", 1008, "Insufficient permissions"),
    ],
)
def test_without_http_denial_the_handshake_is_closed_with_1008(
    pool: LocalUserPool, path: str, token: str, code: int, reason: str
) -> None:
    app = build_app(ws_bearer(pool, http_denial=False))
    token = token.format(token=pool.access_token())
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    with pytest.raises(WebSocketDisconnect) as closed:
        connect(app, path, headers=headers)
    assert not isinstance(closed.value, WebSocketDenialResponse)
    assert (closed.value.code, closed.value.reason) == (code, reason)


def test_a_server_without_the_denial_extension_gets_a_close(pool: LocalUserPool) -> None:
    """As a server that does not advertise `websocket.http.response` sees it: raw ASGI."""
    app = build_app(ws_bearer(pool))
    sent: list[Message] = []
    scope = {
        "type": "websocket",
        "path": "/ws",
        "raw_path": b"/ws",
        "query_string": b"",
        "headers": [(b"authorization", b"Bearer not-a-token")],
        "subprotocols": [],
        "asgi": {"version": "3.0"},
    }

    async def receive() -> Message:
        return {"type": "websocket.connect"}

    async def send(message: Message) -> None:
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    assert sent == [{"type": "websocket.close", "code": 1008, "reason": "Invalid token"}]


def test_no_signing_key_closes_with_1013(pool: LocalUserPool) -> None:
    down = httpx2.MockTransport(lambda request: httpx2.Response(500))
    verifier = CognitoVerifier(pool.settings(), transport=down)
    auth = CognitoWebSocketBearer(token_use="access", verifier=verifier, http_denial=False)
    with pytest.raises(WebSocketDisconnect) as closed:
        connect(build_app(auth), headers={"Authorization": f"Bearer {pool.access_token()}"})
    assert closed.value.code == 1013


# -- construction -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs",
    [
        {"token_use": "refresh"},
        {"claims_model": dict},
        {"subprotocols": "cognito-jwt"},
        {"subprotocols": ["cognito jwt"]},
        {"subprotocols": ["bearer.x"]},
        {"subprotocols": [""]},
        {"query_param": ""},
    ],
)
def test_bad_arguments_are_configuration_errors(pool: LocalUserPool, kwargs: Any) -> None:
    with pytest.raises(ConfigurationError):
        ws_bearer(pool, **kwargs)


def test_settings_or_verifier_not_both(pool: LocalUserPool) -> None:
    with pytest.raises(ConfigurationError, match="not both"):
        CognitoWebSocketBearer(pool.settings(), token_use="id", verifier=pool.verifier())
    assert CognitoWebSocketBearer(pool.settings(), token_use="id").verifier.settings.user_pool_id
    with pytest.raises(ConfigurationError):
        ws_bearer(pool).require_groups()
    with pytest.raises(ConfigurationError):
        ws_bearer(pool).require_groups("admin", match="some")  # type: ignore[arg-type]


def format_request(request: dict[str, Any], token: str) -> dict[str, Any]:
    """`request` with `{token}` replaced in every string it holds."""

    def fill(value: Any) -> Any:
        if isinstance(value, str):
            return value.format(token=token)
        if isinstance(value, bytes):
            return fill(value.decode("latin-1")).encode("latin-1")
        if isinstance(value, dict):
            return {key: fill(item) for key, item in value.items()}
        if isinstance(value, list | tuple):
            return type(value)(fill(item) for item in value)
        return value

    return {key: fill(value) for key, value in request.items()}


def test_the_readme_recipe_runs_as_written(pool: LocalUserPool) -> None:
    """The README's WebSocket block (a ```py block, after the quickstart's settings and app)."""
    text = (Path(__file__).parents[1] / "README.md").read_text(encoding="utf-8")
    recipe = text.split("## WebSockets", 1)[1].split("```py\n", 1)[1].split("```", 1)[0]
    namespace: dict[str, Any] = {"settings": pool.settings(), "app": FastAPI(), "Depends": Depends}
    exec(recipe, namespace)  # noqa: S102 - the README's own code
    app, ws_auth = namespace["app"], namespace["ws_auth"]
    app.dependency_overrides[ws_auth] = ws_bearer(pool)
    token = pool.access_token(username="alice")
    assert connect(app, subprotocols=["cognito-jwt", f"bearer.{token}"]) == (
        "Hello, alice",
        "cognito-jwt",
    )
