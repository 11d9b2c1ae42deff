"""Helper dependencies on a `CognitoBearer`: claims, username, groups and scopes.

Each depends on the bearer itself, one level down, so FastAPI verifies the token once per
request however many of them a route uses, and `app.dependency_overrides[auth]` reaches
them all.
"""

# No `from __future__ import annotations`: FastAPI reads these signatures at runtime.

import copy
import logging
import weakref
from collections.abc import Awaitable, Callable, Iterator
from typing import Annotated, Any, Literal

from fastapi import Depends, FastAPI, HTTPException, routing
from fastapi.dependencies.models import Dependant

from .._exceptions import ConfigurationError, PermissionDeniedError
from .bearer import (
    CognitoBearer,
    CognitoCredentials,
    groups_granted,
    http_exception,
    required_names,
)
from .claims import ClaimsT
from .oauth_bearer import CognitoOAuth2Bearer

__all__ = [
    "current_claims",
    "current_username",
    "document_auth_responses",
    "require_groups",
    "require_scopes",
]

logger = logging.getLogger("fastapi_cognito_jwt")

ClaimsDependency = Callable[..., Awaitable[ClaimsT]]

# The dependencies made here that can answer 403, for `document_auth_responses`.
_DENYING: "weakref.WeakSet[Callable[..., Any]]" = weakref.WeakSet()


def current_claims(auth: CognitoBearer[ClaimsT]) -> ClaimsDependency[ClaimsT]:
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
        credentials: Annotated[CognitoCredentials[ClaimsT] | None, Depends(auth)],
    ) -> ClaimsT:
        return _claims(auth, credentials)

    return claims_dependency


def current_username(auth: CognitoBearer[ClaimsT]) -> Callable[..., Awaitable[str]]:
    """Return a dependency that yields the username of the request's token.

    A token without a username (a machine-to-machine client-credentials token) gets 403.

    ```python
    @app.get("/hello")
    async def hello(username: str = Depends(current_username(auth))) -> str:
        return f"Hello, {username}"
    ```
    """

    async def username_dependency(
        credentials: Annotated[CognitoCredentials[ClaimsT] | None, Depends(auth)],
    ) -> str:
        username = _claims(auth, credentials).username
        if username is None:
            raise _deny(PermissionDeniedError("token has no username"))
        return username

    _DENYING.add(username_dependency)
    return username_dependency


def require_groups(
    auth: CognitoBearer[ClaimsT], *groups: str, match: Literal["any", "all"] = "any"
) -> ClaimsDependency[ClaimsT]:
    """Return a dependency that requires membership of `groups` (`cognito:groups`).

    `match="any"` (default) needs one of them, `match="all"` every one. Names match exactly.
    Checked only after the token verified; a miss is 403 `insufficient_scope`. The dependency
    yields the claims.

    ```python
    @app.get("/admin", dependencies=[Depends(require_groups(auth, "admin"))])
    async def admin() -> str: ...
    ```
    """
    required = required_names("groups", groups)
    if match not in ("any", "all"):
        raise ConfigurationError("match must be 'any' or 'all'")

    async def groups_dependency(
        credentials: Annotated[CognitoCredentials[ClaimsT] | None, Depends(auth)],
    ) -> ClaimsT:
        claims = _claims(auth, credentials)
        if not groups_granted(required, claims.groups, match):
            raise _deny(PermissionDeniedError("required group missing", required=tuple(required)))
        return claims

    _DENYING.add(groups_dependency)
    return groups_dependency


def require_scopes(auth: CognitoBearer[ClaimsT], *scopes: str) -> ClaimsDependency[ClaimsT]:
    """Return a dependency that requires every one of `scopes` in the token's `scope`.

    Names match exactly. Checked only after the token verified; a miss is 403
    `insufficient_scope`. The dependency yields the claims.

    ```python
    @app.get("/read", dependencies=[Depends(require_scopes(auth, "api/read"))])
    async def read() -> str: ...
    ```
    """
    required = required_names("scopes", scopes)

    async def scopes_dependency(
        credentials: Annotated[CognitoCredentials[ClaimsT] | None, Depends(auth)],
    ) -> ClaimsT:
        claims = _claims(auth, credentials)
        if not required <= set(claims.scopes):
            raise _deny(PermissionDeniedError("required scope missing", required=tuple(required)))
        return claims

    _DENYING.add(scopes_dependency)
    return scopes_dependency


def document_auth_responses(app: FastAPI) -> None:
    """Add the answers of Cognito-protected routes to the app's OpenAPI document.

    Every route that depends on a `CognitoBearer` (directly, through a router or through a
    helper) then lists 401 and 503, and 403 where a group, a scope or a username is
    required (by a helper, or by `Security(oauth_bearer, scopes=[...])`), with their
    `WWW-Authenticate` and `Retry-After` headers. Answers a route
    declares itself are kept. Call it once, anywhere before the document is first served.

    ```python
    app = FastAPI()
    document_auth_responses(app)
    ```
    """
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = generate()
        paths = schema.get("paths", {})
        for path, methods, dependant in _api_routes(app):
            calls = [sub.call for sub in _walk(dependant)]
            if path not in paths or not any(isinstance(call, CognitoBearer) for call in calls):
                continue
            answers = dict(_UNAUTHORIZED)
            if any(_may_deny(sub) for sub in _walk(dependant)):
                answers.update(_FORBIDDEN)
            for method in methods:
                operation = paths[path].get(method.lower())
                for status, answer in answers.items() if operation else ():
                    # A copy each: an app that edits its document edits one operation only.
                    operation.setdefault("responses", {}).setdefault(status, copy.deepcopy(answer))
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
    app.openapi_schema = None


def _api_routes(app: FastAPI) -> Iterator[tuple[str, set[str], Dependant]]:
    """Each HTTP route's path, methods and dependencies, routes of included routers too."""
    # Newer FastAPI keeps included routers whole and lists their routes through this.
    expand = getattr(routing, "iter_route_contexts", None)
    for route in expand(app.routes) if expand is not None else app.routes:
        path = getattr(route, "path_format", None)
        methods = getattr(route, "methods", None)
        dependant = getattr(route, "dependant", None)
        if isinstance(path, str) and methods and isinstance(dependant, Dependant):
            yield path, methods, dependant


def _may_deny(dependant: Dependant) -> bool:
    """Whether this dependency can answer 403: a helper made here that requires something,
    or `Security(oauth_bearer, scopes=[...])`."""
    call = dependant.call
    if call is not None and call in _DENYING:
        return True
    if not isinstance(call, CognitoOAuth2Bearer):
        return False
    # FastAPI keeps a dependency's `Security` scopes as its own and its parents' (one list in
    # some versions); the bearer requires them all.
    names = ("own_oauth_scopes", "parent_oauth_scopes", "oauth_scopes", "security_scopes")
    return any(getattr(dependant, name, None) for name in names)


def _walk(dependant: Dependant) -> Iterator[Dependant]:
    for sub in dependant.dependencies:
        yield sub
        yield from _walk(sub)


def _header(description: str) -> dict[str, Any]:
    return {"description": description, "schema": {"type": "string"}}


_DETAIL = {
    "application/json": {"schema": {"type": "object", "properties": {"detail": {"type": "string"}}}}
}
_UNAUTHORIZED: dict[str, dict[str, Any]] = {
    "401": {
        "description": "No bearer token, or one that is not valid (RFC 6750 invalid_token).",
        "headers": {"WWW-Authenticate": _header("The Bearer challenge, with its error code.")},
        "content": _DETAIL,
    },
    "503": {
        "description": "The user pool's signing keys cannot be had right now.",
        "headers": {"Retry-After": _header("Seconds to wait before trying again.")},
        "content": _DETAIL,
    },
}
_FORBIDDEN: dict[str, dict[str, Any]] = {
    "403": {
        "description": "The token is valid but lacks a required group, scope or username "
        "(RFC 6750 insufficient_scope).",
        "headers": {"WWW-Authenticate": _header("The Bearer challenge, insufficient_scope.")},
        "content": _DETAIL,
    },
}


def _claims(
    auth: CognitoBearer[ClaimsT], credentials: CognitoCredentials[ClaimsT] | None
) -> ClaimsT:
    if credentials is None:  # auto_error=False and no credentials: these routes need them
        raise auth.make_not_authenticated_error()
    return credentials.claims


def _deny(error: PermissionDeniedError) -> HTTPException:
    logger.info("Request denied: %s", error)
    return http_exception(error)
