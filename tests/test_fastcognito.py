"""The FastCognito example's own parts: settings from `.env`, the sign-up model, its routes.

The journey against a real (emulated) Cognito is in tests/integration/test_auth_flows.py.
"""

from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from examples.fastcognito.config import Settings, get_settings
from examples.fastcognito.main import create_app
from examples.fastcognito.models import UserSignup

POOL = "eu-west-1_AbC123"
CLIENT = "3n4b5urk1ft4fl3mg5e62d9ado"
SEED_ENV = {
    "AWS_REGION_NAME": "eu-west-1",
    "AWS_COGNITO_APP_CLIENT_ID": CLIENT,
    "AWS_COGNITO_USER_POOL_ID": POOL,
}
VALID_SIGNUP: dict[str, Any] = {
    "full_name": "Ada Lovelace",
    "email": "ada@example.com",
    "phone_number": "+15555550100",
    "password": "Corr3ct-horse",
    "role": "engineer",
}


@pytest.fixture(autouse=True)
def _no_seed_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in (*SEED_ENV, "AWS_COGNITO_ENDPOINT_URL", "AWS_COGNITO_JWKS_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)  # no stray .env from the developer's checkout
    get_settings.cache_clear()


def test_settings_come_from_a_dotenv_file(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text(
        "".join(f"{name}={value}\n" for name, value in SEED_ENV.items()) + "OTHER_APP_VAR=1\n"
    )
    cognito = get_settings().cognito()
    assert cognito.user_pool_id == POOL
    assert cognito.client_ids == [CLIENT]
    assert cognito.resolved_idp_endpoint == "https://cognito-idp.eu-west-1.amazonaws.com/"
    assert cognito.resolved_jwks_url == (
        f"https://cognito-idp.eu-west-1.amazonaws.com/{POOL}/.well-known/jwks.json"
    )
    assert get_settings() is get_settings()


def test_settings_for_an_emulator(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in SEED_ENV.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("AWS_COGNITO_ENDPOINT_URL", "http://127.0.0.1:5000/")
    monkeypatch.setenv(
        "AWS_COGNITO_JWKS_URL", f"http://127.0.0.1:5000/{POOL}/.well-known/jwks.json"
    )
    cognito = Settings().cognito()
    assert cognito.resolved_idp_endpoint == "http://127.0.0.1:5000/"
    assert cognito.resolved_jwks_url.startswith("http://127.0.0.1:5000/")
    # Tokens still name the real issuer: only where keys and flows are fetched changes.
    assert cognito.accepted_issuers == (f"https://cognito-idp.eu-west-1.amazonaws.com/{POOL}",)


def test_settings_are_required() -> None:
    with pytest.raises(ValidationError):
        Settings()


def test_signup_model_maps_to_cognito() -> None:
    form = UserSignup.model_validate(VALID_SIGNUP)
    assert form.cognito_username() == "ada@example.com"
    assert form.cognito_password() == "Corr3ct-horse"
    assert form.cognito_attributes() == {
        "name": "Ada Lovelace",
        "phone_number": "+15555550100",
        "custom:role": "engineer",
    }
    assert "Corr3ct-horse" not in repr(form)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("full_name", "x" * 51),
        ("email", "not-an-email"),
        ("phone_number", "+1555"),
        ("password", "short"),
        ("role", ""),
    ],
)
def test_signup_model_refuses(field: str, value: str) -> None:
    with pytest.raises(ValidationError) as info:
        UserSignup.model_validate({**VALID_SIGNUP, field: value})
    assert [error["loc"] for error in info.value.errors()] == [(field,)]


def test_app_routes_and_schema() -> None:
    app = create_app(Settings(**SEED_ENV))  # type: ignore[arg-type]
    schema = app.openapi()
    paths = schema["paths"]
    for route in ("signup", "verify", "resend-code", "signin", "challenge", "refresh"):
        assert f"/api/v1/auth/{route}" in paths
    for route in ("forgot-password", "reset-password", "change-password", "logout", "me"):
        assert f"/api/v1/auth/{route}" in paths
    body = paths["/api/v1/auth/signup"]["post"]["requestBody"]["content"]["application/json"]
    assert body["schema"]["$ref"].endswith("/UserSignup")
    assert set(schema["components"]["schemas"]["UserSignup"]["properties"]) == set(VALID_SIGNUP)
    assert paths["/api/v1/users/hello"]["get"]["security"] == [{"CognitoBearer": []}]
    assert "security" not in paths["/api/v1/auth/signin"]["post"]
