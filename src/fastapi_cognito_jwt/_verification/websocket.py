"""`CognitoWebSocketBearer`: the bearer's sibling for FastAPI WebSocket routes.

Browsers cannot set `Authorization` on a WebSocket, so besides that header the token may come
in `Sec-WebSocket-Protocol` (as `bearer.<token>`, next to an app protocol the server speaks)
or, when enabled, in a query parameter. Verification goes through `verifier.verify`.
"""

# No `from __future__ import annotations`: FastAPI reads these signatures at runtime.

import logging
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Annotated, Any, Generic, Literal, cast, overload
from urllib.parse import parse_qsl

from fastapi import Depends
from starlette.exceptions import WebSocketException
from starlette.websockets import WebSocket

from .._exceptions import (
    CognitoJWTError,
    ConfigurationError,
    PermissionDeniedError,
)
from .._http_answers import (
    BEARER,
    INSUFFICIENT_SCOPE,
    INVALID_REQUEST,
    HTTPAnswer,
)
from .._settings import CognitoSettings
from .bearer import (
    CognitoCredentials,
    bearer_verifier,
    groups_granted,
    http_answer,
    required_names,
)
from .claims import ClaimsT, CognitoClaims, TokenUse
from .verifier import CognitoVerifier

__all__ = ["PROTOCOL_TOKEN_PREFIX", "CognitoWebSocketBearer"]

logger = logging.getLogger("fastapi_cognito_jwt")

PROTOCOL_TOKEN_PREFIX = "bearer."
"""How a client marks the token among its offered subprotocols: `bearer.<token>`."""

# RFC 6455 close codes: 1008 policy violation (any refusal), 1013 try again later (503).
POLICY_VIOLATION = 1008
TRY_AGAIN_LATER = 1013
# A handshake offers a few subprotocols; a longer list is not a browser's.
MAX_SUBPROTOCOLS = 16
# Room for the percent-encoding of a maximal token in the query, and for other parameters.
_QUERY_OVERHEAD = 2048
_MAX_QUERY_FIELDS = 64
# RFC 7230 `tchar`: what a subprotocol name (and a JWT, whose alphabet is base64url and ".")
# may contain.
_TCHARS = frozenset("!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")

NOT_AUTHENTICATED = HTTPAnswer(401, "Not authenticated", {"WWW-Authenticate": BEARER})

# The credentials' parameter is a string: at runtime pydantic's `CognitoCredentials[ClaimsT]`
# is the class itself, which would leave the alias without a parameter.
CredentialsDependency = Callable[..., Awaitable["CognitoCredentials[ClaimsT]"]]


class _Refused(Exception):
    """A handshake the bearer refuses, with the fixed answer it gets."""

    def __init__(self, answer: HTTPAnswer) -> None:
        super().__init__(answer.detail)
        self.answer = answer


class CognitoWebSocketBearer(Generic[ClaimsT]):
    """A FastAPI dependency that requires a valid Cognito token on a WebSocket handshake.

    The token is read from exactly one of: an `Authorization: Bearer <token>` header; the
    `Sec-WebSocket-Protocol` list, as the item `bearer.<token>` next to one of `subprotocols`
    (the browser way: `new WebSocket(url, ["cognito-jwt", "bearer." + token])`); or, only when
    `query_param` names one, that query parameter. Accept with `await auth.accept(websocket)`:
    it answers with the app protocol the client offered, never with the token.

    ```python
    ws_auth = CognitoWebSocketBearer(settings, token_use="access")

    @app.websocket("/ws")
    async def chat(websocket: WebSocket, creds: CognitoCredentials = Depends(ws_auth)) -> None:
        await ws_auth.accept(websocket)
        await websocket.send_text(f"Hello, {creds.claims.username}")
    ```

    A refused handshake is never accepted. Where the server supports the WebSocket Denial
    Response extension (uvicorn, hypercorn, Starlette's TestClient) and `http_denial` is true,
    the client gets the HTTP answer `CognitoBearer` gives (401, 403, 400 or 503, with the same
    `WWW-Authenticate`, `Retry-After` and JSON body); otherwise the handshake is closed with
    1008 (policy violation; 1013, try again later, when no signing key can be had) and the
    same fixed text as the reason. Several token locations, several `Authorization` headers
    or a malformed or oversized subprotocol list or query string are `invalid_request`.

    Args:
        settings: the pool and the rules; read from the environment when neither this nor
            `verifier` is given.
        token_use: `"access"` or `"id"`: which kind of token this route accepts.
        claims_model: a `CognitoClaims` subclass to validate the claims into.
        verifier: a `CognitoVerifier` to share with other bearers (instead of `settings`).
        subprotocols: the app protocols this server speaks, in order of preference.
        query_param: the query parameter that may carry the token (None: never read).
        auto_error: when False, a handshake without any token gets `None`.
        http_denial: refuse with an HTTP answer where the server can send one.
    """

    # Typed by overloads, as `CognitoBearer` is: without `claims_model`, of CognitoClaims.
    @overload
    def __init__(
        self: "CognitoWebSocketBearer[CognitoClaims]",
        settings: CognitoSettings | None = None,
        /,
        *,
        token_use: TokenUse,
        verifier: CognitoVerifier | None = None,
        subprotocols: Sequence[str] = ("cognito-jwt",),
        query_param: str | None = None,
        auto_error: bool = True,
        http_denial: bool = True,
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
        subprotocols: Sequence[str] = ("cognito-jwt",),
        query_param: str | None = None,
        auto_error: bool = True,
        http_denial: bool = True,
    ) -> None: ...

    def __init__(
        self,
        settings: CognitoSettings | None = None,
        /,
        *,
        token_use: TokenUse,
        claims_model: type[Any] = CognitoClaims,
        verifier: CognitoVerifier | None = None,
        subprotocols: Sequence[str] = ("cognito-jwt",),
        query_param: str | None = None,
        auto_error: bool = True,
        http_denial: bool = True,
    ) -> None:
        self.verifier = bearer_verifier(settings, verifier, token_use, claims_model)
        if isinstance(subprotocols, str) or not all(
            isinstance(name, str) and _is_token(name) and not name.startswith(PROTOCOL_TOKEN_PREFIX)
            for name in subprotocols
        ):
            raise ConfigurationError("subprotocols must be a list of RFC 7230 token names")
        if query_param is not None and not (isinstance(query_param, str) and query_param):
            raise ConfigurationError("query_param must be a non-empty string or None")
        self.token_use: TokenUse = token_use
        self.claims_model: type[ClaimsT] = cast("type[ClaimsT]", claims_model)
        self.subprotocols = tuple(subprotocols)
        self.query_param = query_param
        self.auto_error = auto_error
        self.http_denial = http_denial
        limit = self.verifier.settings.max_token_bytes
        self._max_protocol_bytes = limit + 1024
        self._max_query_bytes = 3 * limit + _QUERY_OVERHEAD

    async def __call__(self, websocket: WebSocket) -> CognitoCredentials[ClaimsT] | None:
        """Read the handshake's token, verify it, and refuse the handshake if it is bad."""
        try:
            token = self._token(websocket)
            if token is None:
                if self.auto_error:
                    raise _Refused(NOT_AUTHENTICATED)
                return None
            try:
                claims = await self.verifier.verify(
                    token, token_use=self.token_use, claims_model=self.claims_model
                )
            except CognitoJWTError as exc:
                logger.info("WebSocket token rejected: %s: %s", type(exc).__name__, exc)
                raise _Refused(http_answer(exc)) from None
        except _Refused as refused:
            raise self._refusal(websocket, refused.answer) from None
        pool = self.verifier.user_pool_of(claims.iss)
        credentials: CognitoCredentials[ClaimsT] = CognitoCredentials.model_construct(
            scheme="Bearer",
            credentials=token,
            claims=claims,
            user_pool_id=None if pool is None else pool.user_pool_id,
        )
        return credentials

    def subprotocol(self, websocket: WebSocket) -> str | None:
        """The app protocol to accept with: the first of `subprotocols` the client offered.

        Never the token item, nor any name that is not in `subprotocols`; None when the client
        offered none of them (or a malformed list).
        """
        try:
            offered = _offered(websocket, self._max_protocol_bytes)
        except _Refused:
            return None
        return next((name for name in self.subprotocols if name in offered), None)

    async def accept(
        self, websocket: WebSocket, headers: Iterable[tuple[bytes, bytes]] | None = None
    ) -> None:
        """Accept the handshake with `subprotocol(websocket)`, and `headers` if given."""
        await websocket.accept(subprotocol=self.subprotocol(websocket), headers=headers)

    def require_groups(
        self, *groups: str, match: Literal["any", "all"] = "any"
    ) -> "CredentialsDependency[ClaimsT]":
        """Return a dependency that also requires membership of `groups` (`cognito:groups`).

        As `require_groups` does for HTTP: `match="any"` needs one, `"all"` every one; a miss
        refuses the handshake as 403 `insufficient_scope` (or closes it with 1008). The
        dependency yields the credentials.

        ```python
        @app.websocket("/admin/ws")
        async def admin(websocket: WebSocket, creds=Depends(ws_auth.require_groups("admin"))):
            await ws_auth.accept(websocket)
        ```
        """
        required = required_names("groups", groups)
        if match not in ("any", "all"):
            raise ConfigurationError("match must be 'any' or 'all'")

        def granted(claims: CognitoClaims) -> bool:
            return groups_granted(required, claims.groups, match)

        return self._requiring(granted, "required group missing", required)

    def require_scopes(self, *scopes: str) -> "CredentialsDependency[ClaimsT]":
        """Return a dependency that also requires every one of `scopes` in the token's `scope`.

        A miss refuses the handshake as 403 `insufficient_scope` (or closes it with 1008).
        The dependency yields the credentials.
        """
        required = required_names("scopes", scopes)
        return self._requiring(
            lambda claims: required <= set(claims.scopes), "required scope missing", required
        )

    def _requiring(
        self, granted: Callable[[CognitoClaims], bool], message: str, required: frozenset[str]
    ) -> "CredentialsDependency[ClaimsT]":
        # Depends on the bearer itself, so FastAPI verifies the token once per handshake
        # however many of these a route uses.
        async def dependency(
            websocket: WebSocket,
            credentials: Annotated[CognitoCredentials[ClaimsT] | None, Depends(self)],
        ) -> CognitoCredentials[ClaimsT]:
            if credentials is None:  # auto_error=False and no token: this route needs one
                raise self._refusal(websocket, NOT_AUTHENTICATED)
            if not granted(credentials.claims):
                error = PermissionDeniedError(message, required=tuple(required))
                logger.info("WebSocket handshake denied: %s", error)
                raise self._refusal(websocket, INSUFFICIENT_SCOPE)
            return credentials

        return dependency

    def _token(self, websocket: WebSocket) -> str | None:
        """The one token the handshake carries, None if none; `_Refused` if malformed."""
        scope = websocket.scope
        found: list[str] = []
        values = [value for name, value in scope["headers"] if name == b"authorization"]
        if len(values) > 1:
            raise _Refused(INVALID_REQUEST)
        if values:
            scheme, _, token = values[0].decode("latin-1").partition(" ")
            token = token.lstrip(" ")
            if scheme.lower() == "bearer" and token:
                found.append(token)
        offered = _offered(websocket, self._max_protocol_bytes)
        tokens = [item for item in offered if item.startswith(PROTOCOL_TOKEN_PREFIX)]
        if tokens:
            token = tokens[0][len(PROTOCOL_TOKEN_PREFIX) :]
            # The client must name an app protocol to be accepted with: a browser fails a
            # handshake whose answer names no protocol it offered.
            spoken = any(name in offered for name in self.subprotocols)
            if len(tokens) > 1 or not token or not spoken:
                raise _Refused(INVALID_REQUEST)
            found.append(token)
        if self.query_param is not None:
            found += self._query_tokens(scope.get("query_string", b""))
        if len(found) > 1:  # which one would a proxy, a log or the app have checked?
            raise _Refused(INVALID_REQUEST)
        return found[0] if found else None

    def _query_tokens(self, query: bytes) -> list[str]:
        if len(query) > self._max_query_bytes:
            raise _Refused(INVALID_REQUEST)
        try:
            fields = parse_qsl(
                query.decode("ascii"),
                keep_blank_values=True,
                errors="strict",
                max_num_fields=_MAX_QUERY_FIELDS,
            )
        except ValueError:  # non-ASCII bytes, bad UTF-8 escapes, too many fields
            raise _Refused(INVALID_REQUEST) from None
        tokens = [value for name, value in fields if name == self.query_param]
        if len(tokens) > 1 or (tokens and not tokens[0]):
            raise _Refused(INVALID_REQUEST)
        return tokens

    def _refusal(self, websocket: WebSocket, answer: HTTPAnswer) -> Exception:
        """The exception that makes FastAPI refuse the handshake with `answer`.

        FastAPI's `HTTPException` handler sends an `HTTPException` as a denial response;
        Starlette's closes the handshake for a `WebSocketException`.
        """
        if self.http_denial and "websocket.http.response" in websocket.scope.get("extensions", {}):
            return answer.exception()
        code = TRY_AGAIN_LATER if answer.status == 503 else POLICY_VIOLATION
        return WebSocketException(code, answer.detail)


def _offered(websocket: WebSocket, max_bytes: int) -> list[str]:
    """The client's `Sec-WebSocket-Protocol` items, strictly: `_Refused` if malformed.

    Read from the raw headers rather than the server's parsed list, so that every server gets
    the same rules: comma-separated RFC 7230 tokens, none empty, none twice, at most
    `MAX_SUBPROTOCOLS`, and no more than `max_bytes` in all.
    """
    values = [
        value for name, value in websocket.scope["headers"] if name == b"sec-websocket-protocol"
    ]
    if not values:
        return []
    if sum(len(value) for value in values) > max_bytes:
        raise _Refused(INVALID_REQUEST)
    items = [item.strip(" \t") for value in values for item in value.decode("latin-1").split(",")]
    if (
        len(items) > MAX_SUBPROTOCOLS
        or len(set(items)) != len(items)
        or not all(_is_token(item) for item in items)
    ):
        raise _Refused(INVALID_REQUEST)
    return items


def _is_token(name: str) -> bool:
    return bool(name) and _TCHARS.issuperset(name)
