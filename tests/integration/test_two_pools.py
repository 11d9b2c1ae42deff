"""End to end: one app, two moto user pools in two regions, each with its own issuer, JWKS
and app clients (settings.additional_pools), through one `CognitoBearer` over real HTTP."""

# No `from __future__ import annotations`: FastAPI reads the route signatures at runtime.

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated, Any

import boto3
import httpx2
import pytest
from fastapi import Depends, FastAPI
from fastapi.testclient import TestClient

from examples.fastcognito.emulator import AWS_ENV
from fastapi_cognito_jwt import (
    CognitoBearer,
    CognitoCredentials,
    CognitoVerifier,
    UserPoolSettings,
    document_auth_responses,
)
from fastapi_cognito_jwt.testing import LocalUserPool
from tests.helpers import INVALID, assert_echoes_nothing, assert_rejected, bearer

from .conftest import PASSWORD, MotoUserPool, SignedIn

pytestmark = pytest.mark.integration

REGION_B = "eu-west-1"


@dataclass(frozen=True)
class PoolB:
    user_pool_id: str
    client_id: str
    settings: UserPoolSettings
    user: SignedIn


@pytest.fixture(scope="module")
def pool_b(moto_server: str) -> PoolB:
    """A second pool, in another region, with one client and one signed-in user."""
    idp = boto3.client(
        "cognito-idp",
        region_name=REGION_B,
        endpoint_url=moto_server,
        aws_access_key_id=AWS_ENV["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=AWS_ENV["AWS_SECRET_ACCESS_KEY"],
    )
    pool_id = idp.create_user_pool(PoolName="second-region")["UserPool"]["Id"]
    assert pool_id.startswith(f"{REGION_B}_")
    client_id = idp.create_user_pool_client(
        UserPoolId=pool_id, ClientName="b", ExplicitAuthFlows=["ALLOW_USER_PASSWORD_AUTH"]
    )["UserPoolClient"]["ClientId"]
    idp.sign_up(ClientId=client_id, Username="bea", Password=PASSWORD)
    idp.admin_confirm_sign_up(UserPoolId=pool_id, Username="bea")
    tokens = idp.initiate_auth(
        ClientId=client_id,
        AuthFlow="USER_PASSWORD_AUTH",
        AuthParameters={"USERNAME": "bea", "PASSWORD": PASSWORD},
    )["AuthenticationResult"]
    user = SignedIn("bea", "", "", client_id, tokens["AccessToken"], tokens["IdToken"], "")
    settings = UserPoolSettings(
        user_pool_id=pool_id,
        client_ids=[client_id],
        jwks_url=f"{moto_server}/{pool_id}/.well-known/jwks.json",
    )
    return PoolB(pool_id, client_id, settings, user)


@dataclass
class App:
    client: TestClient
    fetched: list[str]


@pytest.fixture(scope="module")
def app(user_pool: MotoUserPool, pool_b: PoolB) -> Iterator[App]:
    """Pool A accepts its `web` client; pool B its own client and, misconfigured on purpose,
    pool A's `other` client: a pool-A token issued to `other` must still be refused."""
    fetched: list[str] = []

    async def count(request: httpx2.Request) -> None:
        fetched.append(str(request.url))

    settings = user_pool.settings(
        jwks_miss_cooldown=0,  # an unknown kid would be fetched at once: none must be
        additional_pools=[
            pool_b.settings.model_copy(
                update={"client_ids": [pool_b.client_id, user_pool.other_client_id]}
            )
        ],
    )
    http_client = httpx2.AsyncClient(event_hooks={"request": [count]})
    auth = CognitoBearer(
        token_use="access", verifier=CognitoVerifier(settings, http_client=http_client)
    )
    app = FastAPI()

    @app.get("/whoami")
    async def whoami(credentials: Annotated[CognitoCredentials, Depends(auth)]) -> dict[str, Any]:
        claims = credentials.claims
        return {"pool": credentials.user_pool_id, "user": claims.username, "iss": claims.iss}

    document_auth_responses(app)
    with TestClient(app) as client:
        yield App(client, fetched)


def test_both_pools_tokens_are_accepted(
    app: App, user_pool: MotoUserPool, admin_user: SignedIn, pool_b: PoolB
) -> None:
    a = app.client.get("/whoami", headers=bearer(admin_user.access_token))
    b = app.client.get("/whoami", headers=bearer(pool_b.user.access_token))
    assert (a.status_code, b.status_code) == (200, 200)
    assert a.json()["pool"] == user_pool.user_pool_id and a.json()["user"] == "alice"
    assert b.json() == {
        "pool": pool_b.user_pool_id,
        "user": "bea",
        "iss": f"https://cognito-idp.{REGION_B}.amazonaws.com/{pool_b.user_pool_id}",
    }
    # Each pool's keys come from its own JWKS URL.
    assert {url.split("/")[3] for url in app.fetched} >= {
        user_pool.user_pool_id,
        pool_b.user_pool_id,
    }
    assert "401" in app.client.get("/openapi.json").json()["paths"]["/whoami"]["get"]["responses"]


def test_a_client_id_counts_only_with_its_own_pools_issuer(
    app: App, user_pool: MotoUserPool, other_client_user: SignedIn
) -> None:
    """Pool A's token issued to a client listed only under pool B: 401."""
    token = other_client_user.access_token
    response = app.client.get("/whoami", headers=bearer(token))
    status, challenge, body = INVALID
    assert (response.status_code, response.json()) == (status, body)
    assert response.headers.get_list("www-authenticate") == [challenge]
    assert_echoes_nothing(response, token, user_pool.other_client_id)


def test_an_unknown_issuer_is_refused_without_a_fetch(app: App) -> None:
    stranger = LocalUserPool(user_pool_id="ap-southeast-2_Stranger", kid="stranger-kid")
    before = len(app.fetched)
    token = stranger.access_token()
    assert_rejected(app.client.get("/whoami", headers=bearer(token)), INVALID, stranger, token)
    assert len(app.fetched) == before
