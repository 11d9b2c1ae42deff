"""`CognitoBearer`, the FastAPI security dependency, and where token errors become HTTP."""

# No `from __future__ import annotations`: FastAPI reads these signatures at runtime.

import logging
from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import Any, Generic, cast, overload

from fastapi import HTTPException
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import ConfigDict
from starlette.requests import HTTPConnection

from .._exceptions import (
    CognitoJWTError,
    ConfigurationError,
    JWKSUnavailableError,
    PermissionDeniedError,
    RevocationUnavailableError,
    TokenError,
    TokenExpiredError,
)
from .._http_answers import (
    EXPIRED_TOKEN,
    INSUFFICIENT_SCOPE,
    INVALID_REQUEST,
    INVALID_TOKEN,
    HTTPAnswer,
    unavailable,
)
from .._json import loads_object
from .._settings import CognitoSettings
from . import base64url
from .claims import ClaimsT, CognitoClaims, TokenUse
from .verifier import CognitoVerifier

__all__ = [
    "CognitoBearer",
    "CognitoCredentials",
    "bearer_verifier",
    "groups_granted",
    "http_answer",
    "http_exception",
    "required_names",
]

logger = logging.getLogger("fastapi_cognito_jwt")


def http_exception(error: CognitoJWTError) -> HTTPException:
    """Translate a library exception raised while serving a request into its HTTP answer.

    `TokenError` → 401 `invalid_token`; `PermissionDeniedError` → 403 `insufficient_scope`;
    `JWKSUnavailableError`, `RevocationUnavailableError` (or anything else) → 503 with
    `Retry-After`.
    """
    return http_answer(error).exception()


def bearer_verifier(
    settings: CognitoSettings | None,
    verifier: CognitoVerifier | None,
    token_use: object,
    claims_model: object,
) -> CognitoVerifier:
    """Check a bearer's arguments (any bearer's: HTTP or WebSocket); its verifier."""
    if token_use not in ("access", "id"):
        raise ConfigurationError("token_use must be 'access' or 'id'")
    if not (isinstance(claims_model, type) and issubclass(claims_model, CognitoClaims)):
        raise ConfigurationError("claims_model must be a subclass of CognitoClaims")
    if verifier is not None and settings is not None:
        raise ConfigurationError("pass either verifier or settings, not both")
    return verifier if verifier is not None else CognitoVerifier(settings)


def required_names(kind: str, names: tuple[str, ...]) -> frozenset[str]:
    """The groups or scopes a dependency requires: at least one, each a non-empty string."""
    if not names or not all(isinstance(name, str) and name for name in names):
        raise ConfigurationError(f"give at least one of the required {kind}, as non-empty strings")
    return frozenset(names)


def groups_granted(required: frozenset[str], held: Iterable[str], match: str) -> bool:
    """Whether `held` groups meet `required`: one of them (`any`) or every one (`all`)."""
    held = set(held)
    return required <= held if match == "all" else not required.isdisjoint(held)


def http_answer(error: CognitoJWTError) -> HTTPAnswer:
    """The fixed answer for `error`, as `http_exception` raises it (and WebSockets send it)."""
    if isinstance(error, TokenExpiredError):
        return EXPIRED_TOKEN
    if isinstance(error, TokenError):
        return INVALID_TOKEN
    if isinstance(error, PermissionDeniedError):
        return INSUFFICIENT_SCOPE
    retry_after = (
        error.retry_after
        if isinstance(error, (JWKSUnavailableError, RevocationUnavailableError))
        else 30.0
    )
    return unavailable("Authentication is temporarily unavailable", retry_after)


class CognitoCredentials(HTTPAuthorizationCredentials, Generic[ClaimsT]):
    """The credentials of a request whose bearer token verified.

    `credentials` is the raw token, `claims` its verified claims (typed as the bearer's
    claims model: `CognitoCredentials[MyClaims]`), `user_pool_id` the pool that issued it
    and `header` its JOSE header.
    """

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    claims: ClaimsT
    user_pool_id: str | None = None
    """The id of the user pool whose issuer the token carries (None when no pool has it)."""

    @property
    def header(self) -> Mapping[str, Any]:
        """The token's JOSE header (covered by the verified signature), read-only."""
        segment = self.credentials.partition(".")[0]
        try:
            return MappingProxyType(loads_object(base64url.decode(segment)))
        except ValueError:  # credentials that are not a JWS (an override's, say) have none
            return MappingProxyType({})


# Shared by every instance: the model is frozen, and pydantic copies the set before
# changing it (model_copy).
_CREDENTIALS_FIELDS = {"scheme", "credentials", "claims", "user_pool_id"}


def _credentials(
    scheme: str, token: str, claims: ClaimsT, user_pool_id: str | None
) -> CognitoCredentials[ClaimsT]:
    """`CognitoCredentials.model_construct(...)` for these fields, at a third of its cost.

    Everything here was validated by the verifier. This sets what `model_construct` sets; a
    test compares the two, and fails if pydantic changes what a model holds.
    """
    credentials: CognitoCredentials[ClaimsT] = object.__new__(CognitoCredentials)
    fields = {
        "scheme": scheme,
        "credentials": token,
        "claims": claims,
        "user_pool_id": user_pool_id,
    }
    object.__setattr__(credentials, "__dict__", fields)
    object.__setattr__(credentials, "__pydantic_fields_set__", _CREDENTIALS_FIELDS)
    object.__setattr__(credentials, "__pydantic_extra__", None)
    object.__setattr__(credentials, "__pydantic_private__", None)
    return credentials


class CognitoBearer(HTTPBearer, Generic[ClaimsT]):
    """A FastAPI dependency that requires a valid Cognito bearer token.

    Use it on a route, on a whole router, or through the helper dependencies. Swagger UI
    shows it as an HTTP bearer scheme, so its Authorize button works. It verifies through
    `verifier.verify`, the verifier's public path. It is generic over its claims model, so
    `creds.claims` has your model's type (`CognitoBearer[MyClaims]`).

    ```python
    auth = CognitoBearer(settings, token_use="access")

    @app.get("/me")
    async def me(creds: CognitoCredentials = Depends(auth)) -> dict[str, str | None]:
        return {"username": creds.claims.username}

    router = APIRouter(dependencies=[Depends(auth)])
    ```

    Answers: a missing or non-Bearer `Authorization` header is 401 with a bare
    `WWW-Authenticate: Bearer` (or `None` with `auto_error=False`); an invalid token is always
    401 `Bearer error="invalid_token"`, even with `auto_error=False`, so a bad token never
    turns into an anonymous request; several `Authorization` headers are 400
    `invalid_request`; no usable signing key is 503 with `Retry-After`.

    Args:
        settings: the pool and the rules; read from the environment when neither this nor
            `verifier` is given.
        token_use: `"access"` or `"id"`: which kind of token this route accepts.
        claims_model: a `CognitoClaims` subclass to validate the claims into.
        verifier: a `CognitoVerifier` to share with other bearers (instead of `settings`).
        auto_error: when False, a request without bearer credentials gets `None`.
        scheme_name: the security scheme's name in OpenAPI.
        description: the security scheme's description in OpenAPI.
    """

    # Typed by overloads so that a bearer without `claims_model` is a bearer of CognitoClaims,
    # whatever a surrounding annotation claims.
    @overload
    def __init__(
        self: "CognitoBearer[CognitoClaims]",
        settings: CognitoSettings | None = None,
        /,
        *,
        token_use: TokenUse,
        verifier: CognitoVerifier | None = None,
        auto_error: bool = True,
        scheme_name: str | None = None,
        description: str | None = None,
    ) -> None: ...

    @overload
    def __init__(
        self,
        settings: CognitoSettings | None = None,
        /,
        *,
        token_use: TokenUse,
        claims_model: type[ClaimsT],
        verifier: CognitoVerifier | None = None,
        auto_error: bool = True,
        scheme_name: str | None = None,
        description: str | None = None,
    ) -> None: ...

    def __init__(
        self,
        settings: CognitoSettings | None = None,
        /,
        *,
        token_use: TokenUse,
        claims_model: type[Any] = CognitoClaims,
        verifier: CognitoVerifier | None = None,
        auto_error: bool = True,
        scheme_name: str | None = None,
        description: str | None = None,
    ) -> None:
        super().__init__(
            bearerFormat="JWT",
            scheme_name=scheme_name,
            description=description,
            auto_error=auto_error,
        )
        self.verifier = bearer_verifier(settings, verifier, token_use, claims_model)
        self.token_use: TokenUse = token_use
        self.claims_model: type[ClaimsT] = cast("type[ClaimsT]", claims_model)

    async def __call__(self, request: HTTPConnection) -> CognitoCredentials[ClaimsT] | None:
        """Read the bearer token from the request and verify it."""
        # Straight from the ASGI scope (names are lower-case there, as Starlette relies on too):
        # building `request.headers` copies every header, on every protected request.
        values = [value for name, value in request.scope["headers"] if name == b"authorization"]
        if len(values) > 1:
            # Proxies and frameworks disagree on which of several headers wins; refuse to guess.
            raise INVALID_REQUEST.exception()
        scheme, _, token = (values[0].decode("latin-1") if values else "").partition(" ")
        token = token.lstrip(" ")  # RFC 6750 allows several spaces after the scheme
        if scheme.lower() != "bearer" or not token:
            if self.auto_error:
                raise self.make_not_authenticated_error()
            return None
        try:
            claims = await self.verifier.verify(
                token, token_use=self.token_use, claims_model=self.claims_model
            )
        except CognitoJWTError as exc:
            logger.info("Bearer token rejected: %s: %s", type(exc).__name__, exc)
            raise http_exception(exc) from None
        pool = self.verifier.user_pool_of(claims.iss)
        return _credentials(scheme, token, claims, None if pool is None else pool.user_pool_id)
