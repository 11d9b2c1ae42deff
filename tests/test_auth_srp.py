"""SRP sign-in end to end: the client and the router against a fake that checks the proof.

tests/fake_cognito_srp.py keeps only each user's verifier, so a sign-in that succeeds proves
the client computed Cognito's SRP correctly; the password never appears in what it received.
"""

# No `from __future__ import annotations`: FastAPI reads route signatures at runtime.

import logging
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from fastapi_cognito_jwt import (
    AuthChallenge,
    AuthTokens,
    CognitoAuthClient,
    CognitoServiceError,
    InvalidParameterError,
    NotAuthorizedError,
    auth_router,
)
from fastapi_cognito_jwt.testing import LocalUserPool
from tests.fake_cognito_srp import FakeCognitoSRP, N
from tests.helpers import assert_logs_hide

pytestmark = pytest.mark.anyio

USERNAME, PASSWORD = "grace-51d0", "Pw-srp-7e1c-Secret!"
SECRET = "1example23secret456789abcdefghijklmnopqrstuvwxyz0"


@pytest.fixture
def fake(pool: LocalUserPool) -> FakeCognitoSRP:
    fake = FakeCognitoSRP(pool.user_pool_id, pool.client_id)
    fake.add_user(USERNAME, PASSWORD)
    return fake


def client_of(pool: LocalUserPool, fake: FakeCognitoSRP, **fields: Any) -> CognitoAuthClient:
    return CognitoAuthClient(pool.settings(**fields), transport=fake.transport())


def assert_password_stayed(fake: FakeCognitoSRP, *passwords: str) -> None:
    for body in fake.requests:
        for password in passwords:
            assert password.encode() not in body


async def test_the_client_signs_in_with_srp_by_default(
    pool: LocalUserPool, fake: FakeCognitoSRP
) -> None:
    async with client_of(pool, fake) as client:
        tokens = await client.sign_in(USERNAME, PASSWORD)
    assert isinstance(tokens, AuthTokens) and tokens.access_token.startswith("access-")
    assert fake.operations == ["InitiateAuth", "RespondToAuthChallenge"]
    assert_password_stayed(fake, PASSWORD)


async def test_a_confidential_client_hashes_every_step(pool: LocalUserPool) -> None:
    fake = FakeCognitoSRP(pool.user_pool_id, pool.client_id, secret=SECRET)
    fake.add_user(USERNAME, PASSWORD)
    async with client_of(pool, fake, client_secret=SECRET) as client:
        assert isinstance(await client.sign_in(USERNAME, PASSWORD), AuthTokens)
    async with client_of(pool, fake) as client:  # no secret: the fake refuses the first step
        with pytest.raises(NotAuthorizedError):
            await client.sign_in(USERNAME, PASSWORD)


@pytest.mark.parametrize(
    ("username", "password"), [(USERNAME, "Pw-srp-wrong!"), ("nobody", PASSWORD)]
)
async def test_wrong_password_and_unknown_user_fail_alike(
    pool: LocalUserPool, fake: FakeCognitoSRP, username: str, password: str
) -> None:
    async with client_of(pool, fake) as client:
        with pytest.raises(NotAuthorizedError) as caught:
            await client.sign_in(username, password)
    assert caught.value.code == "NotAuthorizedException"
    # Both got a challenge first: the refusal comes only for the proof.
    assert fake.operations == ["InitiateAuth", "RespondToAuthChallenge"]
    assert_password_stayed(fake, password)


async def test_a_zero_server_value_is_refused_before_any_proof(
    pool: LocalUserPool, fake: FakeCognitoSRP, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = fake._srp_challenge

    def zero_b(username: str, srp_a: str) -> dict[str, Any]:
        answer = original(username, srp_a)
        answer["ChallengeParameters"]["SRP_B"] = format(N * 2, "x")
        return answer

    monkeypatch.setattr(fake, "_srp_challenge", zero_b)
    async with client_of(pool, fake) as client:
        with pytest.raises(CognitoServiceError, match="unusable SRP challenge"):
            await client.sign_in(USERNAME, PASSWORD)
    assert fake.operations == ["InitiateAuth"]


async def test_the_fallback_setting_sends_the_password(pool: LocalUserPool) -> None:
    fake = FakeCognitoSRP(pool.user_pool_id, pool.client_id)
    async with client_of(pool, fake, sign_in_flow="USER_PASSWORD_AUTH") as client:
        # The fake's app client allows SRP only, as one without ALLOW_USER_PASSWORD_AUTH.
        with pytest.raises(InvalidParameterError):
            await client.sign_in(USERNAME, PASSWORD)
    assert PASSWORD.encode() in fake.requests[0]


async def test_an_alias_sign_in_proves_for_the_real_user(pool: LocalUserPool) -> None:
    # Cognito's proof is over USER_ID_FOR_SRP (the real username behind the email), and the
    # answer names that user; with a secret, its SECRET_HASH is over that name too.
    fake = FakeCognitoSRP(pool.user_pool_id, pool.client_id, secret=SECRET, mfa="ON")
    fake.add_user("3f1e-internal-id", PASSWORD)
    fake.aliases["grace@example.com"] = "3f1e-internal-id"
    async with client_of(pool, fake, client_secret=SECRET) as client:
        challenge = await client.sign_in("grace@example.com", PASSWORD)
        assert isinstance(challenge, AuthChallenge) and challenge.name == "MFA_SETUP"
        assert challenge.username == "3f1e-internal-id"
        with pytest.raises(NotAuthorizedError):
            await client.sign_in("grace@example.com", "Pw-srp-wrong!")


async def test_a_challenge_after_the_proof_is_returned(pool: LocalUserPool) -> None:
    fake = FakeCognitoSRP(pool.user_pool_id, pool.client_id, mfa="ON")
    fake.add_user(USERNAME, PASSWORD)
    async with client_of(pool, fake) as client:
        challenge = await client.sign_in(USERNAME, PASSWORD)
    assert isinstance(challenge, AuthChallenge)
    assert (challenge.name, challenge.username) == ("MFA_SETUP", USERNAME)
    assert challenge.parameters == {"MFAS_CAN_SETUP": '["SOFTWARE_TOKEN_MFA"]'}


@pytest.fixture
def api(pool: LocalUserPool, fake: FakeCognitoSRP) -> Iterator[TestClient]:
    app = FastAPI()
    app.include_router(auth_router(client=client_of(pool, fake)), prefix="/auth")
    with TestClient(app) as client:
        yield client


def test_the_router_signs_in_with_srp(api: TestClient, fake: FakeCognitoSRP) -> None:
    response = api.post("/auth/signin", json={"username": USERNAME, "password": PASSWORD})
    assert response.status_code == 200
    assert response.json()["access_token"].startswith("access-")
    assert_password_stayed(fake, PASSWORD)


def test_the_router_answers_wrong_password_and_unknown_user_alike(
    api: TestClient, fake: FakeCognitoSRP, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    wrong = api.post("/auth/signin", json={"username": USERNAME, "password": "Pw-srp-wrong!"})
    unknown = api.post("/auth/signin", json={"username": "nobody-1", "password": PASSWORD})
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json() == {"detail": "Incorrect username or password"}
    assert wrong.headers["www-authenticate"] == unknown.headers["www-authenticate"] == "Bearer"
    assert_logs_hide(caplog.records, PASSWORD, "Pw-srp-wrong!", USERNAME)
    assert_password_stayed(fake, PASSWORD, "Pw-srp-wrong!")
