"""Verify AWS Cognito JWTs and protect FastAPI routes.

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
"""

from ._backend import require_cryptography_backend

require_cryptography_backend()

from ._claims import CognitoClaims, TokenUse  # noqa: E402
from ._client import CognitoAuthClient  # noqa: E402
from ._dependencies import (  # noqa: E402
    current_claims,
    current_username,
    require_groups,
    require_scopes,
)
from ._exceptions import (  # noqa: E402
    AliasExistsError,
    CodeDeliveryFailureError,
    CodeMismatchError,
    CognitoAuthError,
    CognitoJWTError,
    CognitoServiceError,
    CognitoUnreachableError,
    ConfigurationError,
    ExpiredCodeError,
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
    TokenError,
    TokenExpiredError,
    TokenNotYetValidError,
    TooManyFailedAttemptsError,
    TooManyRequestsError,
    UsernameExistsError,
    UserNotConfirmedError,
    UserNotFoundError,
)
from ._forms import SignUpForm, SignUpRequest  # noqa: E402
from ._jwks import JWKSCache  # noqa: E402
from ._results import (  # noqa: E402
    AuthChallenge,
    AuthTokens,
    CodeDelivery,
    CognitoUser,
    SignUpResult,
)
from ._router import auth_router  # noqa: E402
from ._security import CognitoBearer, CognitoCredentials  # noqa: E402
from ._settings import CognitoSettings, SettingsFields  # noqa: E402
from ._verifier import CognitoVerifier  # noqa: E402

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
    "CognitoServiceError",
    "CognitoSettings",
    "CognitoUnreachableError",
    "CognitoUser",
    "CognitoVerifier",
    "ConfigurationError",
    "ExpiredCodeError",
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
    "SettingsFields",
    "SignUpForm",
    "SignUpRequest",
    "SignUpResult",
    "TokenError",
    "TokenExpiredError",
    "TokenNotYetValidError",
    "TokenUse",
    "TooManyFailedAttemptsError",
    "TooManyRequestsError",
    "UserNotConfirmedError",
    "UserNotFoundError",
    "UsernameExistsError",
    "__version__",
    "auth_router",
    "current_claims",
    "current_username",
    "require_groups",
    "require_scopes",
]

# Show public names as fastapi_cognito_jwt.X, not fastapi_cognito_jwt._module.X.
for _name in __all__:
    _value = globals()[_name]
    if getattr(_value, "__module__", "").startswith("fastapi_cognito_jwt._"):
        try:
            _value.__module__ = __name__
        except (AttributeError, TypeError):  # pragma: no cover - e.g. typing aliases
            pass
del _name, _value
