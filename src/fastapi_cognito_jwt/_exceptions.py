"""Exceptions raised by fastapi-cognito-jwt.

All of them are plain Python exceptions, usable outside FastAPI. Only the FastAPI layer
(`CognitoBearer` and the helper dependencies) turns them into HTTP responses.

```
CognitoJWTError
├── ConfigurationError        invalid settings or arguments, raised at construction
├── TokenError                the token is not acceptable                  (HTTP 401)
│   ├── MalformedTokenError   size, syntax, encoding, JSON or header policy
│   ├── KeyNotFoundError      the JWKS has no usable key with the token's `kid`
│   ├── InvalidSignatureError
│   ├── TokenExpiredError
│   ├── TokenNotYetValidError `nbf` or `iat` lies in the future
│   └── InvalidClaimError     a claim is missing, mistyped or not accepted
│       ├── InvalidIssuerError
│       ├── InvalidTokenUseError
│       └── InvalidClientError
├── PermissionDeniedError     verified, but lacks a required group or scope (HTTP 403)
├── JWKSUnavailableError      no usable signing key can be had right now   (HTTP 503)
├── CognitoAuthError          Cognito refused an auth-flow request; `.code`, `.message`
│   ├── UsernameExistsError         UsernameExistsException
│   ├── AliasExistsError            AliasExistsException
│   ├── CodeMismatchError           CodeMismatchException
│   ├── ExpiredCodeError            ExpiredCodeException
│   ├── NotAuthorizedError          NotAuthorizedException
│   ├── UserNotConfirmedError       UserNotConfirmedException
│   ├── UserNotFoundError           UserNotFoundException
│   ├── PasswordResetRequiredError  PasswordResetRequiredException
│   ├── InvalidPasswordError        InvalidPasswordException
│   ├── InvalidParameterError       InvalidParameterException
│   ├── CodeDeliveryFailureError    CodeDeliveryFailureException
│   └── RateLimitError              any of the three throttling codes
│       ├── LimitExceededError          LimitExceededException
│       ├── TooManyRequestsError        TooManyRequestsException
│       └── TooManyFailedAttemptsError  TooManyFailedAttemptsException
├── CognitoServiceError       no usable answer from Cognito: HTML, not JSON, unexpected shape
│   └── CognitoUnreachableError   timeout or connection failure
└── ServiceTokenError         the token endpoint refused a service token; `.error`
```

An error code without a class of its own raises `CognitoAuthError` itself, with the code.

Messages name the failed check or Cognito's error code, never token content, `kid` values,
claim values or user input, so they are safe to log. The one exception is
`CognitoAuthError.message`, Cognito's own text, which may quote the request: it is kept
for callers that need it and is never logged by the library.
"""

from __future__ import annotations

__all__ = [
    "AliasExistsError",
    "CodeDeliveryFailureError",
    "CodeMismatchError",
    "CognitoAuthError",
    "CognitoJWTError",
    "CognitoServiceError",
    "CognitoUnreachableError",
    "ConfigurationError",
    "ExpiredCodeError",
    "InvalidParameterError",
    "InvalidPasswordError",
    "InvalidClaimError",
    "InvalidClientError",
    "InvalidIssuerError",
    "InvalidSignatureError",
    "InvalidTokenUseError",
    "JWKSUnavailableError",
    "KeyNotFoundError",
    "LimitExceededError",
    "MalformedTokenError",
    "NotAuthorizedError",
    "PasswordResetRequiredError",
    "PermissionDeniedError",
    "RateLimitError",
    "ServiceTokenError",
    "TokenError",
    "TokenExpiredError",
    "TokenNotYetValidError",
    "TooManyFailedAttemptsError",
    "TooManyRequestsError",
    "UserNotConfirmedError",
    "UserNotFoundError",
    "UsernameExistsError",
]


class CognitoJWTError(Exception):
    """Base class for every exception raised by fastapi-cognito-jwt."""


class ConfigurationError(CognitoJWTError):
    """Raised at construction when settings or arguments are invalid."""


class TokenError(CognitoJWTError):
    """Raised when a token is not acceptable; the FastAPI layer answers 401."""


class MalformedTokenError(TokenError):
    """Raised when a token fails the size, syntax, encoding, JSON or header checks."""


class KeyNotFoundError(TokenError):
    """Raised when the configured JWKS has no usable key for the token's `kid`."""


class InvalidSignatureError(TokenError):
    """Raised when the token's RS256 signature does not verify."""


class TokenExpiredError(TokenError):
    """Raised when the token's `exp` has passed (allowing for the configured leeway)."""


class TokenNotYetValidError(TokenError):
    """Raised when the token's `nbf` or `iat` lies in the future."""


class InvalidClaimError(TokenError):
    """Raised when a claim is missing, has the wrong type or holds a value not accepted.

    `claim` names the claim (never its value).
    """

    def __init__(self, message: str, *, claim: str) -> None:
        super().__init__(message)
        self.claim = claim


class InvalidIssuerError(InvalidClaimError):
    """Raised when `iss` is not one of the accepted issuers."""

    def __init__(self, message: str = "iss is not an accepted issuer") -> None:
        super().__init__(message, claim="iss")


class InvalidTokenUseError(InvalidClaimError):
    """Raised when `token_use` is not the kind of token the caller asked for."""

    def __init__(self, message: str = "token_use is not the one required") -> None:
        super().__init__(message, claim="token_use")


class InvalidClientError(InvalidClaimError):
    """Raised when the token was issued to an app client that is not accepted.

    Access tokens carry the client in `client_id`, ID tokens in `aud`.
    """


class PermissionDeniedError(CognitoJWTError):
    """Raised when a verified token lacks a required group or scope; HTTP 403.

    `required` holds the groups or scopes the route asked for (configuration, not token data).
    """

    def __init__(self, message: str, *, required: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.required = required


class JWKSUnavailableError(CognitoJWTError):
    """Raised when no usable signing key can be had; HTTP 503 with `Retry-After`.

    `retry_after` is the number of seconds until the next fetch attempt is allowed.
    """

    def __init__(self, message: str, *, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class CognitoAuthError(CognitoJWTError):
    """Raised when Cognito refuses an auth-flow request.

    `code` is Cognito's error code, e.g. `"NotAuthorizedException"`; `message` is Cognito's
    text, which may quote user input, so the library never logs it and returns it only for
    `InvalidPasswordError` (the policy text). `str()` of the error shows only the code.
    """

    def __init__(self, code: str, message: str = "") -> None:
        super().__init__(f"Cognito refused the request: {code}")
        self.code = code
        self.message = message


class UsernameExistsError(CognitoAuthError):
    """Raised when signing up a username that is already taken."""


class AliasExistsError(CognitoAuthError):
    """Raised when an email or phone number is already used by another account."""


class CodeMismatchError(CognitoAuthError):
    """Raised when a verification or MFA code is wrong."""


class ExpiredCodeError(CognitoAuthError):
    """Raised when a verification code has expired or was already used."""


class NotAuthorizedError(CognitoAuthError):
    """Raised for a wrong password, a revoked or invalid token, or a disabled user."""


class UserNotConfirmedError(CognitoAuthError):
    """Raised when the user has not confirmed the account yet."""


class UserNotFoundError(CognitoAuthError):
    """Raised when the user does not exist (only if the pool reveals it)."""


class PasswordResetRequiredError(CognitoAuthError):
    """Raised when the user must reset the password before signing in."""


class InvalidPasswordError(CognitoAuthError):
    """Raised when a new password does not meet the pool's password policy."""


class InvalidParameterError(CognitoAuthError):
    """Raised when Cognito finds a request parameter invalid."""


class CodeDeliveryFailureError(CognitoAuthError):
    """Raised when Cognito could not send a verification code."""


class RateLimitError(CognitoAuthError):
    """Raised when Cognito throttles the request; try again later."""


class LimitExceededError(RateLimitError):
    """Raised when a per-user or per-pool limit was exceeded."""


class TooManyRequestsError(RateLimitError):
    """Raised when the request rate was too high."""


class TooManyFailedAttemptsError(RateLimitError):
    """Raised after too many failed attempts, e.g. wrong codes."""


class CognitoServiceError(CognitoJWTError):
    """Raised when Cognito gives no usable answer: HTML, not JSON, or an unexpected shape.

    No raw httpx2 exception escapes the auth client; this (or its subclass) replaces it.
    """


class CognitoUnreachableError(CognitoServiceError):
    """Raised when Cognito cannot be reached: a timeout or a connection failure."""


class ServiceTokenError(CognitoJWTError):
    """Raised when the pool's token endpoint refuses to issue a service token.

    `error` is the OAuth 2.0 error code of the answer (`"invalid_client"` for a wrong client
    id or secret, `"invalid_scope"`, `"unauthorized_client"`, ...), or `"invalid_response"`
    when the answer is not a token. No token or secret is ever part of it. An app that calls
    another service maps it to 502 or 503 with an exception handler (docs: service tokens).
    """

    def __init__(self, error: str) -> None:
        super().__init__(f"the token endpoint refused a service token: {error}")
        self.error = error
