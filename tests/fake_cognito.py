"""A fake of Cognito's user-pool JSON API behind an `httpx2.MockTransport`, for the auth flows.

It follows Cognito's wire protocol: one `POST` per operation, named by `X-Amz-Target:
AWSCognitoIdentityProviderService.<Operation>`, with a JSON body; a success is HTTP 200 with a
JSON object in Cognito's PascalCase shapes (with keys the library does not read); a refusal is
HTTP 400 with `{"__type": "<Code>Exception", "message": ...}`, whose message may quote what was
sent. Replies stream their bodies unread, as a real connection's do. It keeps no user state.

It stands in for operations moto (5.2) does not implement, following Cognito's API reference
(`API_<Operation>` pages) for the request and reply shapes and the error codes a test scripts:
- `GetTokensFromRefreshToken`: `ClientId`, `RefreshToken`, `ClientSecret` for a confidential
  client (no SECRET_HASH); replies `AuthenticationResult` with a new `RefreshToken` when the app
  client rotates; refuses with `NotAuthorizedException` (invalid or revoked token) and
  `RefreshTokenReuseException` (a token rotation already replaced).
- `DeleteUserAttributes`: `AccessToken`, `UserAttributeNames`; replies `{}`; refuses with
  `NotAuthorizedException`, `InvalidParameterException` (a required attribute).
- `DeleteUser`: `AccessToken`; replies `{}`; refuses with `NotAuthorizedException`.
- `ResendConfirmationCode`, `RevokeToken`, `GetUserAttributeVerificationCode` and
  `VerifyUserAttribute`, which moto also lacks, as the canned `REPLIES` show.
`UpdateUserAttributes` is tested against moto too (tests/integration/test_auth_flows.py); here
it replies `CodeDeliveryDetailsList`, as Cognito does when an `email` or `phone_number` changed.
"""

import base64
import hashlib
import hmac
import json
from collections.abc import Callable
from typing import Any

import anyio
import httpx2

TARGET = "AWSCognitoIdentityProviderService."
JSON_TYPE = {"Content-Type": "application/x-amz-json-1.1"}

# Distinctive values, so that a leak of any of them is found by a plain substring search.
USERNAME = "alice-7c1f@example.com"
SUB = "5f1c7a4e-1111-4000-8000-00000000a11c"
PASSWORD = "Pw-9d2e-Secret!"
NEW_PASSWORD = "Pw-4b8a-Fresh!"
CODE = "C0DE5e3a"
ACCESS, ID, REFRESH = "cognito-access-3a9f", "cognito-id-8e21", "refresh-6f0b-handle"
SESSION = "session-1d7e-" + "s" * 30
SECRET = "1example23secret456789abcdefghijklmnopqrstuvwxyz0"
# Cognito's messages may quote the request: this one quotes everything a flow sends.
QUOTING = f"Incorrect: {USERNAME} {PASSWORD} {NEW_PASSWORD} {CODE} {REFRESH} {SESSION}"

TOKENS = {"AccessToken": ACCESS, "IdToken": ID, "RefreshToken": REFRESH, "ExpiresIn": 3600,
          "TokenType": "Bearer", "NewDeviceMetadata": {"DeviceKey": "k"}}  # fmt: skip
PARAMETERS = {"USER_ID_FOR_SRP": SUB, "requiredAttributes": "[]"}
CHALLENGE = {"ChallengeName": "NEW_PASSWORD_REQUIRED", "Session": SESSION,
             "ChallengeParameters": PARAMETERS}  # fmt: skip
DELIVERY = {"Destination": "a***@e***", "DeliveryMedium": "EMAIL", "AttributeName": "email"}
REPLIES: dict[str, Any] = {  # the other operations answer {}
    "SignUp": {"UserSub": SUB, "UserConfirmed": False, "CodeDeliveryDetails": DELIVERY,
               "Session": "sign-up-session"},
    "ResendConfirmationCode": {"CodeDeliveryDetails": DELIVERY},
    "InitiateAuth": {"AuthenticationResult": TOKENS, "ChallengeParameters": {}},
    "RespondToAuthChallenge": {"AuthenticationResult": TOKENS},
    "ForgotPassword": {"CodeDeliveryDetails": DELIVERY},
    "GetUser": {"Username": USERNAME, "UserAttributes": [{"Name": "sub", "Value": SUB},
                                                         {"Name": "email", "Value": "a@b.c"}]},
    "GetUserAttributeVerificationCode": {"CodeDeliveryDetails": DELIVERY},
    "GetTokensFromRefreshToken": {"AuthenticationResult": TOKENS},
    "UpdateUserAttributes": {"CodeDeliveryDetailsList": [DELIVERY]},
}  # fmt: skip

Reply = Callable[[], httpx2.Response]


def secret_hash(username: str, client_id: str, secret: str = SECRET) -> str:
    """Cognito's SECRET_HASH: Base64(HMAC-SHA256(secret, username + client_id))."""
    digest = hmac.new(secret.encode(), (username + client_id).encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def reply(status: int, document: Any = None, *, content: bytes = b"", headers: Any = None) -> Any:
    """A reply whose body streams unread, as a real transport returns it."""
    content = content if document is None else json.dumps(document).encode()
    headers = JSON_TYPE if headers is None else headers
    return httpx2.Response(status, headers=headers, stream=httpx2.ByteStream(content))


def ok(document: Any) -> Reply:
    return lambda: reply(200, document)


def error(code: str, message: str = QUOTING, status: int = 400) -> Reply:
    """Cognito's refusal: `__type` names the code; the message quotes the request."""
    return lambda: reply(status, {"__type": code, "message": message})


def raw(status: int, content: bytes, headers: Any = None) -> Reply:
    return lambda: reply(status, content=content, headers=headers or {"Content-Type": "text/html"})


def fails(exc: Exception) -> Reply:
    """No reply: the transport raises `exc` (the same instance each time)."""

    def raising() -> httpx2.Response:
        raise exc

    return raising


class FakeCognito:
    """Records each request; answers with `always`, else the next of `script`, else
    `replies[operation]`, else the canned `REPLIES`, after `delay` seconds."""

    def __init__(self) -> None:
        self.requests: list[httpx2.Request] = []
        self.script: list[Reply] = []
        self.replies: dict[str, Reply] = {}
        self.always: Reply | None = None
        self.delay = 0.0
        self.closed = 0  # how often a transport of this fake was closed

    @property
    def calls(self) -> list[tuple[str, Any]]:
        """(operation, JSON body) of each request, in order."""
        return [(operation(r), json.loads(r.content)) for r in self.requests]

    async def handle(self, request: httpx2.Request) -> httpx2.Response:
        self.requests.append(request)
        await anyio.sleep(self.delay)
        answer = self.always or (self.script.pop(0) if self.script else None)
        name = operation(request)
        return (answer or self.replies.get(name) or ok(REPLIES.get(name, {})))()

    def transport(self) -> httpx2.MockTransport:
        fake = self

        class Transport(httpx2.MockTransport):
            async def aclose(self) -> None:
                fake.closed += 1

        return Transport(self.handle)


def operation(request: httpx2.Request) -> str:
    return request.headers["X-Amz-Target"].removeprefix(TARGET)
