"""The auth flows end to end: the FastCognito example app against moto's Cognito server.

Real HTTP from the library to the emulator; the app itself is called in-process. The pool is
seed 000's (sign-in by email, `custom:role`), created by the same code `make demo` uses.
moto accepts any confirmation code for sign-up, and for a password reset any code that does
not look like its own (`moto-confirmation-code:...`), so wrong codes are tested with those.
"""

# No `from __future__ import annotations`: FastAPI reads route signatures at runtime.

import base64
import hashlib
import hmac
import json
import warnings
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI

from examples.fastcognito.emulator import LocalPool, create_user_pool
from examples.fastcognito.main import create_app
from fastapi_cognito_jwt import (
    AuthTokens,
    CognitoAuthClient,
    CognitoSettings,
    NotAuthorizedError,
)

from .conftest import MotoUserPool

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    from fastapi.testclient import TestClient

pytestmark = pytest.mark.integration

AUTH = "/api/v1/auth"
PASSWORD = "Corr3ct-horse-battery!"
NEW_PASSWORD = "An0ther-horse-battery!"
RESET_PASSWORD = "Th1rd-horse-battery!"


def _claims(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    decoded: dict[str, Any] = json.loads(
        base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    )
    return decoded


def _signup(email: str, password: str = PASSWORD) -> dict[str, str]:
    return {
        "full_name": "Ada Lovelace",
        "email": email,
        "phone_number": "+15555550100",
        "password": password,
        "role": "engineer",
    }


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture(scope="module")
def seed_pool(moto_server: str) -> LocalPool:
    return create_user_pool(moto_server)


@pytest.fixture(scope="module")
def app(seed_pool: LocalPool) -> FastAPI:
    return create_app(seed_pool.settings())


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as test_client:
        yield test_client


def _signed_up(client: TestClient, email: str) -> None:
    assert client.post(f"{AUTH}/signup", json=_signup(email)).status_code == 201
    verified = client.post(f"{AUTH}/verify", json={"username": email, "code": "123456"})
    assert verified.status_code == 200


def test_the_whole_journey(client: TestClient) -> None:
    email = "ada@example.com"
    created = client.post(f"{AUTH}/signup", json=_signup(email))
    assert created.status_code == 201
    assert created.json()["message"] == "User created successfully"
    sub = created.json()["sub"]

    duplicate = client.post(f"{AUTH}/signup", json=_signup(email))
    assert (duplicate.status_code, duplicate.json()) == (
        409,
        {"detail": "An account with this username already exists"},
    )

    verified = client.post(f"{AUTH}/verify", json={"username": email, "code": "123456"})
    assert (verified.status_code, verified.json()) == (200, {"message": "Account verified"})

    signed_in = client.post(f"{AUTH}/signin", json={"username": email, "password": PASSWORD})
    assert signed_in.status_code == 200
    tokens = signed_in.json()
    assert tokens["token_type"] == "Bearer" and tokens["expires_in"] > 0
    access = tokens["access_token"]
    assert _claims(access)["sub"] == sub

    # The protected route verifies the real access token locally (JWKS from the emulator).
    hello = client.get("/api/v1/users/hello", headers=_bearer(access))
    assert hello.status_code == 200
    assert hello.json() == {"message": f"Hello, {_claims(access)['username']}"}
    assert client.get("/api/v1/users/hello").status_code == 401

    me = client.get(f"{AUTH}/me", headers=_bearer(access))
    assert me.status_code == 200
    assert me.json()["claims"]["sub"] == sub
    attributes = me.json()["attributes"]
    assert attributes["custom:role"] == "engineer"
    assert attributes["name"] == "Ada Lovelace"
    assert attributes["phone_number"] == "+15555550100"
    assert attributes["email"] == email

    refreshed = client.post(f"{AUTH}/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert refreshed.status_code == 200
    access = refreshed.json()["access_token"]
    assert access != tokens["access_token"]
    assert client.get("/api/v1/users/hello", headers=_bearer(access)).status_code == 200

    changed = client.post(
        f"{AUTH}/change-password",
        json={"previous_password": PASSWORD, "proposed_password": NEW_PASSWORD},
        headers=_bearer(access),
    )
    assert (changed.status_code, changed.json()) == (200, {"message": "Password changed"})
    old = client.post(f"{AUTH}/signin", json={"username": email, "password": PASSWORD})
    assert old.status_code == 401
    new = client.post(f"{AUTH}/signin", json={"username": email, "password": NEW_PASSWORD})
    assert new.status_code == 200

    forgot = client.post(f"{AUTH}/forgot-password", json={"username": email})
    assert forgot.status_code == 200
    reset = client.post(
        f"{AUTH}/reset-password",
        json={"username": email, "code": "123456", "new_password": RESET_PASSWORD},
    )
    assert (reset.status_code, reset.json()) == (200, {"message": "Password reset"})
    after_reset = client.post(
        f"{AUTH}/signin", json={"username": email, "password": RESET_PASSWORD}
    )
    assert after_reset.status_code == 200
    access = after_reset.json()["access_token"]
    refresh_token = after_reset.json()["refresh_token"]

    logout = client.post(f"{AUTH}/logout", headers=_bearer(access))
    assert (logout.status_code, logout.content) == (204, b"")
    # Cognito refuses the signed-out tokens; the local check cannot know until `exp`.
    revoked = client.get(f"{AUTH}/me", headers=_bearer(access))
    assert revoked.status_code == 401
    assert revoked.headers["www-authenticate"] == 'Bearer error="invalid_token"'
    stale = client.post(f"{AUTH}/refresh", json={"refresh_token": refresh_token})
    assert (stale.status_code, stale.json()) == (401, {"detail": "Invalid refresh token"})


def test_wrong_password_and_unknown_user_get_the_same_answer(client: TestClient) -> None:
    _signed_up(client, "grace@example.com")
    wrong = client.post(
        f"{AUTH}/signin", json={"username": "grace@example.com", "password": "Wr0ng-password!"}
    )
    unknown = client.post(
        f"{AUTH}/signin", json={"username": "nobody@example.com", "password": "Wr0ng-password!"}
    )
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json() == {"detail": "Incorrect username or password"}
    assert wrong.headers["www-authenticate"] == unknown.headers["www-authenticate"] == "Bearer"


def test_forgot_password_does_not_reveal_the_account(client: TestClient) -> None:
    _signed_up(client, "hedy@example.com")
    known = client.post(f"{AUTH}/forgot-password", json={"username": "hedy@example.com"})
    unknown = client.post(f"{AUTH}/forgot-password", json={"username": "nobody@example.com"})
    assert known.status_code == unknown.status_code == 200
    assert known.json() == unknown.json()


def test_unconfirmed_user_is_told_to_verify(client: TestClient) -> None:
    email = "katherine@example.com"
    assert client.post(f"{AUTH}/signup", json=_signup(email)).status_code == 201
    answer = client.post(f"{AUTH}/signin", json={"username": email, "password": PASSWORD})
    assert (answer.status_code, answer.json()) == (
        403,
        {"detail": "The account is not confirmed; verify it first"},
    )


def test_a_wrong_reset_code_is_a_400(client: TestClient) -> None:
    email = "margaret@example.com"
    _signed_up(client, email)
    assert client.post(f"{AUTH}/forgot-password", json={"username": email}).status_code == 200
    wrong = client.post(
        f"{AUTH}/reset-password",
        # moto checks codes shaped like its own; any other code is accepted.
        json={"username": email, "code": "moto-confirmation-code:1", "new_password": NEW_PASSWORD},
    )
    assert (wrong.status_code, wrong.json()) == (
        400,
        {"detail": "The verification code has expired; request a new one"},
    )


def test_password_policy_is_enforced_by_cognito(client: TestClient) -> None:
    weak = _signup("barbara@example.com", password="alllowercase")
    answer = client.post(f"{AUTH}/signup", json=weak)
    # Cognito's own policy text is passed on (moto words it differently from AWS).
    assert (answer.status_code, answer.json()) == (
        400,
        {"detail": "The provided password does not confirm to the configured password policy"},
    )
    assert "alllowercase" not in answer.text


def test_new_password_required_challenge(
    client: TestClient, seed_pool: LocalPool, user_pool: MotoUserPool
) -> None:
    # An administrator-created user must choose a password at the first sign-in.
    email = "joan@example.com"
    user_pool.idp.admin_create_user(
        UserPoolId=seed_pool.user_pool_id,
        Username=email,
        TemporaryPassword="Temp0rary-pass!",
        MessageAction="SUPPRESS",
    )
    first = client.post(f"{AUTH}/signin", json={"username": email, "password": "Temp0rary-pass!"})
    assert first.status_code == 200
    challenge = first.json()
    assert challenge["challenge_name"] == "NEW_PASSWORD_REQUIRED"
    answered = client.post(
        f"{AUTH}/challenge",
        json={
            "username": email,
            "challenge_name": challenge["challenge_name"],
            "session": challenge["session"],
            "responses": {"NEW_PASSWORD": NEW_PASSWORD},
        },
    )
    assert answered.status_code == 200
    assert set(answered.json()) >= {"access_token", "id_token", "refresh_token"}
    again = client.post(f"{AUTH}/signin", json={"username": email, "password": NEW_PASSWORD})
    assert again.status_code == 200 and "access_token" in again.json()


@pytest.mark.anyio
async def test_confidential_client_sends_the_secret_hash(
    seed_pool: LocalPool, user_pool: MotoUserPool
) -> None:
    # moto checks SECRET_HASH on refresh; the hash covers the username the sign-in used.
    created = user_pool.idp.create_user_pool_client(
        UserPoolId=seed_pool.user_pool_id,
        ClientName="confidential",
        GenerateSecret=True,
        ExplicitAuthFlows=["ALLOW_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"],
    )["UserPoolClient"]
    base = seed_pool.settings().cognito()
    settings = CognitoSettings(
        **{**base.model_dump(exclude_unset=True), "client_ids": [created["ClientId"]]},
        client_secret=created["ClientSecret"],
    )
    email = "radia@example.com"
    async with CognitoAuthClient(settings) as cognito:
        expected = base64.b64encode(
            hmac.new(
                created["ClientSecret"].encode(),
                (email + created["ClientId"]).encode(),
                hashlib.sha256,
            ).digest()
        ).decode()
        assert cognito.secret_hash(email) == expected
        await cognito.sign_up(email, PASSWORD, {"custom:role": "admin"})
        await cognito.confirm_sign_up(email, "123456")
        tokens = await cognito.sign_in(email, PASSWORD)
        assert isinstance(tokens, AuthTokens) and tokens.refresh_token
        refreshed = await cognito.refresh(tokens.refresh_token, username=email)
        assert refreshed.access_token and refreshed.refresh_token is None
        with pytest.raises(NotAuthorizedError):
            await cognito.refresh(tokens.refresh_token, username="someone-else@example.com")
