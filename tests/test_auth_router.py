"""`auth_router` and its parts: the request bodies, the typed results, the HTTP error mapping,
and each route against the fake Cognito of tests/fake_cognito.py.

Each failure's answer is tested once, at `http_errors.http_error`; the route tests check which
mapping each route applies. Bearer routes verify real tokens of the local pool (no network).
"""

# No `from __future__ import annotations`: FastAPI reads the custom sign-up model at runtime.

import ipaddress
import json
from collections.abc import Callable, Iterator
from functools import partial
from typing import Any

import anyio
import httpx2
import pytest
from fastapi import FastAPI, Request
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings as hypothesis_settings, strategies as st
from pydantic import BaseModel, EmailStr, Field, SecretStr, ValidationError

import fastapi_cognito_jwt._exceptions as errors
from fastapi_cognito_jwt import CognitoAuthClient, CognitoSettings, ConfigurationError, auth_router
from fastapi_cognito_jwt._auth_flows import abuse, bodies, results, router as router_module
from fastapi_cognito_jwt._auth_flows.cognito_api import auth_error
from fastapi_cognito_jwt._auth_flows.http_errors import INVALID_TOKEN, http_error
from fastapi_cognito_jwt.testing import LocalUserPool
from tests import fake_cognito as cognito, helpers
from tests.fake_cognito import CODE, NEW_PASSWORD, PASSWORD, REFRESH, SESSION, SUB, USERNAME

Fake = cognito.FakeCognito
Logs = pytest.LogCaptureFixture
INVALID_CODE = "Invalid verification code"
INCORRECT = "Incorrect username or password"
POLICY = "The password does not meet the password policy"
UNEXPECTED = "Unexpected answer from the authentication service"
POLICY_TEXT = "Password did not conform with policy: Password must have uppercase characters"

# -- the request bodies -----------------------------------------------------------------------
MISSING: Any = object()  # in a list of refused values: the field left out
SIGN_UP = {"username": "alice", "password": PASSWORD}
SIGN_IN = {"username": "alice", "password": "p"}
ANSWER = {"username": "alice", "challenge_name": "NEW_PASSWORD_REQUIRED", "session": "s" * 20,
          "responses": {"NEW_PASSWORD": PASSWORD}}  # fmt: skip
RESET = {"username": "alice", "code": "1", "new_password": "p" * 8}
CHANGE = {"previous_password": "p", "proposed_password": "p" * 8}
REFRESHING = {"refresh_token": "r"}
GOOD_NAMES = ["name", "given_name", "preferred_username", "zoneinfo", "custom:plan",
              "custom:a.b-c_d", "custom:tier2", "custom:" + "x" * 20, "a" * 32]  # fmt: skip
BAD_NAMES = ["", "Name", "given-name", "email address", "a" * 33, "custom:", "custom:" + "x" * 21,
             "custom:with space", "custom:a/b", "dev:custom:plan", "Custom:plan", "name\n",
             "custom:plan\n"]  # fmt: skip
FIFTY = {f"custom:a{i}": "v" for i in range(50)}
S = bodies.SignUpRequest
# (body, a valid example, field, values accepted, values refused); a refused value comes as
# (value, where the error is) when the error is inside the field.
FIELDS: list[tuple[type[BaseModel], dict[str, Any], str, list[Any], list[Any]]] = [
    (S, SIGN_UP, "username", ["a", "u" * 128, "ålice+tag@example.com"],
     ["", "u" * 129, "alice smith", "alice\t", "alice\n", "\u00a0alice", 5]),
    (S, SIGN_UP, "password", ["p" * 8, "p" * 256], ["p" * 7, "p" * 257, MISSING]),
    (S, SIGN_UP, "email", ["alice@example.com"],
     ["alice-at-example.com", "alice@localhost", "alice@@example.com"]),
    (S, SIGN_UP, "phone_number", ["+447700900123", "+1234567", "+123456789012345"],
     ["+123456", "+1234567890123456", "447700900123", "+047700900123", "+44 7700 900123",
      "+447700900123\n"]),
    (S, SIGN_UP, "attributes", [*[{n: "v"} for n in GOOD_NAMES], {"n": "v" * 2048}, FIFTY],
     [*[({n: "v"}, ("attributes", n, "[key]")) for n in BAD_NAMES], {**FIFTY, "name": "v"},
      ({"name": "v" * 2049}, ("attributes", "name")), ({"name": 5}, ("attributes", "name"))]),
    (S, SIGN_UP, "role", [], ["admin"]),
    (bodies.SignInRequest, SIGN_IN, "password", ["p" * 256], ["", "p" * 257, MISSING]),
    (bodies.SignInRequest, SIGN_IN, "username", [], ["al ice"]),
    (bodies.SignInRequest, SIGN_IN, "mfa", [], ["1"]),
    (bodies.UsernameRequest, {"username": "alice"}, "username", [], [""]),
    (bodies.UsernameRequest, {"username": "alice"}, "email", [], ["a@example.com"]),
    (bodies.ConfirmRequest, {"username": "alice", "code": "1"}, "code", ["c" * 64],
     ["c" * 65, "", "123 456", " 123456", "123456\n", 123456, MISSING]),
    (bodies.ChallengeAnswer, ANSWER, "challenge_name", ["SMS_MFA"],
     ["new_password", "", "A" * 65, "MFA SETUP"]),
    (bodies.ChallengeAnswer, ANSWER, "session", ["s" * 2048], ["s" * 19, "s" * 2049]),
    (bodies.ChallengeAnswer, ANSWER, "username", [], ["al ice"]),
    (bodies.ChallengeAnswer, ANSWER, "responses",
     [{}, {"SMS_MFA_CODE": "123456"}, {"userAttributes.name": "A"}, {"ANSWER": "a" * 2048}],
     [({"NEW_PASSWORD": ""}, ("responses", "NEW_PASSWORD")),
      ({"ANSWER": "a" * 2049}, ("responses", "ANSWER")),
      *[({k: "x"}, ("responses", k, "[key]")) for k in ("BAD KEY", "", "K" * 65)],
      {f"K{'_' * i}": "x" for i in range(11)}, MISSING]),
    (bodies.RefreshRequest, REFRESHING, "refresh_token", ["r" * 8192], ["", "r" * 8193]),
    (bodies.RefreshRequest, REFRESHING, "username", ["alice"], ["", "al ice"]),
    (bodies.RefreshRequest, REFRESHING, "client_id", [], ["x"]),
    (bodies.ResetPasswordRequest, RESET, "new_password", [], ["p" * 7, "p" * 257]),
    (bodies.ResetPasswordRequest, RESET, "code", [], ["1 2"]),
    (bodies.ChangePasswordRequest, CHANGE, "previous_password", [], ["", "p" * 257]),
    (bodies.ChangePasswordRequest, CHANGE, "proposed_password", [], ["p" * 7, "p" * 257]),
]  # fmt: skip
BODY_CASES = [
    pytest.param(model, {k: v for k, v in {**base, name: value}.items() if v is not MISSING},
                 where, id=f"{model.__name__}-{name}-{i}")
    for model, base, name, good, bad in FIELDS
    for i, (value, where) in enumerate([(base.get(name, MISSING), None), *[(v, None) for v in good],
                                        *[v if type(v) is tuple else (v, (name,)) for v in bad]])
]  # fmt: skip


@pytest.mark.parametrize(("model", "data", "where"), BODY_CASES)
def test_request_bodies(model: type[BaseModel], data: dict[str, Any], where: Any) -> None:
    try:
        model.model_validate(data)
    except ValidationError as exc:
        assert [error["loc"] for error in exc.errors()] == [where]
    else:
        assert where is None


@pytest.mark.parametrize(
    ("fields", "attributes"),
    [({}, {}), ({"email": "a@example.com"}, {"email": "a@example.com"}),
     ({"phone_number": "+15555550100"}, {"phone_number": "+15555550100"}),
     ({"attributes": {"locale": "fr"}}, {"locale": "fr"}),
     ({"email": "a@example.com", "phone_number": "+447700900123",
       "attributes": {"custom:plan": "pro", "email": "old@example.com"}},
      {"custom:plan": "pro", "email": "a@example.com", "phone_number": "+447700900123"})],
)  # fmt: skip
def test_sign_up_request_sends_what_it_holds(fields: dict[str, Any], attributes: Any) -> None:
    body = S.model_validate({**SIGN_UP, **fields})
    assert (body.cognito_username(), body.cognito_password()) == ("alice", PASSWORD)
    assert body.cognito_attributes() == attributes
    assert body.attributes == fields.get("attributes", {})  # the body itself is unchanged


@pytest.mark.parametrize(
    ("model", "data"),
    [(S, SIGN_UP), (bodies.SignInRequest, {"username": "a", "password": PASSWORD}),
     (bodies.ResetPasswordRequest, {**RESET, "new_password": PASSWORD}),
     (bodies.ChangePasswordRequest, dict.fromkeys(CHANGE, PASSWORD))],
)  # fmt: skip
def test_passwords_are_secret_and_bodies_frozen(model: type[BaseModel], data: Any) -> None:
    body = model.model_validate(data)
    for shown in (repr(body), str(body), body.model_dump_json(), repr(body.model_dump())):
        assert PASSWORD not in shown
    secrets = [value for value in body.model_dump().values() if isinstance(value, SecretStr)]
    assert secrets and all(secret.get_secret_value() == PASSWORD for secret in secrets)
    with pytest.raises(ValidationError):
        setattr(body, next(iter(data)), "mallory")


class HalfForm(bodies.SignUpForm):
    """Names the username but not the password: still abstract."""

    email: str

    def cognito_username(self) -> str:
        return self.email


class ByEmail(HalfForm):
    """The least a form must say: username and password; no attributes."""

    password: SecretStr

    def cognito_password(self) -> str:
        return self.password.get_secret_value()


def test_a_sign_up_form_names_username_and_password_and_forbids_the_rest() -> None:
    for abstract, data in ((bodies.SignUpForm, {}), (HalfForm, {"email": "a@example.com"})):
        with pytest.raises(TypeError):
            abstract.model_validate(data)
    data = {"email": "a@example.com", "password": PASSWORD}
    form = ByEmail.model_validate(data)
    assert (form.cognito_username(), form.cognito_password()) == ("a@example.com", PASSWORD)
    assert form.cognito_attributes() == {}
    with pytest.raises(ValidationError) as extra:
        ByEmail.model_validate({**data, "role": "admin"})
    assert [error["loc"] for error in extra.value.errors()] == [("role",)]
    with pytest.raises(ValidationError):
        form.email = "b@example.com"  # type: ignore[misc]
    answer = bodies.ChallengeAnswer.model_validate({**ANSWER, "responses": {"A": "1", "b.c": "2"}})
    assert answer.responses == {"A": "1", "b.c": "2"}
    assert bodies.RefreshRequest.model_validate({"refresh_token": "r"}).username is None


# -- the typed results (what they hold is tested with the client) -----------------------------
TOKENS = cognito.TOKENS  # with a key the result does not know
PARAMETERS = {"USER_ID_FOR_SRP": "9f1c-real-username", "userAttributes": '{"email":"a@b.c"}'}
CHALLENGE = {"ChallengeName": "SMS_MFA", "Session": SESSION, "ChallengeParameters": PARAMETERS,
             "username": USERNAME}  # fmt: skip
SIGNED_UP = {"UserConfirmed": False, "UserSub": SUB, "CodeDeliveryDetails": cognito.DELIVERY}
USER = {"Username": SUB, "UserAttributes": [{"Name": "sub", "Value": SUB}]}
RESULTS = [(results.AuthTokens, TOKENS), (results.AuthChallenge, CHALLENGE),
           (results.CodeDelivery, cognito.DELIVERY), (results.SignUpResult, SIGNED_UP),
           (results.CognitoUser, USER)]  # fmt: skip


@pytest.mark.parametrize(("model", "document"), RESULTS)
def test_results_ignore_unknown_keys_and_are_frozen(model: type[BaseModel], document: Any) -> None:
    result = model.model_validate({**document, "SomethingNew": {"x": 1}})
    assert result == model.model_validate(document)
    assert not result.model_extra and "SomethingNew" not in result.model_dump()
    with pytest.raises(ValidationError):
        setattr(result, next(iter(model.model_fields)), "changed")


def test_results_keep_tokens_sessions_and_the_user_out_of_repr() -> None:
    tokens = results.AuthTokens.model_validate(TOKENS)
    challenge = results.AuthChallenge.model_validate(CHALLENGE)
    for text in (repr(tokens), str(tokens), f"{tokens}"):
        assert "expires_in=3600" in text and "Bearer" in text
        assert cognito.ACCESS not in text and cognito.ID not in text and REFRESH not in text
    for text in (repr(challenge), str(challenge)):
        assert "SMS_MFA" in text
        for secret in (SESSION, USERNAME, "9f1c-real-username", "a@b.c"):
            assert secret not in text
    signed_up = repr(results.SignUpResult.model_validate(SIGNED_UP))
    assert SUB in signed_up and "a***@e***" in signed_up


# -- the HTTP error mapping -------------------------------------------------------------------
Answer = tuple[int, str, dict[str, str] | None]
BEARER = {"WWW-Authenticate": "Bearer"}
THROTTLED = (429, "Too many requests; try again later", {"Retry-After": "30"})
ACCOUNT = "An account with this {} already exists"
# A failure, the overrides a route gives (they come first), and the answer.
ANSWERS: list[tuple[Any, dict[type[Exception], Any], Answer]] = [
    (auth_error("UsernameExistsException"), {}, (409, ACCOUNT.format("username"), None)),
    (auth_error("AliasExistsException"), {},
     (409, ACCOUNT.format("email or phone number"), None)),
    (auth_error("CodeMismatchException"), {}, (400, INVALID_CODE, None)),
    (auth_error("ExpiredCodeException"), {},
     (400, "The verification code has expired; request a new one", None)),
    (auth_error("InvalidParameterException"), {}, (400, "Invalid request", None)),
    (auth_error("NotAuthorizedException"), {}, (401, "Not authorized", BEARER)),
    (auth_error("UserNotFoundException"), {}, (401, INCORRECT, BEARER)),
    (auth_error("UserNotConfirmedException"), {},
     (403, "The account is not confirmed; verify it first", None)),
    (auth_error("PasswordResetRequiredException"), {},
     (403, "The password must be reset before signing in", None)),
    *[(auth_error(code), {}, THROTTLED) for code in
      ("LimitExceededException", "TooManyRequestsException", "TooManyFailedAttemptsException")],
    (auth_error("CodeDeliveryFailureException"), {},
     (502, "The code could not be delivered", None)),
    (auth_error("InternalErrorException", cognito.QUOTING), {}, (502, UNEXPECTED, None)),
    (errors.CognitoServiceError("InitiateAuth: Cognito's reply is not JSON"), {},
     (502, UNEXPECTED, None)),
    (errors.CognitoUnreachableError("InitiateAuth: Cognito is unreachable"), {},
     (503, "The authentication service is unavailable", {"Retry-After": "10"})),
    (auth_error("NotAuthorizedException"), {errors.NotAuthorizedError: INVALID_TOKEN},
     (401, "Invalid token", {"WWW-Authenticate": 'Bearer error="invalid_token"'})),
    (auth_error("UserNotFoundException"), {errors.UserNotFoundError: (400, INVALID_CODE)},
     (400, INVALID_CODE, None)),
    (auth_error("NotAuthorizedException"), {errors.CognitoAuthError: (401, "Session expired")},
     (401, "Session expired", BEARER)),
    # The policy text replaces the detail of a 400 only.
    (auth_error("InvalidPasswordException", POLICY_TEXT), {errors.InvalidPasswordError: (409, "x")},
     (409, "x", None)),
]  # fmt: skip


@pytest.mark.parametrize(("error", "overrides", "expected"), ANSWERS)
def test_each_failure_has_its_fixed_answer(
    error: Any, overrides: Any, expected: Answer, library_logs: Logs
) -> None:
    exc = http_error(error, overrides, sent=("something sent",))
    assert (exc.status_code, exc.detail, exc.headers) == expected
    unexpected = [f"Auth flow failed unexpectedly: {error}"] if expected[1] == UNEXPECTED else []
    assert library_logs.messages == unexpected
    helpers.assert_logs_hide(library_logs.records, cognito.QUOTING)


SENT = (USERNAME, PASSWORD, "abc")


@pytest.mark.parametrize(
    ("message", "sent", "detail"),
    [(POLICY_TEXT, SENT, POLICY_TEXT), (POLICY_TEXT, (), POLICY),  # where nothing was sent
     ("  Password does not conform\nto policy:\tPassword not long enough ", SENT,
      "Password does not conform to policy: Password not long enough"),
     (f"{POLICY_TEXT}: not 'abc'", SENT, f"{POLICY_TEXT}: not 'abc'"),  # too short to quote
     ("Password " + "x" * 191, SENT, "Password " + "x" * 191),
     ("Password " + "x" * 192, SENT, POLICY),
     ("1 validation error detected: Value at 'userName' failed to satisfy a constraint", SENT,
      POLICY),
     ("Password did not conform\x00 with policy", SENT, POLICY),
     ("Password rules\u202eyciloP", SENT, POLICY), ("", SENT, POLICY),
     *[(f"{POLICY_TEXT}: not {value}", SENT, POLICY) for value in (USERNAME, PASSWORD)]],
)  # fmt: skip
def test_the_policy_text_passes_when_tidy_and_quoting_nothing_sent(
    message: str, sent: tuple[str, ...], detail: str
) -> None:
    exc = http_error(auth_error("InvalidPasswordException", message), {}, sent)
    assert (exc.status_code, exc.detail, exc.headers) == (400, detail, None)


# -- the routes -------------------------------------------------------------------------------
PREFIX = "/api/v1/auth"
BODIES: dict[str, dict[str, Any]] = {
    "/signup": {"username": USERNAME, "password": PASSWORD, "email": "alice@example.com",
                "phone_number": "+447700900123", "attributes": {"locale": "fr", "name": "Al"}},
    "/verify": {"username": USERNAME, "code": CODE},
    "/resend-code": {"username": USERNAME},
    "/signin": {"username": USERNAME, "password": PASSWORD},
    "/challenge": {"username": USERNAME, "challenge_name": "NEW_PASSWORD_REQUIRED",
                   "session": SESSION, "responses": {"NEW_PASSWORD": NEW_PASSWORD}},
    "/refresh": {"refresh_token": REFRESH},
    "/forgot-password": {"username": USERNAME},
    "/reset-password": {"username": USERNAME, "code": CODE, "new_password": NEW_PASSWORD},
    "/change-password": {"previous_password": PASSWORD, "proposed_password": NEW_PASSWORD},
    "/update-attributes": {"attributes": {"name": "Alice", "locale": "fr"}},
    "/delete-attributes": {"names": ["locale"]},
}  # fmt: skip
ROUTES = [*BODIES, "/logout", "/me", "/delete-account"]
TOKEN_BODY = {"access_token": cognito.ACCESS, "id_token": cognito.ID, "refresh_token": REFRESH,
              "expires_in": 3600, "token_type": "Bearer"}  # fmt: skip
ATTRIBUTES = [{"Name": "locale", "Value": "fr"}, {"Name": "name", "Value": "Al"},
              {"Name": "email", "Value": "alice@example.com"},
              {"Name": "phone_number", "Value": "+447700900123"}]  # fmt: skip
# Each route's operation, its body (ClientId aside; "<token>": the bearer's), status and answer.
HAPPY: dict[str, tuple[str, dict[str, Any], int, Any]] = {
    "/signup": ("SignUp", {"Username": USERNAME, "Password": PASSWORD,
                           "UserAttributes": ATTRIBUTES},
                201, {"message": "User created successfully", "sub": SUB}),
    "/verify": ("ConfirmSignUp", {"Username": USERNAME, "ConfirmationCode": CODE},
                200, {"message": "Account verified"}),
    "/resend-code": ("ResendConfirmationCode", {"Username": USERNAME},
                     200, {"message": "If the account needs verifying, a new code was sent"}),
    "/signin": ("InitiateAuth", {"AuthFlow": "USER_PASSWORD_AUTH",
                                 "AuthParameters": {"USERNAME": USERNAME, "PASSWORD": PASSWORD}},
                200, TOKEN_BODY),
    "/challenge": ("RespondToAuthChallenge", {
        "ChallengeName": "NEW_PASSWORD_REQUIRED", "Session": SESSION,
        "ChallengeResponses": {"NEW_PASSWORD": NEW_PASSWORD, "USERNAME": USERNAME}},
        200, TOKEN_BODY),
    "/refresh": ("InitiateAuth", {"AuthFlow": "REFRESH_TOKEN_AUTH",
                                  "AuthParameters": {"REFRESH_TOKEN": REFRESH}},
                 200, {**TOKEN_BODY, "id_token": None, "refresh_token": None, "expires_in": 60}),
    "/forgot-password": ("ForgotPassword", {"Username": USERNAME},
                         200, {"message": "If the account exists, a reset code was sent"}),
    "/reset-password": ("ConfirmForgotPassword", {"Username": USERNAME, "ConfirmationCode": CODE,
                                                  "Password": NEW_PASSWORD},
                        200, {"message": "Password reset"}),
    "/change-password": ("ChangePassword", {"AccessToken": "<token>", "PreviousPassword": PASSWORD,
                                            "ProposedPassword": NEW_PASSWORD},
                         200, {"message": "Password changed"}),
    "/logout": ("GlobalSignOut", {"AccessToken": "<token>"}, 204, None),
    "/update-attributes": ("UpdateUserAttributes", {"AccessToken": "<token>", "UserAttributes": [
        {"Name": "name", "Value": "Alice"}, {"Name": "locale", "Value": "fr"}]},
        200, {"message": "Attributes updated"}),
    "/delete-attributes": ("DeleteUserAttributes", {"AccessToken": "<token>",
                                                    "UserAttributeNames": ["locale"]},
                           200, {"message": "Attributes deleted"}),
    "/delete-account": ("DeleteUser", {"AccessToken": "<token>"}, 204, None),
}  # fmt: skip


class Api:
    """Calls a mounted route with its default body and, on bearer routes, an access token."""

    def __init__(self, client: TestClient, token: str) -> None:
        self.client, self.token = client, token

    def __call__(self, path: str, body: Any = None, *, content: bytes | None = None,
                 token: str | None = None, anonymous: bool = False) -> httpx2.Response:  # fmt: skip
        headers = {} if anonymous else {"Authorization": f"Bearer {token or self.token}"}
        if path == "/me":
            return self.client.get(PREFIX + path, headers=headers)
        if content is not None:
            headers["Content-Type"] = "application/json"
        json_body = None if content is not None else body or BODIES.get(path)
        return self.client.post(PREFIX + path, json=json_body, content=content, headers=headers)


def answer(response: httpx2.Response) -> tuple[int, Any, dict[str, str]]:
    """Status, JSON body and the error headers: what a client can tell apart."""
    names = [name for name in ("www-authenticate", "retry-after") if name in response.headers]
    body = response.json() if response.content else None
    return response.status_code, body, {name: response.headers[name] for name in names}


def mount(*routers: Any, prefixes: tuple[str, ...] = (PREFIX,)) -> FastAPI:
    app = FastAPI()
    for router, prefix in zip(routers, prefixes, strict=True):
        app.include_router(router, prefix=prefix)
    return app


@pytest.fixture
def fake() -> Fake:
    return cognito.FakeCognito()


@pytest.fixture
def settings(pool: LocalUserPool) -> CognitoSettings:
    # The replies here are scripted for USER_PASSWORD_AUTH; SRP has tests/test_auth_srp.py.
    return pool.settings(sign_in_flow="USER_PASSWORD_AUTH")


@pytest.fixture
def auth_client(settings: CognitoSettings, fake: Fake) -> CognitoAuthClient:
    return CognitoAuthClient(settings, transport=fake.transport())


@pytest.fixture
def api(pool: LocalUserPool, auth_client: CognitoAuthClient) -> Iterator[Api]:
    app = mount(auth_router(client=auth_client, bearer=pool.bearer(token_use="access")))
    with TestClient(app) as client:  # an exception in the app raises here: never a 500
        yield Api(client, pool.access_token(username=USERNAME))
        assert client.portal is not None
        client.portal.call(auth_client.aclose)  # the caller's to close


@pytest.mark.parametrize("path", HAPPY)
def test_what_each_route_sends(api: Api, fake: Fake, pool: LocalUserPool, path: str) -> None:
    no_rotation = {"AuthenticationResult": {"AccessToken": cognito.ACCESS, "ExpiresIn": 60}}
    fake.replies["InitiateAuth"] = cognito.ok(
        no_rotation if path == "/refresh" else cognito.REPLIES["InitiateAuth"])  # fmt: skip
    operation, sent, status, body = HAPPY[path]
    assert answer(api(path)) == (status, body, {})
    if "AccessToken" in sent:
        assert fake.calls == [(operation, {**sent, "AccessToken": api.token})]
    else:
        assert fake.calls == [(operation, {"ClientId": pool.client_id, **sent})]


def test_me_answers_verified_claims_and_attributes(api: Api, fake: Fake) -> None:
    claims = json.loads(helpers.b64d(api.token.split(".")[1]))
    assert (claims["username"], claims["token_use"]) == (USERNAME, "access")
    me = {"username": USERNAME, "claims": claims, "attributes": {"sub": SUB, "email": "a@b.c"}}
    assert answer(api("/me")) == (200, me, {})
    assert fake.calls == [("GetUser", {"AccessToken": api.token})]


@pytest.mark.parametrize("path", ["/signin", "/challenge"])
def test_a_challenge_names_the_user_cognito_wants(api: Api, fake: Fake, path: str) -> None:
    # Signed in by email; Cognito wants the answer (and its SECRET_HASH) under USER_ID_FOR_SRP.
    fake.always = cognito.ok(cognito.CHALLENGE)
    expected = {"challenge_name": "NEW_PASSWORD_REQUIRED", "session": SESSION, "username": SUB,
                "parameters": cognito.PARAMETERS}  # fmt: skip
    assert answer(api(path)) == (200, expected, {})


def test_refresh_with_a_client_secret_needs_the_username(pool: LocalUserPool, fake: Fake) -> None:
    settings = pool.settings(client_secret=cognito.SECRET)
    client = CognitoAuthClient(settings, transport=fake.transport())
    with TestClient(mount(auth_router(client=client))) as http:
        missing = http.post(f"{PREFIX}/refresh", json={"refresh_token": REFRESH})
        assert fake.requests == []
        sent = http.post(f"{PREFIX}/refresh", json={"refresh_token": REFRESH, "username": SUB})
        assert http.portal is not None
        http.portal.call(client.aclose)
    detail = {"detail": "username is required to refresh with this app client"}
    assert (answer(missing), sent.status_code) == ((400, detail, {}), 200)
    assert fake.calls[0][1]["AuthParameters"]["USERNAME"] == SUB  # the hash is the client's


# What each route answers when Cognito says NotAuthorized, and UserNotFound; None: success.
CODE_ANSWER: tuple[int, dict[str, str], dict[str, str]] = (400, {"detail": INVALID_CODE}, {})
TOKEN_ANSWER = (
    401,
    {"detail": "Invalid token"},
    {"www-authenticate": 'Bearer error="invalid_token"'},
)


def unauthorized(detail: str) -> tuple[int, dict[str, str], dict[str, str]]:
    return 401, {"detail": detail}, {"www-authenticate": "Bearer"}


ACCOUNT_ANSWERS: dict[str, tuple[Any, Any]] = {
    "/signup": (unauthorized("Not authorized"), unauthorized(INCORRECT)),
    "/verify": (CODE_ANSWER, CODE_ANSWER),  # "already confirmed" tells nothing either
    "/resend-code": (None, None),
    "/signin": (unauthorized(INCORRECT),) * 2,
    "/challenge": (unauthorized("The sign-in session is invalid or has expired"),) * 2,
    "/refresh": (unauthorized("Invalid refresh token"),) * 2,
    "/forgot-password": (None, None),
    "/reset-password": (CODE_ANSWER, CODE_ANSWER),
    "/change-password": (unauthorized("Incorrect password, or the token was revoked"),) * 2,
    "/logout": (TOKEN_ANSWER, TOKEN_ANSWER),
    "/me": (TOKEN_ANSWER, TOKEN_ANSWER),
    "/update-attributes": (TOKEN_ANSWER, TOKEN_ANSWER),
    "/delete-attributes": (TOKEN_ANSWER, TOKEN_ANSWER),
    "/delete-account": (TOKEN_ANSWER, TOKEN_ANSWER),
}  # fmt: skip
# The defaults pass through every route, with their headers; no failure escapes as a 500.
FAILURES: dict[str, tuple[cognito.Reply, Any]] = {
    "NotAuthorizedException": (cognito.error("NotAuthorizedException"), 0),
    "UserNotFoundException": (cognito.error("UserNotFoundException"), 1),
    "TooManyRequestsException": (cognito.error("TooManyRequestsException"),
                                 (429, {"detail": THROTTLED[1]}, {"retry-after": "30"})),
    "unreachable": (cognito.fails(httpx2.ConnectError("refused")),
                    (503, {"detail": "The authentication service is unavailable"},
                     {"retry-after": "10"})),
    # Routes whose operation returns nothing do not read the reply.
    "odd-200": (cognito.ok({"AuthenticationResult": [], "UserSub": 5, "Username": None,
                            "CodeDeliveryDetails": "x"}), (502, {"detail": UNEXPECTED}, {})),
}  # fmt: skip
SECRETS = (USERNAME, PASSWORD, NEW_PASSWORD, CODE, REFRESH, SESSION, cognito.QUOTING)


@pytest.mark.parametrize("failure", FAILURES)
@pytest.mark.parametrize("path", ROUTES)
def test_each_route_maps_failures(
    api: Api, fake: Fake, library_logs: Logs, path: str, failure: str
) -> None:
    fake.always, expected = FAILURES[failure]
    if isinstance(expected, int):
        expected = ACCOUNT_ANSWERS[path][expected]
    ignored = {"/verify", "/reset-password", "/change-password", "/logout", "/update-attributes",
               "/delete-attributes", "/delete-account"}  # fmt: skip
    if expected is None or (failure == "odd-200" and path in ignored):
        expected = (HAPPY[path][2], HAPPY[path][3], {})
    response = api(path)
    assert answer(response) == expected
    assert len(fake.requests) == 1
    helpers.assert_echoes_nothing(response, api.token, *SECRETS)
    helpers.assert_logs_hide(library_logs.records, api.token, *SECRETS)


def test_wrong_password_and_unknown_user_answer_the_same(api: Api, fake: Fake) -> None:
    fake.always = cognito.error("NotAuthorizedException", "Incorrect username or password.")
    wrong_password = api("/signin")
    fake.always = cognito.error("UserNotFoundException", "User does not exist.")
    unknown_user = api("/signin")
    assert (wrong_password.status_code, wrong_password.content) == (401, unknown_user.content)
    assert dict(wrong_password.headers) == dict(unknown_user.headers)


@pytest.mark.parametrize("path", ["/forgot-password", "/resend-code"])
def test_code_requests_do_not_tell_whether_the_account_exists(
    api: Api, fake: Fake, path: str
) -> None:
    success = api(path)
    for code in ("UserNotFoundException", "NotAuthorizedException", "UserNotConfirmedException",
                 "InvalidParameterException", "CodeDeliveryFailureException"):  # fmt: skip
        fake.always = cognito.error(code)
        response = api(path)
        assert (response.status_code, response.content) == (200, success.content), code
        assert dict(response.headers) == dict(success.headers), code
    assert len(fake.requests) == 6


# What the routes that set a password send, which Cognito's policy text must not quote.
QUOTABLE = {
    "/signup": [USERNAME, PASSWORD, "alice@example.com", "+447700900123"],
    "/challenge": [USERNAME, SESSION, NEW_PASSWORD],
    "/reset-password": [USERNAME, CODE, NEW_PASSWORD],
    "/change-password": [PASSWORD, NEW_PASSWORD],
}


@pytest.mark.parametrize("path", ROUTES)
def test_only_routes_setting_a_password_pass_the_policy_on(api: Api, fake: Fake, path: str) -> None:
    fake.always = cognito.error("InvalidPasswordException", POLICY_TEXT)
    assert answer(api(path)) == (400, {"detail": POLICY_TEXT if path in QUOTABLE else POLICY}, {})
    for value in QUOTABLE.get(path, []):  # each value the route sends, quoted on its own
        fake.always = cognito.error("InvalidPasswordException", f"{POLICY_TEXT}, not {value}")
        assert answer(api(path)) == (400, {"detail": POLICY}, {}), value


@pytest.mark.parametrize(
    "path",
    ["/change-password", "/logout", "/me", "/update-attributes", "/delete-attributes",
     "/delete-account"],
)  # fmt: skip
@pytest.mark.parametrize(
    ("kind", "expected"),
    [("none", helpers.NO_CREDENTIALS), ("id", helpers.INVALID), ("expired", helpers.EXPIRED),
     ("forged", helpers.INVALID), ("unknown-kid", helpers.INVALID)],
)  # fmt: skip
def test_bearer_routes_refuse_before_calling_cognito(
    api: Api, fake: Fake, pool: LocalUserPool, path: str, kind: str, expected: Any
) -> None:
    header, _, signature = pool.access_token(username=USERNAME).split(".")
    forged = f"{header}.{pool.access_token(username='mallory').split('.')[1]}.{signature}"
    unknown_kid = {"kid": "gone", "alg": "RS256"}
    token = {
        "none": "", "id": pool.id_token(username=USERNAME), "forged": forged,
        "expired": pool.access_token(username=USERNAME, expires_in=-3600),
        "unknown-kid": pool.sign(pool.access_claims(USERNAME), header=unknown_kid),
    }[kind]  # fmt: skip
    helpers.assert_rejected(api(path, token=token, anonymous=not token), expected, pool, token)
    assert fake.requests == []


MISCONFIGURED: dict[str, Callable[[LocalUserPool, CognitoAuthClient], Any]] = {
    "id-bearer": lambda p, c: auth_router(client=c, bearer=p.bearer(token_use="id")),
    "client-and-settings": lambda p, c: auth_router(p.settings(), client=c),
    # Not a SignUpForm; or abstract, so that each sign-up would fail with a TypeError (a 500).
    **{f"model-{m}": partial(lambda p, c, m: auth_router(client=c, sign_up_model=m), m=m)
       for m in (bodies.SignInRequest, "Form", dict, None, bodies.SignUpForm, HalfForm)},
}  # fmt: skip


@pytest.mark.parametrize("case", MISCONFIGURED)
def test_misconfiguration(pool: LocalUserPool, auth_client: CognitoAuthClient, case: str) -> None:
    with pytest.raises(ConfigurationError):
        MISCONFIGURED[case](pool, auth_client)


MALFORMED = f'{{"username": "{USERNAME}", "password": "{PASSWORD}'.encode()


@pytest.mark.parametrize(
    ("path", "body", "kind", "where"),
    [
        ("/signup", {**BODIES["/signup"], "password": "Sh0rt!"}, "too_short", "password"),
        ("/signup", {**BODIES["/signup"], "email": "mallory-at-ex.com"}, "value_error", "email"),
        ("/reset-password", {**BODIES["/reset-password"], "code": "C0DE 5e3a"},
         "string_pattern_mismatch", "code"),
        # Keys the caller chose are not echoed either: loc stops at the body's own fields.
        ("/signin", {**BODIES["/signin"], "Pw-key-9f3c": "Pw-extra-1a2b"}, "extra_forbidden",
         None),
        ("/signup", {**BODIES["/signup"], "attributes": {"Pw-key-9f3c": "v"}},
         "string_pattern_mismatch", "attributes"),
        ("/signup", {**BODIES["/signup"], "attributes": {"custom:pwkey9f3c": "v" * 2049}},
         "string_too_long", "attributes"),
        # Even a key spelt like a field is the caller's, inside `attributes`.
        ("/signup", {**BODIES["/signup"], "attributes": {"username": "v" * 2049}},
         "string_too_long", "attributes"),
        ("/signin", MALFORMED, "json_invalid", MALFORMED.index(b'"Pw-')),  # the string's start
        ("/signin", json.dumps(PASSWORD).encode(), "model_attributes_type", None),
        ("/signin", json.dumps([USERNAME, PASSWORD]).encode(), "model_attributes_type", None),
        ("/challenge", {**BODIES["/challenge"], "session": "short-session-1a"}, "string_too_short",
         "session"),
    ],
)  # fmt: skip
def test_invalid_bodies_are_422_without_the_values(
    api: Api, fake: Fake, path: str, body: Any, kind: str, where: str | int | None
) -> None:
    if isinstance(body, bytes):
        response, values = api(path, content=body), [USERNAME, PASSWORD]
    else:
        response, values = api(path, body), [v for v in body.values() if isinstance(v, str) and v]
        values += ["Pw-key-9f3c", "pwkey9f3c"]
    detail = response.json()["detail"]
    assert response.status_code == 422
    assert all(set(item) == {"type", "loc", "msg"} for item in detail)
    loc = ["body"] if where is None else ["body", where]
    assert [(item["type"], item["loc"]) for item in detail] == [(kind, loc)]
    assert detail[0]["msg"] != "Invalid value" or kind == "value_error"
    for value in values:
        assert value not in response.text
    assert fake.requests == []


class Registration(ByEmail):
    """Sign up by email, with a name and a phone number."""

    full_name: str = Field(max_length=50)
    email: EmailStr
    phone_number: str = Field(min_length=10)
    password: SecretStr = Field(min_length=8)
    plan: str

    def cognito_attributes(self) -> dict[str, str]:
        return {"name": self.full_name, "phone_number": self.phone_number, "custom:plan": self.plan}


REGISTRATION = {"full_name": "Alice Liddell", "email": "alice@example.com", "plan": "pro",
                "phone_number": "+447700900123", "password": PASSWORD}  # fmt: skip


def test_a_custom_sign_up_model_decides_what_is_accepted_sent_and_shown(
    pool: LocalUserPool, auth_client: CognitoAuthClient, fake: Fake
) -> None:
    # The app lists custom:plan among the attributes users may write.
    writable = [*auth_client.settings.writable_attributes, "custom:plan"]
    auth_client = CognitoAuthClient(
        auth_client.settings.model_copy(update={"writable_attributes": writable}),
        transport=fake.transport(),
    )
    custom = auth_router(client=auth_client, sign_up_model=Registration)
    app = mount(custom, auth_router(client=auth_client, tags=["accounts"]), prefixes=(PREFIX, "/d"))
    invalid = [{**REGISTRATION, "full_name": "A" * 51}, {**REGISTRATION, "phone_number": "+4477"},
               {**REGISTRATION, "plan": None}, BODIES["/signup"]]  # fmt: skip
    with TestClient(app) as http:
        for body in invalid:
            response = http.post(f"{PREFIX}/signup", json=body)
            assert response.status_code == 422 and PASSWORD not in response.text
        assert fake.requests == []
        created = http.post(f"{PREFIX}/signup", json=REGISTRATION)
        schema = http.get("/openapi.json").json()
        assert http.portal is not None
        http.portal.call(auth_client.aclose)
    assert answer(created) == (201, {"message": "User created successfully", "sub": SUB}, {})
    attributes = [{"Name": "name", "Value": "Alice Liddell"},
                  {"Name": "phone_number", "Value": "+447700900123"},
                  {"Name": "custom:plan", "Value": "pro"}]  # fmt: skip
    sent = {"Username": "alice@example.com", "Password": PASSWORD, "UserAttributes": attributes}
    assert fake.calls == [("SignUp", {"ClientId": pool.client_id, **sent})]
    # OpenAPI shows each router's model and tags, and the bearer where it is needed only.
    paths, components = schema["paths"], schema["components"]
    for prefix, model, tags in [
        (PREFIX, "Registration", ["auth"]),
        ("/d", "SignUpRequest", ["accounts"]),
    ]:
        signup = paths[f"{prefix}/signup"]["post"]
        body_schema = signup["requestBody"]["content"]["application/json"]["schema"]
        assert body_schema == {"$ref": f"#/components/schemas/{model}"}
        assert (signup["tags"], "201" in signup["responses"]) == (tags, True)
    assert set(components["schemas"]["Registration"]["properties"]) == set(REGISTRATION)
    for path, method in [("/me", "get"), ("/logout", "post"), ("/change-password", "post")]:
        assert paths[f"{PREFIX}{path}"][method]["security"] == [{"CognitoBearer": []}]
    for path in ["/signup", "/signin", "/refresh", "/forgot-password"]:
        assert "security" not in paths[f"{PREFIX}{path}"]["post"]
    scheme = {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
    assert components["securitySchemes"]["CognitoBearer"] == scheme


def test_on_shutdown_routers_close_the_clients_they_own_only(
    settings: CognitoSettings, auth_client: CognitoAuthClient, fake: Fake,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    created: list[CognitoAuthClient] = []

    class Recorded(CognitoAuthClient):
        def __init__(self, settings: CognitoSettings | None = None, /) -> None:
            super().__init__(settings, transport=fake.transport())
            created.append(self)

    monkeypatch.setattr(router_module, "CognitoAuthClient", Recorded)
    # Two routers built from settings, each owning its client, and one given a client.
    routers = (auth_router(settings), auth_router(settings), auth_router(client=auth_client))
    with TestClient(mount(*routers, prefixes=("/a", "/b", "/given"))) as client:
        for prefix in ("/a", "/b", "/given"):
            assert client.post(f"{prefix}/signin", json=BODIES["/signin"]).status_code == 200
        assert len(created) == 2 and fake.closed == 0
    assert fake.closed == 2  # the routers' own clients closed their transports, not the given
    anyio.run(auth_client.aclose)  # the caller's to close, and it can
    assert fake.closed == 3


NOT_WRITABLE = [
    ("/update-attributes", {"attributes": {"custom:role": "admin"}}, ["body", "attributes"]),
    ("/update-attributes", {"attributes": {"name": "A", "email_verified": "true"}},
     ["body", "attributes"]),
    ("/delete-attributes", {"names": ["custom:role"]}, ["body", "names"]),
    ("/signup", {**BODIES["/signup"], "attributes": {"custom:role": "admin"}}, ["body"]),
    ("/signup", {**BODIES["/signup"], "attributes": {"email_verified": "true"}}, ["body"]),
    ("/signup", {**BODIES["/signup"], "attributes": {"name": "A", "custom:plan": "x"}}, ["body"]),
    ("/challenge", {**BODIES["/challenge"], "responses": {
        "NEW_PASSWORD": NEW_PASSWORD, "userAttributes.custom:role": "admin"}},
     ["body", "responses"]),
    ("/challenge", {**BODIES["/challenge"], "responses": {
        "NEW_PASSWORD": NEW_PASSWORD, "userAttributes.phone_number_verified": "true"}},
     ["body", "responses"]),
    # Only NEW_PASSWORD_REQUIRED asks for attributes.
    ("/challenge", {**BODIES["/challenge"], "challenge_name": "SMS_MFA", "responses": {
        "SMS_MFA_CODE": CODE, "userAttributes.name": "A"}}, ["body", "responses"]),
]  # fmt: skip


@pytest.mark.parametrize(("path", "body", "loc"), NOT_WRITABLE)
def test_attributes_outside_the_allow_list_are_refused_unsent(
    api: Api, fake: Fake, path: str, body: dict[str, Any], loc: list[str]
) -> None:
    response = api(path, body)
    assert response.status_code == 422 and fake.requests == []
    assert response.json()["detail"] == [{"type": "attribute_not_writable", "loc": loc,
        "msg": "Only the attributes this service accepts can be set"}]  # fmt: skip
    for secret in ("role", "verified", "custom:plan", PASSWORD, NEW_PASSWORD, CODE):
        assert secret not in response.text


def test_a_challenge_answer_may_set_a_writable_attribute(api: Api, fake: Fake) -> None:
    responses = {"NEW_PASSWORD": NEW_PASSWORD, "userAttributes.name": "Ada"}
    assert api("/challenge", {**BODIES["/challenge"], "responses": responses}).status_code == 200
    assert fake.calls[0][1]["ChallengeResponses"]["userAttributes.name"] == "Ada"


def test_refresh_with_rotation_returns_the_new_refresh_token(
    pool: LocalUserPool, fake: Fake
) -> None:
    settings = pool.settings(client_secret=cognito.SECRET, refresh_token_rotation=True)
    client = CognitoAuthClient(settings, transport=fake.transport())
    with TestClient(mount(auth_router(client=client))) as http:
        fresh = http.post(f"{PREFIX}/refresh", json={"refresh_token": REFRESH})  # no username
        fake.always = cognito.error("RefreshTokenReuseException")
        reused = http.post(f"{PREFIX}/refresh", json={"refresh_token": REFRESH})
        assert http.portal is not None
        http.portal.call(client.aclose)
    assert answer(fresh) == (200, TOKEN_BODY, {})
    assert answer(reused) == unauthorized("Invalid refresh token")
    assert [name for name, _ in fake.calls] == ["GetTokensFromRefreshToken"] * 2
    helpers.assert_echoes_nothing(reused, REFRESH, cognito.QUOTING)


# -- abuse resistance: the caller's IP and rate limits ----------------------------------------
def peer_request(peer: str, *forwarded: str) -> Request:
    headers = [(b"x-forwarded-for", value.encode()) for value in forwarded]
    return Request({"type": "http", "headers": headers, "client": (peer, 5000)})


PROXIES = [ipaddress.ip_network("10.0.0.0/8"), ipaddress.ip_network("::1/128")]


@pytest.mark.parametrize(
    ("peer", "forwarded", "expected"),
    [
        ("203.0.113.7", ["198.51.100.1"], "203.0.113.7"),  # not a proxy: its header is ignored
        ("10.0.0.2", ["198.51.100.1"], "198.51.100.1"),
        ("10.0.0.2", ["6.6.6.6, 198.51.100.1, 10.0.0.9"], "198.51.100.1"),  # left is forgeable
        ("10.0.0.2", ["6.6.6.6", "198.51.100.1"], "198.51.100.1"),  # several headers, in order
        ("10.0.0.2", ["6.6.6.6, not-an-ip"], "10.0.0.2"),  # garbage: the proxy itself
        ("10.0.0.2", ["10.0.0.3"], "10.0.0.3"),  # only proxies: the leftmost one
        ("10.0.0.2", [], "10.0.0.2"),
        ("::1", ["2001:db8::5"], "2001:db8::5"),
        ("testclient", ["198.51.100.1"], None),  # not an address
    ],
)  # fmt: skip
def test_the_callers_ip_trusts_forwarded_for_only_from_proxies(
    peer: str, forwarded: list[str], expected: str | None
) -> None:
    assert abuse.caller_ip(peer_request(peer, *forwarded), PROXIES) == expected


def limited(pool: LocalUserPool, fake: Fake, **fields: Any) -> tuple[TestClient, CognitoAuthClient]:
    settings = pool.settings(rate_limit_storage="memory://", **fields)
    client = CognitoAuthClient(settings, transport=fake.transport())
    app = mount(auth_router(client=client, bearer=pool.bearer(token_use="access")))
    return TestClient(app, client=("10.1.2.3", 5000)), client


def test_the_callers_ip_goes_to_cognito(pool: LocalUserPool, fake: Fake) -> None:
    http, client = limited(pool, fake, trusted_proxies=["10.0.0.0/8"])
    forwarded = {"X-Forwarded-For": "6.6.6.6, 198.51.100.1"}
    with http:
        for path in ROUTES:
            headers = {**forwarded, "Authorization": f"Bearer {pool.access_token()}"}
            body = BODIES.get(path)
            http.request("GET" if path == "/me" else "POST", PREFIX + path, json=body,
                         headers=headers)  # fmt: skip
    context = {name: body.get("UserContextData") for name, body in fake.calls}
    with_context = {"SignUp", "ConfirmSignUp", "ResendConfirmationCode", "InitiateAuth",
                    "RespondToAuthChallenge", "ForgotPassword",
                    "ConfirmForgotPassword"}  # fmt: skip
    assert {n for n, c in context.items() if c == {"IpAddress": "198.51.100.1"}} == with_context
    assert all(context[name] is None for name in set(context) - with_context)
    anyio.run(client.aclose)


LIMITED = {"/signin": "sign-in", "/challenge": "sign-in", "/verify": "codes",
           "/reset-password": "codes", "/signup": "messages", "/resend-code": "messages",
           "/forgot-password": "messages"}  # fmt: skip


@pytest.mark.parametrize("path", LIMITED)
def test_limited_routes_answer_429_per_username(pool: LocalUserPool, fake: Fake, path: str) -> None:
    http, client = limited(pool, fake, rate_limit_per_username="2/minute")
    with http:
        answers = [http.post(PREFIX + path, json=BODIES[path]) for _ in range(3)]
        # Another user, or another group of routes, has its own count.
        other = {**BODIES[path], "username": "bob"}
        assert http.post(PREFIX + path, json=other).status_code != 429
        group = next(p for p, g in LIMITED.items() if g != LIMITED[path])
        assert http.post(PREFIX + group, json=BODIES[group]).status_code != 429
    statuses = [a.status_code for a in answers]
    assert statuses[2] == 429 and 429 not in statuses[:2]
    refused = answers[2]
    assert refused.json() == {"detail": "Too many requests; try again later"}
    assert 1 <= int(refused.headers["retry-after"]) <= 60
    assert len(fake.requests) == 4  # the refused one never reached Cognito
    helpers.assert_echoes_nothing(refused, USERNAME, PASSWORD, CODE, NEW_PASSWORD)
    anyio.run(client.aclose)


def test_limits_count_per_ip_and_do_not_tell_users_apart(pool: LocalUserPool, fake: Fake) -> None:
    http, client = limited(pool, fake, rate_limit_per_ip="3/minute")
    fake.replies["InitiateAuth"] = cognito.error("NotAuthorizedException")
    with http:
        answers = [http.post(f"{PREFIX}/signin", json={"username": f"u{i}", "password": "p"})
                   for i in range(4)]  # fmt: skip
    assert [a.status_code for a in answers] == [401, 401, 401, 429]
    anyio.run(client.aclose)


def test_wrong_password_and_unknown_user_stay_alike_under_limits(
    pool: LocalUserPool, fake: Fake
) -> None:
    http, client = limited(pool, fake)
    with http:
        fake.always = cognito.error("NotAuthorizedException", "Incorrect username or password.")
        wrong = http.post(f"{PREFIX}/signin", json={"username": "alice", "password": "p"})
        fake.always = cognito.error("UserNotFoundException", "User does not exist.")
        unknown = http.post(f"{PREFIX}/signin", json={"username": "nobody", "password": "p"})
    assert (wrong.status_code, wrong.content, dict(wrong.headers)) == (
        401, unknown.content, dict(unknown.headers))  # fmt: skip
    anyio.run(client.aclose)


@pytest.mark.parametrize(
    "fields",
    [{"rate_limit_storage": "nosuch://x"}, {"rate_limit_storage": "memory://",
                                            "rate_limit_per_ip": "5/fortnight"},
     {"trusted_proxies": ["10.0.0.0/33"]}, {"trusted_proxies": ["proxy.local"]}],
)  # fmt: skip
def test_rate_limit_and_proxy_settings_are_checked(pool: LocalUserPool, fields: Any) -> None:
    with pytest.raises(ConfigurationError):
        auth_router(pool.settings(**fields))


def test_a_failing_limit_storage_lets_requests_through(
    pool: LocalUserPool, fake: Fake, library_logs: Logs, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(*args: Any, **kwargs: Any) -> bool:
        raise ConnectionError("redis is down")

    http, client = limited(pool, fake)
    monkeypatch.setattr("limits.aio.strategies.MovingWindowRateLimiter.hit", broken)
    with http:
        assert http.post(f"{PREFIX}/signin", json=BODIES["/signin"]).status_code == 200
    assert "Rate-limit storage failed: ConnectionError" in library_logs.text
    anyio.run(client.aclose)


# -- fuzzing: any JSON body to any route ------------------------------------------------------
_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=12)
    | st.floats(allow_nan=False, allow_infinity=False),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=12), inner,
                                                                max_size=3),
    max_leaves=8,
)  # fmt: skip
# Keys the caller invents, marked so that an echo of one is found by a substring search.
_KEY = st.text(alphabet="abcdefxyz:._", min_size=3, max_size=10).map(lambda k: f"Zq{k}")


@pytest.mark.parametrize("path", [p for p in ROUTES if p != "/me"])
@hypothesis_settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])  # fmt: skip
@given(data=st.data())
def test_no_body_gives_a_500_or_an_echoed_key(api: Api, path: str, data: st.DataObject) -> None:
    fields = dict(BODIES.get(path, {}))
    mutated = data.draw(
        st.dictionaries(
            st.sampled_from([*fields, "attributes", "responses", "names"]) | _KEY, _JSON, max_size=4
        )
    )
    body = data.draw(st.sampled_from([{**fields, **mutated}, mutated, [mutated], "x", None]))
    for name in ("attributes", "responses"):
        if isinstance(body, dict) and isinstance(body.get(name), dict):
            body[name] = {**body[name], "Zqkey:" + name: "v"}  # a made-up key in a known field
    response = api(path, body)
    assert response.status_code < 500
    invented = {k for k in (mutated if isinstance(mutated, dict) else {}) if k.startswith("Zq")}
    assert not any(key in response.text for key in {*invented, "Zqkey"})


CHOICE = {"username": USERNAME, "preferred_challenge": "PASSWORD", "password": PASSWORD}
SELECTED = {"username": USERNAME, "session": "s" * 20, "answer": "PASSWORD", "password": PASSWORD}


@pytest.mark.parametrize(
    ("path", "body"),
    [("/signin/choice", CHOICE), ("/challenge/select", SELECTED),
     ("/signin/choice", {"username": USERNAME, "preferred_challenge": "EMAIL_OTP"})],
)  # fmt: skip
def test_the_choice_sign_in_routes_share_the_sign_in_limits(
    pool: LocalUserPool, fake: Fake, path: str, body: dict[str, Any]
) -> None:
    """Passwordless and choice-based sign-in count with /signin: no way around its limit."""
    http, client = limited(pool, fake, rate_limit_per_username="2/minute")
    fake.always = cognito.error("NotAuthorizedException", "Incorrect username or password.")
    with http:
        first = http.post(f"{PREFIX}/signin", json=BODIES["/signin"])
        answers = [http.post(PREFIX + path, json=body) for _ in range(2)]
    assert first.status_code == 401
    assert [a.status_code for a in answers] == [401, 429]
    assert len(fake.requests) == 2
    anyio.run(client.aclose)
