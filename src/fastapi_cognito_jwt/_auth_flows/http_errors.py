"""How `auth_router` answers a failed auth flow: fixed texts, never the request's data."""

import logging
from collections.abc import Mapping, Sequence

from fastapi import HTTPException

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
    NotAuthorizedError,
    PasswordResetRequiredError,
    RateLimitError,
    UsernameExistsError,
    UserNotConfirmedError,
    UserNotFoundError,
)
from .._http_answers import (
    BEARER,
    INVALID_TOKEN as INVALID_TOKEN_ANSWER,
    INVALID_TOKEN_CHALLENGE,
)

__all__ = [
    "ACCOUNT_STATE",
    "INCORRECT_CREDENTIALS",
    "INVALID_CODE",
    "INVALID_TOKEN",
    "Answer",
    "http_error",
]

logger = logging.getLogger("fastapi_cognito_jwt")

RATE_LIMIT_RETRY_AFTER = 30
UNREACHABLE_RETRY_AFTER = 10

Error = CognitoAuthError | CognitoServiceError
Answer = tuple[int, str]

INCORRECT_CREDENTIALS: Answer = (401, "Incorrect username or password")
INVALID_CODE: Answer = (400, "Invalid verification code")
INVALID_TOKEN: Answer = (INVALID_TOKEN_ANSWER.status, INVALID_TOKEN_ANSWER.detail)
_UNEXPECTED: Answer = (502, "Unexpected answer from the authentication service")
# Checked in order; the first class the error is an instance of decides the answer.
_DEFAULT_ANSWERS: tuple[tuple[type[Exception], Answer], ...] = (
    (UsernameExistsError, (409, "An account with this username already exists")),
    (AliasExistsError, (409, "An account with this email or phone number already exists")),
    (CodeMismatchError, INVALID_CODE),
    (ExpiredCodeError, (400, "The verification code has expired; request a new one")),
    (InvalidPasswordError, (400, "The password does not meet the password policy")),
    (InvalidParameterError, (400, "Invalid request")),
    (NotAuthorizedError, (401, "Not authorized")),
    (UserNotFoundError, INCORRECT_CREDENTIALS),
    (UserNotConfirmedError, (403, "The account is not confirmed; verify it first")),
    (PasswordResetRequiredError, (403, "The password must be reset before signing in")),
    (RateLimitError, (429, "Too many requests; try again later")),
    (CodeDeliveryFailureError, (502, "The code could not be delivered")),
    (CognitoUnreachableError, (503, "The authentication service is unavailable")),
)
# Errors that depend on whether the account exists (or its state) and would reveal it.
ACCOUNT_STATE = (
    UserNotFoundError,
    NotAuthorizedError,
    UserNotConfirmedError,
    InvalidParameterError,
    CodeDeliveryFailureError,
)


def _policy_text(error: InvalidPasswordError, fallback: str, sent: Sequence[str]) -> str:
    """Cognito's policy message ("Password did not conform with policy: ..."), tidied.

    It is passed on only if it is short, printable, about the password, and quotes nothing
    the request sent; otherwise the fixed text is.
    """
    text = " ".join(error.message.split())
    if (
        len(text) <= 200
        and text.isprintable()
        and "password" in text.lower()
        and not any(len(value) >= 4 and value in text for value in sent)
    ):
        return text
    return fallback


def http_error(
    error: Error, overrides: Mapping[type[Exception], Answer], sent: Sequence[str] = ()
) -> HTTPException:
    """The fixed HTTP answer to a failed auth flow; never the request's data, never 500."""
    status, detail = _UNEXPECTED
    for kind, answer in (*overrides.items(), *_DEFAULT_ANSWERS):
        if isinstance(error, kind):
            status, detail = answer
            break
    if isinstance(error, InvalidPasswordError) and status == 400 and sent:
        # Only routes that set a password say what they sent; elsewhere the text is fixed.
        detail = _policy_text(error, detail, sent)
    if (status, detail) == _UNEXPECTED:
        logger.warning("Auth flow failed unexpectedly: %s", error)
    headers: dict[str, str] = {}
    if status == 401:
        invalid = (status, detail) == INVALID_TOKEN
        headers["WWW-Authenticate"] = INVALID_TOKEN_CHALLENGE if invalid else BEARER
    elif status == 429:
        headers["Retry-After"] = str(RATE_LIMIT_RETRY_AFTER)
    elif status == 503:
        headers["Retry-After"] = str(UNREACHABLE_RETRY_AFTER)
    return HTTPException(status, detail, headers=headers or None)
