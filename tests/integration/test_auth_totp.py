"""Authenticator-app MFA end to end through the router against moto's Cognito server.

moto checks TOTP codes (against its fixed secret) only with
`MOTO_COGNITO_IDP_USER_POOL_ENABLE_TOTP=true`, read on each call. Its `USER_SRP_AUTH` accepts
any proof, so SRP here shows only that the messages have Cognito's shape; the proof itself is
checked in tests/test_auth_srp.py against a fake that verifies it.
"""

# No `from __future__ import annotations`: FastAPI reads route signatures at runtime.

import logging
import time
from collections.abc import Iterator

import httpx2
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from examples.fastcognito.emulator import LocalPool, create_user_pool, idp_client
from fastapi_cognito_jwt import AuthTokens, CognitoAuthClient, auth_router
from tests.fake_cognito_srp import totp
from tests.helpers import assert_logs_hide, bearer

pytestmark = pytest.mark.integration

PASSWORD = "Corr3ct-horse-battery!"


@pytest.fixture(scope="module")
def totp_pool(moto_server: str) -> LocalPool:
    return create_user_pool(moto_server)


@pytest.fixture
def api(totp_pool: LocalPool, monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    monkeypatch.setenv("MOTO_COGNITO_IDP_USER_POOL_ENABLE_TOTP", "true")
    app = FastAPI()
    app.include_router(auth_router(totp_pool.settings().cognito()), prefix="/auth")
    with TestClient(app) as client:
        yield client


def sign_in(api: TestClient, email: str) -> httpx2.Response:
    return api.post("/auth/signin", json={"username": email, "password": PASSWORD})


def fresh_code(secret: str) -> str:
    # moto accepts only the current 30-second step: do not start one at its very end.
    if time.time() % 30 > 27:
        time.sleep(3)
    return totp(secret)


def test_totp_set_up_and_sign_in(
    api: TestClient, totp_pool: LocalPool, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    email = "tess@example.com"
    idp = idp_client(totp_pool.endpoint)
    idp.sign_up(ClientId=totp_pool.client_id, Username=email, Password=PASSWORD)
    idp.admin_confirm_sign_up(UserPoolId=totp_pool.user_pool_id, Username=email)
    access = sign_in(api, email).json()["access_token"]
    secret = api.post("/auth/mfa/totp/associate", headers=bearer(access)).json()["secret_code"]
    wrong = api.post("/auth/mfa/totp/verify", json={"code": "000000"}, headers=bearer(access))
    assert (wrong.status_code, wrong.json()) == (400, {"detail": "Invalid verification code"})
    verified = api.post(
        "/auth/mfa/totp/verify", json={"code": fresh_code(secret)}, headers=bearer(access)
    )
    assert verified.status_code == 200
    saved = api.post("/auth/mfa/preferences", json={"preferred": "totp"}, headers=bearer(access))
    assert saved.status_code == 200
    challenge = sign_in(api, email).json()
    assert challenge["challenge_name"] == "SOFTWARE_TOKEN_MFA"
    answer = {k: challenge[k] for k in ("username", "challenge_name", "session")}
    refused = api.post("/auth/challenge", json={**answer, "responses": {
        "SOFTWARE_TOKEN_MFA_CODE": "000000"}})  # fmt: skip
    assert refused.status_code == 400
    answered = api.post("/auth/challenge", json={**answer, "responses": {
        "SOFTWARE_TOKEN_MFA_CODE": fresh_code(secret)}})  # fmt: skip
    assert answered.status_code == 200 and answered.json()["access_token"]
    # The library's and its HTTP client's logs (boto3 set-up above logs its own requests).
    ours = [r for r in caplog.records if r.name.startswith(("fastapi_cognito_jwt", "httpx2"))]
    assert ours
    assert_logs_hide(ours, secret, PASSWORD)


@pytest.mark.anyio
async def test_srp_messages_are_accepted_by_moto(totp_pool: LocalPool) -> None:
    email = "sam@example.com"
    settings = totp_pool.settings().cognito().model_copy(update={"sign_in_flow": "USER_SRP_AUTH"})
    async with CognitoAuthClient(settings) as cognito:
        await cognito.sign_up(email, PASSWORD, {"email": email})
        await cognito.confirm_sign_up(email, "123456")
        result = await cognito.sign_in(email, PASSWORD)
    assert isinstance(result, AuthTokens)


def test_mfa_setup_at_sign_in(moto_server: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # moto asks for MFA_SETUP only after USER_SRP_AUTH (whose proof it does not check).
    monkeypatch.setenv("MOTO_COGNITO_IDP_USER_POOL_ENABLE_TOTP", "true")
    pool = create_user_pool(moto_server)
    idp = idp_client(moto_server)
    idp.set_user_pool_mfa_config(UserPoolId=pool.user_pool_id, MfaConfiguration="ON",
                                 SoftwareTokenMfaConfiguration={"Enabled": True})  # fmt: skip
    email = "mia@example.com"
    idp.sign_up(ClientId=pool.client_id, Username=email, Password=PASSWORD)
    idp.admin_confirm_sign_up(UserPoolId=pool.user_pool_id, Username=email)
    settings = pool.settings().cognito().model_copy(update={"sign_in_flow": "USER_SRP_AUTH"})
    app = FastAPI()
    app.include_router(auth_router(settings), prefix="/auth")
    with TestClient(app) as api:
        challenge = sign_in(api, email).json()
        assert challenge["challenge_name"] == "MFA_SETUP"
        # Cognito sends a JSON list as a string; moto a Python repr of it.
        assert "SOFTWARE_TOKEN_MFA" in challenge["parameters"]["MFAS_CAN_SETUP"]
        setup = api.post("/auth/challenge/mfa-setup/associate",
                         json={"session": challenge["session"]}).json()  # fmt: skip
        finish = {"username": challenge["username"], "session": setup["session"]}
        wrong = api.post("/auth/challenge/mfa-setup/verify", json={**finish, "code": "000000"})
        assert wrong.status_code == 400
        done = api.post("/auth/challenge/mfa-setup/verify",
                        json={**finish, "code": fresh_code(setup["secret_code"])})  # fmt: skip
        assert done.status_code == 200 and done.json()["access_token"]
