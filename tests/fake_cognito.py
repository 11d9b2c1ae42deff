"""A fake Cognito user-pool API for the router tests, and a caller for the mounted routes.

`FakeCognito` sits behind an `httpx.MockTransport`: it records each operation (from
`X-Amz-Target`) with its JSON body and answers with a canned reply, an error reply, a broken
reply or a transport failure. Replies stream their bodies, as a real transport's do.
"""

import json
from collections.abc import Callable
from typing import Any

import httpx
from fastapi.testclient import TestClient

PREFIX = "/api/v1/auth"
TARGET = "AWSCognitoIdentityProviderService."

# Distinctive values, so a leak of any of them is found by a plain substring search.
USERNAME = "alice-7c1f"
PASSWORD = "Pw-9d2e-Secret!"
NEW_PASSWORD = "Pw-4b8a-Fresh!"
CODE = "C0DE5e3a"
REFRESH = "refresh-6f0b-handle"
SESSION = "session-1d7e-" + "s" * 30
SUB = "5f1c7a4e-1111-4000-8000-00000000a11c"

TOKENS = {
    "AccessToken": "cognito-access",
    "IdToken": "cognito-id",
    "RefreshToken": "cognito-refresh",
    "ExpiresIn": 3600,
    "TokenType": "Bearer",
}
TOKEN_BODY = {
    "access_token": "cognito-access",
    "id_token": "cognito-id",
    "refresh_token": "cognito-refresh",
    "expires_in": 3600,
    "token_type": "Bearer",
}
PARAMETERS = {"USER_ID_FOR_SRP": USERNAME, "requiredAttributes": "[]"}
CHALLENGE = {
    "ChallengeName": "NEW_PASSWORD_REQUIRED",
    "Session": SESSION,
    "ChallengeParameters": PARAMETERS,
}
CHALLENGE_BODY = {
    "challenge_name": "NEW_PASSWORD_REQUIRED",
    "session": SESSION,
    "username": USERNAME,
    "parameters": PARAMETERS,
}
DELIVERY = {
    "CodeDeliveryDetails": {
        "Destination": "a***@e***",
        "DeliveryMedium": "EMAIL",
        "AttributeName": "email",
    }
}
ATTRIBUTES = [{"Name": "sub", "Value": SUB}, {"Name": "email", "Value": "alice@example.com"}]
REPLIES: dict[str, Any] = {
    "SignUp": {"UserSub": SUB, "UserConfirmed": False, **DELIVERY},
    "ConfirmSignUp": {},
    "ResendConfirmationCode": DELIVERY,
    "InitiateAuth": {"AuthenticationResult": TOKENS},
    "RespondToAuthChallenge": {"AuthenticationResult": TOKENS},
    "ForgotPassword": DELIVERY,
    "ConfirmForgotPassword": {},
    "ChangePassword": {},
    "GlobalSignOut": {},
    "GetUser": {"Username": USERNAME, "UserAttributes": ATTRIBUTES},
}

# The body each route is sent unless a test says otherwise; /logout and /me take none.
BODIES: dict[str, dict[str, Any]] = {
    "/signup": {
        "username": USERNAME,
        "password": PASSWORD,
        "email": "alice@example.com",
        "phone_number": "+447700900123",
        "attributes": {"custom:plan": "pro", "name": "Alice"},
    },
    "/verify": {"username": USERNAME, "code": CODE},
    "/resend-code": {"username": USERNAME},
    "/signin": {"username": USERNAME, "password": PASSWORD},
    "/challenge": {
        "username": USERNAME,
        "challenge_name": "NEW_PASSWORD_REQUIRED",
        "session": SESSION,
        "responses": {"NEW_PASSWORD": NEW_PASSWORD},
    },
    "/refresh": {"refresh_token": REFRESH},
    "/forgot-password": {"username": USERNAME},
    "/reset-password": {"username": USERNAME, "code": CODE, "new_password": NEW_PASSWORD},
    "/change-password": {"previous_password": PASSWORD, "proposed_password": NEW_PASSWORD},
}
ROUTES = [*BODIES, "/logout", "/me"]
# What Cognito receives for each default body: (operation, body without ClientId), and
# "<token>" for the bearer's access token.
REQUESTS: dict[str, tuple[str, dict[str, Any]]] = {
    "/signup": (
        "SignUp",
        {
            "Username": USERNAME,
            "Password": PASSWORD,
            "UserAttributes": [
                {"Name": "custom:plan", "Value": "pro"},
                {"Name": "name", "Value": "Alice"},
                {"Name": "email", "Value": "alice@example.com"},
                {"Name": "phone_number", "Value": "+447700900123"},
            ],
        },
    ),
    "/verify": ("ConfirmSignUp", {"Username": USERNAME, "ConfirmationCode": CODE}),
    "/resend-code": ("ResendConfirmationCode", {"Username": USERNAME}),
    "/signin": (
        "InitiateAuth",
        {
            "AuthFlow": "USER_PASSWORD_AUTH",
            "AuthParameters": {"USERNAME": USERNAME, "PASSWORD": PASSWORD},
        },
    ),
    "/challenge": (
        "RespondToAuthChallenge",
        {
            "ChallengeName": "NEW_PASSWORD_REQUIRED",
            "Session": SESSION,
            "ChallengeResponses": {"NEW_PASSWORD": NEW_PASSWORD, "USERNAME": USERNAME},
        },
    ),
    "/refresh": (
        "InitiateAuth",
        {"AuthFlow": "REFRESH_TOKEN_AUTH", "AuthParameters": {"REFRESH_TOKEN": REFRESH}},
    ),
    "/forgot-password": ("ForgotPassword", {"Username": USERNAME}),
    "/reset-password": (
        "ConfirmForgotPassword",
        {"Username": USERNAME, "ConfirmationCode": CODE, "Password": NEW_PASSWORD},
    ),
    "/change-password": (
        "ChangePassword",
        {"AccessToken": "<token>", "PreviousPassword": PASSWORD, "ProposedPassword": NEW_PASSWORD},
    ),
}
BEARER_ROUTES = ["/change-password", "/logout", "/me"]
# What each route sends that Cognito's message could quote; "<token>" is the bearer token.
QUOTABLE: dict[str, list[str]] = {
    "/signup": [USERNAME, PASSWORD],
    "/verify": [USERNAME, CODE],
    "/resend-code": [USERNAME],
    "/signin": [USERNAME, PASSWORD],
    "/challenge": [USERNAME, SESSION, NEW_PASSWORD],
    "/refresh": [REFRESH],
    "/forgot-password": [USERNAME],
    "/reset-password": [USERNAME, CODE, NEW_PASSWORD],
    "/change-password": [PASSWORD, NEW_PASSWORD, "<token>"],
    "/logout": ["<token>"],
    "/me": ["<token>"],
}

Reply = Callable[[], httpx.Response]


JSON_TYPE = {"Content-Type": "application/x-amz-json-1.1"}


def reply(
    status: int = 200,
    document: Any = None,
    *,
    content: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    """A streamed reply, not yet read, as a real transport returns it."""
    if content is None:
        content = b"" if document is None else json.dumps(document).encode()
    return httpx.Response(status, headers=headers or JSON_TYPE, stream=httpx.ByteStream(content))


def respond(status: int, content: bytes, headers: dict[str, str] | None = None) -> httpx.Response:
    """A reply that streams its body, as a real transport's does."""
    return reply(status, content=content, headers={**JSON_TYPE, **(headers or {})})


def error(code: str, message: str = "Cognito says no", status: int = 400) -> Reply:
    """A Cognito error reply, as the user-pool API sends it."""
    content = json.dumps({"__type": code, "message": message}).encode()
    return lambda: respond(status, content)


def ok(body: Any) -> Reply:
    return lambda: respond(200, json.dumps(body).encode())


def raw(status: int, content: bytes) -> Reply:
    return lambda: respond(status, content, {"Content-Type": "text/html"})


def fails(kind: type[httpx.TransportError]) -> Reply:
    def reply() -> httpx.Response:
        raise kind("simulated failure")

    return reply


class FakeCognito:
    """Records (operation, body); answers `always`, else `replies[operation]`, else REPLIES'."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, dict[str, Any]]] = []
        self.replies: dict[str, Reply] = {}
        self.always: Reply | None = None

    def handle(self, request: httpx.Request) -> httpx.Response:
        operation = request.headers["X-Amz-Target"].removeprefix(TARGET)
        self.requests.append((operation, json.loads(request.content)))
        return (self.always or self.replies.get(operation) or ok(REPLIES[operation]))()

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)


class Api:
    """Calls a mounted route with its default body and, on bearer routes, an access token."""

    def __init__(self, client: TestClient, token: str) -> None:
        self.client = client
        self.token = token

    def __call__(
        self,
        path: str,
        body: Any = None,
        *,
        content: bytes | None = None,
        token: str | None = None,
        anonymous: bool = False,
    ) -> httpx.Response:
        headers = {} if anonymous else {"Authorization": f"Bearer {token or self.token}"}
        response: httpx.Response
        if path == "/me":
            response = self.client.get(PREFIX + path, headers=headers)
        elif content is not None:
            headers["Content-Type"] = "application/json"
            response = self.client.post(PREFIX + path, content=content, headers=headers)
        else:
            payload = body if body is not None else BODIES.get(path)
            response = self.client.post(PREFIX + path, json=payload, headers=headers)
        return response


def headers_of(response: httpx.Response) -> dict[str, str]:
    """The headers an error answer may carry, when present."""
    names = ("www-authenticate", "retry-after")
    return {name: response.headers[name] for name in names if name in response.headers}


def answer(response: httpx.Response) -> tuple[int, Any, dict[str, str]]:
    """Status, JSON body and the error headers: what a client can tell apart."""
    return response.status_code, response.json(), headers_of(response)
