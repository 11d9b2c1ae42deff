"""The FastCognito app: the auth flows under /api/v1/auth, protected routes under /api/v1/users."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated

from fastapi import APIRouter, Depends, FastAPI

from fastapi_cognito_jwt import (
    CognitoBearer,
    CognitoClaims,
    CognitoVerifier,
    InMemoryRevocationList,
    RedisRevocationList,
    RevocationList,
    auth_router,
    current_claims,
    current_username,
    require_groups,
)

from .config import Settings, get_settings
from .models import UserSignup

ADMINS = "admins"


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the app; settings default to the environment and `.env`."""
    settings = settings or get_settings()
    cognito = settings.cognito()
    # Sign-outs and revoked sessions: shared by the replicas through Redis when REDIS_URL is
    # set, else kept in this process. /logout and /revoke record them; every route refuses them.
    revocations: RevocationList
    if settings.REDIS_URL:
        from redis.asyncio import Redis

        redis = Redis.from_url(settings.REDIS_URL, socket_timeout=5, socket_connect_timeout=2)
        revocations = RedisRevocationList(cognito, redis=redis)
    else:
        revocations = InMemoryRevocationList(cognito)
    auth = CognitoBearer(
        token_use="access", verifier=CognitoVerifier(cognito, revocations=revocations)
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await revocations.start()
        try:
            yield
        finally:
            await revocations.aclose()
            if isinstance(revocations, RedisRevocationList):
                await revocations.redis.aclose()

    app = FastAPI(
        title="FastCognito",
        description="FastAPI Cognito API authentication service",
        version="1.0.0",
        lifespan=lifespan,
    )

    @app.get("/")
    async def index() -> dict[str, str]:
        return {"message": "Authentication service"}

    # The router owns its Cognito client and closes it when the app shuts down.
    app.include_router(
        auth_router(cognito, bearer=auth, sign_up_model=UserSignup), prefix="/api/v1/auth"
    )

    # Everything under /api/v1/users needs a valid access token.
    users = APIRouter(prefix="/api/v1/users", tags=["users"], dependencies=[Depends(auth)])

    @users.get("/hello")
    async def hello(username: Annotated[str, Depends(current_username(auth))]) -> dict[str, str]:
        return {"message": f"Hello, {username}"}

    @users.get("/profile")
    async def profile(
        claims: Annotated[CognitoClaims, Depends(current_claims(auth))],
    ) -> dict[str, object]:
        return {"sub": claims.sub, "username": claims.username, "groups": list(claims.groups)}

    # Roles are Cognito groups, set on the server (an admin call or a trigger), never by users.
    @users.get("/admin", dependencies=[Depends(require_groups(auth, ADMINS))])
    async def admin() -> dict[str, str]:
        return {"message": "Hello, administrator"}

    app.include_router(users)
    return app
