"""Auth-flow hardening: every Cognito failure, over real HTTP, becomes its documented answer.

The library's `CognitoAuthClient` talks to a scripted HTTP/1.1 server on 127.0.0.1 (the same
one the JWKS fault scenarios use) in place of Cognito; `auth_router` answers the app's
clients. Every error code in the client's table, unknown codes, HTML pages, empty and cut-off
bodies, a silent hang-up, a reply slower than the deadline and a refused connection are each
sent to every route. The expected answers are the table in docs/auth-flows.md, written out
here once more on purpose: a change to the router must be a change to the documentation.
"""

# No `from __future__ import annotations`: FastAPI reads route signatures at runtime.

import json
from collections.abc import Iterator

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from fastapi_cognito_jwt import CognitoAuthClient, auth_router
from fastapi_cognito_jwt._exceptions import _AUTH_ERRORS
from fastapi_cognito_jwt.testing import LocalUserPool
from tests.fake_cognito import BEARER_ROUTES, BODIES, PREFIX, QUOTABLE, ROUTES, Api
from tests.security.jwks_server import JWKSServer, Reply

pytestmark = pytest.mark.security

# Cognito's message quotes the request, as moto's does: it must never come back.
QUOTING = "User alice-7c1f with Pw-9d2e-Secret! and C0DE5e3a does not exist"

DEFAULT_STATUS = {
    "UsernameExistsException": 409,
    "AliasExistsException": 409,
    "CodeMismatchException": 400,
    "ExpiredCodeException": 400,
    "InvalidPasswordException": 400,
    "InvalidParameterException": 400,
    "NotAuthorizedException": 401,
    "UserNotFoundException": 401,
    "UserNotConfirmedException": 403,
    "PasswordResetRequiredException": 403,
    "CodeDeliveryFailureException": 502,
    "LimitExceededException": 429,
    "TooManyRequestsException": 429,
    "TooManyFailedAttemptsException": 429,
}
# Routes whose answer must not depend on whether the account exists or what state it is in.
QUIET_ROUTES = {"/resend-code", "/forgot-password"}
ACCOUNT_STATE = {
    "UserNotFoundException",
    "NotAuthorizedException",
    "UserNotConfirmedException",
    "InvalidParameterException",
    "CodeDeliveryFailureException",
}
# Routes that take a code: an unknown user, or one already confirmed, reads as a wrong code.
CODE_ROUTES = {"/verify", "/reset-password"}
UNKNOWN_CODES = ["InternalErrorException", "ResourceNotFoundException", "SomethingNewException"]


def documented_status(route: str, code: str) -> int:
    """The status docs/auth-flows.md gives `route` for Cognito's error `code`."""
    if route in QUIET_ROUTES and code in ACCOUNT_STATE:
        return 200
    if route in CODE_ROUTES and code in ("UserNotFoundException", "NotAuthorizedException"):
        return 400
    return DEFAULT_STATUS.get(code, 502)


def test_the_table_covers_every_code_the_client_knows() -> None:
    assert set(DEFAULT_STATUS) == set(_AUTH_ERRORS)


@pytest.fixture(scope="module")
def server() -> Iterator[JWKSServer]:
    with JWKSServer() as running:
        yield running


@pytest.fixture
def api(server: JWKSServer, pool: LocalUserPool) -> Iterator[Api]:
    settings = pool.settings(idp_endpoint=server.url("/"), http_timeout=0.5)
    app = FastAPI()
    app.include_router(
        auth_router(client=CognitoAuthClient(settings), bearer=pool.bearer(token_use="access")),
        prefix=PREFIX,
    )
    with TestClient(app, raise_server_exceptions=True) as client:
        yield Api(client, pool.access_token(username="alice-7c1f"))


def cognito_error(code: str, status: int = 400) -> Reply:
    body = json.dumps({"__type": code, "message": QUOTING}).encode()
    return Reply(status, body, headers=(("Content-Type", "application/x-amz-json-1.1"),))


def assert_fixed_answer(response: httpx.Response, api: Api, route: str) -> None:
    """No secret of the request and nothing of Cognito's message comes back."""
    exposed = response.text + "\n" + "\n".join(f"{k}: {v}" for k, v in response.headers.items())
    for value in (*QUOTABLE[route], QUOTING):
        needle = api.token if value == "<token>" else value
        assert needle not in exposed
    if response.status_code == 401:
        assert response.headers["www-authenticate"].startswith("Bearer")
    if response.status_code in (429, 503):
        assert int(response.headers["retry-after"]) > 0
    if response.status_code >= 400:
        assert set(response.json()) == {"detail"} and isinstance(response.json()["detail"], str)


@pytest.mark.parametrize("code", [*DEFAULT_STATUS, *UNKNOWN_CODES])
@pytest.mark.parametrize("route", ROUTES)
def test_every_error_code_on_every_route(
    api: Api, server: JWKSServer, route: str, code: str
) -> None:
    server.serve(cognito_error(code), path="/")
    response = api(route)
    assert response.status_code == documented_status(route, code)
    assert_fixed_answer(response, api, route)


HTML = b"<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>"
FAULTS = {
    # Answers that are not Cognito's: 502.
    "html-502": (Reply(502, HTML, headers=(("Content-Type", "text/html"),)), 502),
    "html-200": (Reply(200, HTML, headers=(("Content-Type", "text/html"),)), 502),
    "empty-500": (Reply(500, b""), 502),
    "empty-400": (Reply(400, b""), 502),
    "json-array-400": (Reply(400, b"[1]"), 502),
    "error-without-code": (Reply(400, b'{"message":"no"}'), 502),
    "redirect": (Reply(307, b"", headers=(("Location", "https://attacker.test/"),)), 502),
    "gzip": (Reply(200, b"\x1f\x8b", headers=(("Content-Encoding", "gzip"),)), 502),
    # No answer at all: 503.
    "cut-off-body": (Reply(200, b'{"UserSub":', content_length="500"), 503),
    "hang-up": (Reply(drop=True), 503),
    "slower-than-the-deadline": (Reply(200, b"{}", delay=1.5), 503),
}


@pytest.mark.parametrize("fault", list(FAULTS))
@pytest.mark.parametrize("route", ["/signup", "/signin", "/forgot-password", "/me"])
def test_broken_replies(api: Api, server: JWKSServer, route: str, fault: str) -> None:
    reply, expected = FAULTS[fault]
    server.serve(reply, path="/")
    response = api(route)
    assert response.status_code == expected
    assert_fixed_answer(response, api, route)


@pytest.mark.parametrize("route", ROUTES)
def test_a_refused_connection_is_a_503(api: Api, server: JWKSServer, route: str) -> None:
    server.down()
    try:
        response = api(route)
    finally:
        server.up()
    assert response.status_code == 503
    assert response.json() == {"detail": "The authentication service is unavailable"}
    assert_fixed_answer(response, api, route)


def test_wrong_password_and_unknown_user_are_indistinguishable(
    api: Api, server: JWKSServer
) -> None:
    answers = []
    for code in ("NotAuthorizedException", "UserNotFoundException"):
        server.serve(cognito_error(code), path="/")
        response = api("/signin")
        headers = {k: v for k, v in response.headers.items() if k != "date"}
        answers.append((response.status_code, response.content, headers))
    assert answers[0] == answers[1]
    assert answers[0][0] == 401


def test_bearer_routes_never_reach_cognito_without_a_valid_token(
    api: Api, server: JWKSServer
) -> None:
    server.serve(Reply(200, b"{}"), path="/")
    before = server.hits(None)
    for route in BEARER_ROUTES:
        assert api(route, token="not-a-token").status_code == 401
        assert api(route, anonymous=True).status_code == 401
    assert server.hits(None) == before


def test_bodies_are_validated_before_cognito_is_asked(api: Api, server: JWKSServer) -> None:
    before = server.hits(None)
    for route, body in BODIES.items():
        bad = {**body, "unexpected": "field"}
        assert api(route, bad).status_code == 422
    assert server.hits(None) == before
