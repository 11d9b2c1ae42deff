"""A stand-in for a user pool's managed login (hosted UI) and OAuth 2.0 endpoints.

No emulator implements them, so this small ASGI app follows Cognito's documented behaviour
(Amazon Cognito Developer Guide, "User pool endpoints reference"):

- `GET /oauth2/authorize` checks `response_type=code`, the client, the redirect URI and, for
  a public client, `code_challenge_method=S256`, then redirects to `GET /login` with the same
  query, as Cognito does.
- `GET /login` is an HTML form; `POST /login` checks the password and redirects to the
  redirect URI with `code` and the unchanged `state`.
- `POST /oauth2/token` takes form bodies: `authorization_code` (one-time code, same client and
  redirect URI, `code_verifier` whose S256 hash is the challenge) and `client_credentials`
  (confidential clients, HTTP Basic authentication). Errors are 400 with an OAuth error code.
  It answers cross-origin requests (CORS), which is what lets Swagger UI call it.
- `GET /.well-known/jwks.json` serves the pool's keys.

Tokens are signed with a `LocalUserPool`'s keys, so a `CognitoVerifier` for that pool accepts
them. Counters (`token_requests`) and switches (`tamper_state`) are for the tests.
"""

from __future__ import annotations

import base64
import hashlib
import html
import secrets
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlencode

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from fastapi_cognito_jwt.testing import LocalUserPool

_CORS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": "POST, OPTIONS",
    "Access-Control-Allow-Headers": "Authorization, Content-Type, Accept, X-Requested-With",
}


@dataclass
class _Code:
    client_id: str
    redirect_uri: str
    challenge: str
    username: str
    scopes: tuple[str, ...]
    expires: float


@dataclass
class FakeHostedUI:
    """The app and its state: one public client (PKCE) and one confidential client."""

    pool: LocalUserPool
    public_client_id: str
    redirect_uris: tuple[str, ...]
    confidential_clients: dict[str, str] = field(default_factory=dict)  # id -> secret
    users: dict[str, str] = field(default_factory=lambda: {"alice": "Correct-Horse-1"})
    scopes: tuple[str, ...] = ("openid", "api/read")
    m2m_expires_in: int = 3600
    tamper_state: bool = False
    token_requests: int = 0
    client_credentials_requests: int = 0
    _codes: dict[str, _Code] = field(default_factory=dict)

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/oauth2/authorize", self.authorize, methods=["GET"]),
                Route("/login", self.login_page, methods=["GET"]),
                Route("/login", self.login, methods=["POST"]),
                Route("/oauth2/token", self.token, methods=["POST", "OPTIONS"]),
                Route("/.well-known/jwks.json", self.jwks, methods=["GET"]),
            ]
        )

    async def jwks(self, request: Request) -> Response:
        return JSONResponse(self.pool.jwks())

    async def authorize(self, request: Request) -> Response:
        query = request.query_params
        if query.get("client_id") != self.public_client_id:
            return HTMLResponse("invalid client", status_code=400)
        if query.get("redirect_uri") not in self.redirect_uris:
            return HTMLResponse("redirect_mismatch", status_code=400)
        if query.get("response_type") != "code":
            return self._redirect_error(query["redirect_uri"], "unsupported_response_type", query)
        if not query.get("code_challenge") or query.get("code_challenge_method") != "S256":
            return self._redirect_error(query["redirect_uri"], "invalid_request", query)
        if not set(query.get("scope", "").split()) <= set(self.scopes):
            return self._redirect_error(query["redirect_uri"], "invalid_scope", query)
        return RedirectResponse(f"/login?{urlencode(dict(query))}", status_code=302)

    async def login_page(self, request: Request) -> Response:
        hidden = "".join(
            f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">'
            for k, v in request.query_params.items()
        )
        return HTMLResponse(
            "<!doctype html><title>Sign in</title><form method=post action=/login>"
            f"{hidden}<label>Username <input name=username></label>"
            "<label>Password <input name=password type=password></label>"
            "<button type=submit>Sign in</button></form>"
        )

    async def login(self, request: Request) -> Response:
        form = await _form(request)
        if (
            form.get("client_id") != self.public_client_id
            or form.get("redirect_uri") not in self.redirect_uris
            or not form.get("code_challenge")
        ):
            return HTMLResponse("invalid request", status_code=400)
        username = form.get("username", "")
        if self.users.get(username) != form.get("password"):
            return HTMLResponse("Incorrect username or password.", status_code=400)
        code = secrets.token_urlsafe(24)
        self._codes[code] = _Code(
            client_id=form["client_id"],
            redirect_uri=form["redirect_uri"],
            challenge=form["code_challenge"],
            username=username,
            scopes=tuple(form.get("scope", "").split()) or self.scopes,
            expires=time.monotonic() + 300,
        )
        state = form.get("state", "")
        if self.tamper_state:
            state += "-tampered"
        target = f"{form['redirect_uri']}?{urlencode({'code': code, 'state': state})}"
        return RedirectResponse(target, status_code=302)

    async def token(self, request: Request) -> Response:
        if request.method == "OPTIONS":
            return Response(status_code=204, headers=_CORS)
        self.token_requests += 1
        form = await _form(request)
        grant = form.get("grant_type")
        if grant == "authorization_code":
            return self._code_grant(form)
        if grant == "client_credentials":
            return self._client_credentials(request, form)
        return _error("unsupported_grant_type")

    def _code_grant(self, form: dict[str, str]) -> Response:
        code = self._codes.pop(form.get("code", ""), None)  # one use, whatever the outcome
        if (
            code is None
            or code.expires < time.monotonic()
            or code.client_id != form.get("client_id")
            or code.redirect_uri != form.get("redirect_uri")
        ):
            return _error("invalid_grant")
        verifier = form.get("code_verifier", "")
        digest = hashlib.sha256(verifier.encode("ascii", "replace")).digest()
        if base64.urlsafe_b64encode(digest).rstrip(b"=").decode() != code.challenge:
            return _error("invalid_grant")
        claims = {"client_id": code.client_id}
        body = {
            "access_token": self.pool.access_token(
                username=code.username, scopes=code.scopes, claims=claims
            ),
            "id_token": self.pool.id_token(username=code.username, claims={"aud": code.client_id}),
            "token_type": "Bearer",
            "expires_in": 3600,
        }
        return JSONResponse(body, headers=_CORS)

    def _client_credentials(self, request: Request, form: dict[str, str]) -> Response:
        self.client_credentials_requests += 1
        scheme, _, encoded = request.headers.get("authorization", "").partition(" ")
        try:
            client_id, _, secret = base64.b64decode(encoded).decode().partition(":")
        except ValueError:
            return _error("invalid_client")
        expected = self.confidential_clients.get(client_id)
        if scheme != "Basic" or expected is None or not secrets.compare_digest(secret, expected):
            return _error("invalid_client")
        requested = tuple(form.get("scope", "").split())
        if not set(requested) <= set(self.scopes):
            return _error("invalid_scope")
        token = self.pool.m2m_token(
            scopes=requested or self.scopes,
            expires_in=self.m2m_expires_in,
            claims={"client_id": client_id, "sub": client_id},
        )
        body = {"access_token": token, "token_type": "Bearer", "expires_in": self.m2m_expires_in}
        return JSONResponse(body, headers=_CORS)

    @staticmethod
    def _redirect_error(redirect_uri: str, error: str, query: Any) -> Response:
        target = f"{redirect_uri}?{urlencode({'error': error, 'state': query.get('state', '')})}"
        return RedirectResponse(target, status_code=302)


async def _form(request: Request) -> dict[str, str]:
    # A urlencoded body, parsed here so that the tests need no python-multipart.
    return dict(parse_qsl((await request.body()).decode("utf-8", "replace")))


def _error(code: str) -> Response:
    return JSONResponse({"error": code}, status_code=400, headers=_CORS)
