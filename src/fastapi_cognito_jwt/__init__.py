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
from ._dependencies import (  # noqa: E402
    current_claims,
    current_username,
    require_groups,
    require_scopes,
)
from ._exceptions import (  # noqa: E402
    CognitoJWTError,
    ConfigurationError,
    InvalidClaimError,
    InvalidClientError,
    InvalidIssuerError,
    InvalidSignatureError,
    InvalidTokenUseError,
    JWKSUnavailableError,
    KeyNotFoundError,
    MalformedTokenError,
    PermissionDeniedError,
    TokenError,
    TokenExpiredError,
    TokenNotYetValidError,
)
from ._jwks import JWKSCache  # noqa: E402
from ._security import CognitoBearer, CognitoCredentials  # noqa: E402
from ._settings import CognitoSettings, SettingsFields  # noqa: E402
from ._verifier import CognitoVerifier  # noqa: E402

__version__ = "0.1.0"

__all__ = [
    "CognitoBearer",
    "CognitoClaims",
    "CognitoCredentials",
    "CognitoJWTError",
    "CognitoSettings",
    "CognitoVerifier",
    "ConfigurationError",
    "InvalidClaimError",
    "InvalidClientError",
    "InvalidIssuerError",
    "InvalidSignatureError",
    "InvalidTokenUseError",
    "JWKSCache",
    "JWKSUnavailableError",
    "KeyNotFoundError",
    "MalformedTokenError",
    "PermissionDeniedError",
    "SettingsFields",
    "TokenError",
    "TokenExpiredError",
    "TokenNotYetValidError",
    "TokenUse",
    "__version__",
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
