"""Cognito's user-pool JSON API: one POST per operation, and what its reply means."""

from __future__ import annotations

import json
import logging
import re
from typing import Any

import anyio
import httpx2

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

__all__ = ["MAX_REPLY_BYTES", "auth_error", "call"]

logger = logging.getLogger("fastapi_cognito_jwt")

MAX_REPLY_BYTES = 1024 * 1024
_TARGET_PREFIX = "AWSCognitoIdentityProviderService."
_ERROR_CODE = re.compile(r"[A-Za-z][A-Za-z0-9]{0,99}")

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
    client: httpx2.AsyncClient,
    endpoint: str,
    operation: str,
    body: dict[str, Any],
    timeout: float,
) -> dict[str, Any]:
    """POST one operation and return Cognito's JSON reply; raise the library's errors.

    Logs name the operation and Cognito's error code only: bodies hold passwords, codes and
    tokens, and Cognito's messages may quote them.
    """
    headers = {
        "Content-Type": "application/x-amz-json-1.1",
        "X-Amz-Target": _TARGET_PREFIX + operation,
        "Accept-Encoding": "identity",
    }
    content = json.dumps(body).encode()
    try:
        # The deadline covers the whole exchange, so a trickling reply cannot hold a request.
        with anyio.fail_after(timeout):
            # follow_redirects=False here too: an injected client must not carry passwords
            # to wherever a redirect points.
            async with client.stream(
                "POST", endpoint, content=content, headers=headers, follow_redirects=False
            ) as reply:
                status, data = reply.status_code, await _read(reply)
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
