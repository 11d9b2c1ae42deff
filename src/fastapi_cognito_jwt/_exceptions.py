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
│       ├── InvalidClientError
│       └── InvalidAudienceError  an access token's `aud` names no resource id here
│   └── TokenRevokedError     on the revocation list (signed out, session revoked)
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
├── RevocationUnavailableError the revocation list may be missing entries     (HTTP 503)
└── ServiceTokenError         the token endpoint refused a service token; `.error`
```

An error code without a class of its own raises `CognitoAuthError` itself, with the code.

Every class carries a stable, machine-readable `reason` (snake_case, never token data): the
`reason` attribute of metrics (`cognito_jwt.verifications`) and a key for callers to branch on.

| Exception                   | `reason`                                               |
|-----------------------------|--------------------------------------------------------|
| CognitoJWTError             | `error`                                                |
| ConfigurationError          | `configuration`                                        |
| TokenError                  | `invalid_token`                                        |
| MalformedTokenError         | `malformed`                                            |
| KeyNotFoundError            | `unknown_kid`                                          |
| InvalidSignatureError       | `bad_signature`                                        |
| TokenExpiredError           | `expired`                                              |
| TokenNotYetValidError       | `not_yet_valid` (`nbf` ahead, or `iat` in the future)  |
| InvalidClaimError           | `invalid_claim` (missing, mistyped or inconsistent);   |
|                             | `lifetime_too_long` (`exp - iat` over 24 h);           |
|                             | `claims_model` (the claims model refused the claims)   |
| InvalidIssuerError          | `wrong_issuer`                                         |
| InvalidTokenUseError        | `wrong_token_use`                                      |
| InvalidClientError          | `wrong_client`                                         |
| InvalidAudienceError        | `wrong_audience`                                       |
| TokenRevokedError           | `revoked` (its session revoked or its user signed out) |
| PermissionDeniedError       | `permission_denied`                                    |
| JWKSUnavailableError        | `jwks_unavailable`                                     |
| CognitoAuthError            | `cognito_refused` (a code without a class; see `code`) |
| UsernameExistsError         | `username_exists`                                      |
| AliasExistsError            | `alias_exists`                                         |
| CodeMismatchError           | `code_mismatch`                                        |
| ExpiredCodeError            | `expired_code`                                         |
| NotAuthorizedError          | `not_authorized`                                       |
| UserNotConfirmedError       | `user_not_confirmed`                                   |
| UserNotFoundError           | `user_not_found`                                       |
| PasswordResetRequiredError  | `password_reset_required`                              |
| InvalidPasswordError        | `invalid_password`                                     |
| InvalidParameterError       | `invalid_parameter`                                    |
| CodeDeliveryFailureError    | `code_delivery_failure`                                |
| RateLimitError              | `rate_limited`                                         |
| LimitExceededError          | `limit_exceeded`                                       |
| TooManyRequestsError        | `too_many_requests`                                    |
| TooManyFailedAttemptsError  | `too_many_failed_attempts`                             |
| CognitoServiceError         | `cognito_bad_reply`                                    |
| CognitoUnreachableError     | `cognito_unreachable`                                  |
| RevocationUnavailableError  | `revocation_unavailable`                               |
| ServiceTokenError           | `service_token_refused` (the OAuth error in `error`)   |

`reason` is a class attribute; only `InvalidClaimError` may set a more precise one per
instance (`reason=` keyword). A reason, once released, is never renamed.

Messages name the failed check or Cognito's error code, never token content, `kid` values,
claim values or user input, so they are safe to log. The one exception is
`CognitoAuthError.message`, Cognito's own text, which may quote the request: it is kept
for callers that need it and is never logged by the library.
"""

from __future__ import annotations

from typing import Literal

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
    "InvalidAudienceError",
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
    "RevocationUnavailableError",
    "ServiceTokenError",
    "TokenError",
    "TokenExpiredError",
    "TokenNotYetValidError",
    "TokenRevokedError",
    "TooManyFailedAttemptsError",
    "TooManyRequestsError",
    "UserNotConfirmedError",
    "UserNotFoundError",
    "UsernameExistsError",
]


class CognitoJWTError(Exception):
    """Base class for every exception raised by fastapi-cognito-jwt.

    `reason` is a stable, machine-readable snake_case name of the failure (see the table in
    the module docstring): count or branch on it, not on the message.
    """

    reason: str = "error"


class ConfigurationError(CognitoJWTError):
    """Raised at construction when settings or arguments are invalid."""

    reason: str = "configuration"


class TokenError(CognitoJWTError):
    """Raised when a token is not acceptable; the FastAPI layer answers 401."""

    reason: str = "invalid_token"


class MalformedTokenError(TokenError):
    """Raised when a token fails the size, syntax, encoding, JSON or header checks."""

    reason: str = "malformed"


class KeyNotFoundError(TokenError):
    """Raised when the configured JWKS has no usable key for the token's `kid`."""

    reason: str = "unknown_kid"


class InvalidSignatureError(TokenError):
    """Raised when the token's RS256 signature does not verify."""

    reason: str = "bad_signature"


class TokenExpiredError(TokenError):
    """Raised when the token's `exp` has passed (allowing for the configured leeway)."""

    reason: str = "expired"


class TokenNotYetValidError(TokenError):
    """Raised when the token's `nbf` or `iat` lies in the future."""

    reason: str = "not_yet_valid"


class InvalidClaimError(TokenError):
    """Raised when a claim is missing, has the wrong type or holds a value not accepted.

    `claim` names the claim (never its value). `reason` is `invalid_claim` unless the raiser
    names a more precise one (`lifetime_too_long`, `claims_model`).
    """

    reason: str = "invalid_claim"

    def __init__(self, message: str, *, claim: str, reason: str | None = None) -> None:
        super().__init__(message)
        self.claim = claim
        if reason is not None:
            self.reason = reason


class InvalidIssuerError(InvalidClaimError):
    """Raised when `iss` is not one of the accepted issuers."""

    reason: str = "wrong_issuer"

    def __init__(self, message: str = "iss is not an accepted issuer") -> None:
        super().__init__(message, claim="iss")


class InvalidTokenUseError(InvalidClaimError):
    """Raised when `token_use` is not the kind of token the caller asked for."""

    reason: str = "wrong_token_use"

    def __init__(self, message: str = "token_use is not the one required") -> None:
        super().__init__(message, claim="token_use")


class InvalidClientError(InvalidClaimError):
    """Raised when the token was issued to an app client that is not accepted.

    Access tokens carry the client in `client_id`, ID tokens in `aud`.
    """

    reason: str = "wrong_client"


class InvalidAudienceError(InvalidClaimError):
    """Raised when an access token's `aud` does not name one of this API's resource ids.

    An access token carries `aud` only when it was issued for a resource (resource binding);
    with no `resource_ids` configured, every such token is refused.
    """

    reason: str = "wrong_audience"

    def __init__(self, message: str = "aud does not name this API") -> None:
        super().__init__(message, claim="aud")


class PermissionDeniedError(CognitoJWTError):
    """Raised when a verified token lacks a required group or scope; HTTP 403.

    `required` holds the groups or scopes the route asked for (configuration, not token data).
    """

    reason: str = "permission_denied"

    def __init__(self, message: str, *, required: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.required = required


class JWKSUnavailableError(CognitoJWTError):
    """Raised when no usable signing key can be had; HTTP 503 with `Retry-After`.

    `retry_after` is the number of seconds until the next fetch attempt is allowed.
    """

    reason: str = "jwks_unavailable"

    def __init__(self, message: str, *, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class CognitoAuthError(CognitoJWTError):
    """Raised when Cognito refuses an auth-flow request.

    `code` is Cognito's error code, e.g. `"NotAuthorizedException"`; `message` is Cognito's
    text, which may quote user input, so the library never logs it and returns it only for
    `InvalidPasswordError` (the policy text). `str()` of the error shows only the code.
    """

    reason: str = "cognito_refused"

    def __init__(self, code: str, message: str = "") -> None:
        super().__init__(f"Cognito refused the request: {code}")
        self.code = code
        self.message = message


class UsernameExistsError(CognitoAuthError):
    """Raised when signing up a username that is already taken."""

    reason: str = "username_exists"


class AliasExistsError(CognitoAuthError):
    """Raised when an email or phone number is already used by another account."""

    reason: str = "alias_exists"


class CodeMismatchError(CognitoAuthError):
    """Raised when a verification or MFA code is wrong."""

    reason: str = "code_mismatch"


class ExpiredCodeError(CognitoAuthError):
    """Raised when a verification code has expired or was already used."""

    reason: str = "expired_code"


class NotAuthorizedError(CognitoAuthError):
    """Raised for a wrong password, a revoked or invalid token, or a disabled user."""

    reason: str = "not_authorized"


class UserNotConfirmedError(CognitoAuthError):
    """Raised when the user has not confirmed the account yet."""

    reason: str = "user_not_confirmed"


class UserNotFoundError(CognitoAuthError):
    """Raised when the user does not exist (only if the pool reveals it)."""

    reason: str = "user_not_found"


class PasswordResetRequiredError(CognitoAuthError):
    """Raised when the user must reset the password before signing in."""

    reason: str = "password_reset_required"


class InvalidPasswordError(CognitoAuthError):
    """Raised when a new password does not meet the pool's password policy."""

    reason: str = "invalid_password"


class InvalidParameterError(CognitoAuthError):
    """Raised when Cognito finds a request parameter invalid."""

    reason: str = "invalid_parameter"


class CodeDeliveryFailureError(CognitoAuthError):
    """Raised when Cognito could not send a verification code."""

    reason: str = "code_delivery_failure"


class RateLimitError(CognitoAuthError):
    """Raised when Cognito throttles the request; try again later."""

    reason: str = "rate_limited"


class LimitExceededError(RateLimitError):
    """Raised when a per-user or per-pool limit was exceeded."""

    reason: str = "limit_exceeded"


class TooManyRequestsError(RateLimitError):
    """Raised when the request rate was too high."""

    reason: str = "too_many_requests"


class TooManyFailedAttemptsError(RateLimitError):
    """Raised after too many failed attempts, e.g. wrong codes."""

    reason: str = "too_many_failed_attempts"


class CognitoServiceError(CognitoJWTError):
    """Raised when Cognito gives no usable answer: HTML, not JSON, or an unexpected shape.

    No raw httpx2 exception escapes the auth client; this (or its subclass) replaces it.
    """

    reason: str = "cognito_bad_reply"


class CognitoUnreachableError(CognitoServiceError):
    """Raised when Cognito cannot be reached: a timeout or a connection failure."""

    reason: str = "cognito_unreachable"


class TokenRevokedError(TokenError):
    """Raised when a verified token is on the revocation list; the FastAPI layer answers 401.

    Its session was revoked (`RevokeToken`, by `origin_jti`) or its user signed out
    (`GlobalSignOut`) after it was issued. The answer is the plain `invalid_token` one: it
    does not tell that the token was revoked. `kind` says which: `"session"` or `"user"`.
    """

    reason = "revoked"

    def __init__(self, message: str, *, kind: Literal["session", "user"]) -> None:
        super().__init__(message)
        self.kind: Literal["session", "user"] = kind


class RevocationUnavailableError(CognitoJWTError):
    """Raised when the revocation list may be missing revocations; HTTP 503.

    A shared list (Redis) that lost its connection for longer than
    `CognitoSettings.revocation_max_stale` refuses every token rather than accept one that
    was revoked elsewhere. `retry_after` is a suggested wait in seconds.
    """

    reason = "revocation_unavailable"

    def __init__(self, message: str, *, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class ServiceTokenError(CognitoJWTError):
    """Raised when the pool's token endpoint refuses to issue a service token.

    `error` is the OAuth 2.0 error code of the answer (`"invalid_client"` for a wrong client
    id or secret, `"invalid_scope"`, `"unauthorized_client"`, ...), or `"invalid_response"`
    when the answer is not a token. No token or secret is ever part of it. An app that calls
    another service maps it to 502 or 503 with an exception handler (docs: service tokens).
    """

    reason = "service_token_refused"

    def __init__(self, error: str) -> None:
        super().__init__(f"the token endpoint refused a service token: {error}")
        self.error = error
