"""End to end: real tokens from moto's Cognito server through `CognitoBearer` and the verifier.

moto signs with a fixed 2048-bit RSA key (kid "dummy") that it serves at
`{server}/{pool_id}/.well-known/jwks.json`, and issues tokens whose `iss` is the real AWS
form `https://cognito-idp.{region}.amazonaws.com/{pool_id}`. So the library's default issuer
is right and only `jwks_url` is pointed at the emulator.
"""

# No `from __future__ import annotations`: FastAPI reads the route signatures at runtime, and
# they refer to bearers local to `make_app`.

import base64
import json
import warnings
from collections.abc import Iterator
from typing import Annotated, Any

import httpx
import pytest
from fastapi import Depends, FastAPI

from fastapi_cognito_jwt import (
    CognitoBearer,
    CognitoClaims,
    CognitoSettings,
    CognitoVerifier,
    InvalidClientError,
    InvalidIssuerError,
    InvalidSignatureError,
    InvalidTokenUseError,
    current_claims,
    current_username,
    require_groups,
)

from .conftest import ADMIN_GROUP, REGION, MotoUserPool, SignedIn

with warnings.catch_warnings():
    # Starlette 1.x warns (a UserWarning subclass, so the DeprecationWarning filter in
    # pyproject.toml misses it) when its TestClient runs on httpx rather than httpx2.
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    from fastapi.testclient import TestClient

pytestmark = pytest.mark.integration

INVALID_TOKEN = 'Bearer error="invalid_token"'
INSUFFICIENT_SCOPE = 'Bearer error="insufficient_scope"'


def _b64url_decode(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def _b64url_encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unverified(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The header and payload of a token, decoded without any check (to inspect moto)."""
    header, payload, _ = token.split(".")
    return json.loads(_b64url_decode(header)), json.loads(_b64url_decode(payload))


def make_app(settings: CognitoSettings) -> FastAPI:
    """Access-token and ID-token routes, each behind its own bearer."""
    access_auth = CognitoBearer(settings, token_use="access")
    id_auth = CognitoBearer(settings, token_use="id")
    app = FastAPI()

    @app.get("/access/me")
    async def access_me(
        username: Annotated[str, Depends(current_username(access_auth))],
        claims: Annotated[CognitoClaims, Depends(current_claims(access_auth))],
    ) -> dict[str, Any]:
        return {
            "username": username,
            "sub": claims.sub,
            "client_id": claims.client_id,
            "token_use": claims.token_use,
            "groups": list(claims.groups),
            "scopes": list(claims.scopes),
        }

    @app.get("/id/me")
    async def id_me(
        username: Annotated[str, Depends(current_username(id_auth))],
        claims: Annotated[CognitoClaims, Depends(current_claims(id_auth))],
    ) -> dict[str, Any]:
        return {
            "username": username,
            "sub": claims.sub,
            "client_id": claims.client_id,
            "token_use": claims.token_use,
            "email": claims.get("email"),
            "team": claims.get("custom:team"),
            "groups": list(claims.groups),
        }

    @app.get("/access/admin")
    async def access_admin(
        claims: Annotated[CognitoClaims, Depends(require_groups(access_auth, ADMIN_GROUP))],
    ) -> dict[str, Any]:
        return {"username": claims.username}

    @app.get("/id/admin")
    async def id_admin(
        claims: Annotated[CognitoClaims, Depends(require_groups(id_auth, ADMIN_GROUP))],
    ) -> dict[str, Any]:
        return {"username": claims.username}

    return app


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _assert_invalid_token(response: httpx.Response, token: str) -> None:
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == INVALID_TOKEN
    assert response.json() == {"detail": "Invalid token"}
    assert token not in response.text
    for segment in token.split("."):
        assert segment not in response.text


@pytest.fixture
def client(user_pool: MotoUserPool) -> Iterator[TestClient]:
    with TestClient(make_app(user_pool.settings())) as test_client:
        yield test_client


# --- what moto emits ------------------------------------------------------------------------


def test_moto_tokens_and_jwks_have_the_shape_the_library_requires(
    user_pool: MotoUserPool, admin_user: SignedIn
) -> None:
    jwks = httpx.get(user_pool.jwks_url, timeout=5).json()
    [key] = jwks["keys"]
    assert key["kty"] == "RSA"
    assert key["alg"] == "RS256"
    assert key["use"] == "sig"
    assert int.from_bytes(_b64url_decode(key["n"]), "big").bit_length() == 2048
    assert key["e"] == "AQAB"

    for token, token_use in ((admin_user.access_token, "access"), (admin_user.id_token, "id")):
        header, payload = _unverified(token)
        assert header == {"typ": "JWT", "alg": "RS256", "kid": key["kid"]}
        assert payload["iss"] == user_pool.issuer
        assert payload["iss"].startswith(f"https://cognito-idp.{REGION}.amazonaws.com/")
        assert payload["token_use"] == token_use
        assert payload["sub"] == admin_user.sub
        for name in ("iat", "exp", "auth_time"):
            assert type(payload[name]) is int
        assert payload["exp"] - payload["iat"] == 3600
        assert payload["cognito:groups"] == [ADMIN_GROUP]
        assert isinstance(payload["jti"], str)
        assert isinstance(payload["origin_jti"], str)
        if token_use == "access":
            assert payload["client_id"] == user_pool.client_id
            assert payload["username"] == admin_user.username
            assert payload["scope"] == "aws.cognito.signin.user.admin"
            assert "aud" not in payload
        else:
            assert payload["aud"] == user_pool.client_id
            assert payload["cognito:username"] == admin_user.username
            assert payload["email"] == admin_user.email
            assert payload["custom:team"] == "platform"
            assert "client_id" not in payload


# --- through FastAPI ------------------------------------------------------------------------


def test_access_token_on_access_route(client: TestClient, admin_user: SignedIn) -> None:
    response = client.get("/access/me", headers=_bearer(admin_user.access_token))

    assert response.status_code == 200
    assert response.json() == {
        "username": admin_user.username,
        "sub": admin_user.sub,
        "client_id": admin_user.client_id,
        "token_use": "access",
        "groups": [ADMIN_GROUP],
        "scopes": ["aws.cognito.signin.user.admin"],
    }


def test_id_token_on_id_route(client: TestClient, admin_user: SignedIn) -> None:
    response = client.get("/id/me", headers=_bearer(admin_user.id_token))

    assert response.status_code == 200
    assert response.json() == {
        "username": admin_user.username,
        "sub": admin_user.sub,
        "client_id": admin_user.client_id,
        "token_use": "id",
        "email": admin_user.email,
        "team": "platform",
        "groups": [ADMIN_GROUP],
    }


def test_user_without_groups(client: TestClient, plain_user: SignedIn) -> None:
    assert plain_user.groups == ()
    _, payload = _unverified(plain_user.access_token)
    assert "cognito:groups" not in payload  # moto omits the claim for a user in no group

    response = client.get("/access/me", headers=_bearer(plain_user.access_token))

    assert response.status_code == 200
    assert response.json()["username"] == plain_user.username
    assert response.json()["groups"] == []


@pytest.mark.parametrize(("path", "kind"), [("/id/me", "access_token"), ("/access/me", "id_token")])
def test_token_of_the_other_kind_is_401(
    client: TestClient, admin_user: SignedIn, path: str, kind: str
) -> None:
    token: str = getattr(admin_user, kind)

    _assert_invalid_token(client.get(path, headers=_bearer(token)), token)


@pytest.mark.parametrize("path", ["/access/admin", "/id/admin"])
def test_admin_group_member_gets_in(client: TestClient, admin_user: SignedIn, path: str) -> None:
    token = admin_user.access_token if path.startswith("/access") else admin_user.id_token

    response = client.get(path, headers=_bearer(token))

    assert response.status_code == 200
    assert response.json() == {"username": admin_user.username}


@pytest.mark.parametrize("path", ["/access/admin", "/id/admin"])
def test_user_outside_the_group_is_403(client: TestClient, plain_user: SignedIn, path: str) -> None:
    token = plain_user.access_token if path.startswith("/access") else plain_user.id_token

    response = client.get(path, headers=_bearer(token))

    assert response.status_code == 403
    assert response.headers["WWW-Authenticate"] == INSUFFICIENT_SCOPE
    assert token not in response.text


@pytest.mark.parametrize("path", ["/access/me", "/id/me"])
def test_token_of_an_unconfigured_app_client_is_401(
    client: TestClient, other_client_user: SignedIn, path: str
) -> None:
    token = other_client_user.access_token if path == "/access/me" else other_client_user.id_token

    _assert_invalid_token(client.get(path, headers=_bearer(token)), token)


def test_real_token_with_only_another_client_configured_is_401(
    user_pool: MotoUserPool, admin_user: SignedIn
) -> None:
    settings = user_pool.settings(client_ids=["someotherappclient"])
    with TestClient(make_app(settings)) as other:
        for path, token in (
            ("/access/me", admin_user.access_token),
            ("/id/me", admin_user.id_token),
        ):
            _assert_invalid_token(other.get(path, headers=_bearer(token)), token)


def test_tokens_from_a_refresh_verify(
    client: TestClient, user_pool: MotoUserPool, admin_user: SignedIn
) -> None:
    result = user_pool.idp.initiate_auth(
        ClientId=user_pool.client_id,
        AuthFlow="REFRESH_TOKEN_AUTH",
        AuthParameters={"REFRESH_TOKEN": admin_user.refresh_token},
    )["AuthenticationResult"]
    access_token, id_token = result["AccessToken"], result["IdToken"]
    assert access_token != admin_user.access_token

    access = client.get("/access/me", headers=_bearer(access_token))
    identity = client.get("/id/me", headers=_bearer(id_token))

    assert access.status_code == 200
    assert access.json()["username"] == admin_user.username
    assert identity.status_code == 200
    assert identity.json()["email"] == admin_user.email


# --- the verifier on its own ----------------------------------------------------------------


@pytest.mark.anyio
async def test_verifier_accepts_real_tokens(user_pool: MotoUserPool, admin_user: SignedIn) -> None:
    verifier = CognitoVerifier(user_pool.settings())

    access = await verifier.verify(admin_user.access_token, token_use="access")
    identity = await verifier.verify(admin_user.id_token, token_use="id")

    assert access.username == admin_user.username
    assert access.sub == admin_user.sub
    assert access.client_id == user_pool.client_id
    assert access.iss == user_pool.issuer
    assert access.groups == (ADMIN_GROUP,)
    assert access.scopes == ("aws.cognito.signin.user.admin",)
    assert access.jti is not None
    assert access.origin_jti == identity.origin_jti
    assert access.auth_time is not None
    assert identity.token_use == "id"
    assert identity.username == admin_user.username
    assert identity.client_id == user_pool.client_id
    assert identity.get("email") == admin_user.email
    assert identity["custom:team"] == "platform"
    assert verifier.jwks.kids == frozenset({"dummy"})


@pytest.mark.anyio
async def test_verifier_rejects_what_it_must(
    user_pool: MotoUserPool, admin_user: SignedIn, other_client_user: SignedIn
) -> None:
    verifier = CognitoVerifier(user_pool.settings())

    with pytest.raises(InvalidTokenUseError):
        await verifier.verify(admin_user.access_token, token_use="id")
    with pytest.raises(InvalidTokenUseError):
        await verifier.verify(admin_user.id_token, token_use="access")
    with pytest.raises(InvalidClientError):
        await verifier.verify(other_client_user.access_token, token_use="access")
    with pytest.raises(InvalidClientError):
        await verifier.verify(other_client_user.id_token, token_use="id")

    # The signature really is checked against moto's key: change the username, keep the rest.
    header, payload, signature = admin_user.access_token.split(".")
    claims = json.loads(_b64url_decode(payload))
    claims["username"] = "mallory"
    forged = ".".join((header, _b64url_encode(json.dumps(claims).encode()), signature))
    with pytest.raises(InvalidSignatureError):
        await verifier.verify(forged, token_use="access")

    # And the issuer is compared exactly: another pool's issuer does not match moto's.
    elsewhere = CognitoVerifier(
        user_pool.settings(),
        issuers=[f"https://cognito-idp.{REGION}.amazonaws.com/{REGION}_SomeOtherPool"],
    )
    with pytest.raises(InvalidIssuerError):
        await elsewhere.verify(admin_user.access_token, token_use="access")
