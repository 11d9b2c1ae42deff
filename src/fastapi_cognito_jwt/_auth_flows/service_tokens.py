"""Service tokens: client-credentials access tokens from the pool domain's `/oauth2/token`."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import AsyncGenerator, Generator, Iterable
from typing import Any

import anyio
import httpx2

from .._exceptions import (
    CognitoServiceError,
    CognitoUnreachableError,
    ConfigurationError,
    ServiceTokenError,
)
from .._json import loads_object
from .._settings import CognitoSettings, load_settings

__all__ = ["ServiceTokenAuth", "ServiceTokenClient"]

logger = logging.getLogger("fastapi_cognito_jwt")

# RFC 6749 §5.2 error codes; anything else is reported as invalid_response, so a hostile or
# broken answer cannot put arbitrary text into an exception or a log line.
_OAUTH_ERRORS = frozenset(
    {
        "invalid_request",
        "invalid_client",
        "invalid_grant",
        "unauthorized_client",
        "unsupported_grant_type",
        "invalid_scope",
    }
)
_MAX_REPLY_BYTES = 64 * 1024


class ServiceTokenClient:
    """Fetches and caches client-credentials access tokens for a confidential app client.

    The client id and secret are `service_client_id` and `service_client_secret` of the
    settings, the endpoint is `{oauth_domain}/oauth2/token`. A token is cached until
    `refresh_margin` seconds (at most half its lifetime) before it expires; concurrent
    callers on a cold or stale cache share one request. A refusal raises `ServiceTokenError`
    (a wrong secret: `error == "invalid_client"`); no usable answer, `CognitoUnreachableError`
    or `CognitoServiceError`.
    Neither the token nor the secret appears in logs, exceptions or `repr`.

    ```python
    tokens = ServiceTokenClient(settings, scopes=["orders/read"])
    async with httpx2.AsyncClient(auth=tokens.auth()) as client:
        response = await client.get("https://orders.internal/api/orders")
    ```

    Args:
        settings: the pool; read from the environment when not given.
        scopes: the scopes to request; none asks for every scope the client may have.
        refresh_margin: seconds before expiry at which a cached token is replaced.
        transport: an httpx2 transport for the token requests (tests, proxies); async for
            `token()`, sync for `token_sync()` (an `httpx2.MockTransport` is both).
    """

    def __init__(
        self,
        settings: CognitoSettings | None = None,
        /,
        *,
        scopes: Iterable[str] = (),
        refresh_margin: float = 60.0,
        transport: httpx2.AsyncBaseTransport | httpx2.BaseTransport | None = None,
    ) -> None:
        self.settings = load_settings(settings)
        self.token_url = self.settings.oauth_endpoint("token")
        if self.settings.service_client_id is None or self.settings.service_client_secret is None:
            raise ConfigurationError(
                "ServiceTokenClient needs service_client_id and service_client_secret"
            )
        self.client_id = self.settings.service_client_id
        self._secret = self.settings.service_client_secret
        self.scopes = tuple(scopes)
        self.refresh_margin = refresh_margin
        self._transport = transport
        self._token: str | None = None
        self._refresh_at = 0.0
        self._lock: anyio.Lock | None = None
        self._thread_lock = threading.Lock()
        self.token_requests = 0
        """How many token requests this client has sent."""

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(token_url={self.token_url!r}, "
            f"client_id={self.client_id!r}, scopes={self.scopes!r})"
        )

    async def token(self) -> str:
        """A valid access token: the cached one, or a new one fetched once for all callers."""
        if self._token is not None and time.monotonic() < self._refresh_at:
            return self._token
        if self._lock is None:  # made on first use, inside the event loop that uses it
            self._lock = anyio.Lock()
        async with self._lock:
            # Whoever held the lock before may have fetched it already.
            if self._token is None or time.monotonic() >= self._refresh_at:
                await self._fetch()
            assert self._token is not None
            return self._token

    def invalidate(self) -> None:
        """Forget the cached token, e.g. after the receiving service refused it."""
        self._token = None

    def auth(self) -> ServiceTokenAuth:
        """An `httpx2.Auth` that sends this client's token as `Authorization: Bearer ...`."""
        return ServiceTokenAuth(self)

    def token_sync(self) -> str:
        """`token()` for synchronous code: the same cache, one blocking request for all threads."""
        if self._token is not None and time.monotonic() < self._refresh_at:
            return self._token
        with self._thread_lock:
            if self._token is None or time.monotonic() >= self._refresh_at:
                if self._transport is not None and not isinstance(
                    self._transport, httpx2.BaseTransport
                ):
                    raise ConfigurationError("the transport given is async-only: use token()")
                started = time.monotonic()
                self.token_requests += 1
                try:
                    with httpx2.Client(transport=self._transport, **self._client_options()) as c:
                        response = c.post(self.token_url, **self._request())
                except httpx2.TransportError as exc:
                    raise _unreachable(exc) from None
                self._accept(response, started)
            assert self._token is not None
            return self._token

    async def _fetch(self) -> None:
        if self._transport is not None and not isinstance(
            self._transport, httpx2.AsyncBaseTransport
        ):
            raise ConfigurationError("the transport given is sync-only: use token_sync()")
        started = time.monotonic()
        self.token_requests += 1
        try:
            async with httpx2.AsyncClient(
                transport=self._transport, **self._client_options()
            ) as client:
                response = await client.post(self.token_url, **self._request())
        except httpx2.TransportError as exc:
            raise _unreachable(exc) from None
        self._accept(response, started)

    def _client_options(self) -> dict[str, Any]:
        # The secret goes to the token endpoint only: redirects are never followed.
        return {"timeout": self.settings.http_timeout, "follow_redirects": False}

    def _request(self) -> dict[str, Any]:
        data = {"grant_type": "client_credentials"}
        if self.scopes:
            data["scope"] = " ".join(self.scopes)
        return {
            "data": data,
            "auth": httpx2.BasicAuth(self.client_id, self._secret.get_secret_value()),
            "headers": {"Accept": "application/json"},
        }

    def _accept(self, response: httpx2.Response, started: float) -> None:
        """Cache the token of a 200 answer; raise the library's error for anything else."""
        body = _json_object(response)
        if response.status_code != 200:
            error = body.get("error") if body else None
            code = error if isinstance(error, str) and error in _OAUTH_ERRORS else None
            if code is None:
                logger.warning(
                    "Service token: HTTP %d without an OAuth error", response.status_code
                )
                if response.status_code >= 500:
                    raise CognitoServiceError("the token endpoint failed")
                code = "invalid_response"
            logger.warning("Service token refused: %s", code)
            raise ServiceTokenError(code)
        token, expires_in = (body or {}).get("access_token"), (body or {}).get("expires_in")
        if (
            not isinstance(token, str)
            or not token
            or isinstance(expires_in, bool)
            or not isinstance(expires_in, int)
            or expires_in <= 0
        ):
            logger.warning("Service token: the answer holds no usable token")
            raise ServiceTokenError("invalid_response")
        self._token = token
        self._refresh_at = started + expires_in - min(self.refresh_margin, expires_in / 2)
        logger.info("Service token fetched; valid for %d s", expires_in)


def _unreachable(exc: httpx2.TransportError) -> CognitoUnreachableError:
    logger.warning("Service token: token endpoint unreachable: %s", type(exc).__name__)
    return CognitoUnreachableError("the token endpoint cannot be reached")


def _json_object(response: httpx2.Response) -> dict[str, object] | None:
    if len(response.content) > _MAX_REPLY_BYTES:
        return None
    try:
        return loads_object(response.content)
    except ValueError:
        return None


class ServiceTokenAuth(httpx2.Auth):
    """An `httpx2.Auth` that adds a `ServiceTokenClient`'s token to each request.

    On a 401 from the receiving service it fetches a new token and retries once. Works with
    `httpx2.AsyncClient` and `httpx2.Client` alike.

    ```python
    async with httpx2.AsyncClient(auth=ServiceTokenAuth(tokens)) as client: ...
    ```
    """

    def __init__(self, tokens: ServiceTokenClient) -> None:
        self.tokens = tokens

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.tokens!r})"

    def sync_auth_flow(
        self, request: httpx2.Request
    ) -> Generator[httpx2.Request, httpx2.Response, None]:
        """Send the request with the token; on 401, once more with a fresh one."""
        request.headers["Authorization"] = f"Bearer {self.tokens.token_sync()}"
        response = yield request
        if response.status_code == 401:
            self.tokens.invalidate()
            request.headers["Authorization"] = f"Bearer {self.tokens.token_sync()}"
            yield request

    async def async_auth_flow(
        self, request: httpx2.Request
    ) -> AsyncGenerator[httpx2.Request, httpx2.Response]:
        """Send the request with the token; on 401, once more with a fresh one."""
        request.headers["Authorization"] = f"Bearer {await self.tokens.token()}"
        response = yield request
        if response.status_code == 401:
            self.tokens.invalidate()
            request.headers["Authorization"] = f"Bearer {await self.tokens.token()}"
            yield request
