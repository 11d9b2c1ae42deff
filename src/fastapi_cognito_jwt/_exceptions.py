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
└── JWKSUnavailableError      no usable signing key can be had right now   (HTTP 503)
```

Messages name the failed check, never token content, `kid` values or claim values, so
they are safe to log.
"""

from __future__ import annotations

__all__ = [
    "CognitoJWTError",
    "ConfigurationError",
    "InvalidClaimError",
    "InvalidClientError",
    "InvalidIssuerError",
    "InvalidSignatureError",
    "InvalidTokenUseError",
    "JWKSUnavailableError",
    "KeyNotFoundError",
    "MalformedTokenError",
    "PermissionDeniedError",
    "TokenError",
    "TokenExpiredError",
    "TokenNotYetValidError",
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
