"""`CognitoAuthClient` and `cognito_api.call`: each operation's request and SECRET_HASH, what
each reply means, every failure, and the HTTP client's lifecycle.

Cognito is tests/fake_cognito.py's fake; one test uses a real socket on 127.0.0.1 (with the
client's own transport). Passwords, codes, tokens and usernames are distinctive strings that
must never reach an error or a log.
"""

import asyncio
import copy
import gzip
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import anyio
import anyio.abc
import httpx2
import pytest

import fastapi_cognito_jwt._exceptions as errors
from fastapi_cognito_jwt import CognitoAuthClient, CognitoSettings
from fastapi_cognito_jwt._auth_flows import client as client_module, cognito_api, results
from tests import fake_cognito as cognito, helpers
from tests.fake_cognito import ACCESS, NEW_PASSWORD, PASSWORD, REFRESH, SESSION, SUB, USERNAME

pytestmark = pytest.mark.anyio
Fake = cognito.FakeCognito
Logs = pytest.LogCaptureFixture
ServiceError, Unreachable = errors.CognitoServiceError, errors.CognitoUnreachableError

POOL_ID, CLIENT_ID, OTHER_CLIENT = "eu-west-1_AbC123", "3n4b5urk1ft4fl3mg5e62d9ado", "7g8h9ipub"
ENDPOINT = "https://cognito-idp.eu-west-1.amazonaws.com/"
CODE, SECRET, QUOTING = cognito.CODE, cognito.SECRET, cognito.QUOTING
SIGNING_HEADERS = {"authorization", "x-amz-date", "x-amz-security-token", "x-amz-content-sha256"}
SENSITIVE = (USERNAME, SUB, PASSWORD, NEW_PASSWORD, CODE, ACCESS, cognito.ID, REFRESH, SESSION,
             SECRET, QUOTING, cognito.secret_hash(USERNAME, CLIENT_ID))  # fmt: skip


def make(**fields: Any) -> CognitoSettings:
    # The replies here are scripted for USER_PASSWORD_AUTH; SRP has tests/test_auth_srp.py.
    return CognitoSettings(**{"user_pool_id": POOL_ID, "client_ids": [CLIENT_ID, OTHER_CLIENT],
                              "sign_in_flow": "USER_PASSWORD_AUTH"} | fields)  # fmt: skip


def assert_nothing_sensitive(text: str) -> None:
    for needle in SENSITIVE:
        assert needle not in text, f"{needle!r} leaked"


@pytest.fixture
def fake() -> Fake:
    return cognito.FakeCognito()


def client_of(fake: Fake, settings: CognitoSettings | None = None) -> CognitoAuthClient:
    return CognitoAuthClient(settings or make(), transport=fake.transport())


# -- every operation: its request, its result, its refusal ----------------------------------


@dataclass(frozen=True)
class Op:
    operation: str
    invoke: Callable[[CognitoAuthClient], Awaitable[object]]
    body: dict[str, Any]
    reply: dict[str, Any] = field(default_factory=dict)
    result: object = None
    hash_at: str = ""  # where SECRET_HASH goes: "SecretHash", or the parameters holding it


CHALLENGE = results.AuthChallenge(name="NEW_PASSWORD_REQUIRED", session=SESSION, username=USERNAME)
DELIVERED = results.CodeDelivery(destination="a***@e***", delivery_medium="EMAIL",
                                 attribute_name="email")  # fmt: skip
SIGNED_IN = results.AuthTokens(access_token=ACCESS, id_token=cognito.ID, refresh_token=REFRESH,
                               expires_in=3600, token_type="Bearer")  # fmt: skip
USER_REPLY = {"Username": SUB, "MFAOptions": [], "PreferredMfaSetting": "SOFTWARE_TOKEN_MFA",
              "UserAttributes": [{"Name": "sub", "Value": SUB}, {"Name": "email", "Value": "e"}],
              "UserMFASettingList": ["SOFTWARE_TOKEN_MFA"]}  # fmt: skip
USER = results.CognitoUser(username=SUB, attributes={"sub": SUB, "email": "e"},
                           preferred_mfa="SOFTWARE_TOKEN_MFA",
                           mfa_methods=("SOFTWARE_TOKEN_MFA",))  # fmt: skip
NAMED = {"ClientId": CLIENT_ID, "Username": USERNAME}
SENT = {"CodeDeliveryDetails": cognito.DELIVERY}
PARAMETERS = {"USERNAME": USERNAME, "PASSWORD": PASSWORD}
OPS: dict[str, Op] = {
    "sign_up": Op(
        "SignUp", lambda c: c.sign_up(USERNAME, PASSWORD, {"name": "Zoë 日本", "custom:team": "b"}),
        {**NAMED, "Password": PASSWORD, "UserAttributes": [
            {"Name": "name", "Value": "Zoë 日本"}, {"Name": "custom:team", "Value": "b"}]},
        cognito.REPLIES["SignUp"], results.SignUpResult(user_sub=SUB, user_confirmed=False,
                                                        code_delivery=DELIVERED), "SecretHash"),
    "sign_up_bare": Op(
        "SignUp", lambda c: c.sign_up(USERNAME, PASSWORD),
        {**NAMED, "Password": PASSWORD, "UserAttributes": []}, {"UserConfirmed": True,
         "UserSub": SUB}, results.SignUpResult(user_sub=SUB, user_confirmed=True), "SecretHash"),
    "confirm_sign_up": Op("ConfirmSignUp", lambda c: c.confirm_sign_up(USERNAME, CODE),
                          {**NAMED, "ConfirmationCode": CODE}, hash_at="SecretHash"),
    "resend_confirmation_code": Op("ResendConfirmationCode",
                                   lambda c: c.resend_confirmation_code(USERNAME), NAMED, SENT,
                                   DELIVERED, "SecretHash"),
    "sign_in": Op("InitiateAuth", lambda c: c.sign_in(USERNAME, PASSWORD),
                  {"ClientId": CLIENT_ID, "AuthFlow": "USER_PASSWORD_AUTH",
                   "AuthParameters": PARAMETERS}, cognito.REPLIES["InitiateAuth"], SIGNED_IN,
                  "AuthParameters"),
    "respond_to_challenge": Op(
        "RespondToAuthChallenge",
        lambda c: c.respond_to_challenge(CHALLENGE, {"NEW_PASSWORD": NEW_PASSWORD}),
        {"ClientId": CLIENT_ID, "ChallengeName": "NEW_PASSWORD_REQUIRED", "Session": SESSION,
         "ChallengeResponses": {"NEW_PASSWORD": NEW_PASSWORD, "USERNAME": USERNAME}},
        {"AuthenticationResult": cognito.TOKENS}, SIGNED_IN, "ChallengeResponses"),
    # A refresh names the user only with a secret (its SECRET_HASH is over the username).
    "refresh": Op("InitiateAuth", lambda c: c.refresh(REFRESH, username=SUB),
                  {"ClientId": CLIENT_ID, "AuthFlow": "REFRESH_TOKEN_AUTH",
                   "AuthParameters": {"REFRESH_TOKEN": REFRESH}},
                  {"AuthenticationResult": {"AccessToken": ACCESS, "ExpiresIn": 300}},
                  results.AuthTokens(access_token=ACCESS, expires_in=300), "AuthParameters"),
    "forgot_password": Op("ForgotPassword", lambda c: c.forgot_password(USERNAME), NAMED,
                          SENT, DELIVERED, "SecretHash"),
    "confirm_forgot_password": Op(
        "ConfirmForgotPassword", lambda c: c.confirm_forgot_password(USERNAME, CODE, NEW_PASSWORD),
        {**NAMED, "ConfirmationCode": CODE, "Password": NEW_PASSWORD}, hash_at="SecretHash"),
    # With the access token, no ClientId, no hash: the token says it all.
    "change_password": Op(
        "ChangePassword", lambda c: c.change_password(ACCESS, PASSWORD, NEW_PASSWORD),
        {"AccessToken": ACCESS, "PreviousPassword": PASSWORD, "ProposedPassword": NEW_PASSWORD}),
    "global_sign_out": Op("GlobalSignOut", lambda c: c.global_sign_out(ACCESS),
                          {"AccessToken": ACCESS}),
    "revoke_token": Op("RevokeToken", lambda c: c.revoke_token(REFRESH),
                       {"Token": REFRESH, "ClientId": CLIENT_ID}),
    "get_user": Op("GetUser", lambda c: c.get_user(ACCESS), {"AccessToken": ACCESS},
                   USER_REPLY, USER),
    "get_tokens_from_refresh_token": Op(
        "GetTokensFromRefreshToken", lambda c: c.get_tokens_from_refresh_token(REFRESH),
        {"RefreshToken": REFRESH, "ClientId": CLIENT_ID}, cognito.REPLIES["InitiateAuth"],
        SIGNED_IN),
    "update_user_attributes": Op(
        "UpdateUserAttributes", lambda c: c.update_user_attributes(ACCESS, {"email": "e@x.io"}),
        {"AccessToken": ACCESS, "UserAttributes": [{"Name": "email", "Value": "e@x.io"}]},
        {"CodeDeliveryDetailsList": [cognito.DELIVERY]}, (DELIVERED,)),
    "delete_user_attributes": Op(
        "DeleteUserAttributes", lambda c: c.delete_user_attributes(ACCESS, ["locale"]),
        {"AccessToken": ACCESS, "UserAttributeNames": ["locale"]}),
    "delete_user": Op("DeleteUser", lambda c: c.delete_user(ACCESS), {"AccessToken": ACCESS}),
    "request_attribute_verification": Op(
        "GetUserAttributeVerificationCode",
        lambda c: c.request_attribute_verification(ACCESS, "email"),
        {"AccessToken": ACCESS, "AttributeName": "email"}, SENT, DELIVERED),
    "verify_attribute": Op(
        "VerifyUserAttribute", lambda c: c.verify_attribute(ACCESS, "email", CODE),
        {"AccessToken": ACCESS, "AttributeName": "email", "Code": CODE}),
}  # fmt: skip


def hashed(username: str) -> str:
    return cognito.secret_hash(username, CLIENT_ID)


def confidential(op: Op) -> dict[str, Any]:
    """What `op` sends with a client secret: SECRET_HASH in its place (RevokeToken: the secret)."""
    body = copy.deepcopy(op.body)
    if op.hash_at == "SecretHash":
        body["SecretHash"] = hashed(USERNAME)
    elif op.hash_at:
        parameters = body[op.hash_at]
        parameters.setdefault("USERNAME", SUB)  # the refresh names the user
        parameters["SECRET_HASH"] = hashed(parameters["USERNAME"])
    elif op.operation in ("RevokeToken", "GetTokensFromRefreshToken"):
        body["ClientSecret"] = SECRET
    return body


@pytest.mark.parametrize("secret", [None, SECRET], ids=["public-client", "secret"])
@pytest.mark.parametrize("op", [pytest.param(op, id=name) for name, op in OPS.items()])
async def test_each_operation(op: Op, secret: str | None, fake: Fake, library_logs: Logs) -> None:
    """Its request (SECRET_HASH in its place), its result, and a refusal logged by code only."""
    fake.script = [cognito.ok(op.reply), cognito.error("NotAuthorizedException")]
    async with client_of(fake, make(client_secret=secret)) as client:
        assert await op.invoke(client) == op.result
        with pytest.raises(errors.NotAuthorizedError) as refused:
            await op.invoke(client)
    request = fake.requests[0]
    assert (request.method, str(request.url)) == ("POST", ENDPOINT)
    assert request.headers["Content-Type"] == "application/x-amz-json-1.1"
    assert request.headers["X-Amz-Target"] == cognito.TARGET + op.operation
    assert request.headers["Accept-Encoding"] == "identity"
    assert int(request.headers["Content-Length"]) == len(request.content)
    assert not SIGNING_HEADERS & set(request.headers), "user-pool calls are unsigned"
    body = confidential(op) if secret else op.body
    assert fake.calls == [(op.operation, body)] * 2  # one request each: nothing is retried
    assert (refused.value.code, refused.value.message) == ("NotAuthorizedException", QUOTING)
    assert_nothing_sensitive(str(refused.value))
    (record,) = library_logs.records  # success logs nothing; a refusal, operation and code
    assert record.levelno == logging.INFO
    assert record.getMessage() == f"Cognito {op.operation} refused: NotAuthorizedException"


CHALLENGES = [
    pytest.param("NEW_PASSWORD_REQUIRED", "NEW_PASSWORD", NEW_PASSWORD,
                 {"USER_ID_FOR_SRP": SUB, "requiredAttributes": "[]", "userAttributes": "{}"},
                 id="new-password"),
    pytest.param("SMS_MFA", "SMS_MFA_CODE", CODE, {"CODE_DELIVERY_DELIVERY_MEDIUM": "SMS",
                                                   "CODE_DELIVERY_DESTINATION": "+****0123"},
                 id="sms-mfa"),
    pytest.param("SOFTWARE_TOKEN_MFA", "SOFTWARE_TOKEN_MFA_CODE", CODE,
                 {"FRIENDLY_DEVICE_NAME": "phone", "USER_ID_FOR_SRP": ""}, id="totp"),
]  # fmt: skip


@pytest.mark.parametrize(("name", "key", "answer", "parameters"), CHALLENGES)
async def test_challenges_are_answered_as_the_user_cognito_names(
    name: str, key: str, answer: str, parameters: dict[str, str], fake: Fake
) -> None:
    # Behind an alias (an email), USER_ID_FOR_SRP names the real username: the answers and
    # their SECRET_HASH are for that user; without one (or an empty one), the sign-in's. An
    # answer may lead to another challenge, for the same user.
    user = parameters.get("USER_ID_FOR_SRP") or USERNAME
    first_reply = {"ChallengeName": name, "Session": SESSION, "ChallengeParameters": parameters}
    fake.script = [cognito.ok(first_reply), cognito.ok({"ChallengeName": "MFA", "Session": "2nd"}),
                   cognito.ok({"AuthenticationResult": cognito.TOKENS})]  # fmt: skip
    async with client_of(fake, make(client_secret=SECRET)) as client:
        first = await client.sign_in(USERNAME, PASSWORD)
        assert first == results.AuthChallenge(name=name, session=SESSION, parameters=parameters,
                                              username=user)  # fmt: skip
        assert isinstance(first, results.AuthChallenge)
        second = await client.respond_to_challenge(first, {key: answer})
        assert second == results.AuthChallenge(name="MFA", session="2nd", username=user)
        assert isinstance(second, results.AuthChallenge)
        assert await client.respond_to_challenge(second, {"ANSWER": "x"}) == SIGNED_IN
    assert fake.calls[0][1]["AuthParameters"]["SECRET_HASH"] == hashed(USERNAME)
    answers = [(name, SESSION, {key: answer}), ("MFA", "2nd", {"ANSWER": "x"})]
    assert fake.calls[1:] == [
        ("RespondToAuthChallenge", {"ClientId": CLIENT_ID, "ChallengeName": challenge,
         "Session": session, "ChallengeResponses": {**responses, "USERNAME": user,
                                                    "SECRET_HASH": hashed(user)}})
        for challenge, session, responses in answers]  # fmt: skip


NO_TOKENS = {
    "no-keys": {}, "only-parameters": {"ChallengeParameters": {}},
    "result-null": {"AuthenticationResult": None}, "result-string": {"AuthenticationResult": "a"},
    "result-list": {"AuthenticationResult": [ACCESS]},
    "no-access-token": {"AuthenticationResult": {"ExpiresIn": 3600}},
    "empty-access-token": {"AuthenticationResult": {"AccessToken": "", "ExpiresIn": 1}},
    "number-access-token": {"AuthenticationResult": {"AccessToken": 5, "ExpiresIn": 1}},
    "no-expiry": {"AuthenticationResult": {"AccessToken": "a"}},
    "negative-expiry": {"AuthenticationResult": {"AccessToken": "a", "ExpiresIn": -1}},
    "text-expiry": {"AuthenticationResult": {"AccessToken": "a", "ExpiresIn": "soon"}},
    "challenge-without-session": {"ChallengeName": "SMS_MFA"},
    "challenge-empty-session": {"ChallengeName": "SMS_MFA", "Session": ""},
    "challenge-empty-name": {"ChallengeName": "", "Session": SESSION},
    "challenge-parameters-list": {"ChallengeName": "X", "Session": "s", "ChallengeParameters": [1]},
    "challenge-parameter-number": {"ChallengeName": "X", "Session": "s",
                                   "ChallengeParameters": {"a": 1}},
}  # fmt: skip
BAD_ATTRIBUTES = [[{"Value": SUB}], [{"Name": None, "Value": "x"}], [{"Name": 5, "Value": "x"}],
                  [["email", "x"]], ["email=x"], [None], [{"Name": "e", "Value": None}],
                  [{"Name": "e", "Value": 5}], "x"]  # fmt: skip
PROFILE = {"Username": SUB, "UserAttributes": []}
# What a reply becomes: a result, or (a class) the error it is.
SHAPES = [
    *[pytest.param(name, document, ServiceError, id=f"{name}-{case}")
      for case, document in NO_TOKENS.items()
      for name in ("sign_in", "respond_to_challenge", "refresh")],
    pytest.param("refresh", {"ChallengeName": "SMS_MFA", "Session": SESSION}, ServiceError,
                 id="refresh-answered-with-a-challenge"),
    *[pytest.param("sign_up", document, ServiceError, id=f"sign-up-{i}") for i, document in
      enumerate([{"UserConfirmed": False}, {"UserSub": "", "UserConfirmed": False},
                 {"UserSub": SUB}, {**cognito.REPLIES["SignUp"], "CodeDeliveryDetails": "x"}])],
    *[pytest.param("get_user", document, ServiceError, id=f"user-{i}") for i, document in
      enumerate([{"UserAttributes": []}, {**PROFILE, "Username": ""}, {"Username": SUB},
                 *[{**PROFILE, "UserAttributes": [{"Name": "a"}, *attributes]
                    if isinstance(attributes, list) else attributes}
                   for attributes in BAD_ATTRIBUTES]])],
    *[pytest.param(name, document, ServiceError, id=f"{name}-{i}") for i, (name, document) in
      enumerate([("forgot_password", {"CodeDeliveryDetails": "EMAIL"}),
                 ("forgot_password", {"CodeDeliveryDetails": [cognito.DELIVERY]}),
                 ("request_attribute_verification", {"CodeDeliveryDetails": {"Destination": 5}})])],
    *[pytest.param(name, document, None, id=f"{name}-no-delivery")
      for document in ({}, {"CodeDeliveryDetails": None})
      for name in ("resend_confirmation_code", "forgot_password",
                   "request_attribute_verification")],
    pytest.param("forgot_password", {"CodeDeliveryDetails": {}}, results.CodeDelivery(), id="d"),
    pytest.param("get_user", PROFILE, results.CognitoUser(username=SUB, attributes={}), id="u"),
    pytest.param("get_user", {**PROFILE, "UserAttributes": [{"Name": "e"},
                                                            {"Name": "x", "Value": ""}]},
                 results.CognitoUser(username=SUB, attributes={"e": "", "x": ""}), id="no-value"),
    pytest.param("get_user", {**PROFILE, "UserAttributes": {"e": "v"}},
                 results.CognitoUser(username=SUB, attributes={"e": "v"}), id="mapping"),
    pytest.param("get_user", {**PROFILE, "UserAttributes": [{"Name": "e", "Value": "old"},
                                                            {"Name": "e", "Value": "new"}]},
                 results.CognitoUser(username=SUB, attributes={"e": "new"}), id="later-wins"),
]  # fmt: skip


@pytest.mark.parametrize(("name", "document", "expected"), SHAPES)
async def test_what_each_reply_becomes(name: str, document: Any, expected: Any, fake: Fake) -> None:
    fake.script = [cognito.ok(document)]
    async with client_of(fake) as client:
        if expected is not ServiceError:
            assert await OPS[name].invoke(client) == expected
            return
        with pytest.raises(ServiceError) as info:
            await OPS[name].invoke(client)
    assert type(info.value) is ServiceError
    assert info.value.__cause__ is None  # pydantic's error, which quotes the input, is dropped
    assert_nothing_sensitive(str(info.value))


async def test_the_secret_is_never_shown_and_a_refresh_with_it_needs_the_username(
    fake: Fake, library_logs: Logs
) -> None:
    settings = make(client_secret=SECRET)
    fake.script = [cognito.error("NotAuthorizedException"),
                   cognito.error("InvalidParameterException", SECRET)]  # fmt: skip
    raised: list[BaseException] = []
    async with client_of(fake, settings) as client:
        # Base64(HMAC-SHA256(secret, username + client_id)), worked out independently.
        assert (
            client.secret_hash("alice@example.com")
            == "W+NKtTKDGJDzQE4v2UbVjQrZ7Yv3d3FCH4M2cUPCuZU="
        )
        assert client.secret_hash("zoë") == "MRFZ/oL3j7V/AOjIN+duSF9uHdgzK+pM2s7RetS1vjk="
        for username in (None, ""):
            with pytest.raises(errors.ConfigurationError, match="username") as missing:
                await client.refresh(REFRESH, username=username)
            raised.append(missing.value)
        assert fake.requests == []
        with pytest.raises(errors.NotAuthorizedError) as refused:
            await client.sign_in(USERNAME, PASSWORD)
        with pytest.raises(errors.InvalidParameterError) as revoked:
            await client.revoke_token(REFRESH)
    with pytest.raises(errors.ConfigurationError) as misconfigured:
        CognitoAuthClient(settings, client_id="notlisted")
    shown = [repr(settings), str(settings), repr(client.settings), library_logs.text]
    shown += [text for exc in (*raised, refused.value, revoked.value, misconfigured.value)
              for text in (str(exc), repr(exc))]  # fmt: skip
    assert_nothing_sensitive("\n".join(shown))
    assert CognitoAuthClient(make()).secret_hash(USERNAME) is None


# -- lifecycle and configuration ------------------------------------------------------------


def test_one_owned_pool_per_event_loop(fake: Fake, monkeypatch: pytest.MonkeyPatch) -> None:
    created: list[httpx2.AsyncBaseTransport] = []

    def recording() -> httpx2.AsyncBaseTransport:
        created.append(fake.transport())
        return created[-1]

    monkeypatch.setattr(client_module, "PooledTransport", recording)
    client = CognitoAuthClient(make())

    async def sign_out(times: int) -> None:
        for _ in range(times):
            await client.global_sign_out(ACCESS)

    async def close() -> None:
        async with client:
            await sign_out(1)
        await client.aclose()  # twice is fine

    asyncio.run(client.aclose())  # before any request: nothing to close
    anyio.run(sign_out, 3)  # pooled connections are reused within a loop
    assert (len(created), fake.closed) == (1, 0)
    asyncio.run(close())  # a pool from a dead loop is not reused; `async with` closes it
    assert (len(fake.requests), len(created), fake.closed) == (4, 2, 1)


async def test_an_injected_http_client_is_used_and_left_open(fake: Fake) -> None:
    async with httpx2.AsyncClient(transport=fake.transport()) as http:
        async with CognitoAuthClient(make(), http_client=http) as client:
            await client.global_sign_out(ACCESS)
        await client.aclose()
        await client.global_sign_out(ACCESS)  # still usable: the client is the caller's
        assert (len(fake.requests), http.is_closed) == (2, False)
    with pytest.raises(ServiceError) as info:  # closed by its owner: it cannot send
        await client.sign_in(USERNAME, PASSWORD)
    assert (type(info.value), type(info.value.__cause__)) == (ServiceError, RuntimeError)
    assert len(fake.requests) == 2


@pytest.mark.parametrize("injected", [False, True], ids=["owned", "injected"])
async def test_http_timeout_bounds_the_wait(injected: bool, fake: Fake, library_logs: Logs) -> None:
    fake.delay = 0.5
    settings, started = make(http_timeout=0.1), time.monotonic()
    async with httpx2.AsyncClient(transport=fake.transport(), timeout=30) as http:
        own: Any = {"http_client": http} if injected else {"transport": fake.transport()}
        async with CognitoAuthClient(settings, **own) as client:
            with pytest.raises(Unreachable) as info:
                await client.sign_in(USERNAME, PASSWORD)
    assert time.monotonic() - started < 0.4
    assert (type(info.value.__cause__), len(fake.requests)) == (TimeoutError, 1)
    assert library_logs.messages == ["Cognito InitiateAuth: no answer within 0.1 s"]


@pytest.mark.parametrize("failure", ["refused", "cut-off", "hang-up"])
async def test_a_real_connection_that_fails_is_unreachable(failure: str) -> None:
    # A real socket on 127.0.0.1: the transport's own errors, not simulated ones.
    listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
    port = listener.extra(anyio.abc.SocketAttribute.local_port)  # noqa: S610

    async def serve(stream: anyio.abc.SocketStream) -> None:
        async with stream:
            await stream.receive()
            if failure == "cut-off":
                await stream.send(b'HTTP/1.1 200 OK\r\nContent-Length: 500\r\n\r\n{"UserSub":')

    client = CognitoAuthClient(make(idp_endpoint=f"http://127.0.0.1:{port}/"))
    async with listener, client, anyio.create_task_group() as tasks:
        if failure == "refused":
            await listener.aclose()
        else:
            tasks.start_soon(listener.serve, serve)
        with pytest.raises(Unreachable) as info:
            await client.sign_up(USERNAME, PASSWORD)
        tasks.cancel_scope.cancel()
    assert isinstance(info.value.__cause__, httpx2.TransportError)


NO_REGION = {"user_pool_id": "local_abc", "issuers": ["http://127.0.0.1:9229/local_abc"],
             "jwks_url": "http://127.0.0.1:9229/local_abc/.well-known/jwks.json"}  # fmt: skip
TRANSPORT = httpx2.MockTransport(cognito.FakeCognito().handle)


@pytest.mark.parametrize(
    ("settings", "options", "expected"),
    [
        pytest.param(make(), {}, (CLIENT_ID, ENDPOINT), id="defaults"),
        pytest.param(make(client_secret=SECRET), {"client_id": CLIENT_ID}, (CLIENT_ID, ENDPOINT),
                     id="secret-first-client"),
        pytest.param(make(), {"client_id": OTHER_CLIENT}, (OTHER_CLIENT, ENDPOINT), id="second"),
        pytest.param(make(**NO_REGION, region="eu-central-1"), {},
                     (CLIENT_ID, "https://cognito-idp.eu-central-1.amazonaws.com/"), id="region"),
        pytest.param(make(**NO_REGION, idp_endpoint="http://127.0.0.1:9229/"), {},
                     (CLIENT_ID, "http://127.0.0.1:9229/"), id="emulator"),
        pytest.param(make(idp_endpoint="https://cognito.example.test/api/v1/"), {},
                     (CLIENT_ID, "https://cognito.example.test/api/v1/"), id="path"),
        pytest.param(make(idp_endpoint="http://[::1]/"), {}, (CLIENT_ID, "http://[::1]/"), id="v6"),
        pytest.param(make(), {"client_id": "notlisted"}, "client_ids", id="client-id-unlisted"),
        pytest.param(make(), {"client_id": ""}, "client_ids", id="client-id-empty"),
        pytest.param(make(), {"client_id": CLIENT_ID.upper()}, "client_ids", id="client-id-case"),
        pytest.param(make(client_secret="s3cret"), {"client_id": OTHER_CLIENT},
                     "first of client_ids", id="secret-of-another-client"),
        pytest.param(make(), {"http_client": httpx2.AsyncClient(transport=TRANSPORT)},
                     "http_client or transport", id="both"),
        pytest.param(make(**NO_REGION), {}, "idp_endpoint", id="no-region-no-endpoint"),
        pytest.param({"user_pool_id": POOL_ID}, {}, "CognitoSettings", id="dict-settings"),
        pytest.param("settings", {}, "CognitoSettings", id="str-settings"),
    ],
)  # fmt: skip
async def test_client_id_and_endpoint(
    settings: Any, options: Any, expected: Any, fake: Fake
) -> None:
    if isinstance(expected, str):  # refused at construction
        with pytest.raises(errors.ConfigurationError, match=expected):
            CognitoAuthClient(settings, transport=TRANSPORT, **options)
        return
    async with CognitoAuthClient(settings, transport=fake.transport(), **options) as client:
        assert fake.requests == []  # construction sends nothing
        await client.sign_in(USERNAME, PASSWORD)
    assert (client.client_id, client.endpoint) == expected
    assert (fake.calls[0][1]["ClientId"], str(fake.requests[0].url)) == expected


# -- cognito_api.call: what a reply means, and every failure ---------------------------------

MAX = cognito_api.MAX_REPLY_BYTES
PAD = b"x" * (MAX - 11)  # {"pad": "<PAD>"} is exactly the size limit
HTML = b"<html><head><title>502 Bad Gateway</title></head><body>cloudfront</body></html>"
JSON, HTML_TYPE = cognito.JSON_TYPE, {"Content-Type": "text/html"}
GZIP = {**JSON, "Content-Encoding": "gzip"}
NOT_AUTHORIZED = "NotAuthorizedException"
FULL_TYPE = f"com.amazonaws.cognito.identity.idp.model#{NOT_AUTHORIZED}"
HEADER_TYPE = f"{NOT_AUTHORIZED}:http://internal.amazon.com/coral/com.amazonaws.cognito/"


async def post(fake: Fake, answer: cognito.Reply, timeout: float = 5.0) -> Any:
    """`call` through an injected client that would follow redirects, answered by `answer`."""
    fake.always = answer
    async with httpx2.AsyncClient(transport=fake.transport(), follow_redirects=True) as client:
        return await cognito_api.call(client, ENDPOINT, "InitiateAuth", PARAMETERS, timeout)


def refusal(document: dict[str, Any], headers: dict[str, str] | None = None) -> cognito.Reply:
    return lambda: cognito.reply(400, document, headers={**JSON, **(headers or {})})


def read(status: int, **content: Any) -> cognito.Reply:
    """A reply already read, as httpx2.Response(json=...) from a test double arrives."""
    return lambda: httpx2.Response(status, **content)


# A reply means its JSON object, NotAuthorizedError with a message, or ServiceError.
MEANINGS: dict[str, tuple[cognito.Reply, Any]] = {
    "empty": (cognito.raw(200, b"", JSON), {}), "whitespace": (cognito.raw(200, b" \r\n\t"), {}),
    "object": (cognito.raw(200, b'{"UserConfirmed": true}\n'), {"UserConfirmed": True}),
    **{encoding: (cognito.raw(200, b'{"ok": 1}', {"Content-Encoding": encoding}), {"ok": 1})
       for encoding in ("identity", "IDENTITY", "Identity")},
    "size-limit": (cognito.raw(200, b'{"pad": "%s"}' % PAD, JSON), {"pad": PAD.decode()}),
    "read-already": (read(200, json={"ok": 1}), {"ok": 1}),
    "read-already-refusal": (read(400, json={"__type": NOT_AUTHORIZED}), ""),
    "qualified-type": (refusal({"__type": FULL_TYPE, "message": QUOTING}), QUOTING),
    "header-type": (refusal({"message": QUOTING}, {"x-amzn-ErrorType": HEADER_TYPE}), QUOTING),
    "empty-type-then-header": (refusal({"__type": "", "message": QUOTING},
                                       {"X-Amzn-ErrorType": NOT_AUTHORIZED}), QUOTING),
    "code-key": (refusal({"code": NOT_AUTHORIZED, "message": QUOTING}), QUOTING),
    "capital-message": (refusal({"__type": NOT_AUTHORIZED, "Message": QUOTING}), QUOTING),
    "no-message": (refusal({"__type": NOT_AUTHORIZED}), ""),
    "number-message": (refusal({"__type": NOT_AUTHORIZED, "message": 42}), ""),
    "null-message": (refusal({"__type": NOT_AUTHORIZED, "message": None}), ""),
    "list-message": (refusal({"__type": NOT_AUTHORIZED, "Message": ["x"]}), ""),
    **{case: (cognito.raw(status, content, headers), ServiceError)
       for case, (status, content, headers) in {
        "500-html": (500, HTML, HTML_TYPE), "403-html-waf": (403, HTML, HTML_TYPE),
        "500-empty": (500, b"", JSON), "204-empty": (204, b"", JSON),
        "200-not-json": (200, b"OK", HTML_TYPE), "200-html": (200, HTML, HTML_TYPE),
        "200-json-array": (200, b"[1, 2]", JSON), "200-json-string": (200, b'"t"', JSON),
        "200-duplicate-keys": (200, b'{"a": 1, "a": 2}', JSON),  # strict JSON, tested on its own
        "200-invalid-utf8": (200, b'{"a": "\xff"}', JSON),
        "200-over-the-limit": (200, b'{"pad": "%sx"}' % PAD, JSON),
        "400-json-array": (400, b"[1]", JSON), "400-text": (400, b"Bad Request", HTML_TYPE),
        "400-type-markup": (400, b'{"__type": "<script>"}', JSON),
        "400-type-long": (400, b'{"__type": "A' + b"b" * 100 + b'"}', JSON),
        "400-type-digit": (400, b'{"__type": "1Exception"}', JSON),
        "400-type-space": (400, b'{"__type": "Not Authorized"}', JSON),
        "400-type-number": (400, b'{"__type": 5}', JSON),
        "400-type-list": (400, b'{"__type": ["x"]}', JSON),
        "400-no-code": (400, b'{"message": "no code"}', JSON),
        # Never followed, even by a client that would: a 307 would replay the password.
        **{f"{status}-redirect": (status, b'{"__type": "NotAuthorizedException"}',
                                  {**JSON, "Location": "https://attacker.test/steal"})
           for status in (301, 302, 303, 307, 308)},
        "200-gzip": (200, gzip.compress(b'{"ok": 1}'), GZIP),
        "400-gzip": (400, gzip.compress(b'{"__type": "NotAuthorizedException"}'), GZIP),
        "200-brotli": (200, b'{"ok": 1}', {"Content-Encoding": "br"})}.items()},
    "read-already-too-large": (read(200, content=b" " * (MAX + 1)), ServiceError),
}  # fmt: skip


@pytest.mark.parametrize("case", MEANINGS)
async def test_what_a_reply_means(case: str, fake: Fake, library_logs: Logs) -> None:
    answer, expected = MEANINGS[case]
    if isinstance(expected, dict):
        assert await post(fake, answer) == expected
        return
    with pytest.raises((errors.NotAuthorizedError, ServiceError)) as info:
        await post(fake, answer)
    assert [str(request.url) for request in fake.requests] == [ENDPOINT]  # nothing retried
    if isinstance(expected, str):
        assert isinstance(info.value, errors.NotAuthorizedError)
        assert (info.value.code, info.value.message) == (NOT_AUTHORIZED, expected)
        return
    assert type(info.value) is ServiceError
    assert "cloudfront" not in str(info.value)
    (record,) = library_logs.records
    assert record.levelno == logging.WARNING
    assert record.getMessage().startswith("Cognito InitiateAuth: ")
    helpers.assert_logs_hide(library_logs.records, *SENSITIVE, "cloudfront")


UNKNOWN_CODES = [("ResourceNotFoundException", 400), ("UnsupportedOperationException", 400),
                 ("A" + "b" * 99, 400), ("SomethingNew", 404)]  # fmt: skip


@pytest.mark.parametrize(
    ("code", "status", "kind"),
    [*[pytest.param(code, 400, kind, id=code) for code, kind in cognito_api._AUTH_ERRORS.items()],
     *[pytest.param(code, status, errors.CognitoAuthError, id=code[:20])
       for code, status in UNKNOWN_CODES]],
)  # fmt: skip
async def test_each_error_code(
    code: str, status: int, kind: Any, fake: Fake, library_logs: Logs
) -> None:
    with pytest.raises(errors.CognitoAuthError) as info:
        await post(fake, cognito.error(code, status=status))
    assert (type(info.value), info.value.code, info.value.message) == (kind, code, QUOTING)
    assert str(info.value) == f"Cognito refused the request: {code}"  # the code only
    assert library_logs.messages == [f"Cognito InitiateAuth refused: {code}"]
    made = cognito_api.auth_error(code)
    assert (type(made), made.code, made.message) == (kind, code, "")


@pytest.mark.parametrize(
    ("exc", "kind"),
    [*[pytest.param(exc, Unreachable, id=type(exc).__name__) for exc in (
        httpx2.ConnectTimeout("connect timed out"), httpx2.ReadTimeout("read timed out"),
        httpx2.WriteTimeout("write timed out"), httpx2.PoolTimeout("pool timed out"),
        httpx2.ConnectError("connection refused"), httpx2.ReadError("connection reset"),
        httpx2.RemoteProtocolError("server disconnected"), httpx2.WriteError("broken pipe"),
        httpx2.ProxyError("proxy said no"))],
     *[pytest.param(exc, ServiceError, id=type(exc).__name__) for exc in (
        httpx2.DecodingError("bad gzip"), httpx2.TooManyRedirects("loop"),
        httpx2.InvalidURL("bad host"), httpx2.StreamClosed(), UnicodeError("label too long"))]],
)  # fmt: skip
async def test_transport_failures(
    exc: Exception, kind: Any, fake: Fake, library_logs: Logs
) -> None:
    with pytest.raises(ServiceError) as info:
        await post(fake, cognito.fails(exc))
    assert (type(info.value), info.value.__cause__) == (kind, exc)
    assert "InitiateAuth" in str(info.value)
    assert len(fake.requests) == 1  # nothing is retried
    timeout = isinstance(exc, httpx2.TimeoutException)
    name = "no answer within 5.0 s" if timeout else type(exc).__name__
    assert library_logs.messages == [f"Cognito InitiateAuth: {name}"]


async def endless(sent: list[int]) -> AsyncIterator[bytes]:
    while sum(sent) < 100 * MAX:
        sent.append(64 * 1024)
        yield b" " * (64 * 1024)


async def broken(sent: list[int]) -> AsyncIterator[bytes]:
    yield b'{"AuthenticationResult": '
    raise httpx2.ReadError("connection reset by peer")


async def trickle(sent: list[int]) -> AsyncIterator[bytes]:
    for chunk in [b"{", *[b" "] * 40, b"}"]:
        await anyio.sleep(0.02)  # each chunk is quick; the whole exchange is not
        yield chunk


@pytest.mark.parametrize(
    ("stream", "kind", "cause", "match"),
    [(endless, ServiceError, type(None), "too large"),
     (broken, Unreachable, httpx2.ReadError, "unreachable"),
     (trickle, Unreachable, TimeoutError, "did not answer in time")],
)  # fmt: skip
async def test_streamed_replies_that_go_wrong(
    stream: Callable[[list[int]], AsyncIterator[bytes]], kind: Any, cause: Any, match: str,
    fake: Fake,
) -> None:  # fmt: skip
    sent: list[int] = []
    started = time.monotonic()
    with pytest.raises(ServiceError, match=match) as info:
        await post(fake, lambda: httpx2.Response(200, content=stream(sent)), timeout=0.15)
    assert (type(info.value), type(info.value.__cause__)) == (kind, cause)
    assert time.monotonic() - started < 0.5  # the deadline covers the whole exchange
    assert sum(sent) <= MAX + 64 * 1024  # an endless reply is not read to its end


async def test_the_callers_cancellation_is_not_turned_into_an_error(fake: Fake) -> None:
    fake.delay = 0.5
    with anyio.move_on_after(0.05) as scope:
        await post(fake, cognito.ok({}))
    assert scope.cancelled_caught


@pytest.mark.parametrize(
    ("required", "responses", "sent"),
    [
        ('["userAttributes.name"]', {"userAttributes.name": "Ada"}, True),
        ('["name"]', {"userAttributes.name": "Ada"}, True),
        ('["userAttributes.name"]', {"userAttributes.custom:role": "admin"}, False),
        ("[]", {"userAttributes.email_verified": "true"}, False),
        (None, {"userAttributes.locale": "fr"}, True),  # built by hand: nothing to compare with
    ],
)
async def test_a_challenge_answer_sets_only_the_attributes_it_asked_for(
    required: str | None, responses: dict[str, str], sent: bool, fake: Fake
) -> None:
    parameters = {} if required is None else {"requiredAttributes": required}
    challenge = CHALLENGE.model_copy(update={"parameters": parameters})
    async with client_of(fake) as client:
        if sent:
            answers = {"NEW_PASSWORD": NEW_PASSWORD, **responses}
            await client.respond_to_challenge(challenge, answers)
        else:
            with pytest.raises(errors.InvalidParameterError):
                await client.respond_to_challenge(challenge, responses)
    assert len(fake.requests) == int(sent)


async def test_a_challenge_whose_required_attributes_are_not_a_list_is_a_service_error(
    fake: Fake,
) -> None:
    challenge = CHALLENGE.model_copy(update={"parameters": {"requiredAttributes": "{"}})
    async with client_of(fake) as client:
        with pytest.raises(ServiceError):
            await client.respond_to_challenge(challenge, {"NEW_PASSWORD": NEW_PASSWORD})
    assert fake.requests == []


@pytest.mark.parametrize("secret", [None, SECRET])
async def test_with_rotation_refresh_gets_tokens_from_the_refresh_token(
    secret: str | None, fake: Fake
) -> None:
    # No username needed even with a secret: Cognito takes the secret itself.
    async with client_of(fake, make(refresh_token_rotation=True, client_secret=secret)) as client:
        assert await client.refresh(REFRESH) == SIGNED_IN  # with the new refresh token
    expected = {"RefreshToken": REFRESH, "ClientId": CLIENT_ID}
    assert fake.calls == [("GetTokensFromRefreshToken",
                           expected | ({"ClientSecret": SECRET} if secret else {}))]  # fmt: skip


@pytest.mark.parametrize(
    "reply", [{"CodeDeliveryDetailsList": "x"}, {"CodeDeliveryDetailsList": [5]},
              {"CodeDeliveryDetailsList": [{"Destination": 5}]}],
)  # fmt: skip
async def test_odd_attribute_update_replies_are_service_errors(
    reply: dict[str, Any], fake: Fake
) -> None:
    fake.always = cognito.ok(reply)
    async with client_of(fake) as client:
        with pytest.raises(ServiceError):
            await client.update_user_attributes(ACCESS, {"name": "n"})


async def test_a_refresh_answered_with_a_challenge_is_a_service_error(fake: Fake) -> None:
    fake.always = cognito.ok(cognito.CHALLENGE)
    async with client_of(fake) as client:
        with pytest.raises(ServiceError):
            await client.get_tokens_from_refresh_token(REFRESH)
