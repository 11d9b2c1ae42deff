"""`CognitoOAuth2Bearer`: a `CognitoBearer` that Swagger UI signs in with, through managed login.

It declares Cognito's OAuth 2.0 authorization-code flow as its OpenAPI security scheme, so
Swagger UI's Authorize button opens the pool's login page (with PKCE) and then sends the
access token itself. Verification is `CognitoBearer`'s, through `verifier.verify`.
"""

# No `from __future__ import annotations`: FastAPI reads these signatures at runtime.

import logging
from typing import Any

from fastapi.openapi.models import OAuth2, OAuthFlowAuthorizationCode, OAuthFlows
from fastapi.responses import HTMLResponse
from fastapi.security import SecurityScopes
from starlette.requests import HTTPConnection

from .._exceptions import ConfigurationError, PermissionDeniedError
from .._settings import CognitoSettings
from .bearer import CognitoBearer, CognitoCredentials, http_exception
from .claims import ClaimsT, CognitoClaims, TokenUse
from .verifier import CognitoVerifier

__all__ = ["CognitoOAuth2Bearer"]

logger = logging.getLogger("fastapi_cognito_jwt")

# Swagger UI's own redirect page (and FastAPI's copy) only warns when the state that comes back
# is not the one sent, and exchanges the code anyway; this one refuses, as RFC 6749 §10.12 asks.
# Cognito returns `code` and `state` in the query. The error text is shown as text by Swagger UI.
_REDIRECT_HTML = """<!doctype html>
<html lang="en-US"><head><title>Swagger UI: OAuth2 Redirect</title></head><body><script>
'use strict';
(function () {
  var oauth2 = window.opener && window.opener.swaggerUIRedirectOauth2;
  if (!oauth2) { return; }
  var query = new URLSearchParams(window.location.search);
  var fail = function (message) {
    oauth2.errCb({authId: oauth2.auth.name, source: "auth", level: "error", message: message});
  };
  if (!oauth2.state || query.get("state") !== oauth2.state) {
    fail("[Authorization refused]: the state returned is not the one sent.");
  } else if (query.get("code")) {
    delete oauth2.state;
    oauth2.auth.code = query.get("code");
    oauth2.callback({auth: oauth2.auth, redirectUrl: oauth2.redirectUrl});
  } else {
    fail("[Authorization failed]: " + (query.get("error") || "no code received"));
  }
  window.close();
})();
</script></body></html>
"""


class CognitoOAuth2Bearer(CognitoBearer[ClaimsT]):
    """A `CognitoBearer` whose OpenAPI scheme is Cognito's authorization-code flow with PKCE.

    Swagger UI's Authorize button then opens the pool's managed login
    (`{oauth_domain}/oauth2/authorize`), exchanges the code at `{oauth_domain}/oauth2/token`
    with PKCE, and sends the access token on every Try it out. Tokens are verified exactly as
    `CognitoBearer` verifies them; the scopes of `Security(auth, scopes=[...])` are required
    of the token (403 otherwise) and shown in OpenAPI.

    Needs `oauth_domain` and `oauth_client_id` (a public app client, in `client_ids`, whose
    callback URLs include the app's `/docs/oauth2-redirect`) in the settings;
    `oauth_scopes` are the scopes offered.

    ```python
    settings = CognitoSettings(
        user_pool_id="eu-west-1_AbC123",
        client_ids=["3n4b5urk1ft4fl3mg5e62d9ado"],
        oauth_domain="https://myapp.auth.eu-west-1.amazoncognito.com",
        oauth_client_id="3n4b5urk1ft4fl3mg5e62d9ado",
        oauth_scopes=["openid", "api/read"],
    )
    auth = CognitoOAuth2Bearer(settings, token_use="access")
    app = FastAPI(swagger_ui_init_oauth=auth.swagger_ui_init_oauth())

    @app.get("/items")
    async def items(creds: CognitoCredentials = Security(auth, scopes=["api/read"])) -> list[str]:
        return []
    ```

    Args:
        settings: as for `CognitoBearer`; `oauth_domain` and `oauth_client_id` are required.
        token_use: as for `CognitoBearer`; Swagger UI sends the access token, so `"access"`.
        claims_model: as for `CognitoBearer`.
        verifier: as for `CognitoBearer`; its settings then give the domain and client.
        auto_error: as for `CognitoBearer`.
        scheme_name: the security scheme's name in OpenAPI.
        description: the security scheme's description in OpenAPI.
    """

    def __init__(
        self,
        settings: CognitoSettings | None = None,
        /,
        *,
        token_use: TokenUse,
        claims_model: type[ClaimsT] = CognitoClaims,  # type: ignore[assignment]
        verifier: CognitoVerifier | None = None,
        auto_error: bool = True,
        scheme_name: str | None = None,
        description: str | None = None,
    ) -> None:
        super().__init__(
            settings,
            token_use=token_use,
            claims_model=claims_model,
            verifier=verifier,
            auto_error=auto_error,
            scheme_name=scheme_name,
            description=description,
        )
        config = self.verifier.settings
        if config.oauth_client_id is None:
            raise ConfigurationError("CognitoOAuth2Bearer needs oauth_client_id in the settings")
        self.oauth_client_id = config.oauth_client_id
        self.oauth_scopes = tuple(config.oauth_scopes)
        flow = OAuthFlowAuthorizationCode(
            authorizationUrl=config.oauth_endpoint("authorize"),
            tokenUrl=config.oauth_endpoint("token"),
            scopes={scope: scope for scope in self.oauth_scopes},
        )
        # What FastAPI puts in components.securitySchemes instead of the HTTP bearer scheme.
        self.model: OAuth2 = OAuth2(  # type: ignore[assignment]
            flows=OAuthFlows(authorizationCode=flow), description=description
        )

    def make_authenticate_headers(self) -> dict[str, str]:
        """The bare `WWW-Authenticate: Bearer` challenge of a request without credentials."""
        return {"WWW-Authenticate": "Bearer"}

    def swagger_ui_init_oauth(self) -> dict[str, Any]:
        """The `swagger_ui_init_oauth` for `FastAPI(...)`: PKCE on, the client id, the scopes.

        ```python
        app = FastAPI(swagger_ui_init_oauth=auth.swagger_ui_init_oauth())
        ```
        """
        return {
            "clientId": self.oauth_client_id,
            "usePkceWithAuthorizationCodeGrant": True,
            "scopes": " ".join(self.oauth_scopes),
        }

    def swagger_ui_oauth2_redirect_html(self) -> HTMLResponse:
        """Swagger UI's OAuth 2.0 redirect page, refusing a sign-in whose `state` was changed.

        FastAPI's default page only warns and exchanges the code anyway. Serve this one at the
        docs' redirect URL instead (with `docs_url=None` and your own `/docs` route; see the
        Swagger sign-in recipe):

        ```python
        @app.get("/docs/oauth2-redirect", include_in_schema=False)
        async def oauth2_redirect() -> HTMLResponse:
            return auth.swagger_ui_oauth2_redirect_html()
        ```
        """
        return HTMLResponse(_REDIRECT_HTML)

    async def __call__(  # type: ignore[override]
        self, request: HTTPConnection, security_scopes: SecurityScopes
    ) -> CognitoCredentials[ClaimsT] | None:
        """Verify the bearer token, then require the scopes of `Security(auth, scopes=...)`."""
        credentials = await super().__call__(request)
        if credentials is not None and security_scopes.scopes:
            required = frozenset(security_scopes.scopes)
            if not required <= set(credentials.claims.scopes):
                error = PermissionDeniedError("required scope missing", required=tuple(required))
                logger.info("Request denied: %s", error)
                raise http_exception(error)
        return credentials
