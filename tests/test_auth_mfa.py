"""MFA and passwordless sign-in through the router (and so the client) against the fake.

tests/fake_cognito_srp.py plays Cognito's MFA_SETUP, SELECT_MFA_TYPE, SOFTWARE_TOKEN_MFA,
SMS_MFA and EMAIL_OTP challenges, USER_AUTH's SELECT_CHALLENGE with EMAIL_OTP, SMS_OTP,
PASSWORD and PASSWORD_SRP, AssociateSoftwareToken, VerifySoftwareToken and
SetUserMFAPreference. TOTP against moto's emulation is in tests/integration/test_auth_totp.py.
"""

# No `from __future__ import annotations`: FastAPI reads route signatures at runtime.

import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx2
import hypothesis
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import strategies as st

from fastapi_cognito_jwt import CognitoAuthClient, ConfigurationError, auth_router
from fastapi_cognito_jwt.testing import LocalUserPool
from tests.fake_cognito_srp import FakeCognitoSRP, User, totp
from tests.helpers import assert_logs_hide, bearer

USERNAME, PASSWORD = "ada-3f9e", "Pw-mfa-5c2d-Secret!"
SESSION_EXPIRED = {"detail": "The sign-in session is invalid or has expired"}
INVALID_CODE = {"detail": "Invalid verification code"}


@dataclass
class Api:
    client: TestClient
    fake: FakeCognitoSRP
    user: User
    token: str

    def post(self, path: str, body: Any = None, *, signed_in: bool = False) -> httpx2.Response:
        headers = bearer(self.token) if signed_in else {}
        return self.client.post(f"/auth{path}", json=body, headers=headers)

    def sign_in(self) -> dict[str, Any]:
        response = self.post("/signin", {"username": USERNAME, "password": PASSWORD})
        assert response.status_code == 200
        return dict(response.json())

    def answer(self, challenge: dict[str, Any], responses: dict[str, str]) -> httpx2.Response:
        return self.post("/challenge", {"username": challenge["username"],
                                        "challenge_name": challenge["challenge_name"],
                                        "session": challenge["session"],
                                        "responses": responses})  # fmt: skip


def build(pool: LocalUserPool, required: str = "OFF", **user: Any) -> Iterator[Api]:
    fake = FakeCognitoSRP(pool.user_pool_id, pool.client_id, mfa=required)
    account = fake.add_user(USERNAME, PASSWORD, email="ada@example.com", **user)
    client = CognitoAuthClient(pool.settings(), transport=fake.transport())
    app = FastAPI()
    app.include_router(auth_router(client=client, bearer=pool.bearer(token_use="access")),
                       prefix="/auth")  # fmt: skip
    with TestClient(app) as test_client:
        yield Api(test_client, fake, account, pool.access_token(username=USERNAME))


@pytest.fixture
def api(pool: LocalUserPool) -> Iterator[Api]:
    yield from build(pool)


def tokens(response: httpx2.Response) -> bool:
    return response.status_code == 200 and response.json()["access_token"].startswith("access-")


# -- a signed-in user sets up an authenticator app and preferences -------------------------------


def test_totp_set_up_then_sign_in_with_it(api: Api, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    associated = api.post("/mfa/totp/associate", signed_in=True)
    assert associated.status_code == 200
    secret = associated.json()["secret_code"]
    assert associated.json() == {"secret_code": secret, "session": None}
    wrong = api.post("/mfa/totp/verify", {"code": "000000"}, signed_in=True)
    assert (wrong.status_code, wrong.json()) == (400, INVALID_CODE)
    verified = api.post("/mfa/totp/verify", {"code": totp(secret), "device_name": "Phone"},
                        signed_in=True)  # fmt: skip
    assert verified.json() == {"message": "Authenticator app verified"}
    saved = api.post("/mfa/preferences", {"preferred": "totp"}, signed_in=True)
    assert saved.json() == {"message": "MFA preferences saved"}
    challenge = api.sign_in()
    assert challenge["challenge_name"] == "SOFTWARE_TOKEN_MFA"
    assert api.answer(challenge, {"SOFTWARE_TOKEN_MFA_CODE": "000000"}).status_code == 400
    challenge = api.sign_in()
    assert tokens(api.answer(challenge, {"SOFTWARE_TOKEN_MFA_CODE": totp(secret)}))
    assert_logs_hide(caplog.records, secret, totp(secret), PASSWORD)


def test_mfa_routes_need_a_signed_in_user(api: Api) -> None:
    for path, body in [("/mfa/totp/associate", None), ("/mfa/totp/verify", {"code": "123456"}),
                       ("/mfa/preferences", {"totp": False})]:  # fmt: skip
        response = api.post(path, body)
        assert response.status_code == 401
        assert response.headers["www-authenticate"] == "Bearer"
    assert api.fake.operations == []


@pytest.mark.parametrize(
    ("body", "status"),
    [({"sms": True}, 400), ({"totp": True}, 400), ({"preferred": "sms", "sms": False}, 422),
     ({"preferred": "push"}, 422), ({"email": "yes"}, 422)],
)  # fmt: skip
def test_preferences_the_account_cannot_have(api: Api, body: dict[str, Any], status: int) -> None:
    # No phone number and no verified authenticator app: Cognito refuses those methods.
    response = api.post("/mfa/preferences", body, signed_in=True)
    assert response.status_code == status
    if status == 400:
        assert response.json() == {"detail": "That MFA method cannot be used by this account"}
    assert api.user.mfa == {}


# -- MFA challenges at sign-in ----------------------------------------------------------------


def test_mfa_setup_during_sign_in(pool: LocalUserPool) -> None:
    for api in build(pool, required="ON"):
        challenge = api.sign_in()
        assert challenge["challenge_name"] == "MFA_SETUP"
        associated = api.post("/challenge/mfa-setup/associate", {"session": challenge["session"]})
        secret, session = associated.json()["secret_code"], associated.json()["session"]
        finish = {"username": challenge["username"], "session": session, "code": totp(secret)}
        assert tokens(api.post("/challenge/mfa-setup/verify", finish))
        # The set-up session is spent.
        again = api.post("/challenge/mfa-setup/verify", finish)
        assert (again.status_code, again.json()) == (401, SESSION_EXPIRED)


def test_mfa_setup_with_a_wrong_code(pool: LocalUserPool) -> None:
    for api in build(pool, required="ON"):
        challenge = api.sign_in()
        associated = api.post("/challenge/mfa-setup/associate", {"session": challenge["session"]})
        finish = {"username": USERNAME, "session": associated.json()["session"], "code": "000000"}
        response = api.post("/challenge/mfa-setup/verify", finish)
        assert (response.status_code, response.json()) == (400, INVALID_CODE)


@pytest.mark.parametrize(("choice", "key"), [("EMAIL_OTP", "EMAIL_OTP_CODE"),
                                             ("SMS_MFA", "SMS_MFA_CODE")])  # fmt: skip
def test_select_mfa_type_then_the_code(pool: LocalUserPool, choice: str, key: str) -> None:
    for api in build(pool, phone="+15555550100", mfa={"sms": True, "email": True}):
        challenge = api.sign_in()
        assert challenge["challenge_name"] == "SELECT_MFA_TYPE"
        assert json.loads(challenge["parameters"]["MFAS_CAN_CHOOSE"]) == ["SMS_MFA", "EMAIL_OTP"]
        chosen = api.answer(challenge, {"ANSWER": choice}).json()
        assert chosen["challenge_name"] == choice
        assert tokens(api.answer(chosen, {key: api.fake.last_code(USERNAME)}))


@pytest.mark.parametrize("preferred", ["sms", "email"])
def test_the_preferred_method_is_asked_for(pool: LocalUserPool, preferred: str) -> None:
    methods = {"sms": True, "email": True}
    for api in build(pool, phone="+15555550100", mfa=methods, preferred=preferred):
        challenge = api.sign_in()
        assert challenge["challenge_name"] == {"sms": "SMS_MFA", "email": "EMAIL_OTP"}[preferred]
        assert api.fake.sent[-1][0] == {"sms": "SMS", "email": "EMAIL"}[preferred]


def test_wrong_expired_and_spent_codes(pool: LocalUserPool) -> None:
    for api in build(pool, mfa={"email": True}):
        challenge = api.sign_in()
        wrong = api.answer(challenge, {"EMAIL_OTP_CODE": "not-it"})
        assert (wrong.status_code, wrong.json()) == (400, INVALID_CODE)
        spent = api.answer(challenge, {"EMAIL_OTP_CODE": api.fake.last_code(USERNAME)})
        assert (spent.status_code, spent.json()) == (401, SESSION_EXPIRED)
        api.fake.code_lifetime = -1
        late = api.answer(api.sign_in(), {"EMAIL_OTP_CODE": api.fake.last_code(USERNAME)})
        assert late.status_code == 400
        assert late.json() == {"detail": "The verification code has expired; request a new one"}


# -- choice-based and passwordless sign-in (USER_AUTH) --------------------------------------------


@pytest.mark.parametrize(("factor", "key"), [("EMAIL_OTP", "EMAIL_OTP_CODE"),
                                             ("SMS_OTP", "SMS_OTP_CODE")])  # fmt: skip
def test_passwordless_sign_in(pool: LocalUserPool, factor: str, key: str) -> None:
    for api in build(pool, phone="+15555550100"):
        choice = api.post("/signin/choice", {"username": USERNAME}).json()
        assert choice["challenge_name"] == "SELECT_CHALLENGE"
        assert choice["available_challenges"] == ["PASSWORD", "PASSWORD_SRP", "EMAIL_OTP",
                                                  "SMS_OTP"]  # fmt: skip
        select = {"username": USERNAME, "session": choice["session"], "answer": factor}
        code_challenge = api.post("/challenge/select", select).json()
        assert code_challenge["challenge_name"] == factor
        assert tokens(api.answer(code_challenge, {key: api.fake.last_code(USERNAME)}))


def test_a_preferred_factor_starts_at_once(api: Api) -> None:
    started = api.post("/signin/choice", {"username": USERNAME, "preferred_challenge": "EMAIL_OTP"})
    assert started.json()["challenge_name"] == "EMAIL_OTP"
    assert tokens(api.answer(started.json(), {"EMAIL_OTP_CODE": api.fake.last_code(USERNAME)}))


@pytest.mark.parametrize("factor", ["PASSWORD", "PASSWORD_SRP"])
def test_a_password_factor_chosen_or_preferred(api: Api, factor: str) -> None:
    choice = api.post("/signin/choice", {"username": USERNAME}).json()
    select = {"username": USERNAME, "session": choice["session"], "answer": factor}
    assert tokens(api.post("/challenge/select", {**select, "password": PASSWORD}))
    preferred = {"username": USERNAME, "preferred_challenge": factor, "password": PASSWORD}
    assert tokens(api.post("/signin/choice", preferred))
    if factor == "PASSWORD_SRP":
        assert all(PASSWORD.encode() not in body for body in api.fake.requests)


@pytest.mark.parametrize("factor", ["PASSWORD", "PASSWORD_SRP"])
def test_choice_sign_in_tells_no_user_apart(api: Api, factor: str) -> None:
    answers = []
    for username, password in [(USERNAME, "Pw-wrong-1!"), ("nobody-2", PASSWORD)]:
        body = {"username": username, "preferred_challenge": factor, "password": password}
        response = api.post("/signin/choice", body)
        challenge = response.headers["www-authenticate"]
        answers.append((response.status_code, response.json(), challenge))
    assert answers[0] == answers[1] == (401, {"detail": "Incorrect username or password"}, "Bearer")


@pytest.mark.parametrize(
    ("path", "body"),
    [("/signin/choice", {"username": USERNAME, "preferred_challenge": "PASSWORD"}),
     ("/challenge/select", {"username": USERNAME, "session": "s" * 30, "answer": "PASSWORD_SRP"}),
     ("/challenge/select", {"username": USERNAME, "session": "s" * 30, "answer": "WEB_AUTHN"}),
     ("/challenge/mfa-setup/verify", {"username": USERNAME, "session": "s" * 30, "code": "12ab"})],
)  # fmt: skip
def test_incomplete_bodies_are_refused_before_cognito(
    api: Api, path: str, body: dict[str, str]
) -> None:
    response = api.post(path, body)
    assert response.status_code == 422
    assert "s" * 30 not in response.text and "12ab" not in response.text
    assert api.fake.operations == []


# -- the client's own rules -------------------------------------------------------------------


@pytest.mark.anyio
async def test_set_mfa_preference_sends_only_what_changes(pool: LocalUserPool) -> None:
    fake = FakeCognitoSRP(pool.user_pool_id, pool.client_id)
    fake.add_user(USERNAME, PASSWORD, email="ada@example.com")
    token = pool.access_token(username=USERNAME)
    async with CognitoAuthClient(pool.settings(), transport=fake.transport()) as client:
        await client.set_mfa_preference(token, sms=False, preferred="email")
        with pytest.raises(ConfigurationError):
            await client.set_mfa_preference(token, preferred="push")
        with pytest.raises(ConfigurationError):
            await client.associate_software_token()
        with pytest.raises(ConfigurationError):
            await client.sign_in_choice(USERNAME, preferred="PASSWORD")
    assert json.loads(fake.requests[0]) == {
        "AccessToken": token,
        "SMSMfaSettings": {"Enabled": False, "PreferredMfa": False},
        "EmailMfaSettings": {"Enabled": True, "PreferredMfa": True},
    }
    assert len(fake.requests) == 1


# -- fuzzing: any body at the new routes is answered, never with a 500 or an echo ----------------

NEW_ROUTES: dict[str, dict[str, Any]] = {
    "/signin/choice": {"username": USERNAME, "preferred_challenge": "PASSWORD_SRP",
                       "password": PASSWORD},
    "/challenge/select": {"username": USERNAME, "session": "s" * 40, "answer": "PASSWORD",
                          "password": PASSWORD},
    "/challenge/mfa-setup/associate": {"session": "s" * 40},
    "/challenge/mfa-setup/verify": {"username": USERNAME, "session": "s" * 40, "code": "123456"},
    "/mfa/totp/associate": {},
    "/mfa/totp/verify": {"code": "123456", "device_name": "Phone"},
    "/mfa/preferences": {"sms": False, "totp": True, "email": None, "preferred": "totp"},
}  # fmt: skip
MARKER = "Zq7-echo-marker"
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=40) | st.just(MARKER) | st.just("x" * 3000),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner,
                                                                max_size=3),
    max_leaves=8,
)  # fmt: skip


@st.composite
def bodies(draw: st.DrawFn) -> tuple[str, Any]:
    path = draw(st.sampled_from(sorted(NEW_ROUTES)))
    valid: dict[str, Any] = dict(NEW_ROUTES[path])
    how = draw(st.sampled_from(["replace", "drop", "extra", "whole"]))
    if how == "whole":
        return path, draw(json_values)
    if how == "extra":
        # Values only: 422s echoing key names is scrubbed router-wide (issue 13, item 6).
        valid[draw(st.sampled_from(["extra", "password", "code"]))] = draw(json_values)
    elif valid:
        key = draw(st.sampled_from(sorted(valid)))
        if how == "drop":
            del valid[key]
        else:
            valid[key] = draw(json_values)
    return path, valid


@hypothesis.settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[hypothesis.HealthCheck.function_scoped_fixture],
)
@hypothesis.given(case=bodies())
def test_new_routes_never_fail_on_any_body(api: Api, case: tuple[str, Any]) -> None:
    path, body = case
    response = api.post(path, body, signed_in=path.startswith("/mfa"))
    assert response.status_code < 500  # the TestClient also raises any exception in the app
    assert MARKER not in response.text
    assert PASSWORD not in response.text
