"""The examples work as documented: the protected API and the `make demo` walkthrough."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from examples.protected_api import create_app, create_app_from_env
from fastapi_cognito_jwt import ConfigurationError
from fastapi_cognito_jwt.testing import LocalUserPool

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def client(pool: LocalUserPool) -> TestClient:
    return TestClient(create_app(pool.bearer(token_use="access")))


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_public_route_needs_no_token(client: TestClient) -> None:
    assert client.get("/public").status_code == 200


@pytest.mark.parametrize("path", ["/me", "/hello", "/admin", "/reports", "/private/groups"])
def test_protected_routes_need_a_token(client: TestClient, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.json() == {"detail": "Not authenticated"}


def test_routes_answer_a_user(client: TestClient, pool: LocalUserPool) -> None:
    token = pool.access_token(username="alice", groups=["users"], scopes=["openid"])
    me = client.get("/me", headers=bearer(token))
    assert me.status_code == 200
    assert me.json()["username"] == "alice"
    assert client.get("/hello", headers=bearer(token)).json() == {"message": "Hello, alice"}
    assert client.get("/private/groups", headers=bearer(token)).json() == ["users"]
    for path in ("/admin", "/reports"):
        denied = client.get(path, headers=bearer(token))
        assert denied.status_code == 403
        assert denied.headers["www-authenticate"] == 'Bearer error="insufficient_scope"'
        assert token not in denied.text


def test_routes_answer_an_admin_with_the_scope(client: TestClient, pool: LocalUserPool) -> None:
    token = pool.access_token(username="root", groups=["admin"], scopes=["api/read"])
    assert client.get("/admin", headers=bearer(token)).status_code == 200
    assert client.get("/reports", headers=bearer(token)).status_code == 200


def test_app_from_env_reads_cognito_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigurationError):
        create_app_from_env()
    monkeypatch.setenv("COGNITO_USER_POOL_ID", "eu-west-1_AbC123")
    monkeypatch.setenv("COGNITO_CLIENT_IDS", "3n4b5urk1ft4fl3mg5e62d9ado")
    app = create_app_from_env()
    assert TestClient(app).get("/me").status_code == 401


def _readme_blocks() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    return [block.split("```", 1)[0] for block in text.split("```python\n")[1:]]


def test_readme_quickstart_and_testing_recipe_run_as_written() -> None:
    quickstart, _flows, testing = _readme_blocks()
    namespace: dict[str, object] = {}
    exec(quickstart, namespace)  # noqa: S102 - the README's own code
    exec(testing, namespace)  # noqa: S102 - the README's own code; it asserts a 200 itself
    client = TestClient(namespace["app"])  # type: ignore[arg-type]
    pool = namespace["pool"]
    assert isinstance(pool, LocalUserPool)
    token = pool.access_token(username="alice")
    hello = client.get("/hello", headers=bearer(token))
    assert (hello.status_code, hello.json()) == (200, "Hello, alice")
    assert client.get("/admin", headers=bearer(token)).status_code == 403
    assert client.get("/hello").status_code == 401


def test_protected_api_demo_prints_each_answer() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("COGNITO_")}
    result = subprocess.run(
        [sys.executable, "-m", "examples.protected_api_demo"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    answers = [line.split("->")[1].split()[0] for line in lines if "->" in line]
    assert answers == [
        "200", "401", "401", "401", "401", "401", "200", "200", "403", "200", "403", "200", "200"
    ]  # fmt: skip
    assert 'WWW-Authenticate: Bearer error="invalid_token"' in result.stdout
    assert "The JWKS was fetched 1 time(s)" in result.stdout


def test_readme_auth_flows_block_runs_as_written() -> None:
    _quickstart, flows, _testing = _readme_blocks()
    namespace: dict[str, object] = {}
    exec(flows, namespace)  # noqa: S102 - the README's own code
    app = namespace["app"]
    assert isinstance(app, FastAPI)
    paths = app.openapi()["paths"]
    for route in ("signup", "verify", "resend-code", "signin", "challenge", "refresh"):
        assert f"/api/v1/auth/{route}" in paths
    for route in ("forgot-password", "reset-password", "change-password", "logout", "me"):
        assert f"/api/v1/auth/{route}" in paths
