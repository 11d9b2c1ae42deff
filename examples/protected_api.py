"""A protected API: one route, a whole router, the username helper, groups and scopes.

Run it against your user pool (uvicorn is not a dependency of the library):

    COGNITO_USER_POOL_ID=eu-west-1_AbC123 COGNITO_CLIENT_IDS=3n4b5urk1ft4fl3mg5e62d9ado \\
        uvicorn --factory examples.protected_api:create_app_from_env

`python -m examples.protected_api_demo` runs it against the test kit's local user pool.
"""

from typing import Annotated

from fastapi import APIRouter, Depends, FastAPI

from fastapi_cognito_jwt import (
    CognitoBearer,
    CognitoClaims,
    CognitoCredentials,
    CognitoSettings,
    current_claims,
    current_username,
    require_groups,
    require_scopes,
)


def create_app(auth: CognitoBearer) -> FastAPI:
    """Build the example app around one bearer (access tokens)."""
    app = FastAPI(title="Protected API example")

    @app.get("/public")
    async def public() -> dict[str, str]:
        return {"message": "anyone may read this"}

    # One protected route: the credentials carry the raw token, its header and its claims.
    @app.get("/me")
    async def me(creds: Annotated[CognitoCredentials, Depends(auth)]) -> dict[str, object]:
        return {"sub": creds.claims.sub, "username": creds.claims.username}

    # The username helper: the token is verified once, whatever else the route depends on.
    @app.get("/hello")
    async def hello(username: Annotated[str, Depends(current_username(auth))]) -> dict[str, str]:
        return {"message": f"Hello, {username}"}

    @app.get("/admin", dependencies=[Depends(require_groups(auth, "admin"))])
    async def admin() -> dict[str, str]:
        return {"message": "welcome, administrator"}

    @app.get("/reports", dependencies=[Depends(require_scopes(auth, "api/read"))])
    async def reports() -> dict[str, list[str]]:
        return {"reports": ["2026-q3", "2026-q4"]}

    # A whole router behind the bearer.
    router = APIRouter(prefix="/private", dependencies=[Depends(auth)])

    @router.get("/groups")
    async def groups(claims: Annotated[CognitoClaims, Depends(current_claims(auth))]) -> list[str]:
        return list(claims.groups)

    app.include_router(router)
    return app


def create_app_from_env() -> FastAPI:
    """The app for a real user pool, configured by `COGNITO_*` environment variables."""
    return create_app(CognitoBearer(CognitoSettings(), token_use="access"))
