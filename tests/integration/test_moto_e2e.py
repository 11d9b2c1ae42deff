"""End to end: moto-issued tokens through the verifier and `CognitoBearer`, keys over real HTTP.

moto signs with a fixed 2048-bit RSA key (kid "dummy") that it serves at
`{server}/{pool_id}/.well-known/jwks.json`, and issues tokens whose `iss` is the real AWS form
`https://cognito-idp.{region}.amazonaws.com/{pool_id}`. So the library's default issuer is
right and only `jwks_url` is pointed at the emulator.
"""

# No `from __future__ import annotations`: FastAPI reads the route signatures at runtime.

import json
from collections.abc import Iterator
from typing import Annotated, Any

import httpx2
import pytest
from fastapi import Depends, FastAPI
from fastapi.testclient import TestClient

from fastapi_cognito_jwt import (
    CognitoBearer,
    CognitoClaims,
    CognitoJWTError,
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
from tests.helpers import FORBIDDEN, INVALID, Expected, assert_echoes_nothing, b64d, b64u, segments

from .conftest import ADMIN_GROUP, MotoUserPool, SignedIn

pytestmark = pytest.mark.integration

ADMIN_SCOPE = "aws.cognito.signin.user.admin"
OTHER_ISSUER = "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_SomeOtherPool"


def make_app(settings: CognitoSettings) -> FastAPI:
    """`/{access,id}/me` (the claims) and `/{access,id}/admin` (group admin), per token use."""
    app = FastAPI()
    for use in ("access", "id"):
        auth = CognitoBearer(settings, token_use=use)

        async def me(
            username: Annotated[str, Depends(current_username(auth))],
            claims: Annotated[CognitoClaims, Depends(current_claims(auth))],
        ) -> dict[str, Any]:
            return {**claims.model_dump(include={"sub", "client_id", "groups"}), "user": username}

        async def admin(
            claims: Annotated[CognitoClaims, Depends(require_groups(auth, ADMIN_GROUP))],
        ) -> str | None:
            return claims.username

        app.add_api_route(f"/{use}/me", me)
        app.add_api_route(f"/{use}/admin", admin)
    return app


@pytest.fixture(scope="module")
def client(user_pool: MotoUserPool) -> Iterator[TestClient]:
    with TestClient(make_app(user_pool.settings())) as test_client:
        yield test_client


def test_moto_issues_what_cognito_issues(
    user_pool: MotoUserPool, admin_user: SignedIn, plain_user: SignedIn
) -> None:
    """The premise of this module: moto's JWKS and tokens have real Cognito's shape."""
    [key] = httpx2.get(user_pool.settings().resolved_jwks_url, timeout=5).json()["keys"]
    assert (key["kty"], key["alg"], key["use"], key["e"]) == ("RSA", "RS256", "sig", "AQAB")
    assert int.from_bytes(b64d(key["n"]), "big").bit_length() == 2048
    for token, use in ((admin_user.access_token, "access"), (admin_user.id_token, "id")):
        header, payload, _ = segments(token)
        assert header == {"typ": "JWT", "alg": "RS256", "kid": key["kid"]}
        assert payload["token_use"] == use
        assert payload["exp"] - payload["iat"] == 3600
        # Access tokens name the client in client_id, ID tokens in aud: never both.
        assert ("client_id" in payload, "aud" in payload) == (use == "access", use == "id")
    assert "cognito:groups" not in segments(plain_user.access_token)[1]


@pytest.mark.anyio
async def test_verifier_accepts_real_tokens_and_refreshed_ones(
    user_pool: MotoUserPool, admin_user: SignedIn, plain_user: SignedIn
) -> None:
    verifier = CognitoVerifier(user_pool.settings())

    access = await verifier.verify(admin_user.access_token, token_use="access")
    identity = await verifier.verify(admin_user.id_token, token_use="id")

    issuer = f"https://cognito-idp.us-east-1.amazonaws.com/{user_pool.user_pool_id}"
    assert (access.username, access.sub, access.iss) == ("alice", admin_user.sub, issuer)
    assert (access.client_id, identity.client_id) == (user_pool.client_id, user_pool.client_id)
    assert access.groups == identity.groups == (ADMIN_GROUP,)
    assert access.scopes == (ADMIN_SCOPE,)
    assert access.jti is not None and access.auth_time is not None
    assert access.origin_jti == identity.origin_jti is not None
    assert (identity.token_use, identity.username) == ("id", "alice")
    assert identity.get("email") == admin_user.email
    assert identity["custom:team"] == "platform"
    assert verifier.jwks.kids == frozenset({"dummy"})  # fetched from moto over HTTP
    plain = await verifier.verify(plain_user.access_token, token_use="access")
    assert (plain.username, plain.groups) == ("bob", ())

    result = user_pool.idp.initiate_auth(
        ClientId=user_pool.client_id,
        AuthFlow="REFRESH_TOKEN_AUTH",
        AuthParameters={"REFRESH_TOKEN": admin_user.refresh_token},
    )["AuthenticationResult"]
    assert result["AccessToken"] != admin_user.access_token
    refreshed = await verifier.verify(result["AccessToken"], token_use="access")
    assert refreshed.username == "alice"
    assert (await verifier.verify(result["IdToken"], token_use="id")).get("email") == (
        admin_user.email
    )


def _forged(token: str) -> str:
    """`token` with the username changed and moto's signature kept."""
    header, payload, signature = token.split(".")
    claims = json.loads(b64d(payload)) | {"username": "mallory"}
    return ".".join((header, b64u(json.dumps(claims).encode()), signature))


@pytest.mark.parametrize(
    ("user", "kind", "token_use", "overrides", "error"),
    [
        ("admin_user", "access_token", "id", {}, InvalidTokenUseError),
        ("admin_user", "id_token", "access", {}, InvalidTokenUseError),
        ("other_client_user", "access_token", "access", {}, InvalidClientError),
        ("other_client_user", "id_token", "id", {}, InvalidClientError),
        ("admin_user", "id_token", "id", {"client_ids": ["otherappclient"]}, InvalidClientError),
        ("admin_user", "forged", "access", {}, InvalidSignatureError),
        ("admin_user", "access_token", "access", {"issuers": [OTHER_ISSUER]}, InvalidIssuerError),
    ],
)
@pytest.mark.anyio
async def test_verifier_refuses_real_tokens_that_do_not_fit(
    request: pytest.FixtureRequest,
    user_pool: MotoUserPool,
    user: str,
    kind: str,
    token_use: Any,
    overrides: dict[str, Any],
    error: type[CognitoJWTError],
) -> None:
    signed_in: SignedIn = request.getfixturevalue(user)
    token = _forged(signed_in.access_token) if kind == "forged" else getattr(signed_in, kind)
    verifier = CognitoVerifier(user_pool.settings(**overrides))
    with pytest.raises(error):
        await verifier.verify(token, token_use=token_use)


@pytest.mark.parametrize(
    ("path", "user", "kind", "refusal"),
    [
        ("/access/me", "admin_user", "access_token", None),
        ("/id/me", "admin_user", "id_token", None),
        ("/access/admin", "admin_user", "access_token", None),
        ("/id/admin", "admin_user", "id_token", None),
        ("/access/me", "plain_user", "access_token", None),
        ("/access/admin", "plain_user", "access_token", FORBIDDEN),
        ("/id/admin", "plain_user", "id_token", FORBIDDEN),
        ("/id/me", "admin_user", "access_token", INVALID),
        ("/access/me", "admin_user", "id_token", INVALID),
        ("/access/me", "other_client_user", "access_token", INVALID),
        ("/id/me", "other_client_user", "id_token", INVALID),
    ],
)
def test_routes_answer_real_tokens(
    request: pytest.FixtureRequest,
    client: TestClient,
    path: str,
    user: str,
    kind: str,
    refusal: Expected | None,
) -> None:
    signed_in: SignedIn = request.getfixturevalue(user)
    token: str = getattr(signed_in, kind)

    response = client.get(path, headers={"Authorization": f"Bearer {token}"})

    if refusal is None:
        assert response.status_code == 200
        me: dict[str, Any] = {"sub": signed_in.sub, "client_id": signed_in.client_id}
        me |= {"user": signed_in.username, "groups": [ADMIN_GROUP] if user == "admin_user" else []}
        assert response.json() == (signed_in.username if path.endswith("admin") else me)
    else:
        status, challenge, body = refusal
        assert (response.status_code, response.json()) == (status, body)
        assert response.headers.get_list("www-authenticate") == [challenge]
        assert_echoes_nothing(response, token)
