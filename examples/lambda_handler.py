"""An AWS Lambda handler (API Gateway proxy event) that verifies a Cognito access token.

Lambda calls handlers synchronously, so it uses `verify_sync`. The verifier is made once per
container, outside the handler: its key and token caches then serve every invocation the
container handles, and only a cold start fetches the JWKS.

    COGNITO_USER_POOL_ID=eu-west-1_AbC123 COGNITO_CLIENT_IDS=3n4b5urk1ft4fl3mg5e62d9ado
"""

import json
from typing import Any

from fastapi_cognito_jwt import CognitoJWTError, CognitoVerifier, JWKSUnavailableError

_verifier: CognitoVerifier | None = None


def verifier() -> CognitoVerifier:
    """The container's verifier, from the `COGNITO_*` environment on first use."""
    global _verifier
    if _verifier is None:
        _verifier = CognitoVerifier()
    return _verifier


def handler(event: dict[str, Any], context: object) -> dict[str, Any]:
    """Answer 200 with the caller's username, 401 for a bad token, 503 when keys are down."""
    headers = {name.lower(): value for name, value in (event.get("headers") or {}).items()}
    scheme, _, token = str(headers.get("authorization", "")).partition(" ")
    if scheme.lower() != "bearer" or not token:
        return _answer(401, "Not authenticated", {"WWW-Authenticate": "Bearer"})
    try:
        claims = verifier().verify_sync(token.strip(), token_use="access")
    except JWKSUnavailableError as exc:
        return _answer(503, "Try again later", {"Retry-After": str(int(exc.retry_after))})
    except CognitoJWTError:
        return _answer(401, "Invalid token", {"WWW-Authenticate": 'Bearer error="invalid_token"'})
    return _answer(200, f"Hello, {claims.username or claims.client_id}", {})


def _answer(status: int, message: str, headers: dict[str, str]) -> dict[str, Any]:
    return {
        "statusCode": status,
        "headers": {"Content-Type": "application/json", **headers},
        "body": json.dumps({"message": message}),
    }
