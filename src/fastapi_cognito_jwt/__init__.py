"""Verify AWS Cognito JWTs and protect FastAPI routes; run the user-pool auth flows.

```python
from fastapi import Depends, FastAPI
from fastapi_cognito_jwt import CognitoBearer, CognitoSettings, current_username

settings = CognitoSettings(user_pool_id="eu-west-1_AbC123", client_ids=["3n4b5urk1ft4"])
auth = CognitoBearer(settings, token_use="access")
app = FastAPI()

@app.get("/hello")
async def hello(username: str = Depends(current_username(auth))) -> str:
    return f"Hello, {username}"
```

Verification lives in `_verification`, the auth flows in `_auth_flows`; both share only the
settings, the exceptions, strict JSON and the HTTP answer texts. The auth-flow names are
imported on first use, so an app that only verifies tokens never loads them; their one extra
dependency, email-validator, comes with the `auth-flows` extra.
"""

import typing as _typing
from importlib import import_module as _import_module

from ._exceptions import (
    AliasExistsError,
    CodeDeliveryFailureError,
    CodeMismatchError,
    CognitoAuthError,
    CognitoJWTError,
    CognitoServiceError,
    CognitoUnreachableError,
    ConfigurationError,
    ExpiredCodeError,
    InvalidAudienceError,
    InvalidClaimError,
    InvalidClientError,
    InvalidIssuerError,
    InvalidParameterError,
    InvalidPasswordError,
    InvalidSignatureError,
    InvalidTokenUseError,
    JWKSUnavailableError,
    KeyNotFoundError,
    LimitExceededError,
    MalformedTokenError,
    NotAuthorizedError,
    PasswordResetRequiredError,
    PermissionDeniedError,
    RateLimitError,
    RevocationUnavailableError,
    ServiceTokenError,
    TokenError,
    TokenExpiredError,
    TokenNotYetValidError,
    TokenRevokedError,
    TooManyFailedAttemptsError,
    TooManyRequestsError,
    UsernameExistsError,
    UserNotConfirmedError,
    UserNotFoundError,
)
from ._settings import CognitoSettings, UserPoolSettings
from ._verification.bearer import CognitoBearer, CognitoCredentials
from ._verification.claims import CognitoClaims, TokenUse
from ._verification.dependencies import (
    current_claims,
    current_username,
    document_auth_responses,
    require_groups,
    require_scopes,
)
from ._verification.jwks import JWKSCache
from ._verification.oauth_bearer import CognitoOAuth2Bearer
from ._verification.revocation import InMemoryRevocationList, Revocation, RevocationList
from ._verification.revocation_redis import RedisRevocationList
from ._verification.verifier import CognitoVerifier
from ._verification.websocket import CognitoWebSocketBearer

if _typing.TYPE_CHECKING:
    from ._auth_flows.bodies import SignUpForm, SignUpRequest
    from ._auth_flows.client import CognitoAuthClient
    from ._auth_flows.results import (
        AuthChallenge,
        AuthTokens,
        CodeDelivery,
        CognitoUser,
        SignUpResult,
        SoftwareTokenSetup,
    )
    from ._auth_flows.router import auth_router
    from ._auth_flows.service_tokens import ServiceTokenAuth, ServiceTokenClient

__version__ = "0.1.0"

__all__ = [
    "AliasExistsError",
    "AuthChallenge",
    "AuthTokens",
    "CodeDelivery",
    "CodeDeliveryFailureError",
    "CodeMismatchError",
    "CognitoAuthClient",
    "CognitoAuthError",
    "CognitoBearer",
    "CognitoClaims",
    "CognitoCredentials",
    "CognitoJWTError",
    "CognitoOAuth2Bearer",
    "CognitoServiceError",
    "CognitoSettings",
    "CognitoUnreachableError",
    "CognitoUser",
    "CognitoVerifier",
    "CognitoWebSocketBearer",
    "ConfigurationError",
    "ExpiredCodeError",
    "InMemoryRevocationList",
    "InvalidAudienceError",
    "InvalidClaimError",
    "InvalidClientError",
    "InvalidIssuerError",
    "InvalidParameterError",
    "InvalidPasswordError",
    "InvalidSignatureError",
    "InvalidTokenUseError",
    "JWKSCache",
    "JWKSUnavailableError",
    "KeyNotFoundError",
    "LimitExceededError",
    "MalformedTokenError",
    "NotAuthorizedError",
    "PasswordResetRequiredError",
    "PermissionDeniedError",
    "RateLimitError",
    "RedisRevocationList",
    "Revocation",
    "RevocationList",
    "RevocationUnavailableError",
    "ServiceTokenAuth",
    "ServiceTokenClient",
    "ServiceTokenError",
    "SignUpForm",
    "SignUpRequest",
    "SignUpResult",
    "SoftwareTokenSetup",
    "TokenError",
    "TokenExpiredError",
    "TokenNotYetValidError",
    "TokenRevokedError",
    "TokenUse",
    "TooManyFailedAttemptsError",
    "TooManyRequestsError",
    "UserNotConfirmedError",
    "UserNotFoundError",
    "UserPoolSettings",
    "UsernameExistsError",
    "__version__",
    "auth_router",
    "current_claims",
    "current_username",
    "document_auth_responses",
    "require_groups",
    "require_scopes",
]

# The auth-flow names, by the module that holds them; loaded on first access.
_AUTH_FLOWS = {
    "AuthChallenge": "results",
    "AuthTokens": "results",
    "CodeDelivery": "results",
    "CognitoAuthClient": "client",
    "CognitoUser": "results",
    "SignUpForm": "bodies",
    "SignUpRequest": "bodies",
    "ServiceTokenAuth": "service_tokens",
    "ServiceTokenClient": "service_tokens",
    "SignUpResult": "results",
    "SoftwareTokenSetup": "results",
    "auth_router": "router",
}


def _public(value: _typing.Any) -> _typing.Any:
    """Show a public name as fastapi_cognito_jwt.X, not as the private module it lives in."""
    if getattr(value, "__module__", "").startswith(f"{__name__}._"):
        try:
            value.__module__ = __name__
        except (AttributeError, TypeError):  # pragma: no cover - e.g. typing aliases
            pass
    return value


def __getattr__(name: str) -> _typing.Any:
    if name not in _AUTH_FLOWS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = _public(getattr(_import_module(f"._auth_flows.{_AUTH_FLOWS[name]}", __name__), name))
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_AUTH_FLOWS})


for _name in __all__:
    if _name not in _AUTH_FLOWS:
        _public(globals()[_name])
del _name
