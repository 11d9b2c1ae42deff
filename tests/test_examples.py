"""The examples and the README's code work as documented, through their public functions.

The FastCognito journey against an emulated Cognito is in tests/integration.
"""

import json
from pathlib import Path
from typing import Any

import httpx2
import pytest
from fastapi import FastAPI
from pydantic import ValidationError

import fastapi_cognito_jwt as fcj
from examples.fastcognito.config import Settings, get_settings
from examples.fastcognito.main import create_app as create_fastcognito
from examples.fastcognito.models import UserSignup
from examples.protected_api import create_app, create_app_from_env
from examples.protected_api_demo import main as demo
from fastapi_cognito_jwt import CognitoVerifier, ConfigurationError, TokenError
from fastapi_cognito_jwt.testing import LocalUserPool
from tests.helpers import FORBIDDEN, NO_CREDENTIALS, assert_rejected, bearer, send

pytestmark = pytest.mark.anyio
ROOT = Path(__file__).resolve().parent.parent
POOL, CLIENT = "eu-west-1_AbC123", "3n4b5urk1ft4fl3mg5e62d9ado"
AUTH_ROUTES = "signup verify resend-code signin challenge refresh forgot-password".split()
AUTH_ROUTES += "reset-password change-password logout me".split()


def assert_auth_routes(app: FastAPI) -> dict[str, Any]:
    schema = app.openapi()
    assert {f"/api/v1/auth/{route}" for route in AUTH_ROUTES} <= set(schema["paths"])
    return schema


async def test_protected_api_answers(pool: LocalUserPool) -> None:
    app = create_app(pool.bearer(token_use="access"))
    assert (await send(app, "/public")).status_code == 200
    for path in ("/me", "/hello", "/admin", "/reports", "/private/groups"):
        assert_rejected(await send(app, path), NO_CREDENTIALS, pool)
    alice = pool.access_token(username="alice", groups=["users"], scopes=["openid"])
    assert (await send(app, "/me", bearer(alice))).json()["username"] == "alice"
    assert (await send(app, "/hello", bearer(alice))).json() == {"message": "Hello, alice"}
    assert (await send(app, "/private/groups", bearer(alice))).json() == ["users"]
    for path in ("/admin", "/reports"):
        assert_rejected(await send(app, path, bearer(alice)), FORBIDDEN, pool, alice)
    root = pool.access_token(username="root", groups=["admin"], scopes=["api/read"])
    for path in ("/admin", "/reports"):
        assert (await send(app, path, bearer(root))).status_code == 200


async def test_protected_api_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigurationError):
        create_app_from_env()
    monkeypatch.setenv("COGNITO_USER_POOL_ID", POOL)
    monkeypatch.setenv("COGNITO_CLIENT_IDS", CLIENT)
    assert (await send(create_app_from_env(), "/me")).status_code == 401


async def test_protected_api_demo_prints_each_answer(capsys: pytest.CaptureFixture[str]) -> None:
    await demo()
    out = capsys.readouterr().out
    answers = [line.split("->")[1].split()[0] for line in out.splitlines() if "->" in line]
    assert answers == "200 401 401 401 401 401 200 200 403 200 403 200 200".split()
    assert 'WWW-Authenticate: Bearer error="invalid_token"' in out
    assert "The JWKS was fetched 1 time(s)" in out


async def test_readme_code_runs_as_written(pool: LocalUserPool) -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    blocks = [block.split("```", 1)[0] for block in text.split("```python\n")[1:]]
    quickstart, deny_list, flows, pools, typed, testing = blocks
    namespace: dict[str, Any] = {}
    exec(quickstart, namespace)  # noqa: S102 - the README's own code
    exec(typed, namespace)  # noqa: S102 - a route with a claims model of its own
    exec(testing, namespace)  # noqa: S102 - it asserts a 200 itself
    id_auth = namespace["id_auth"]
    namespace["app"].dependency_overrides[id_auth] = namespace["pool"].bearer_like(id_auth)
    tenant = namespace["pool"].id_token(claims={"custom:tenant": "acme"})
    assert (await send(namespace["app"], "/tenant", bearer(tenant))).json() == "acme"
    exec(pools, namespace)  # noqa: S102
    assert len(namespace["two_pools"].pools) == 2
    app, kit = namespace["app"], namespace["pool"]
    token = kit.access_token(username="alice")
    assert (await send(app, "/hello", bearer(token))).json() == "Hello, alice"
    assert (await send(app, "/admin", bearer(token))).status_code == 403
    assert (await send(app, "/hello")).status_code == 401
    exec(deny_list, namespace)  # noqa: S102 - the verify override recipe
    assert isinstance(namespace["auth"].verifier, CognitoVerifier)
    verifier = namespace["DenyList"](pool.settings(), transport=pool.transport())
    revoked = pool.access_token(claims={"jti": "revoked-jti"})
    namespace["denied"].add("revoked-jti")
    with pytest.raises(TokenError):
        await verifier.verify(revoked, token_use="access")
    assert (await verifier.verify(pool.access_token(), token_use="access")).username == "alice"
    exec(flows, namespace)  # noqa: S102
    assert_auth_routes(namespace["app"])


ENV = {"AWS_REGION_NAME": "eu-west-1", "AWS_COGNITO_APP_CLIENT_ID": CLIENT}
ENV["AWS_COGNITO_USER_POOL_ID"] = POOL
SIGNUP: dict[str, Any] = {
    "full_name": "Ada Lovelace", "email": "ada@example.com", "phone_number": "+15555550100",
    "password": "Corr3ct-horse",
}  # fmt: skip


def test_fastcognito_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in (*ENV, "AWS_COGNITO_ENDPOINT_URL", "AWS_COGNITO_JWKS_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)  # no stray .env from the developer's checkout
    get_settings.cache_clear()
    with pytest.raises(ValidationError):
        Settings()
    (tmp_path / ".env").write_text("".join(f"{k}={v}\n" for k, v in ENV.items()) + "OTHER=1\n")
    cognito = get_settings().cognito()
    assert (cognito.user_pool_id, cognito.client_ids) == (POOL, [CLIENT])
    assert cognito.resolved_idp_endpoint == "https://cognito-idp.eu-west-1.amazonaws.com/"
    issuer = f"https://cognito-idp.eu-west-1.amazonaws.com/{POOL}"
    assert cognito.resolved_jwks_url == f"{issuer}/.well-known/jwks.json"
    assert get_settings() is get_settings()
    get_settings.cache_clear()
    # An emulator: keys and flows come from it; tokens still name the real issuer.
    emulator = "http://127.0.0.1:5000/"
    monkeypatch.setenv("AWS_COGNITO_ENDPOINT_URL", emulator)
    monkeypatch.setenv("AWS_COGNITO_JWKS_URL", f"{emulator}{POOL}/.well-known/jwks.json")
    emulated = Settings().cognito()
    assert emulated.resolved_idp_endpoint == emulator
    assert emulated.resolved_jwks_url == f"{emulator}{POOL}/.well-known/jwks.json"
    assert emulated.accepted_issuers == (issuer,)


def test_fastcognito_signup_model() -> None:
    form = UserSignup.model_validate(SIGNUP)
    assert form.cognito_username() == "ada@example.com"
    assert form.cognito_password() == "Corr3ct-horse" and "Corr3ct-horse" not in repr(form)
    assert form.cognito_attributes() == {
        "name": "Ada Lovelace", "phone_number": "+15555550100"
    }  # fmt: skip
    bad = {"full_name": "x" * 51, "email": "no", "phone_number": "+1555", "password": "short"}
    for field, value in {**bad, "role": "admin"}.items():
        with pytest.raises(ValidationError) as info:
            UserSignup.model_validate({**SIGNUP, field: value})
        assert [error["loc"] for error in info.value.errors()] == [(field,)]


def test_fastcognito_app_routes_and_schema() -> None:
    schema = assert_auth_routes(create_fastcognito(Settings(**ENV)))  # type: ignore[arg-type]
    paths = schema["paths"]
    body = paths["/api/v1/auth/signup"]["post"]["requestBody"]["content"]["application/json"]
    assert body["schema"]["$ref"].endswith("/UserSignup")
    assert set(schema["components"]["schemas"]["UserSignup"]["properties"]) == set(SIGNUP)
    assert paths["/api/v1/users/hello"]["get"]["security"] == [{"CognitoBearer": []}]
    assert "security" not in paths["/api/v1/auth/signin"]["post"]


def test_lambda_handler(pool: LocalUserPool, monkeypatch: pytest.MonkeyPatch) -> None:
    """The handler answers 200, 401 and 503 through `verify_sync`, on one verifier."""
    from examples import lambda_handler

    monkeypatch.setattr(lambda_handler, "_verifier", pool.verifier())

    def call(authorization: str | None) -> tuple[int, str]:
        event = {"headers": {"Authorization": authorization} if authorization else {}}
        answer = lambda_handler.handler(event, None)
        return answer["statusCode"], json.loads(answer["body"])["message"]

    assert call(f"Bearer {pool.access_token(username='ada')}") == (200, "Hello, ada")
    assert call(f"Bearer {pool.m2m_token()}") == (200, f"Hello, {pool.client_id}")
    for bad in (None, "Basic x", f"Bearer {pool.id_token()}", "Bearer a.b.c"):
        assert call(bad)[0] == 401
    down = fcj.CognitoVerifier(
        pool.settings(), transport=httpx2.MockTransport(lambda r: httpx2.Response(500))
    )
    monkeypatch.setattr(lambda_handler, "_verifier", down)
    assert call(f"Bearer {pool.access_token()}") == (503, "Try again later")
    monkeypatch.setattr(lambda_handler, "_verifier", None)
    monkeypatch.setenv("COGNITO_USER_POOL_ID", POOL)
    monkeypatch.setenv("COGNITO_CLIENT_IDS", CLIENT)
    assert lambda_handler.verifier().settings.user_pool_id == POOL
