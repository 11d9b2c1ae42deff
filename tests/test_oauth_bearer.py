"""`CognitoOAuth2Bearer`: its OpenAPI scheme, the Swagger UI settings and `Security` scopes."""

from typing import Annotated, Any

import pytest
from fastapi import FastAPI, Security

from fastapi_cognito_jwt import (
    CognitoCredentials,
    CognitoOAuth2Bearer,
    ConfigurationError,
    document_auth_responses,
)
from fastapi_cognito_jwt.testing import LocalUserPool
from tests.helpers import (
    FORBIDDEN,
    NO_CREDENTIALS,
    assert_rejected,
    bearer,
    get_answers,
    send,
)

pytestmark = pytest.mark.anyio

DOMAIN = "https://myapp.auth.eu-west-1.amazoncognito.com"


def oauth_bearer(pool: LocalUserPool) -> CognitoOAuth2Bearer:
    verifier = pool.verifier(
        oauth_domain=DOMAIN, oauth_client_id=pool.client_id, oauth_scopes=["openid", "api/read"]
    )
    return CognitoOAuth2Bearer(token_use="access", verifier=verifier)


def app_for(auth: CognitoOAuth2Bearer) -> FastAPI:
    app = FastAPI(swagger_ui_init_oauth=auth.swagger_ui_init_oauth())

    @app.get("/items")
    async def items(
        creds: Annotated[CognitoCredentials, Security(auth, scopes=["api/read"])],
    ) -> str | None:
        return creds.claims.username

    return app


def test_openapi_declares_the_authorization_code_flow() -> None:
    pool = LocalUserPool()
    auth = oauth_bearer(pool)
    schema = app_for(auth).openapi()
    assert schema["components"]["securitySchemes"]["CognitoOAuth2Bearer"] == {
        "type": "oauth2",
        "flows": {
            "authorizationCode": {
                "authorizationUrl": f"{DOMAIN}/oauth2/authorize",
                "tokenUrl": f"{DOMAIN}/oauth2/token",
                "scopes": {"openid": "openid", "api/read": "api/read"},
            }
        },
    }
    assert schema["paths"]["/items"]["get"]["security"] == [{"CognitoOAuth2Bearer": ["api/read"]}]
    assert auth.swagger_ui_init_oauth() == {
        "clientId": pool.client_id,
        "usePkceWithAuthorizationCodeGrant": True,
        "scopes": "openid api/read",
    }


def test_openapi_lists_403_where_security_scopes_are_required() -> None:
    """403 where the bearer requires scopes: its own, or those of a dependency using it."""
    auth = oauth_bearer(LocalUserPool())
    app = app_for(auth)  # /items: Security(auth, scopes=["api/read"])

    async def reader(
        creds: Annotated[CognitoCredentials, Security(auth, scopes=["api/read"])],
    ) -> CognitoCredentials:
        return creds

    async def any_token(creds: Annotated[CognitoCredentials, Security(auth)]) -> None:
        return None

    app.get("/any-token", dependencies=[Security(any_token)])(lambda: 1)
    app.get("/nested", dependencies=[Security(reader)])(lambda: 1)
    app.get("/scopes-from-above", dependencies=[Security(any_token, scopes=["api/read"])])(
        lambda: 1
    )
    document_auth_responses(app)
    assert get_answers(app) == {
        "/items": ["200", "401", "403", "503"],
        "/any-token": ["200", "401", "503"],
        "/nested": ["200", "401", "403", "503"],
        "/scopes-from-above": ["200", "401", "403", "503"],
    }


async def test_security_scopes_are_required_of_the_token() -> None:
    pool = LocalUserPool()
    app = app_for(oauth_bearer(pool))
    good = await send(app, "/items", bearer(pool.access_token(scopes=["openid", "api/read"])))
    assert (good.status_code, good.json()) == (200, "alice")
    token = pool.access_token(scopes=["openid"])
    assert_rejected(await send(app, "/items", bearer(token)), FORBIDDEN, pool, token)
    assert_rejected(await send(app, "/items"), NO_CREDENTIALS, pool)


@pytest.mark.parametrize(
    "fields",
    [
        {},  # no oauth_client_id
        {"oauth_client_id": "notinclientids"},
        {"oauth_client_id": "not a client id"},
        {"oauth_client_id": "localclient0000000000000000"},  # no oauth_domain
        {"oauth_client_id": "localclient0000000000000000", "oauth_domain": f"{DOMAIN}/x"},
        {"oauth_client_id": "localclient0000000000000000", "oauth_domain": "http://a.example"},
    ],
)
def test_it_needs_a_domain_and_an_accepted_public_client(fields: dict[str, Any]) -> None:
    with pytest.raises(ConfigurationError):
        CognitoOAuth2Bearer(token_use="access", verifier=LocalUserPool().verifier(**fields))


async def test_the_test_kit_stands_in_with_the_scope_check(pool: LocalUserPool) -> None:
    """`pool.bearer_like` of an OAuth2 bearer is one too: `Security(..., scopes=...)` holds."""
    other = LocalUserPool(user_pool_id="eu-west-1_Other", client_id="otherclient", kid="o1")
    production = oauth_bearer(other)
    app = FastAPI()

    @app.get("/write")
    async def write(
        creds: Annotated[CognitoCredentials, Security(production, scopes=["api/write"])],
    ) -> str:
        return "written"

    stand_in = pool.bearer_like(production)
    app.dependency_overrides[production] = stand_in
    assert isinstance(stand_in, CognitoOAuth2Bearer)
    assert stand_in.verifier.revocations is production.verifier.revocations
    reader = pool.access_token(scopes=["api/read"])
    writer = pool.access_token(scopes=["api/write"])
    assert (await send(app, "/write", bearer(reader))).status_code == 403
    assert (await send(app, "/write", bearer(writer))).json() == "written"
