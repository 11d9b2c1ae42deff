"""Helper dependencies on a `CognitoBearer`: claims, username, groups and scopes.

Each depends on the bearer itself, one level down, so FastAPI verifies the token once per
request however many of them a route uses, and `app.dependency_overrides[auth]` reaches
them all.
"""

# No `from __future__ import annotations`: FastAPI reads these signatures at runtime.

import logging
from collections.abc import Awaitable, Callable
from typing import Annotated, Literal

from fastapi import Depends, HTTPException

from .._exceptions import ConfigurationError, PermissionDeniedError
from .bearer import CognitoBearer, CognitoCredentials, http_exception
from .claims import CognitoClaims

__all__ = ["current_claims", "current_username", "require_groups", "require_scopes"]

logger = logging.getLogger("fastapi_cognito_jwt")

ClaimsDependency = Callable[..., Awaitable[CognitoClaims]]


def current_claims(auth: CognitoBearer) -> ClaimsDependency:
    """Return a dependency that yields the verified claims of the request's token.

    With `auto_error=False`, a request without credentials still gets 401 here: a route that
    asks for claims needs them.

    ```python
    @app.get("/me")
    async def me(claims: CognitoClaims = Depends(current_claims(auth))) -> dict[str, str]:
        return {"sub": claims.sub}
    ```
    """

    async def claims_dependency(
        credentials: Annotated[CognitoCredentials | None, Depends(auth)],
    ) -> CognitoClaims:
        return _claims(auth, credentials)

    return claims_dependency


def current_username(auth: CognitoBearer) -> Callable[..., Awaitable[str]]:
    """Return a dependency that yields the username of the request's token.

    A token without a username (a machine-to-machine client-credentials token) gets 403.

    ```python
    @app.get("/hello")
    async def hello(username: str = Depends(current_username(auth))) -> str:
        return f"Hello, {username}"
    ```
    """

    async def username_dependency(
        credentials: Annotated[CognitoCredentials | None, Depends(auth)],
    ) -> str:
        username = _claims(auth, credentials).username
        if username is None:
            raise _deny(PermissionDeniedError("token has no username"))
        return username

    return username_dependency


def require_groups(
    auth: CognitoBearer, *groups: str, match: Literal["any", "all"] = "any"
) -> ClaimsDependency:
    """Return a dependency that requires membership of `groups` (`cognito:groups`).

    `match="any"` (default) needs one of them, `match="all"` every one. Names match exactly.
    Checked only after the token verified; a miss is 403 `insufficient_scope`. The dependency
    yields the claims.

    ```python
    @app.get("/admin", dependencies=[Depends(require_groups(auth, "admin"))])
    async def admin() -> str: ...
    ```
    """
    required = _names("groups", groups)
    if match not in ("any", "all"):
        raise ConfigurationError("match must be 'any' or 'all'")

    async def groups_dependency(
        credentials: Annotated[CognitoCredentials | None, Depends(auth)],
    ) -> CognitoClaims:
        claims = _claims(auth, credentials)
        held = set(claims.groups)
        granted = required <= held if match == "all" else not required.isdisjoint(held)
        if not granted:
            raise _deny(PermissionDeniedError("required group missing", required=tuple(required)))
        return claims

    return groups_dependency


def require_scopes(auth: CognitoBearer, *scopes: str) -> ClaimsDependency:
    """Return a dependency that requires every one of `scopes` in the token's `scope`.

    Names match exactly. Checked only after the token verified; a miss is 403
    `insufficient_scope`. The dependency yields the claims.

    ```python
    @app.get("/read", dependencies=[Depends(require_scopes(auth, "api/read"))])
    async def read() -> str: ...
    ```
    """
    required = _names("scopes", scopes)

    async def scopes_dependency(
        credentials: Annotated[CognitoCredentials | None, Depends(auth)],
    ) -> CognitoClaims:
        claims = _claims(auth, credentials)
        if not required <= set(claims.scopes):
            raise _deny(PermissionDeniedError("required scope missing", required=tuple(required)))
        return claims

    return scopes_dependency


def _claims(auth: CognitoBearer, credentials: CognitoCredentials | None) -> CognitoClaims:
    if credentials is None:  # auto_error=False and no credentials: these routes need them
        raise auth.make_not_authenticated_error()
    return credentials.claims


def _names(kind: str, names: tuple[str, ...]) -> frozenset[str]:
    if not names or not all(isinstance(name, str) and name for name in names):
        raise ConfigurationError(f"give at least one of the required {kind}, as non-empty strings")
    return frozenset(names)


def _deny(error: PermissionDeniedError) -> HTTPException:
    logger.info("Request denied: %s", error)
    return http_exception(error)
