"""`auth_router` against a fake Cognito: answers, error mapping, enumeration, scrubbing, lifespan.

The fake (tests/fake_cognito.py) records each user-pool operation the router sends and answers
with canned replies, Cognito errors, broken replies or transport failures. Bearer routes verify
real tokens from the local pool (no network).
"""

# No `from __future__ import annotations`: FastAPI reads the custom sign-up model at runtime.

import base64
import hashlib
import hmac
import json
from collections.abc import Callable, Iterator
from typing import Any

import anyio
import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import EmailStr, Field, SecretStr

from fastapi_cognito_jwt import (
    CognitoAuthClient,
    CognitoSettings,
    ConfigurationError,
    SignUpForm,
    _router,
    auth_router,
)
from fastapi_cognito_jwt._forms import SignInRequest
from fastapi_cognito_jwt.testing import LocalUserPool
from tests.answers import EXPIRED, INVALID, NO_CREDENTIALS, Expected, assert_rejected
from tests.fake_cognito import (
    BEARER_ROUTES,
    BODIES,
    CHALLENGE,
    CHALLENGE_BODY,
    CODE,
    NEW_PASSWORD,
    PASSWORD,
    PREFIX,
    QUOTABLE,
    REFRESH,
    REPLIES,
    REQUESTS,
    ROUTES,
    SESSION,
    SUB,
    TARGET,
    TOKEN_BODY,
    USERNAME,
    Api,
    FakeCognito,
    Reply,
    answer,
    error,
    fails,
    ok,
    raw,
    respond,
)

# The router's fixed answers.
TAKEN = "An account with this username already exists"
ALIAS = "An account with this email or phone number already exists"
BAD_REQUEST = "Invalid request"
NO_DELIVERY = "The code could not be delivered"
INVALID_CODE = "Invalid verification code"
EXPIRED_CODE = "The verification code has expired; request a new one"
INCORRECT = "Incorrect username or password"
UNCONFIRMED = "The account is not confirmed; verify it first"
RESET_FIRST = "The password must be reset before signing in"
SESSION_GONE = "The sign-in session is invalid or has expired"
BAD_REFRESH = "Invalid refresh token"
WRONG_PASSWORD = "Incorrect password, or the token was revoked"
POLICY = "The password does not meet the password policy"
THROTTLED = "Too many requests; try again later"
UNAVAILABLE = "The authentication service is unavailable"
UNEXPECTED = "Unexpected answer from the authentication service"
POLICY_TEXT = "Password did not conform with policy: Password must have uppercase characters"
BEARER = {"www-authenticate": "Bearer"}
BAD_TOKEN = {"www-authenticate": 'Bearer error="invalid_token"'}
RETRY_RATE = {"retry-after": "30"}
RETRY_DOWN = {"retry-after": "10"}


def mount(router_factory: Callable[[], Any]) -> FastAPI:
    app = FastAPI()
    app.include_router(router_factory(), prefix=PREFIX)
    return app


def close(client: TestClient, auth_client: CognitoAuthClient) -> None:
    """Close an injected auth client on the app's event loop: it is the caller's to close."""
    assert client.portal is not None
    client.portal.call(auth_client.aclose)


@pytest.fixture
def cognito() -> FakeCognito:
    return FakeCognito()


@pytest.fixture
def auth_client(settings: CognitoSettings, cognito: FakeCognito) -> CognitoAuthClient:
    return CognitoAuthClient(settings, transport=cognito.transport())


@pytest.fixture
def app(pool: LocalUserPool, auth_client: CognitoAuthClient) -> FastAPI:
    bearer = pool.bearer(token_use="access")
    return mount(lambda: auth_router(client=auth_client, bearer=bearer))


@pytest.fixture
def api(app: FastAPI, pool: LocalUserPool, auth_client: CognitoAuthClient) -> Iterator[Api]:
    with TestClient(app, raise_server_exceptions=False) as client:
        yield Api(client, pool.access_token(username=USERNAME))
        close(client, auth_client)


# -- happy paths ------------------------------------------------------------------------------


def message(text: str) -> dict[str, str]:
    return {"message": text}


HAPPY: dict[str, tuple[int, Any]] = {
    "/signup": (201, {"message": "User created successfully", "sub": SUB}),
    "/verify": (200, message("Account verified")),
    "/resend-code": (200, message("If the account needs verifying, a new code was sent")),
    "/signin": (200, TOKEN_BODY),
    "/challenge": (200, TOKEN_BODY),
    "/refresh": (200, TOKEN_BODY),
    "/forgot-password": (200, message("If the account exists, a reset code was sent")),
    "/reset-password": (200, message("Password reset")),
    "/change-password": (200, message("Password changed")),
}


@pytest.mark.parametrize("path", HAPPY)
def test_route_sends_the_operation_and_answers(
    api: Api, cognito: FakeCognito, pool: LocalUserPool, path: str
) -> None:
    response = api(path)
    assert (response.status_code, response.json()) == HAPPY[path]
    operation, sent = REQUESTS[path]
    if "AccessToken" in sent:
        expected = {**sent, "AccessToken": api.token}
    else:
        expected = {"ClientId": pool.client_id, **sent}
    assert cognito.requests == [(operation, expected)]


@pytest.mark.parametrize("path", ["/signin", "/challenge"])
def test_a_challenge_is_answered_as_a_challenge(api: Api, cognito: FakeCognito, path: str) -> None:
    cognito.always = ok(CHALLENGE)
    response = api(path)
    assert (response.status_code, response.json()) == (200, CHALLENGE_BODY)


def test_a_challenge_names_the_real_username_behind_an_alias(
    api: Api, cognito: FakeCognito
) -> None:
    # Signed in by email; Cognito wants the answer (and its SECRET_HASH) under USER_ID_FOR_SRP.
    parameters = {"USER_ID_FOR_SRP": SUB, "requiredAttributes": "[]"}
    cognito.always = ok({**CHALLENGE, "ChallengeParameters": parameters})
    response = api("/signin")
    assert response.status_code == 200
    assert response.json()["username"] == SUB
    assert response.json()["parameters"] == parameters


def test_refresh_without_rotation_has_no_refresh_token(api: Api, cognito: FakeCognito) -> None:
    result = {"AccessToken": "a2", "ExpiresIn": 60}
    cognito.replies["InitiateAuth"] = ok({"AuthenticationResult": result})
    response = api("/refresh")
    assert (response.status_code, response.json()) == (
        200,
        {"access_token": "a2", "id_token": None, "refresh_token": None, "expires_in": 60}
        | {"token_type": "Bearer"},
    )


def test_refresh_with_a_client_secret_needs_the_username(
    pool: LocalUserPool, cognito: FakeCognito
) -> None:
    secret = "app-client-secret-0001"
    client = CognitoAuthClient(pool.settings(client_secret=secret), transport=cognito.transport())
    app = mount(lambda: auth_router(client=client, bearer=pool.bearer(token_use="access")))
    with TestClient(app) as http:
        missing = http.post(f"{PREFIX}/refresh", json={"refresh_token": REFRESH})
        assert cognito.requests == []
        sent = http.post(f"{PREFIX}/refresh", json={"refresh_token": REFRESH, "username": SUB})
        close(http, client)
    detail = "username is required to refresh with this app client"
    assert (answer(missing), sent.status_code) == ((400, {"detail": detail}, {}), 200)
    digest = hmac.new(secret.encode(), (SUB + pool.client_id).encode(), hashlib.sha256).digest()
    hashed = {"REFRESH_TOKEN": REFRESH, "USERNAME": SUB, "SECRET_HASH": base64.b64encode(digest)}
    body = {"ClientId": pool.client_id, "AuthFlow": "REFRESH_TOKEN_AUTH", "AuthParameters": hashed}
    assert cognito.requests == [
        ("InitiateAuth", json.loads(json.dumps(body, default=bytes.decode)))
    ]


def test_logout_signs_out_everywhere(api: Api, cognito: FakeCognito) -> None:
    response = api("/logout")
    assert (response.status_code, response.content) == (204, b"")
    assert cognito.requests == [("GlobalSignOut", {"AccessToken": api.token})]


def test_me_answers_verified_claims_and_attributes(api: Api, cognito: FakeCognito) -> None:
    response = api("/me")
    segment = api.token.split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
    assert (claims["username"], claims["token_use"]) == (USERNAME, "access")
    assert response.status_code == 200
    assert response.json() == {
        "username": USERNAME,
        "claims": claims,
        "attributes": {"sub": SUB, "email": "alice@example.com"},
    }
    assert cognito.requests == [("GetUser", {"AccessToken": api.token})]


def test_replies_the_transport_already_read_are_accepted(pool: LocalUserPool) -> None:
    # httpx.Response(json=...) arrives fully read, as from httpx.MockTransport or a test double.
    def handle(request: httpx.Request) -> httpx.Response:
        operation = request.headers["X-Amz-Target"].removeprefix(TARGET)
        if operation == "SignUp":
            return httpx.Response(400, json={"__type": "UsernameExistsException"})
        return httpx.Response(200, json=REPLIES[operation])

    client = CognitoAuthClient(pool.settings(), transport=httpx.MockTransport(handle))
    app = mount(lambda: auth_router(client=client, bearer=pool.bearer(token_use="access")))
    with TestClient(app, raise_server_exceptions=False) as http:
        signed_in = http.post(f"{PREFIX}/signin", json=BODIES["/signin"])
        taken = http.post(f"{PREFIX}/signup", json=BODIES["/signup"])
        close(http, client)
    assert (signed_in.status_code, taken.status_code) == (200, 409)
    assert signed_in.json() == TOKEN_BODY


# -- error mapping ----------------------------------------------------------------------------

THROTTLING = [
    "LimitExceededException",
    "TooManyRequestsException",
    "TooManyFailedAttemptsException",
]
THROTTLED_PATHS = ["/signup", "/signin", "/forgot-password", "/resend-code", "/me"]


@pytest.mark.parametrize(
    ("path", "code", "status", "detail", "headers"),
    [
        ("/signup", "UsernameExistsException", 409, TAKEN, {}),
        ("/signup", "AliasExistsException", 409, ALIAS, {}),
        ("/verify", "AliasExistsException", 409, ALIAS, {}),
        ("/signup", "InvalidParameterException", 400, BAD_REQUEST, {}),
        ("/signin", "InvalidParameterException", 400, BAD_REQUEST, {}),
        ("/signup", "CodeDeliveryFailureException", 502, NO_DELIVERY, {}),
        ("/verify", "CodeMismatchException", 400, INVALID_CODE, {}),
        ("/verify", "ExpiredCodeException", 400, EXPIRED_CODE, {}),
        ("/verify", "UserNotFoundException", 400, INVALID_CODE, {}),
        # "Already confirmed" reads as a wrong code, so /verify tells nothing about accounts.
        ("/verify", "NotAuthorizedException", 400, INVALID_CODE, {}),
        ("/reset-password", "CodeMismatchException", 400, INVALID_CODE, {}),
        ("/reset-password", "ExpiredCodeException", 400, EXPIRED_CODE, {}),
        ("/reset-password", "UserNotFoundException", 400, INVALID_CODE, {}),
        ("/reset-password", "NotAuthorizedException", 400, INVALID_CODE, {}),
        ("/challenge", "CodeMismatchException", 400, INVALID_CODE, {}),
        ("/challenge", "NotAuthorizedException", 401, SESSION_GONE, BEARER),
        ("/challenge", "UserNotFoundException", 401, SESSION_GONE, BEARER),
        ("/signin", "NotAuthorizedException", 401, INCORRECT, BEARER),
        ("/signin", "UserNotFoundException", 401, INCORRECT, BEARER),
        ("/signin", "UserNotConfirmedException", 403, UNCONFIRMED, {}),
        ("/signin", "PasswordResetRequiredException", 403, RESET_FIRST, {}),
        ("/refresh", "NotAuthorizedException", 401, BAD_REFRESH, BEARER),
        ("/refresh", "UserNotFoundException", 401, BAD_REFRESH, BEARER),
        ("/change-password", "NotAuthorizedException", 401, WRONG_PASSWORD, BEARER),
        ("/logout", "NotAuthorizedException", 401, "Invalid token", BAD_TOKEN),
        ("/me", "NotAuthorizedException", 401, "Invalid token", BAD_TOKEN),
        ("/signin", "InternalErrorException", 502, UNEXPECTED, {}),
        ("/signup", "ResourceNotFoundException", 502, UNEXPECTED, {}),
        ("/signup", "UserLambdaValidationException", 502, UNEXPECTED, {}),
        ("/forgot-password", "InternalErrorException", 502, UNEXPECTED, {}),
        *[(p, c, 429, THROTTLED, RETRY_RATE) for p in THROTTLED_PATHS for c in THROTTLING],
    ],
)
def test_cognito_error_codes_become_fixed_answers(
    api: Api,
    cognito: FakeCognito,
    path: str,
    code: str,
    status: int,
    detail: str,
    headers: dict[str, str],
) -> None:
    cognito.always = error(code, f"{code}: something about {USERNAME}")
    assert answer(api(path)) == (status, {"detail": detail}, headers)
    assert len(cognito.requests) == 1


def test_wrong_password_and_unknown_user_answer_the_same(api: Api, cognito: FakeCognito) -> None:
    cognito.always = error("NotAuthorizedException", "Incorrect username or password.")
    wrong_password = api("/signin")
    cognito.always = error("UserNotFoundException", "User does not exist.")
    unknown_user = api("/signin")
    assert wrong_password.status_code == unknown_user.status_code == 401
    assert wrong_password.content == unknown_user.content
    assert dict(wrong_password.headers) == dict(unknown_user.headers)
    assert wrong_password.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize(
    ("message", "detail"),
    [
        pytest.param(POLICY_TEXT, POLICY_TEXT, id="policy-text"),
        pytest.param(
            "  Password does not conform\nto policy:\tPassword not long enough ",
            "Password does not conform to policy: Password not long enough",
            id="whitespace-tidied",
        ),
        pytest.param(
            "1 validation error detected: Value at 'userName' failed to satisfy constraint",
            POLICY,
            id="not-about-the-password",
        ),
        pytest.param("Password did not conform\x00 with policy", POLICY, id="non-printable"),
        pytest.param("Password rules\u202eyciloP", POLICY, id="bidi-override"),
        pytest.param("", POLICY, id="empty"),
    ],
)
@pytest.mark.parametrize("path", ["/signup", "/reset-password", "/change-password", "/challenge"])
def test_invalid_password_passes_only_the_policy_text(
    api: Api, cognito: FakeCognito, path: str, message: str, detail: str
) -> None:
    cognito.always = error("InvalidPasswordException", message)
    assert answer(api(path)) == (400, {"detail": detail}, {})


def test_a_long_policy_text_is_cut_or_replaced(api: Api, cognito: FakeCognito) -> None:
    cognito.always = error("InvalidPasswordException", "Password " + "x" * 300)
    status, body, headers = answer(api("/signup"))
    assert (status, headers) == (400, {})
    assert body["detail"] in (POLICY, ("Password " + "x" * 300)[:200])


@pytest.mark.parametrize("path", ROUTES)
def test_policy_text_never_quotes_what_was_sent(api: Api, cognito: FakeCognito, path: str) -> None:
    sent = [api.token if value == "<token>" else value for value in QUOTABLE[path]]
    quoted = f"Password did not conform with policy: {' and '.join(sent)} is not allowed"
    cognito.always = error("InvalidPasswordException", quoted)
    response = api(path)
    assert answer(response) == (400, {"detail": POLICY}, {})
    assert not [value for value in sent if value in response.text]


SERVICE_FAILURES: dict[str, tuple[Reply, int, str, dict[str, str]]] = {
    "connect-timeout": (fails(httpx.ConnectTimeout), 503, UNAVAILABLE, RETRY_DOWN),
    "read-timeout": (fails(httpx.ReadTimeout), 503, UNAVAILABLE, RETRY_DOWN),
    "pool-timeout": (fails(httpx.PoolTimeout), 503, UNAVAILABLE, RETRY_DOWN),
    "connect-error": (fails(httpx.ConnectError), 503, UNAVAILABLE, RETRY_DOWN),
    "remote-protocol-error": (fails(httpx.RemoteProtocolError), 503, UNAVAILABLE, RETRY_DOWN),
    "html-500": (raw(500, b"<html><body>Internal error</body></html>"), 502, UNEXPECTED, {}),
    "html-503": (raw(503, b"<html><body>Service Unavailable</body></html>"), 502, UNEXPECTED, {}),
    "text-400": (raw(400, b"Bad Request"), 502, UNEXPECTED, {}),
    "json-without-code": (lambda: respond(400, b'{"message": "no"}'), 502, UNEXPECTED, {}),
    "json-bad-code": (error("<script>", "x"), 502, UNEXPECTED, {}),
    "200-html": (raw(200, b"<html>captive portal</html>"), 502, UNEXPECTED, {}),
    "200-array": (ok([1, 2]), 502, UNEXPECTED, {}),
}


@pytest.mark.parametrize("failure", SERVICE_FAILURES)
@pytest.mark.parametrize("path", ["/signin", "/verify", "/forgot-password", "/logout", "/me"])
def test_service_failures_are_502_or_503(
    api: Api, cognito: FakeCognito, path: str, failure: str
) -> None:
    reply, status, detail, headers = SERVICE_FAILURES[failure]
    cognito.always = reply
    assert answer(api(path)) == (status, {"detail": detail}, headers)


@pytest.mark.parametrize(
    ("path", "reply"),
    [
        ("/signup", {"UserSub": "", "UserConfirmed": False}),
        ("/signup", {"UserConfirmed": False}),
        ("/signin", {}),
        ("/signin", {"AuthenticationResult": "x"}),
        ("/signin", {"AuthenticationResult": {"ExpiresIn": 1}}),
        ("/challenge", {"ChallengeName": "SMS_MFA"}),
        ("/refresh", CHALLENGE),
        ("/forgot-password", {"CodeDeliveryDetails": "email"}),
        ("/resend-code", {"CodeDeliveryDetails": [1]}),
        ("/me", {"Username": USERNAME}),
        ("/me", {"Username": "", "UserAttributes": []}),
        ("/me", {"Username": "a", "UserAttributes": [{"Value": "x"}]}),
    ],
)
def test_replies_of_the_wrong_shape_are_502(
    api: Api, cognito: FakeCognito, path: str, reply: Any
) -> None:
    cognito.always = ok(reply)
    assert answer(api(path)) == (502, {"detail": UNEXPECTED}, {})


AUTH_CODES = [
    "UsernameExistsException", "AliasExistsException", "CodeMismatchException",
    "ExpiredCodeException", "NotAuthorizedException", "UserNotConfirmedException",
    "UserNotFoundException", "PasswordResetRequiredException", "InvalidPasswordException",
    "InvalidParameterException", "CodeDeliveryFailureException", *THROTTLING,
    "InternalErrorException", "ResourceNotFoundException", "ForbiddenException",
]  # fmt: skip
EVERY_FAILURE: dict[str, Reply] = {
    **{code: error(code) for code in AUTH_CODES},
    **{name: failure[0] for name, failure in SERVICE_FAILURES.items()},
    "200-empty": raw(200, b""),
    "200-odd-object": ok({"AuthenticationResult": [], "UserSub": 5, "Username": None}),
    "code-in-header": lambda: respond(
        400, b"{}", {"x-amzn-ErrorType": "NotAuthorizedException:http://internal.amazon.com/"}
    ),
}


@pytest.mark.parametrize("failure", EVERY_FAILURE)
def test_no_failure_is_ever_a_500(api: Api, cognito: FakeCognito, failure: str) -> None:
    cognito.always = EVERY_FAILURE[failure]
    for path in ROUTES:
        response = api(path)
        assert response.status_code < 500 or response.status_code in (502, 503), path
        if response.status_code >= 400:
            assert isinstance(response.json()["detail"], str), path


# -- no user enumeration ----------------------------------------------------------------------

ACCOUNT_STATES = [
    "UserNotFoundException", "NotAuthorizedException", "UserNotConfirmedException",
    "InvalidParameterException", "CodeDeliveryFailureException",
]  # fmt: skip


@pytest.mark.parametrize("path", ["/forgot-password", "/resend-code"])
def test_code_requests_do_not_tell_whether_the_account_exists(
    api: Api, cognito: FakeCognito, path: str
) -> None:
    success = api(path)
    assert success.status_code == 200
    for code in ACCOUNT_STATES:
        cognito.always = error(code, f"{code} for {USERNAME}")
        response = api(path)
        assert (response.status_code, response.content) == (200, success.content), code
        assert dict(response.headers) == dict(success.headers), code
    assert len(cognito.requests) == 1 + len(ACCOUNT_STATES)


@pytest.mark.parametrize("path", ["/verify", "/reset-password"])
def test_an_unknown_user_looks_like_a_wrong_code(api: Api, cognito: FakeCognito, path: str) -> None:
    cognito.always = error("CodeMismatchException", "Invalid code provided, please try again.")
    wrong_code = api(path)
    cognito.always = error("UserNotFoundException", "Username/client id combination not found.")
    unknown_user = api(path)
    assert answer(unknown_user) == answer(wrong_code) == (400, {"detail": INVALID_CODE}, {})
    assert unknown_user.content == wrong_code.content


# -- bearer routes and configuration ----------------------------------------------------------


def _forged(pool: LocalUserPool) -> str:
    """A real token whose payload was swapped for another user's: the signature fails."""
    header, _, signature = pool.access_token(username=USERNAME).split(".")
    other = pool.access_token(username="mallory").split(".")[1]
    return f"{header}.{other}.{signature}"


@pytest.mark.parametrize("path", BEARER_ROUTES)
@pytest.mark.parametrize(
    ("kind", "expected"),
    [("none", NO_CREDENTIALS), ("id", INVALID), ("expired", EXPIRED), ("forged", INVALID),
     ("unknown-kid", INVALID)],
)  # fmt: skip
def test_bearer_routes_refuse_before_calling_cognito(
    api: Api, cognito: FakeCognito, pool: LocalUserPool, path: str, kind: str, expected: Expected
) -> None:
    unknown_kid = {"kid": "gone", "alg": "RS256"}
    token = {
        "none": "",
        "id": pool.id_token(username=USERNAME),
        "expired": pool.access_token(username=USERNAME, expires_in=-3600),
        "forged": _forged(pool),
        "unknown-kid": pool.sign(pool.access_claims(USERNAME), header=unknown_kid),
    }[kind]
    assert_rejected(api(path, token=token, anonymous=not token), expected, pool, token)
    assert cognito.requests == []


class HalfForm(SignUpForm):
    """Names the username but not the password: still abstract."""

    username: str

    def cognito_username(self) -> str:
        return self.username


Build = Callable[[LocalUserPool, CognitoAuthClient], Any]
MISCONFIGURED: dict[str, Build] = {
    "id-bearer": lambda p, c: auth_router(client=c, bearer=p.bearer(token_use="id")),
    "client-and-fields": lambda p, c: auth_router(client=c, user_pool_id=p.user_pool_id),
    "client-and-settings": lambda p, c: auth_router(p.settings(), client=c),
}
NOT_FORMS: list[Any] = [SignInRequest, "Form", dict, None]


@pytest.mark.parametrize("case", MISCONFIGURED)
def test_misconfiguration_is_refused(
    pool: LocalUserPool, auth_client: CognitoAuthClient, case: str
) -> None:
    with pytest.raises(ConfigurationError):
        MISCONFIGURED[case](pool, auth_client)


@pytest.mark.parametrize("model", NOT_FORMS)
def test_a_sign_up_model_must_be_a_sign_up_form(auth_client: CognitoAuthClient, model: Any) -> None:
    with pytest.raises(ConfigurationError):
        auth_router(client=auth_client, sign_up_model=model)


@pytest.mark.parametrize("model", [SignUpForm, HalfForm], ids=["base", "half"])
def test_an_abstract_sign_up_model_is_refused(
    auth_client: CognitoAuthClient, model: type[SignUpForm]
) -> None:
    # Each sign-up would fail with TypeError (a 500): refuse it when the router is built.
    with pytest.raises(ConfigurationError):
        auth_router(client=auth_client, sign_up_model=model)


# -- 422 answers name the rule, never the value -----------------------------------------------

MALFORMED = f'{{"username": "{USERNAME}", "password": "{PASSWORD}'.encode()
SHORT, PATTERN = "string_too_short", "string_pattern_mismatch"


def changed(path: str, **fields: Any) -> dict[str, Any]:
    return {**BODIES[path], **fields}


@pytest.mark.parametrize(
    ("path", "body", "kind", "where"),
    [
        ("/signup", changed("/signup", password="Sh0rt!"), "too_short", "password"),
        ("/signup", changed("/signup", email="mallory-at-example.com"), "value_error", "email"),
        ("/signup", changed("/signup", phone_number="07700 900123"), PATTERN, "phone_number"),
        ("/verify", changed("/verify", code=""), SHORT, "code"),
        ("/reset-password", changed("/reset-password", code="C0DE 5e3a"), PATTERN, "code"),
        ("/signin", changed("/signin", remember="Pw-extra-1a2b"), "extra_forbidden", "remember"),
        ("/signin", changed("/signin", username="alice 7c1f-spaced"), PATTERN, "username"),
        ("/signin", MALFORMED, "json_invalid", MALFORMED.index(b'"Pw-')),  # the string's start
        ("/signin", json.dumps(PASSWORD).encode(), "model_attributes_type", None),
        ("/signin", json.dumps([USERNAME, PASSWORD]).encode(), "model_attributes_type", None),
        ("/change-password", changed("/change-password", proposed_password="Sh0rt!"),
         "too_short", "proposed_password"),
        ("/challenge", changed("/challenge", session="short-session-1a"), SHORT, "session"),
    ],
)  # fmt: skip
def test_invalid_bodies_are_422_without_the_values(
    api: Api, cognito: FakeCognito, path: str, body: Any, kind: str, where: str | int | None
) -> None:
    if isinstance(body, bytes):
        response, values = api(path, content=body), [USERNAME, PASSWORD]
    else:
        response, values = api(path, body), [v for v in body.values() if isinstance(v, str) and v]
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert all(set(item) == {"type", "loc", "msg"} for item in detail)
    loc = ["body"] if where is None else ["body", where]
    assert [(item["type"], item["loc"]) for item in detail] == [(kind, loc)]
    for value in values + ["Sh0rt!", "mallory-at-example.com", "07700 900123", "C0DE 5e3a"]:
        assert value not in response.text
    assert cognito.requests == []


# -- nothing sensitive in answers or logs -----------------------------------------------------


def test_no_secret_reaches_answers_or_logs(
    api: Api, cognito: FakeCognito, library_logs: pytest.LogCaptureFixture
) -> None:
    secrets = [USERNAME, PASSWORD, NEW_PASSWORD, CODE, REFRESH, SESSION, api.token]
    quoted = f"1 validation error: Value '{' '.join(secrets)}' failed to satisfy constraint"
    for path in ROUTES:
        assert api(path).status_code in (200, 201, 204), path
    exposed: list[str] = []
    for code in AUTH_CODES:
        cognito.always = error(code, quoted)
        for path in ROUTES:
            response = api(path)
            if response.status_code >= 400:
                exposed += [response.text, *(f"{k}: {v}" for k, v in response.headers.items())]
    for failure in SERVICE_FAILURES.values():
        cognito.always = failure[0]
        exposed += [api(path).text for path in ROUTES]
    assert "InitiateAuth" in library_logs.text  # the refusals were logged, by operation
    for secret in secrets:
        assert secret not in library_logs.text
        assert not [text for text in exposed if secret in text]


# -- a custom sign-up model, and the OpenAPI schema -------------------------------------------


class Registration(SignUpForm):
    """Sign up by email, with a name, a phone number and a role."""

    full_name: str = Field(max_length=50)
    email: EmailStr
    phone_number: str = Field(min_length=10)
    password: SecretStr = Field(min_length=8)
    role: str

    def cognito_username(self) -> str:
        return self.email

    def cognito_password(self) -> str:
        return self.password.get_secret_value()

    def cognito_attributes(self) -> dict[str, str]:
        return {"name": self.full_name, "phone_number": self.phone_number, "custom:role": self.role}


REGISTRATION = {"full_name": "Alice Liddell", "email": "alice@example.com", "role": "editor"}
REGISTRATION |= {"phone_number": "+447700900123", "password": PASSWORD}


@pytest.fixture
def registration_api(pool: LocalUserPool, auth_client: CognitoAuthClient) -> Iterator[TestClient]:
    bearer = pool.bearer(token_use="access")
    app = mount(lambda: auth_router(client=auth_client, bearer=bearer, sign_up_model=Registration))
    with TestClient(app) as client:
        yield client
        close(client, auth_client)


def test_a_custom_sign_up_model_decides_what_is_sent(
    registration_api: TestClient, cognito: FakeCognito, pool: LocalUserPool
) -> None:
    response = registration_api.post(f"{PREFIX}/signup", json=REGISTRATION)
    assert response.status_code == 201
    assert response.json() == {"message": "User created successfully", "sub": SUB}
    attributes = [
        {"Name": "name", "Value": "Alice Liddell"},
        {"Name": "phone_number", "Value": "+447700900123"},
        {"Name": "custom:role", "Value": "editor"},
    ]
    sent = {"Username": "alice@example.com", "Password": PASSWORD, "UserAttributes": attributes}
    assert cognito.requests == [("SignUp", {"ClientId": pool.client_id, **sent})]


@pytest.mark.parametrize(
    "body",
    [
        pytest.param({**REGISTRATION, "full_name": "A" * 51}, id="long-name"),
        pytest.param({**REGISTRATION, "phone_number": "+4477"}, id="short-phone"),
        pytest.param({k: v for k, v in REGISTRATION.items() if k != "role"}, id="no-role"),
        pytest.param(BODIES["/signup"], id="default-model-body"),
    ],
)
def test_a_custom_sign_up_model_validates_its_fields(
    registration_api: TestClient, cognito: FakeCognito, body: dict[str, Any]
) -> None:
    response = registration_api.post(f"{PREFIX}/signup", json=body)
    assert response.status_code == 422
    assert PASSWORD not in response.text
    assert cognito.requests == []


def test_openapi_shows_the_sign_up_model_and_the_bearer(registration_api: TestClient) -> None:
    schema = registration_api.get("/openapi.json").json()
    paths = schema["paths"]
    signup = paths[f"{PREFIX}/signup"]["post"]
    body_schema = signup["requestBody"]["content"]["application/json"]["schema"]
    assert body_schema == {"$ref": "#/components/schemas/Registration"}
    properties = schema["components"]["schemas"]["Registration"]["properties"]
    assert set(properties) == {"full_name", "email", "phone_number", "password", "role"}
    assert (signup["tags"], "201" in signup["responses"]) == (["auth"], True)
    for path, method in [("/me", "get"), ("/logout", "post"), ("/change-password", "post")]:
        assert paths[f"{PREFIX}{path}"][method]["security"] == [{"CognitoBearer": []}]
    for path in ["/signup", "/signin", "/refresh", "/forgot-password"]:
        assert "security" not in paths[f"{PREFIX}{path}"]["post"]
    scheme = {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
    assert schema["components"]["securitySchemes"]["CognitoBearer"] == scheme


def test_openapi_uses_the_default_model_and_the_given_tags(
    auth_client: CognitoAuthClient,
) -> None:
    schema = mount(lambda: auth_router(client=auth_client, tags=["accounts"])).openapi()
    signup = schema["paths"][f"{PREFIX}/signup"]["post"]
    body = signup["requestBody"]["content"]["application/json"]["schema"]
    assert body == {"$ref": "#/components/schemas/SignUpRequest"}
    assert signup["tags"] == ["accounts"]


# -- lifespan ---------------------------------------------------------------------------------


@pytest.fixture
def created(monkeypatch: pytest.MonkeyPatch, cognito: FakeCognito) -> list[CognitoAuthClient]:
    """The auth clients the router builds for itself, talking to the fake."""
    clients: list[CognitoAuthClient] = []

    class Recorded(CognitoAuthClient):
        def __init__(self, settings: CognitoSettings | None = None, /) -> None:
            super().__init__(settings, transport=cognito.transport())
            clients.append(self)

    monkeypatch.setattr(_router, "CognitoAuthClient", Recorded)
    return clients


def owned_http_client(client: CognitoAuthClient) -> httpx.AsyncClient | None:
    """The httpx client an auth client made for itself (None before its first call)."""
    return client._owned


@pytest.mark.parametrize("prefixes", [["/a"], ["/a", "/b"]], ids=["one", "two"])
def test_a_router_built_from_settings_closes_its_client_on_shutdown(
    settings: CognitoSettings, created: list[CognitoAuthClient], prefixes: list[str]
) -> None:
    app = FastAPI()
    for prefix in prefixes:
        app.include_router(auth_router(settings), prefix=prefix)
    with TestClient(app) as client:
        for prefix in prefixes:
            assert client.post(f"{prefix}/signin", json=BODIES["/signin"]).status_code == 200
        https = [owned_http_client(own) for own in created]
        assert len(https) == len(prefixes)
        assert all(http is not None and not http.is_closed for http in https)
    assert all(http is not None and http.is_closed for http in https)
    assert [owned_http_client(own) for own in created] == [None] * len(prefixes)


def test_a_router_given_a_client_leaves_it_open(
    app: FastAPI, auth_client: CognitoAuthClient
) -> None:
    with TestClient(app) as client:
        assert client.post(f"{PREFIX}/signin", json=BODIES["/signin"]).status_code == 200
        http = owned_http_client(auth_client)
        assert http is not None
    assert owned_http_client(auth_client) is http
    assert not http.is_closed
    anyio.run(auth_client.aclose)  # the caller's to close, and it can
    assert http.is_closed
