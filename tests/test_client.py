"""`CognitoAuthClient`: each operation's request and result, SECRET_HASH, errors, lifecycle.

HTTP is an `httpx.MockTransport` playing Cognito: it records every request and answers with
streamed (unread) replies, as a real connection delivers them; one test goes through respx.
Passwords, codes, tokens and usernames are distinctive strings that must never be logged.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, ClassVar

import anyio
import httpx
import pytest
import respx

from fastapi_cognito_jwt import (
    AuthChallenge,
    AuthTokens,
    CodeDelivery,
    CognitoAuthClient,
    CognitoServiceError,
    CognitoSettings,
    CognitoUnreachableError,
    CognitoUser,
    ConfigurationError,
    InvalidParameterError,
    NotAuthorizedError,
    SignUpResult,
)
from tests.fake_cognito import reply

pytestmark = pytest.mark.anyio

POOL_ID = "eu-west-1_AbC123"
CLIENT_ID = "3n4b5urk1ft4fl3mg5e62d9ado"
OTHER_CLIENT = "7g8h9ipubliccl1ent0000000"
CLIENT_SECRET = "1example23secret456789abcdefghijklmnopqrstuvwxyz0"
ENDPOINT = "https://cognito-idp.eu-west-1.amazonaws.com/"
TARGET = "AWSCognitoIdentityProviderService."

USERNAME = "alice.liddell@example.com"
SUB = "7d8ca528-4931-4254-9273-ea5ee853f271"
PASSWORD = "Tr0ub4dor&3-Zq7Xw"
NEW_PASSWORD = "correct-Horse-battery-9Qv"
CODE = "918273"
ACCESS_TOKEN = "eyJraWQiOiJhY2Nlc3MifQ.access-payload-Zq7Xw.access-signature"
ID_TOKEN = "eyJraWQiOiJpZCJ9.id-payload-Zq7Xw.id-signature"
REFRESH_TOKEN = "eyJjdHkiOiJKV1QifQ.refresh-opaque-blob-Zq7Xw"
SESSION = "AYABeC1-session-handle-Zq7Xw"
QUOTING = f"Incorrect username or password: {USERNAME} {PASSWORD} {CODE}"
SENSITIVE = (
    *(USERNAME, SUB, PASSWORD, NEW_PASSWORD, CODE, ACCESS_TOKEN, ID_TOKEN, REFRESH_TOKEN),
    *(SESSION, QUOTING, CLIENT_SECRET, "Zq7Xw"),
)

AUTH_RESULT = {"AccessToken": ACCESS_TOKEN, "ExpiresIn": 3600, "TokenType": "Bearer",
               "RefreshToken": REFRESH_TOKEN, "IdToken": ID_TOKEN}  # fmt: skip
TOKENS = {"AuthenticationResult": AUTH_RESULT, "ChallengeParameters": {}}
TOKENS_DUMP = {"access_token": ACCESS_TOKEN, "id_token": ID_TOKEN, "refresh_token": REFRESH_TOKEN,
               "expires_in": 3600, "token_type": "Bearer"}  # fmt: skip
DELIVERY = {"Destination": "a***@e***", "DeliveryMedium": "EMAIL", "AttributeName": "email"}
DELIVERY_DUMP = {"destination": "a***@e***", "delivery_medium": "EMAIL", "attribute_name": "email"}
CHALLENGE = AuthChallenge.model_validate(
    {"ChallengeName": "NEW_PASSWORD_REQUIRED", "Session": SESSION, "username": USERNAME}
)


def make(**fields: Any) -> CognitoSettings:
    values = {"user_pool_id": POOL_ID, "client_ids": [CLIENT_ID, OTHER_CLIENT], **fields}
    return CognitoSettings(**values)


def expected_hash(username: str, client_id: str = CLIENT_ID) -> str:
    mac = hmac.new(CLIENT_SECRET.encode(), (username + client_id).encode(), hashlib.sha256)
    return base64.b64encode(mac.digest()).decode()


class ClosingTransport(httpx.MockTransport):
    """A MockTransport that counts how often it was closed."""

    closed = 0

    async def aclose(self) -> None:
        self.closed += 1


class FakeCognito:
    """Cognito's user-pool API: the scripted replies in order, then `{}`; records requests."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []
        self.replies: list[httpx.Response | Exception | float] = []

    def answer(self, status: int = 200, document: Any = None, **options: Any) -> None:
        self.replies.append(reply(status, document, **options))

    async def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.replies.pop(0) if self.replies else reply(200, {})
        if isinstance(answer, Exception):
            raise answer
        if isinstance(answer, float):  # a delay, then an empty 200
            await anyio.sleep(answer)
            return reply(200, {})
        return answer

    def transport(self) -> ClosingTransport:
        return ClosingTransport(self.handle)

    def client(self, settings: CognitoSettings | None = None, **options: Any) -> CognitoAuthClient:
        if "http_client" not in options:
            options["transport"] = self.transport()
        return CognitoAuthClient(settings or make(), **options)

    def body(self, index: int = -1) -> dict[str, Any]:
        document = json.loads(self.requests[index].content)
        assert isinstance(document, dict)
        return document


@pytest.fixture
def cognito() -> FakeCognito:
    return FakeCognito()


class RecordingClient(httpx.AsyncClient):
    """An AsyncClient that remembers every instance, to see which ones get closed."""

    created: ClassVar[list[httpx.AsyncClient]] = []

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        RecordingClient.created.append(self)


@pytest.fixture
def created(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[httpx.AsyncClient]]:
    """The httpx clients the library creates during the test."""
    RecordingClient.created = []
    monkeypatch.setattr(httpx, "AsyncClient", RecordingClient)
    yield RecordingClient.created


def assert_nothing_sensitive(text: str) -> None:
    for needle in SENSITIVE + (expected_hash(USERNAME), expected_hash(SUB)):
        assert needle not in text, f"{needle!r} leaked"


# -- every operation: the request and the result --------------------------------------------


@dataclass(frozen=True)
class Op:
    operation: str
    invoke: Callable[[CognitoAuthClient], Awaitable[object]]
    body: dict[str, Any]
    reply: dict[str, Any] = field(default_factory=dict)
    result: type[object] = type(None)
    dump: dict[str, Any] | None = None


ATTRIBUTES = [{"Name": "email", "Value": USERNAME}, {"Name": "custom:team", "Value": "blue"}]
USER_REPLY = {"Username": SUB, "MFAOptions": [], "PreferredMfaSetting": "SOFTWARE_TOKEN_MFA",
              "UserAttributes": [{"Name": "sub", "Value": SUB}, {"Name": "email", "Value": "e"}],
              "UserMFASettingList": ["SOFTWARE_TOKEN_MFA"]}  # fmt: skip
USER_DUMP = {"username": SUB, "attributes": {"sub": SUB, "email": "e"},
             "preferred_mfa": "SOFTWARE_TOKEN_MFA",
             "mfa_methods": ("SOFTWARE_TOKEN_MFA",)}  # fmt: skip
OPS: dict[str, Op] = {
    "sign_up": Op(
        "SignUp",
        lambda c: c.sign_up(USERNAME, PASSWORD, {"email": USERNAME, "custom:team": "blue"}),
        {"ClientId": CLIENT_ID, "Username": USERNAME, "Password": PASSWORD,
         "UserAttributes": ATTRIBUTES},
        {"UserConfirmed": False, "UserSub": SUB, "CodeDeliveryDetails": DELIVERY}, SignUpResult,
        {"user_sub": SUB, "user_confirmed": False, "code_delivery": DELIVERY_DUMP}),
    "confirm_sign_up": Op(
        "ConfirmSignUp", lambda c: c.confirm_sign_up(USERNAME, CODE),
        {"ClientId": CLIENT_ID, "Username": USERNAME, "ConfirmationCode": CODE}),
    "resend_confirmation_code": Op(
        "ResendConfirmationCode", lambda c: c.resend_confirmation_code(USERNAME),
        {"ClientId": CLIENT_ID, "Username": USERNAME},
        {"CodeDeliveryDetails": DELIVERY}, CodeDelivery, DELIVERY_DUMP),
    "sign_in": Op(
        "InitiateAuth", lambda c: c.sign_in(USERNAME, PASSWORD),
        {"ClientId": CLIENT_ID, "AuthFlow": "USER_PASSWORD_AUTH",
         "AuthParameters": {"USERNAME": USERNAME, "PASSWORD": PASSWORD}},
        TOKENS, AuthTokens, TOKENS_DUMP),
    "respond_to_challenge": Op(
        "RespondToAuthChallenge",
        lambda c: c.respond_to_challenge(CHALLENGE, {"NEW_PASSWORD": NEW_PASSWORD}),
        {"ClientId": CLIENT_ID, "ChallengeName": "NEW_PASSWORD_REQUIRED", "Session": SESSION,
         "ChallengeResponses": {"NEW_PASSWORD": NEW_PASSWORD, "USERNAME": USERNAME}},
        TOKENS, AuthTokens, TOKENS_DUMP),
    "refresh": Op(
        "InitiateAuth", lambda c: c.refresh(REFRESH_TOKEN),
        {"ClientId": CLIENT_ID, "AuthFlow": "REFRESH_TOKEN_AUTH",
         "AuthParameters": {"REFRESH_TOKEN": REFRESH_TOKEN}},
        {"AuthenticationResult": {**AUTH_RESULT, "RefreshToken": None}}, AuthTokens,
        {**TOKENS_DUMP, "refresh_token": None}),
    "forgot_password": Op(
        "ForgotPassword", lambda c: c.forgot_password(USERNAME),
        {"ClientId": CLIENT_ID, "Username": USERNAME},
        {"CodeDeliveryDetails": DELIVERY}, CodeDelivery, DELIVERY_DUMP),
    "confirm_forgot_password": Op(
        "ConfirmForgotPassword", lambda c: c.confirm_forgot_password(USERNAME, CODE, NEW_PASSWORD),
        {"ClientId": CLIENT_ID, "Username": USERNAME, "ConfirmationCode": CODE,
         "Password": NEW_PASSWORD}),
    "change_password": Op(
        "ChangePassword", lambda c: c.change_password(ACCESS_TOKEN, PASSWORD, NEW_PASSWORD),
        {"AccessToken": ACCESS_TOKEN, "PreviousPassword": PASSWORD,
         "ProposedPassword": NEW_PASSWORD}),
    "global_sign_out": Op(
        "GlobalSignOut", lambda c: c.global_sign_out(ACCESS_TOKEN), {"AccessToken": ACCESS_TOKEN}),
    "revoke_token": Op(
        "RevokeToken", lambda c: c.revoke_token(REFRESH_TOKEN),
        {"Token": REFRESH_TOKEN, "ClientId": CLIENT_ID}),
    "get_user": Op(
        "GetUser", lambda c: c.get_user(ACCESS_TOKEN), {"AccessToken": ACCESS_TOKEN},
        USER_REPLY, CognitoUser, USER_DUMP),
    "request_attribute_verification": Op(
        "GetUserAttributeVerificationCode",
        lambda c: c.request_attribute_verification(ACCESS_TOKEN, "email"),
        {"AccessToken": ACCESS_TOKEN, "AttributeName": "email"},
        {"CodeDeliveryDetails": DELIVERY}, CodeDelivery, DELIVERY_DUMP),
    "verify_attribute": Op(
        "VerifyUserAttribute", lambda c: c.verify_attribute(ACCESS_TOKEN, "email", CODE),
        {"AccessToken": ACCESS_TOKEN, "AttributeName": "email", "Code": CODE}),
}  # fmt: skip
OPERATIONS = [pytest.param(op, id=name) for name, op in OPS.items()]
TOKEN_ONLY = {"ChangePassword", "GlobalSignOut", "GetUser", "GetUserAttributeVerificationCode"}
TOKEN_ONLY |= {"VerifyUserAttribute"}


@pytest.mark.parametrize("op", OPERATIONS)
async def test_each_operation_sends_its_request_and_parses_the_reply(
    op: Op, cognito: FakeCognito
) -> None:
    cognito.answer(200, op.reply)
    async with cognito.client() as client:
        result = await op.invoke(client)
    (request,) = cognito.requests
    assert request.method == "POST"
    assert str(request.url) == ENDPOINT
    assert request.headers["Content-Type"] == "application/x-amz-json-1.1"
    assert request.headers["X-Amz-Target"] == TARGET + op.operation
    assert request.headers["Accept-Encoding"] == "identity"
    for name in ("Authorization", "X-Amz-Date", "X-Amz-Security-Token", "X-Amz-Content-Sha256"):
        assert name not in request.headers
    assert cognito.body() == op.body
    assert type(result) is op.result
    if op.dump is not None:
        assert isinstance(result, AuthTokens | CodeDelivery | CognitoUser | SignUpResult)
        assert result.model_dump() == op.dump


async def test_sign_up_without_attributes(cognito: FakeCognito) -> None:
    cognito.answer(200, {"UserConfirmed": True, "UserSub": SUB})
    async with cognito.client() as client:
        result = await client.sign_up(USERNAME, PASSWORD)
    assert result.user_confirmed is True
    assert result.code_delivery is None
    body = cognito.body()
    assert body.pop("UserAttributes", []) == []
    assert body == {"ClientId": CLIENT_ID, "Username": USERNAME, "Password": PASSWORD}


@pytest.mark.parametrize("name", ["resend_confirmation_code", "forgot_password"])
@pytest.mark.parametrize("document", [{}, {"CodeDeliveryDetails": None}], ids=["absent", "null"])
async def test_no_code_delivery_details_is_none(
    name: str, document: dict[str, Any], cognito: FakeCognito
) -> None:
    cognito.answer(200, document)
    async with cognito.client() as client:
        assert await OPS[name].invoke(client) is None


# -- challenges -----------------------------------------------------------------------------

CHALLENGES = [
    pytest.param("NEW_PASSWORD_REQUIRED", "NEW_PASSWORD", NEW_PASSWORD,
                 {"USER_ID_FOR_SRP": SUB, "requiredAttributes": "[]", "userAttributes": "{}"},
                 id="new-password"),
    pytest.param("SMS_MFA", "SMS_MFA_CODE", CODE,
                 {"CODE_DELIVERY_DELIVERY_MEDIUM": "SMS", "CODE_DELIVERY_DESTINATION": "+****0123"},
                 id="sms-mfa"),
    pytest.param("SOFTWARE_TOKEN_MFA", "SOFTWARE_TOKEN_MFA_CODE", CODE,
                 {"FRIENDLY_DEVICE_NAME": "phone"}, id="totp"),
]  # fmt: skip


@pytest.mark.parametrize(("name", "key", "answer", "parameters"), CHALLENGES)
async def test_sign_in_challenge_and_its_answer(
    name: str, key: str, answer: str, parameters: dict[str, str], cognito: FakeCognito
) -> None:
    # Behind an alias (an email), Cognito names the real username in USER_ID_FOR_SRP: the
    # answer, and its SECRET_HASH, are for that user.
    username = parameters.get("USER_ID_FOR_SRP", USERNAME)
    cognito.answer(
        200, {"ChallengeName": name, "Session": SESSION, "ChallengeParameters": parameters}
    )
    cognito.answer(200, TOKENS)
    async with cognito.client(make(client_secret=CLIENT_SECRET)) as client:
        challenge = await client.sign_in(USERNAME, PASSWORD)
        assert isinstance(challenge, AuthChallenge)
        assert challenge.name == name
        assert challenge.session == SESSION
        assert challenge.parameters == parameters
        assert challenge.username == username
        assert name in repr(challenge)
        assert SESSION not in repr(challenge)
        assert USERNAME not in repr(challenge)
        tokens = await client.respond_to_challenge(challenge, {key: answer})
    assert isinstance(tokens, AuthTokens)
    assert tokens.access_token == ACCESS_TOKEN
    assert ACCESS_TOKEN not in repr(tokens)
    assert cognito.body(0)["AuthParameters"]["SECRET_HASH"] == expected_hash(USERNAME)
    assert cognito.requests[1].headers["X-Amz-Target"] == TARGET + "RespondToAuthChallenge"
    assert cognito.body() == {
        "ClientId": CLIENT_ID,
        "ChallengeName": name,
        "Session": SESSION,
        "ChallengeResponses": {
            key: answer,
            "USERNAME": username,
            "SECRET_HASH": expected_hash(username),
        },
    }


async def test_a_challenge_can_lead_to_another(cognito: FakeCognito) -> None:
    cognito.answer(200, {"ChallengeName": "SOFTWARE_TOKEN_MFA", "Session": "second-session"})
    async with cognito.client() as client:
        result = await client.respond_to_challenge(CHALLENGE, {"NEW_PASSWORD": NEW_PASSWORD})
    assert isinstance(result, AuthChallenge)
    assert result.name == "SOFTWARE_TOKEN_MFA"
    assert result.session == "second-session"
    assert result.parameters == {}
    assert result.username == USERNAME


NO_TOKENS = {
    "no-keys": {},
    "only-parameters": {"ChallengeParameters": {}},
    "result-null": {"AuthenticationResult": None},
    "result-list": {"AuthenticationResult": [ACCESS_TOKEN]},
    "result-string": {"AuthenticationResult": ACCESS_TOKEN},
    "no-access-token": {"AuthenticationResult": {"ExpiresIn": 3600}},
    "empty-access-token": {"AuthenticationResult": {"AccessToken": "", "ExpiresIn": 1}},
    "negative-expiry": {"AuthenticationResult": {"AccessToken": "a", "ExpiresIn": -1}},
    "challenge-without-session": {"ChallengeName": "SMS_MFA"},
    "challenge-empty-name": {"ChallengeName": "", "Session": SESSION},
}
WRONG_SHAPE = [
    *[pytest.param(name, document, id=f"{name}-{case}") for case, document in NO_TOKENS.items()
      for name in ("sign_in", "respond_to_challenge", "refresh")],
    pytest.param("refresh", {"ChallengeName": "SMS_MFA", "Session": SESSION}, id="refresh-mfa"),
    pytest.param("sign_up", {"UserConfirmed": False}, id="sign-up-no-sub"),
    pytest.param("sign_up", {"UserSub": "", "UserConfirmed": False}, id="sign-up-empty-sub"),
    pytest.param("sign_up", {"UserSub": SUB}, id="sign-up-no-confirmed"),
    pytest.param("get_user", {"UserAttributes": []}, id="user-no-username"),
    pytest.param("get_user", {"Username": SUB}, id="user-no-attributes"),
    pytest.param("get_user", {"Username": SUB, "UserAttributes": [{"Value": SUB}]}, id="name"),
    pytest.param("get_user", {"Username": SUB, "UserAttributes": "x"}, id="attributes-str"),
    pytest.param("forgot_password", {"CodeDeliveryDetails": "EMAIL"}, id="delivery-str"),
    pytest.param("forgot_password", {"CodeDeliveryDetails": [DELIVERY]}, id="delivery-list"),
    pytest.param("request_attribute_verification", {"CodeDeliveryDetails": {"Destination": 5}},
                 id="delivery-number"),
]  # fmt: skip


@pytest.mark.parametrize(("name", "document"), WRONG_SHAPE)
async def test_replies_of_the_wrong_shape_are_service_errors(
    name: str, document: dict[str, Any], cognito: FakeCognito
) -> None:
    # Includes a refresh answered with a challenge, and replies with neither tokens nor one.
    cognito.answer(200, document)
    async with cognito.client() as client:
        with pytest.raises(CognitoServiceError) as info:
            await OPS[name].invoke(client)
    assert type(info.value) is CognitoServiceError
    assert info.value.__cause__ is None  # pydantic's error, which quotes the input, is dropped
    assert_nothing_sensitive(str(info.value))


# -- SECRET_HASH ----------------------------------------------------------------------------


def test_secret_hash_matches_known_vectors() -> None:
    client = CognitoAuthClient(make(client_secret=CLIENT_SECRET))
    assert client.secret_hash(USERNAME) == expected_hash(USERNAME)
    # Fixed vectors: Base64(HMAC-SHA256(secret, username + client_id)).
    assert client.secret_hash("alice@example.com") == (
        "W+NKtTKDGJDzQE4v2UbVjQrZ7Yv3d3FCH4M2cUPCuZU="
    )
    assert client.secret_hash("zoë") == "MRFZ/oL3j7V/AOjIN+duSF9uHdgzK+pM2s7RetS1vjk="
    assert CognitoAuthClient(make()).secret_hash(USERNAME) is None


REFRESH_AS = Op("InitiateAuth", lambda c: c.refresh(REFRESH_TOKEN, username=SUB), {}, TOKENS)
HASHED = [
    pytest.param(OPS["sign_up"], ("SecretHash",), USERNAME, id="sign_up"),
    pytest.param(OPS["confirm_sign_up"], ("SecretHash",), USERNAME, id="confirm_sign_up"),
    pytest.param(OPS["resend_confirmation_code"], ("SecretHash",), USERNAME, id="resend"),
    pytest.param(OPS["forgot_password"], ("SecretHash",), USERNAME, id="forgot_password"),
    pytest.param(OPS["confirm_forgot_password"], ("SecretHash",), USERNAME, id="confirm_forgot"),
    pytest.param(OPS["sign_in"], ("AuthParameters", "SECRET_HASH"), USERNAME, id="sign_in"),
    pytest.param(OPS["respond_to_challenge"], ("ChallengeResponses", "SECRET_HASH"), USERNAME,
                 id="respond"),
    pytest.param(REFRESH_AS, ("AuthParameters", "SECRET_HASH"), SUB, id="refresh"),
]  # fmt: skip


@pytest.mark.parametrize("secret", [True, False], ids=["secret", "no-secret"])
@pytest.mark.parametrize(("op", "path", "username"), HASHED)
async def test_secret_hash_placement(
    op: Op, path: tuple[str, ...], username: str, secret: bool, cognito: FakeCognito
) -> None:
    settings = make(client_secret=CLIENT_SECRET) if secret else make()
    cognito.answer(200, op.reply)
    async with cognito.client(settings) as client:
        await op.invoke(client)
    body = cognito.body()
    assert body["ClientId"] == CLIENT_ID
    *parents, key = path
    holder = body
    for parent in parents:
        holder = holder[parent]
    text = json.dumps(body)
    if secret:
        assert holder[key] == expected_hash(username)
        assert holder.get("USERNAME", body.get("Username")) == username  # the name hashed
        assert text.count(expected_hash(username)) == 1  # in that one place only
    else:
        assert "SecretHash" not in text
        assert "SECRET_HASH" not in text
    assert CLIENT_SECRET not in text


@pytest.mark.parametrize("username", [None, ""])
async def test_refresh_with_a_secret_needs_the_username(
    username: str | None, cognito: FakeCognito
) -> None:
    async with cognito.client(make(client_secret=CLIENT_SECRET)) as client:
        with pytest.raises(ConfigurationError, match="username") as info:
            await client.refresh(REFRESH_TOKEN, username=username)
    assert cognito.requests == []
    assert_nothing_sensitive(str(info.value))


@pytest.mark.parametrize("op", OPERATIONS)
async def test_with_a_secret_only_revoke_token_sends_the_secret_itself(
    op: Op, cognito: FakeCognito
) -> None:
    cognito.answer(200, op.reply)
    # refresh needs the username with a secret; its body is checked above.
    invoke = REFRESH_AS.invoke if op is OPS["refresh"] else op.invoke
    async with cognito.client(make(client_secret=CLIENT_SECRET)) as client:
        await invoke(client)
    content = cognito.requests[0].content.decode()
    if op.operation == "RevokeToken":
        assert cognito.body() == {**op.body, "ClientSecret": CLIENT_SECRET}
    else:
        assert CLIENT_SECRET not in content
    if op.operation in TOKEN_ONLY:  # no ClientId, no hash: the access token says it all
        assert cognito.body() == op.body


async def test_the_secret_is_never_shown(
    cognito: FakeCognito, library_logs: pytest.LogCaptureFixture
) -> None:
    settings = make(client_secret=CLIENT_SECRET)
    for text in (repr(settings), str(settings), repr(settings.client_secret)):
        assert CLIENT_SECRET not in text
    cognito.answer(400, {"__type": "NotAuthorizedException", "message": QUOTING})
    cognito.answer(400, {"__type": "InvalidParameterException", "message": CLIENT_SECRET})
    async with cognito.client(settings) as client:
        assert CLIENT_SECRET not in repr(client.settings)
        with pytest.raises(NotAuthorizedError) as refused:
            await client.sign_in(USERNAME, PASSWORD)
        with pytest.raises(InvalidParameterError) as revoked:
            await client.revoke_token(REFRESH_TOKEN)
    with pytest.raises(ConfigurationError) as misconfigured:
        CognitoAuthClient(settings, client_id="notlisted")
    for error in (refused.value, revoked.value, misconfigured.value):
        assert_nothing_sensitive(str(error))
        assert_nothing_sensitive(repr(error))
    assert_nothing_sensitive(library_logs.text)


# -- errors ---------------------------------------------------------------------------------


@pytest.mark.parametrize("op", OPERATIONS)
async def test_a_refusal_logs_only_the_operation_and_code(
    op: Op, cognito: FakeCognito, library_logs: pytest.LogCaptureFixture
) -> None:
    cognito.answer(400, {"__type": "NotAuthorizedException", "message": QUOTING})
    async with cognito.client(make(client_secret=CLIENT_SECRET)) as client:
        with pytest.raises(NotAuthorizedError) as info:
            await (REFRESH_AS if op is OPS["refresh"] else op).invoke(client)
    assert info.value.code == "NotAuthorizedException"
    assert info.value.message == QUOTING
    assert_nothing_sensitive(str(info.value))
    assert op.operation in library_logs.text
    assert "NotAuthorizedException" in library_logs.text
    assert_nothing_sensitive(library_logs.text)


@pytest.mark.parametrize("op", OPERATIONS)
@pytest.mark.parametrize(
    "failure",
    [
        pytest.param(httpx.ConnectError("refused"), id="connect-error"),
        pytest.param(httpx.ReadTimeout("slow"), id="read-timeout"),
        pytest.param(503, id="503-html"),
    ],
)
async def test_nothing_is_retried(
    op: Op, failure: int | Exception, cognito: FakeCognito, library_logs: pytest.LogCaptureFixture
) -> None:
    if isinstance(failure, int):
        cognito.answer(failure, content=b"<html>busy</html>", headers={"Content-Type": "text/html"})
    else:
        cognito.replies.append(failure)
    cognito.answer(200, op.reply)
    async with cognito.client() as client:
        with pytest.raises(CognitoServiceError) as info:
            await op.invoke(client)
    assert len(cognito.requests) == 1
    if isinstance(failure, Exception):
        assert type(info.value) is CognitoUnreachableError
        assert info.value.__cause__ is failure
    else:
        assert type(info.value) is CognitoServiceError
    assert op.operation in library_logs.text
    assert_nothing_sensitive(library_logs.text)


# -- lifecycle ------------------------------------------------------------------------------


async def test_async_with_closes_the_owned_client(cognito: FakeCognito) -> None:
    transport = cognito.transport()
    client = CognitoAuthClient(make(), transport=transport)
    await client.aclose()  # before any request: nothing to close
    assert transport.closed == 0
    async with client:
        await client.global_sign_out(ACCESS_TOKEN)
        assert transport.closed == 0
    assert transport.closed == 1
    await client.aclose()  # twice is fine
    assert transport.closed == 1


async def test_one_owned_http_client_per_event_loop(
    cognito: FakeCognito, created: list[httpx.AsyncClient]
) -> None:
    async with cognito.client() as client:
        for _ in range(3):
            await client.global_sign_out(ACCESS_TOKEN)
    assert len(cognito.requests) == 3
    assert len(created) == 1  # pooled connections are reused within a loop
    assert all(http.is_closed for http in created)  # and none is left open


def test_the_client_works_from_two_event_loops(
    cognito: FakeCognito, created: list[httpx.AsyncClient]
) -> None:
    client = cognito.client()

    async def sign_out() -> None:
        await client.global_sign_out(ACCESS_TOKEN)

    anyio.run(sign_out)
    asyncio.run(sign_out())
    assert len(cognito.requests) == 2
    # A pool from the first, now closed, loop is not reused in the second.
    assert len(created) == 2
    assert created[0] is not created[1]
    asyncio.run(client.aclose())


async def test_an_injected_http_client_is_used_and_left_open(cognito: FakeCognito) -> None:
    cognito.answer(200, {})
    cognito.answer(200, {})
    async with httpx.AsyncClient(transport=cognito.transport()) as http:
        async with CognitoAuthClient(make(), http_client=http) as client:
            await client.global_sign_out(ACCESS_TOKEN)
        assert not http.is_closed
        await client.aclose()
        assert not http.is_closed
        await client.global_sign_out(ACCESS_TOKEN)  # still usable: the client is the caller's
    assert len(cognito.requests) == 2


async def test_an_injected_client_does_not_follow_redirects(cognito: FakeCognito) -> None:
    # A 307 would replay the password to the Location; one POST per operation, always.
    cognito.answer(307, content=b"", headers={"Location": "https://attacker.test/collect"})
    cognito.answer(200, TOKENS)
    async with httpx.AsyncClient(transport=cognito.transport(), follow_redirects=True) as http:
        client = CognitoAuthClient(make(), http_client=http)
        with pytest.raises(CognitoServiceError):
            await client.sign_in(USERNAME, PASSWORD)
    assert [str(request.url) for request in cognito.requests] == [ENDPOINT]


async def test_an_injected_client_closed_by_its_owner_is_a_service_error(
    cognito: FakeCognito, library_logs: pytest.LogCaptureFixture
) -> None:
    http = httpx.AsyncClient(transport=cognito.transport())
    await http.aclose()
    client = CognitoAuthClient(make(), http_client=http)
    with pytest.raises(CognitoServiceError) as info:
        await client.sign_in(USERNAME, PASSWORD)
    assert type(info.value) is CognitoServiceError
    assert isinstance(info.value.__cause__, RuntimeError)
    assert cognito.requests == []
    assert_nothing_sensitive(library_logs.text)


@pytest.mark.parametrize("injected", [False, True], ids=["owned", "injected"])
async def test_a_slow_reply_exceeds_http_timeout(injected: bool, cognito: FakeCognito) -> None:
    cognito.replies = [0.5]
    async with httpx.AsyncClient(transport=cognito.transport(), timeout=30) as http:
        options: dict[str, Any] = {"http_client": http} if injected else {}
        async with cognito.client(make(http_timeout=0.1), **options) as client:
            with pytest.raises(CognitoUnreachableError) as info:
                await client.sign_in(USERNAME, PASSWORD)
    assert isinstance(info.value.__cause__, TimeoutError)
    assert len(cognito.requests) == 1


# -- configuration --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("settings", "options", "match"),
    [
        pytest.param(None, {"client_id": "notlisted"}, "client_ids", id="client-id-unlisted"),
        pytest.param(None, {"client_id": ""}, "client_ids", id="client-id-empty"),
        pytest.param(None, {"client_id": CLIENT_ID.upper()}, "client_ids", id="client-id-case"),
        pytest.param(None, {"transport": "both"}, "http_client or transport", id="both"),
        pytest.param({"user_pool_id": POOL_ID}, {}, "CognitoSettings", id="dict-settings"),
        pytest.param("settings", {}, "CognitoSettings", id="str-settings"),
    ],
)
def test_construction_refused(settings: Any, options: dict[str, Any], match: str) -> None:
    if options.get("transport") == "both":
        transport = httpx.MockTransport(FakeCognito().handle)
        options = {"transport": transport, "http_client": httpx.AsyncClient(transport=transport)}
    with pytest.raises(ConfigurationError, match=match):
        CognitoAuthClient(make() if settings is None else settings, **options)


async def test_a_second_listed_client_id_is_sent(cognito: FakeCognito) -> None:
    cognito.answer(200, TOKENS)
    async with cognito.client(client_id=OTHER_CLIENT) as client:
        assert client.client_id == OTHER_CLIENT
        await client.sign_in(USERNAME, PASSWORD)
    assert cognito.body()["ClientId"] == OTHER_CLIENT
    assert cognito.client().client_id == CLIENT_ID  # the default is the first


def test_a_client_secret_is_only_for_the_first_client_id() -> None:
    # The secret belongs to the first app client; a hash for another could never match.
    settings = make(client_secret="s3cret-of-the-first-client")
    with pytest.raises(ConfigurationError, match="first of client_ids"):
        CognitoAuthClient(settings, client_id=OTHER_CLIENT)
    assert CognitoAuthClient(settings, client_id=CLIENT_ID).client_id == CLIENT_ID


NO_REGION = {"user_pool_id": "local_abc", "issuers": ["http://127.0.0.1:9229/local_abc"],
             "jwks_url": "http://127.0.0.1:9229/local_abc/.well-known/jwks.json"}  # fmt: skip


def test_a_pool_id_without_a_region_needs_an_endpoint() -> None:
    with pytest.raises(ConfigurationError, match="idp_endpoint"):
        CognitoAuthClient(make(**NO_REGION))
    derived = CognitoAuthClient(make(**NO_REGION, region="eu-central-1"))
    assert derived.endpoint == "https://cognito-idp.eu-central-1.amazonaws.com/"
    explicit = CognitoAuthClient(make(**NO_REGION, idp_endpoint="http://127.0.0.1:9229/"))
    assert explicit.endpoint == "http://127.0.0.1:9229/"


@pytest.mark.parametrize(
    "endpoint", ["http://127.0.0.1:9229/", "https://cognito.example.test/api/v1/", "http://[::1]/"]
)
async def test_idp_endpoint_override_is_the_url(endpoint: str, cognito: FakeCognito) -> None:
    cognito.answer(200, {})
    async with cognito.client(make(idp_endpoint=endpoint)) as client:
        await client.global_sign_out(ACCESS_TOKEN)
    assert str(cognito.requests[0].url) == endpoint


async def test_the_default_endpoint_and_http_client(
    settings: CognitoSettings, respx_mock: respx.MockRouter
) -> None:
    # No transport: the library's own httpx client, intercepted by respx.
    route = respx_mock.post(ENDPOINT).mock(return_value=httpx.Response(200, json=TOKENS))
    async with CognitoAuthClient(settings) as client:
        assert client.endpoint == ENDPOINT  # eu-west-1_LocalPool1
        result = await client.sign_in(USERNAME, PASSWORD)
    assert isinstance(result, AuthTokens)
    assert route.call_count == 1
    request = route.calls.last.request
    assert request.headers["X-Amz-Target"] == TARGET + "InitiateAuth"
    assert json.loads(request.content)["ClientId"] == settings.client_ids[0]


async def test_settings_from_keyword_fields(cognito: FakeCognito) -> None:
    client = CognitoAuthClient(
        user_pool_id=POOL_ID,
        client_ids=[CLIENT_ID],
        client_secret=CLIENT_SECRET,
        transport=cognito.transport(),
    )
    assert client.settings == make(client_ids=[CLIENT_ID], client_secret=CLIENT_SECRET)
    overridden = CognitoAuthClient(make(client_secret=CLIENT_SECRET), http_timeout=1.5)
    assert overridden.settings.http_timeout == 1.5
    assert overridden.secret_hash(USERNAME) == expected_hash(USERNAME)
    assert cognito.requests == []  # construction sends nothing
