"""Cognito's user-pool JSON API: one POST per operation, and what its reply means."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import AsyncIterator, Callable
from functools import lru_cache, partial
from typing import Any, TypeAlias

import anyio
import httpx2

from .. import __version__
from .._exceptions import (
    AliasExistsError,
    CodeDeliveryFailureError,
    CodeMismatchError,
    CognitoAuthError,
    CognitoServiceError,
    CognitoUnreachableError,
    ExpiredCodeError,
    InvalidParameterError,
    InvalidPasswordError,
    LimitExceededError,
    NotAuthorizedError,
    PasswordResetRequiredError,
    TooManyFailedAttemptsError,
    TooManyRequestsError,
    UsernameExistsError,
    UserNotConfirmedError,
    UserNotFoundError,
)
from .._json import loads_object
from .._telemetry import traced_cognito_call

__all__ = ["MAX_REPLY_BYTES", "PooledTransport", "Sender", "auth_error", "call"]

logger = logging.getLogger("fastapi_cognito_jwt")

MAX_REPLY_BYTES = 1024 * 1024
_TARGET_PREFIX = "AWSCognitoIdentityProviderService."
_ERROR_CODE = re.compile(r"[A-Za-z][A-Za-z0-9]{0,99}")


class PooledTransport(httpx2.AsyncBaseTransport):
    """HTTP/1.1 connections to Cognito, one per httpcore2 pool; each call takes an idle one.

    httpcore2's pool walks all its connections on every request and every reply, and probes
    the socket of each idle one it passes: with 50 calls in flight over a pool of 25
    connections that walk was the largest single cost of a call. A pool of one connection
    walks one. A call takes the first idle pool (so one call at a time keeps a single
    connection warm); when all `pools` are busy, calls wait in turn for the first to be
    free, rather than queue behind one connection whose call may be slow while others fall
    idle (the caller's deadline covers the wait). The connections stay open until httpx2's
    keep-alive expiry; the pools share one TLS context, since each of its own would load the
    CA bundle again.
    """

    def __init__(self, pools: int = 100) -> None:
        tls = httpx2.create_ssl_context()
        limits = httpx2.Limits(max_connections=1, max_keepalive_connections=1)
        self._pools = [httpx2.AsyncHTTPTransport(verify=tls, limits=limits) for _ in range(pools)]
        self._busy = [False] * pools
        # One permit per idle pool: with all taken, calls wait in turn and each freed pool
        # goes to the longest waiting (anyio's semaphore hands it over).
        self._idle = anyio.Semaphore(pools, fast_acquire=True)

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        await self._idle.acquire()
        busy = self._busy
        index = busy.index(False)
        busy[index] = True
        try:
            response = await self._pools[index].handle_async_request(request)
        except BaseException:
            self._release(index)
            raise
        if response.is_closed:  # read already, as from a transport that hands over whole replies
            self._release(index)
        else:
            assert isinstance(response.stream, httpx2.AsyncByteStream)
            response.stream = _Releasing(response.stream, partial(self._release, index))
        return response

    def _release(self, index: int) -> None:
        self._busy[index] = False
        self._idle.release()

    async def aclose(self) -> None:
        for pool in self._pools:
            await pool.aclose()


class _Releasing(httpx2.AsyncByteStream):
    """A reply's body that frees its pool once it is closed (once, however often closed)."""

    def __init__(self, stream: httpx2.AsyncByteStream, release: Callable[[], None]) -> None:
        self._stream: httpx2.AsyncByteStream = stream
        self._release: Callable[[], None] | None = release

    def __aiter__(self) -> AsyncIterator[bytes]:
        # The body's own iterator, not a generator around it: one layer less per chunk.
        return self._stream.__aiter__()

    async def aclose(self) -> None:
        if self._release is not None:
            self._release()
            self._release = None
        await self._stream.aclose()


# Where a call goes: an `httpx2.AsyncClient` (injected by the app, used with its own settings),
# or an httpx2 transport used directly. The transport path skips the client's layers (cookie
# jar, auth and redirect handling, header merging, event hooks) that a call to Cognito never
# needs: about a quarter of the CPU a call costs (see docs/performance.md).
Sender: TypeAlias = httpx2.AsyncClient | httpx2.AsyncBaseTransport

# Compact separators: fewer bytes to send; the reading of the body is the same.
_encode = json.JSONEncoder(separators=(",", ":")).encode


@lru_cache(maxsize=128)
def _headers(operation: str, own: bool) -> httpx2.Headers:
    """The request headers of `operation`, built once (`own`: for the transport path)."""
    headers = httpx2.Headers(
        {
            "Content-Type": "application/x-amz-json-1.1",
            "X-Amz-Target": _TARGET_PREFIX + operation,
            "Accept-Encoding": "identity",
        }
    )
    if own:
        # What an httpx2.AsyncClient would add; an injected client keeps its own User-Agent.
        headers["Accept"] = "*/*"
        headers["User-Agent"] = f"fastapi-cognito-jwt/{__version__}"
    return headers


@lru_cache(maxsize=16)
def _timeouts(timeout: float) -> dict[str, float | None]:
    return httpx2.Timeout(timeout).as_dict()


_AUTH_ERRORS: dict[str, type[CognitoAuthError]] = {
    "UsernameExistsException": UsernameExistsError,
    "AliasExistsException": AliasExistsError,
    "CodeMismatchException": CodeMismatchError,
    "ExpiredCodeException": ExpiredCodeError,
    "NotAuthorizedException": NotAuthorizedError,
    "UserNotConfirmedException": UserNotConfirmedError,
    "UserNotFoundException": UserNotFoundError,
    "PasswordResetRequiredException": PasswordResetRequiredError,
    "InvalidPasswordException": InvalidPasswordError,
    "InvalidParameterException": InvalidParameterError,
    "CodeDeliveryFailureException": CodeDeliveryFailureError,
    "LimitExceededException": LimitExceededError,
    "TooManyRequestsException": TooManyRequestsError,
    "TooManyFailedAttemptsException": TooManyFailedAttemptsError,
}


def auth_error(code: str, message: str = "") -> CognitoAuthError:
    """The exception for a Cognito error code: its own class, or `CognitoAuthError`."""
    return _AUTH_ERRORS.get(code, CognitoAuthError)(code, message)


@traced_cognito_call
async def call(
    client: Sender,
    endpoint: str | httpx2.URL,
    operation: str,
    body: dict[str, Any],
    timeout: float,
) -> dict[str, Any]:
    """POST one operation and return Cognito's JSON reply; raise the library's errors.

    `client` is an `httpx2.AsyncClient`, or a transport to send through directly (which never
    follows a redirect either). Logs name the operation and Cognito's error code only: bodies
    hold passwords, codes and tokens, and Cognito's messages may quote them.
    """
    content = _encode(body).encode()
    try:
        # The deadline covers the whole exchange, so a trickling reply cannot hold a request.
        with anyio.fail_after(timeout):
            if isinstance(client, httpx2.AsyncClient):
                request = client.build_request(
                    "POST", endpoint, content=content, headers=_headers(operation, False)
                )
                # follow_redirects=False here too: an injected client must not carry
                # passwords to wherever a redirect points.
                reply = await client.send(request, stream=True, follow_redirects=False)
            else:
                request = httpx2.Request(
                    "POST",
                    endpoint,
                    content=content,
                    headers=_headers(operation, True),
                    extensions={"timeout": _timeouts(timeout)},
                )
                reply = await client.handle_async_request(request)
            try:
                status, data = reply.status_code, await _read(reply)
            finally:
                await reply.aclose()
    except (TimeoutError, httpx2.TimeoutException) as exc:
        logger.warning("Cognito %s: no answer within %s s", operation, timeout)
        raise CognitoUnreachableError(f"{operation}: Cognito did not answer in time") from exc
    except httpx2.TransportError as exc:
        logger.warning("Cognito %s: %s", operation, type(exc).__name__)
        raise CognitoUnreachableError(f"{operation}: Cognito is unreachable") from exc
    except (httpx2.HTTPError, httpx2.InvalidURL, httpx2.StreamError, UnicodeError) as exc:
        logger.warning("Cognito %s: %s", operation, type(exc).__name__)
        raise CognitoServiceError(f"{operation}: the request to Cognito failed") from exc
    except RuntimeError as exc:
        # httpx2 raises RuntimeError for a client that was closed (an injected one, say).
        logger.warning("Cognito %s: %s", operation, type(exc).__name__)
        raise CognitoServiceError(f"{operation}: the HTTP client cannot send") from exc
    except CognitoServiceError as exc:
        logger.warning("Cognito %s: %s", operation, exc)
        raise CognitoServiceError(f"{operation}: {exc}") from None
    if status == 200:
        try:
            return loads_object(data) if data.strip() else {}
        except ValueError:
            logger.warning("Cognito %s: a 200 reply that is not a JSON object", operation)
            raise CognitoServiceError(f"{operation}: Cognito's reply is not JSON") from None
    error = _error(status, data, reply.headers.get("x-amzn-errortype", ""))
    if isinstance(error, CognitoAuthError):
        logger.info("Cognito %s refused: %s", operation, error.code)
    else:
        logger.warning("Cognito %s: HTTP %d without a Cognito error", operation, status)
    raise error


async def _read(reply: httpx2.Response) -> bytes:
    """The reply body, refused when compressed or larger than `MAX_REPLY_BYTES`."""
    if reply.headers.get("content-encoding", "identity").lower() != "identity":
        raise CognitoServiceError("Cognito's reply is compressed")
    chunks, size = [], 0
    try:
        async for chunk in reply.aiter_raw():
            size += len(chunk)
            if size > MAX_REPLY_BYTES:
                raise CognitoServiceError("Cognito's reply is too large")
            chunks.append(chunk)
    except httpx2.StreamConsumed:
        # The body was read already: by a response hook, or a transport that hands over
        # complete responses (httpx2.MockTransport). It is in memory; only the cap is left.
        chunks = [reply.content]
        if len(reply.content) > MAX_REPLY_BYTES:
            raise CognitoServiceError("Cognito's reply is too large") from None
    return b"".join(chunks)


def _error(status: int, data: bytes, header_type: str) -> CognitoAuthError | CognitoServiceError:
    """The exception for a non-200 reply: Cognito's error code, or a service error."""
    try:
        reply = loads_object(data)
    except ValueError:
        return CognitoServiceError(f"HTTP {status} from Cognito without a JSON error")
    raw = reply.get("__type") or reply.get("code") or header_type
    # Forms seen: "NotAuthorizedException", "com.amazonaws...#NotAuthorizedException",
    # and the header's "NotAuthorizedException:http://internal.amazon.com/...".
    code = raw.rpartition("#")[2].partition(":")[0] if isinstance(raw, str) else ""
    if status < 400 or not _ERROR_CODE.fullmatch(code):
        return CognitoServiceError(f"HTTP {status} from Cognito without an error code")
    message = reply.get("message", reply.get("Message", ""))
    return auth_error(code, message if isinstance(message, str) else "")
