"""The auth flows end to end: the FastCognito example app against moto's Cognito server.

Real HTTP from the library to the emulator; the app is called in process. The pool signs in by
email, as the demo's. moto accepts any confirmation code for sign-up, and
for a password reset any code not shaped like its own (`moto-confirmation-code:...`).
"""

# No `from __future__ import annotations`: FastAPI reads route signatures at runtime.

import json
from collections.abc import Callable, Iterator
from typing import Any

import httpx2
import pytest
from fastapi.testclient import TestClient

from examples.fastcognito.emulator import LocalPool, create_user_pool
from examples.fastcognito.main import create_app
from fastapi_cognito_jwt import (
    AuthTokens,
    CognitoAuthClient,
    CognitoSettings,
    NotAuthorizedError,
    auth_router,
)
from tests.helpers import b64d

from .conftest import MotoUserPool

pytestmark = pytest.mark.integration

PASSWORD, NEW_PASSWORD, RESET_PASSWORD = "Corr3ct-horse-battery!", "An0ther-horse!", "Th1rd-horse!"
Call = Callable[..., httpx2.Response]


def sign_up(email: str, password: str = PASSWORD) -> dict[str, str]:
    return {"full_name": "Ada Lovelace", "email": email, "phone_number": "+15555550100",
            "password": password}  # fmt: skip


@pytest.fixture(scope="module")
def demo_pool(moto_server: str) -> LocalPool:
    return create_user_pool(moto_server)


@pytest.fixture
def call(demo_pool: LocalPool) -> Iterator[Call]:
    """`call(path, json, token=...)`: POST under /api/v1/auth (GET without a body)."""
    with TestClient(create_app(demo_pool.settings())) as client:

        def send(path: str, body: Any = None, *, token: str | None = None) -> httpx2.Response:
            headers = {"Authorization": f"Bearer {token}"} if token else {}
            path = path if path.startswith("/api") else f"/api/v1/auth{path}"
            if body is None and not path.endswith("/logout"):
                return client.get(path, headers=headers)
            return client.post(path, json=body, headers=headers)

        yield send


def sign_in(call: Call, email: str, password: str = PASSWORD) -> tuple[int, Any]:
    response = call("/signin", {"username": email, "password": password})
    return response.status_code, response.json()


def test_the_whole_journey(call: Call) -> None:
    email = "ada@example.com"
    created = call("/signup", sign_up(email)).json()
    assert created == {"message": "User created successfully", "sub": created["sub"]}
    duplicate = call("/signup", sign_up(email))
    assert (duplicate.status_code, duplicate.json()) == (
        409, {"detail": "An account with this username already exists"})  # fmt: skip
    assert sign_in(call, email)[0] == 403  # not confirmed yet
    assert call("/verify", {"username": email, "code": "1"}).json()["message"] == "Account verified"
    status, tokens = sign_in(call, email)
    assert status == 200 and tokens["token_type"] == "Bearer" and tokens["expires_in"] > 0
    claims = json.loads(b64d(tokens["access_token"].split(".")[1]))
    assert claims["sub"] == created["sub"]
    # The protected route verifies the real access token locally (JWKS from the emulator).
    hello = call("/api/v1/users/hello", token=tokens["access_token"])
    assert hello.json() == {"message": f"Hello, {claims['username']}"}
    assert call("/api/v1/users/hello").status_code == 401
    me = call("/me", token=tokens["access_token"]).json()
    assert me["claims"]["sub"] == claims["sub"]
    assert {k: me["attributes"][k] for k in ("name", "phone_number", "email")} == {
        "name": "Ada Lovelace", "phone_number": "+15555550100", "email": email}  # fmt: skip
    access = call("/refresh", {"refresh_token": tokens["refresh_token"]}).json()["access_token"]
    assert access != tokens["access_token"]
    assert call("/api/v1/users/hello", token=access).status_code == 200
    passwords = {"previous_password": PASSWORD, "proposed_password": NEW_PASSWORD}
    changed = call("/change-password", passwords, token=access)
    assert changed.json() == {"message": "Password changed"}
    assert (sign_in(call, email)[0], sign_in(call, email, NEW_PASSWORD)[0]) == (401, 200)
    assert call("/forgot-password", {"username": email}).status_code == 200
    reset = {"username": email, "code": "123456", "new_password": RESET_PASSWORD}
    assert call("/reset-password", reset).json() == {"message": "Password reset"}
    status, tokens = sign_in(call, email, RESET_PASSWORD)
    logout = call("/logout", token=tokens["access_token"])
    assert (status, logout.status_code, logout.content) == (200, 204, b"")
    # Cognito refuses the signed-out tokens; the local check cannot know until `exp`.
    revoked = call("/me", token=tokens["access_token"])
    assert (revoked.status_code, revoked.headers["www-authenticate"]) == (
        401, 'Bearer error="invalid_token"')  # fmt: skip
    stale = call("/refresh", {"refresh_token": tokens["refresh_token"]})
    assert (stale.status_code, stale.json()) == (401, {"detail": "Invalid refresh token"})


def test_refusals_tell_nothing_more_than_they_must(call: Call) -> None:
    for email in ("grace@example.com", "katherine@example.com"):
        assert call("/signup", sign_up(email)).status_code == 201
    assert call("/verify", {"username": "grace@example.com", "code": "1"}).status_code == 200
    wrong = call("/signin", {"username": "grace@example.com", "password": "Wr0ng!"})
    unknown = call("/signin", {"username": "no@example.com", "password": "Wr0ng!"})
    assert wrong.json() == unknown.json() == {"detail": "Incorrect username or password"}
    assert wrong.headers["www-authenticate"] == unknown.headers["www-authenticate"] == "Bearer"
    known, unknown = (call("/forgot-password", {"username": name})
                      for name in ("grace@example.com", "nobody@example.com"))  # fmt: skip
    assert (known.status_code, known.content) == (unknown.status_code, unknown.content)
    assert known.status_code == 200
    assert sign_in(call, "katherine@example.com") == (
        403, {"detail": "The account is not confirmed; verify it first"})  # fmt: skip
    # moto checks codes shaped like its own; any other code is accepted.
    wrong_code = {"username": "grace@example.com", "code": "moto-confirmation-code:1",
                  "new_password": NEW_PASSWORD}  # fmt: skip
    expired = call("/reset-password", wrong_code)
    assert (expired.status_code, expired.json()) == (
        400, {"detail": "The verification code has expired; request a new one"})  # fmt: skip
    # Cognito's own policy text is passed on (moto words it differently from AWS).
    weak = call("/signup", sign_up("barbara@example.com", "alllowercase"))
    assert (weak.status_code, weak.json()) == (400, {"detail": (
        "The provided password does not confirm to the configured password policy")})  # fmt: skip
    assert "alllowercase" not in weak.text


def test_new_password_required_challenge(
    call: Call, demo_pool: LocalPool, user_pool: MotoUserPool
) -> None:
    # An administrator-created user must choose a password at the first sign-in.
    email, temporary = "joan@example.com", "Temp0rary-pass!"
    user_pool.idp.admin_create_user(UserPoolId=demo_pool.user_pool_id, Username=email,
                                    TemporaryPassword=temporary,
                                    MessageAction="SUPPRESS")  # fmt: skip
    status, challenge = sign_in(call, email, temporary)
    assert (status, challenge["challenge_name"]) == (200, "NEW_PASSWORD_REQUIRED")
    answer = {k: challenge[k] for k in ("username", "challenge_name", "session")}
    answered = call("/challenge", {**answer, "responses": {"NEW_PASSWORD": NEW_PASSWORD}})
    assert set(answered.json()) >= {"access_token", "id_token", "refresh_token"}
    assert sign_in(call, email, NEW_PASSWORD)[0] == 200


@pytest.mark.anyio
async def test_a_confidential_client_sends_the_secret_hash(
    demo_pool: LocalPool, user_pool: MotoUserPool
) -> None:
    # moto checks SECRET_HASH on refresh; the hash covers the username the sign-in used.
    created = user_pool.idp.create_user_pool_client(
        UserPoolId=demo_pool.user_pool_id, ClientName="confidential", GenerateSecret=True,
        ExplicitAuthFlows=["ALLOW_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"],
    )["UserPoolClient"]  # fmt: skip
    base = demo_pool.settings().cognito().model_dump(exclude_unset=True)
    settings = CognitoSettings(**{**base, "client_ids": [created["ClientId"]]},
                               client_secret=created["ClientSecret"])  # fmt: skip
    email = "radia@example.com"
    async with CognitoAuthClient(settings) as cognito:
        await cognito.sign_up(email, PASSWORD, {"name": "Radia"})
        await cognito.confirm_sign_up(email, "123456")
        tokens = await cognito.sign_in(email, PASSWORD)
        assert isinstance(tokens, AuthTokens) and tokens.refresh_token
        refreshed = await cognito.refresh(tokens.refresh_token, username=email)
        assert refreshed.access_token and refreshed.refresh_token is None
        with pytest.raises(NotAuthorizedError):
            await cognito.refresh(tokens.refresh_token, username="someone-else@example.com")


@pytest.fixture(scope="module")
def role_pool(demo_pool: LocalPool, user_pool: MotoUserPool) -> LocalPool:
    """The demo's pool, but with the mistake to defend against: a user-writable `custom:role`."""
    idp = user_pool.idp
    pool_id = idp.create_user_pool(
        PoolName="with-role", UsernameAttributes=["email"], AutoVerifiedAttributes=["email"],
        Schema=[{"Name": "role", "AttributeDataType": "String", "Mutable": True}],
    )["UserPool"]["Id"]  # fmt: skip
    client_id = idp.create_user_pool_client(
        UserPoolId=pool_id, ClientName="web", GenerateSecret=False,
        ExplicitAuthFlows=["ALLOW_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"],
    )["UserPoolClient"]["ClientId"]  # fmt: skip
    return LocalPool(endpoint=demo_pool.endpoint, user_pool_id=pool_id, client_id=client_id)


def _claims(tokens: dict[str, Any]) -> list[dict[str, Any]]:
    return [json.loads(b64d(tokens[k].split(".")[1])) for k in ("access_token", "id_token")]


@pytest.mark.anyio
async def test_a_user_cannot_give_themselves_a_role(role_pool: LocalPool) -> None:
    settings = role_pool.settings().cognito()
    # The control: the pool would take the attribute and put it in the ID token.
    async with CognitoAuthClient(settings) as cognito:
        await cognito.sign_up("control@example.com", PASSWORD, {"custom:role": "admin"})
        await cognito.confirm_sign_up("control@example.com", "1")
        control = await cognito.sign_in("control@example.com", PASSWORD)
    assert isinstance(control, AuthTokens) and control.id_token
    assert _claims(control.model_dump())[1]["custom:role"] == "admin"
    # Through the example app and the default body, nothing outside the allow-list passes.
    app = create_app(role_pool.settings())
    app.include_router(auth_router(settings), prefix="/default")
    email = "mallory@example.com"
    attempts = [
        ("/api/v1/auth/signup", {**sign_up(email), "role": "admin"}),
        ("/api/v1/auth/signup", {**sign_up(email), "custom:role": "admin"}),
        *[("/default/signup", {"username": email, "password": PASSWORD, "attributes": a})
          for a in ({"custom:role": "admin"}, {"email_verified": "true"},
                    {"name": "M", "custom:role": "admin"})],
    ]  # fmt: skip
    with TestClient(app) as http:
        for path, body in attempts:
            refused = http.post(path, json=body)
            assert refused.status_code == 422, (path, body)
            assert "role" not in refused.text and "admin" not in refused.text
        assert http.post("/api/v1/auth/signup", json=sign_up(email)).status_code == 201
        http.post("/api/v1/auth/verify", json={"username": email, "code": "1"})
        tokens = http.post("/api/v1/auth/signin", json={"username": email, "password": PASSWORD})
        bearer = {"Authorization": "Bearer " + tokens.json()["access_token"]}
        # Nor afterwards, through UpdateUserAttributes (moto implements it).
        role = {"attributes": {"custom:role": "admin"}}
        assert (
            http.post("/api/v1/auth/update-attributes", json=role, headers=bearer).status_code
            == 422
        )
        named = {"attributes": {"name": "Mallory M"}}
        updated = http.post("/api/v1/auth/update-attributes", json=named, headers=bearer)
        assert updated.json() == {"message": "Attributes updated"}
        me = http.get("/api/v1/auth/me", headers=bearer)
        assert me.json()["attributes"]["name"] == "Mallory M"
        refreshed = http.post("/api/v1/auth/refresh",
                              json={"refresh_token": tokens.json()["refresh_token"]})  # fmt: skip
    for claims in (*_claims(tokens.json()), *_claims(refreshed.json())):
        assert "custom:role" not in claims and "cognito:groups" not in claims
    assert "custom:role" not in me.json()["attributes"]


def test_sign_in_is_rate_limited_alike_for_known_and_unknown_users(
    demo_pool: LocalPool, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The example's settings leave these fields unset, so COGNITO_* variables fill them.
    monkeypatch.setenv("COGNITO_RATE_LIMIT_STORAGE", "memory://")
    monkeypatch.setenv("COGNITO_RATE_LIMIT_PER_USERNAME", "3/minute")
    email = "hedy@example.com"
    with TestClient(create_app(demo_pool.settings())) as http:
        assert http.post("/api/v1/auth/signup", json=sign_up(email)).status_code == 201
        http.post("/api/v1/auth/verify", json={"username": email, "code": "1"})
        runs = {
            name: [http.post("/api/v1/auth/signin", json={"username": name, "password": "Wr0ng!"})
                   for _ in range(4)]
            for name in (email, "nobody-here@example.com")
        }  # fmt: skip
    known, unknown = (
        [(r.status_code, r.json()["detail"]) for r in answers] for answers in runs.values()
    )
    assert known == unknown
    assert [status for status, _ in known] == [401, 401, 401, 429]
    assert runs[email][3].headers["retry-after"].isdigit()
