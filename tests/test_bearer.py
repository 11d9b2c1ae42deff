"""`CognitoBearer`, `CognitoCredentials`, `http_exception` and the fixed HTTP answers.

Every refusal asserts the status, the exact `WWW-Authenticate` challenge, the body, and that
nothing of the token (nor the pool's kid, client or issuer) is echoed.
"""

# No `from __future__ import annotations`: FastAPI reads the route signatures at runtime.

import copy
import logging
import time
from typing import Annotated, Any

import httpx2
import pytest
from fastapi import APIRouter, Depends, FastAPI, WebSocket
from fastapi.testclient import TestClient
from pydantic import Field, ValidationError
from starlette.testclient import WebSocketDenialResponse

import fastapi_cognito_jwt as fcj
from fastapi_cognito_jwt import CognitoBearer, CognitoCredentials
from fastapi_cognito_jwt._http_answers import HTTPAnswer, unavailable
from fastapi_cognito_jwt._verification.bearer import _credentials, http_exception
from fastapi_cognito_jwt.testing import LocalUserPool
from tests import helpers as h
from tests.helpers import assert_echoes_nothing, assert_logs_hide, assert_rejected, bearer, send

pytestmark = pytest.mark.anyio
OTHER = "otherclient00000000000000"


class RoleClaims(fcj.CognitoClaims):
    role: str = Field(alias="custom:role")


def expired(pool: LocalUserPool) -> str:
    now = int(time.time())
    return pool.access_token(claims={"iat": now - 7200, "auth_time": now - 7200, "exp": now - 3600})


def one_route(auth: CognitoBearer) -> FastAPI:
    app = FastAPI()
    app.get("/", dependencies=[Depends(auth)])(lambda: "ok")
    return app


@pytest.fixture
def app(pool: LocalUserPool, auth: CognitoBearer) -> FastAPI:
    role_auth = pool.bearer(token_use="id", claims_model=RoleClaims)
    optional = pool.bearer(token_use="access", auto_error=False)
    app = FastAPI()

    @app.get("/access")
    async def access(creds: Annotated[CognitoCredentials, Depends(auth)]) -> dict[str, Any]:
        assert isinstance(creds, CognitoCredentials)
        token, header, claims = creds.credentials, dict(creds.header), creds.claims
        return {"token": token, "scheme": creds.scheme, "header": header, "sub": claims.sub}

    @app.get("/role")
    async def role(creds: Annotated[CognitoCredentials, Depends(role_auth)]) -> dict[str, Any]:
        assert isinstance(creds.claims, RoleClaims)
        return {"role": creds.claims.role, "token_use": creds.claims.token_use}

    @app.get("/optional")
    async def optional_route(creds: Annotated[Any, Depends(optional)]) -> str | None:
        return None if creds is None else str(creds.claims.username)

    router = APIRouter(prefix="/api", dependencies=[Depends(auth)])
    for method in ("GET", "POST"):
        router.add_api_route("/{name}", lambda name: name, methods=[method], name=method)
    app.include_router(router)

    @app.websocket("/ws")
    async def ws(websocket: WebSocket, creds: Annotated[CognitoCredentials, Depends(auth)]) -> None:
        await websocket.accept()
        await websocket.send_json({"username": creds.claims.username})
        await websocket.close()

    return app


# Raw Authorization values: {t} is a valid access token, {h}.{p}.{s} its segments, {o} another
# valid token. (The attack corpus in tests/security has no header, other schemes, control
# characters inside the token, non-ASCII text, oversized tokens and more pairs of headers.)
HEADERS: dict[str, tuple[list[str], h.Expected]] = {
    "empty-header": ([""], h.NO_CREDENTIALS),
    "no-space": (["Bearer{t}"], h.NO_CREDENTIALS),
    "token-only": (["{t}"], h.NO_CREDENTIALS),
    "tab-separator": (["Bearer\t{t}"], h.NO_CREDENTIALS),
    "trailing-space": (["Bearer {t} "], h.INVALID),
    "trailing-dot": (["Bearer {t}."], h.INVALID),
    "space-in-token": (["Bearer {h}.{p} .{s}"], h.INVALID),
    "trailing-nul": (["Bearer {t}\x00"], h.INVALID),
    "trailing-tab": (["Bearer {t}\t"], h.INVALID),
    "latin-1-byte": (["Bearer {t}\xff"], h.INVALID),
    "one-segment": (["Bearer abc"], h.INVALID),
    "two-valid-headers": (["Bearer {t}", "Bearer {o}"], h.BAD_REQUEST),
    "valid-and-empty-headers": (["Bearer {t}", ""], h.BAD_REQUEST),
}


@pytest.mark.parametrize(("templates", "expected"), HEADERS.values(), ids=HEADERS)
async def test_header_level_refusals_make_no_jwks_request(
    app: FastAPI, pool: LocalUserPool, templates: list[str], expected: h.Expected
) -> None:
    token, other = pool.access_token(), pool.access_token(username="eve")
    segments = dict(zip("hps", token.split("."), strict=True))
    values = [value.format(t=token, o=other, **segments) for value in templates]
    response = await send(app, "/access", [(b"authorization", v.encode("latin-1")) for v in values])
    assert_rejected(response, expected, pool, token)
    assert_echoes_nothing(response, other)
    assert pool.jwks_requests == 0


@pytest.mark.parametrize(("scheme", "spaces"), [("Bearer", " "), ("bEaReR", " "), ("bearer", "  ")])
async def test_scheme_and_spaces(
    app: FastAPI, pool: LocalUserPool, scheme: str, spaces: str
) -> None:
    """The scheme is case-insensitive; spaces after it are skipped; credentials are as sent."""
    token = pool.access_token(username="carol")
    response = await send(app, "/access", {"Authorization": f"{scheme}{spaces}{token}"})
    header, sub = {"kid": pool.signing_kid, "alg": "RS256"}, pool.access_claims("carol")["sub"]
    assert response.json() == {"token": token, "scheme": scheme, "header": header, "sub": sub}


async def test_claims_model_auto_error_and_router(app: FastAPI, pool: LocalUserPool) -> None:
    token = pool.id_token(claims={"custom:role": "editor"})
    assert (await send(app, "/role", bearer(token))).json() == {"role": "editor", "token_use": "id"}
    for token in (pool.id_token(), pool.id_token(claims={"custom:role": 5})):  # claims model
        assert_rejected(await send(app, "/role", bearer(token)), h.INVALID, pool, token)
    # auto_error=False: no credentials (or another scheme) is an anonymous request...
    for headers in ({}, {"Authorization": "Basic dXNlcjpwYXNz"}, {"Authorization": "Bearer "}):
        assert (await send(app, "/optional", headers)).json() is None
    token = pool.access_token(username="erin")
    assert (await send(app, "/optional", bearer(token))).json() == "erin"
    # ...but a bad token is never one.
    for token in ("abc.def.ghi", pool.access_token()[:-4] + "AAAA"):
        assert_rejected(await send(app, "/optional", bearer(token)), h.INVALID, pool, token)
    # A whole router: every operation.
    for method in ("GET", "POST"):
        assert_rejected(await send(app, "/api/one", method=method), h.NO_CREDENTIALS, pool)
        response = await send(app, "/api/one", bearer(pool.access_token()), method=method)
        assert response.json() == "one"
    token = expired(pool)
    assert_rejected(await send(app, "/api/one", bearer(token)), h.EXPIRED, pool, token)


def test_websocket_route_reads_the_connection_headers(app: FastAPI, pool: LocalUserPool) -> None:
    token = expired(pool)
    with TestClient(app) as client:
        with client.websocket_connect("/ws", headers=bearer(pool.access_token())) as websocket:
            assert websocket.receive_json() == {"username": "alice"}
        for headers, expected in [({}, h.NO_CREDENTIALS), (bearer(token), h.EXPIRED)]:
            with pytest.raises(WebSocketDenialResponse) as refused:
                with client.websocket_connect("/ws", headers=headers):
                    pytest.fail("connected")  # pragma: no cover
            denial, (status, challenge, body) = refused.value, expected
            assert (denial.status_code, denial.json()) == (status, body)
            assert denial.headers.get_list("www-authenticate") == [challenge]
            assert token not in denial.text and pool.signing_kid not in denial.text


class DenyAll(fcj.CognitoVerifier):
    """Refuses every token, whatever the base class would say."""

    async def verify(self, token: str, **options: Any) -> Any:
        raise fcj.TokenError("every token is refused")


async def test_the_bearer_calls_verify_and_maps_what_it_raises(pool: LocalUserPool) -> None:
    # A subclass's verify is what the bearer calls: refusing every token makes every one a 401.
    deny_all = DenyAll(pool.settings(), transport=pool.transport())
    token = pool.access_token()
    app = one_route(CognitoBearer(verifier=deny_all, token_use="access"))
    assert_rejected(await send(app, "/", bearer(token)), h.INVALID, pool, token)
    assert pool.jwks_requests == 0
    # No signing key to be had: 503 with Retry-After, and no challenge.
    failing = httpx2.MockTransport(lambda request: httpx2.Response(500))
    down = fcj.CognitoVerifier(pool.settings(), transport=failing)
    app = one_route(CognitoBearer(verifier=down, token_use="access"))
    response = await send(app, "/", bearer(token))
    assert (response.status_code, response.json()) == (503, h.UNAVAILABLE)
    assert response.headers["retry-after"].isdigit() and int(response.headers["retry-after"]) > 0
    assert "www-authenticate" not in response.headers
    assert_echoes_nothing(response, token, pool.signing_kid, pool.jwks_url)


async def test_openapi_declares_an_http_bearer_scheme(app: FastAPI, pool: LocalUserPool) -> None:
    spec = (await send(app, "/openapi.json")).json()
    bearer_jwt = {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
    assert spec["components"]["securitySchemes"] == {"CognitoBearer": bearer_jwt}
    for path in ("/access", "/api/{name}", "/optional"):
        assert spec["paths"][path]["get"]["security"] == [{"CognitoBearer": []}]
    named = CognitoBearer(
        token_use="id", verifier=pool.verifier(), scheme_name="Pool", description="ID tokens"
    )
    schemes = one_route(named).openapi()["components"]["securitySchemes"]
    assert schemes == {"Pool": bearer_jwt | {"description": "ID tokens"}}


async def test_refusals_are_logged_at_info_by_class_never_with_the_token(
    app: FastAPI, pool: LocalUserPool, library_logs: pytest.LogCaptureFixture
) -> None:
    old, foreign = expired(pool), pool.access_token(claims={"client_id": OTHER})
    await send(app, "/access", bearer(old))
    await send(app, "/access", bearer(foreign))
    rejections = [r for r in library_logs.records if "rejected" in r.getMessage()]
    assert [(r.name, r.levelno) for r in rejections] == [("fastapi_cognito_jwt", logging.INFO)] * 2
    assert "TokenExpiredError" in rejections[0].getMessage()
    assert "InvalidClientError" in rejections[1].getMessage()
    assert_logs_hide(rejections, *h.token_secrets(old), *h.token_secrets(foreign), OTHER)


def test_construction(pool: LocalUserPool) -> None:
    settings = pool.settings()
    for bad in (
        {"token_use": "refresh"},
        {"token_use": "ACCESS"},
        {"token_use": "access", "claims_model": dict},
        {"token_use": "access", "claims_model": "CognitoClaims"},
        {"token_use": "access", "claims_model": pool.credentials().claims},
        {"token_use": "access", "verifier": pool.verifier()},  # and settings: one or the other
    ):
        with pytest.raises(fcj.ConfigurationError):
            CognitoBearer(settings, **bad)
    made = CognitoBearer(settings, token_use="id", claims_model=RoleClaims, auto_error=False)
    assert (made.token_use, made.claims_model, made.auto_error) == ("id", RoleClaims, False)
    shared = pool.verifier()
    assert CognitoBearer(token_use="access", verifier=shared).verifier is shared
    assert pool.jwks_requests == 0  # nothing fetched at construction


SECRET = "secret-kid-123"
DOWN = (503, "30", h.UNAVAILABLE)  # a 503 answer: status, Retry-After, body


TOKEN_ERRORS = [
    fcj.TokenError(SECRET), fcj.MalformedTokenError(SECRET), fcj.KeyNotFoundError(SECRET),
    fcj.InvalidSignatureError(SECRET), fcj.TokenNotYetValidError(SECRET),
    fcj.InvalidClaimError(SECRET, claim="x"), fcj.InvalidIssuerError(),
    fcj.InvalidTokenUseError(), fcj.InvalidClientError(SECRET, claim="aud"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("error", "expected"),
    [(error, h.INVALID) for error in TOKEN_ERRORS]
    + [
        (fcj.TokenExpiredError(SECRET), h.EXPIRED),
        (fcj.PermissionDeniedError(SECRET, required=("admin",)), h.FORBIDDEN),
        (fcj.JWKSUnavailableError(SECRET, retry_after=2.2), (503, "3", h.UNAVAILABLE)),
        (fcj.JWKSUnavailableError(SECRET, retry_after=1.0), (503, "1", h.UNAVAILABLE)),
        (fcj.JWKSUnavailableError(SECRET, retry_after=0.01), (503, "1", h.UNAVAILABLE)),
        (fcj.RevocationUnavailableError(SECRET, retry_after=4.0), (503, "4", h.UNAVAILABLE)),
        (fcj.CognitoJWTError(SECRET), DOWN),
        (fcj.ConfigurationError(SECRET), DOWN),
    ],
    ids=lambda value: type(value).__name__ if isinstance(value, Exception) else str(value[0]),
)
def test_http_exception(error: fcj.CognitoJWTError, expected: h.Expected) -> None:
    status, header, body = expected
    exc = http_exception(error)
    assert (exc.status_code, exc.detail) == (status, body["detail"])
    assert exc.headers == {"Retry-After" if status == 503 else "WWW-Authenticate": header}


def test_http_answers() -> None:
    assert HTTPAnswer(502, "Bad gateway").exception().headers is None
    answer = unavailable("Down", 0)
    assert tuple(answer) == (503, "Down", {"Retry-After": "1"})
    exc = answer.exception()
    assert (exc.status_code, exc.detail, exc.headers) == (503, "Down", {"Retry-After": "1"})
    assert exc.headers is not answer.headers  # a copy: changing it leaves the answer alone


def test_fast_credentials_are_what_model_construct_builds(pool: LocalUserPool) -> None:
    claims, token = pool.credentials().claims, pool.access_token()
    fast = _credentials("Bearer", token, claims, pool.user_pool_id)
    slow = CognitoCredentials.model_construct(
        scheme="Bearer", credentials=token, claims=claims, user_pool_id=pool.user_pool_id
    )
    assert type(fast) is type(slow) and fast.__dict__ == slow.__dict__
    assert fast.model_fields_set == slow.model_fields_set
    assert fast.__pydantic_extra__ == slow.__pydantic_extra__
    assert fast.__pydantic_private__ == slow.__pydantic_private__
    assert (fast == slow, repr(fast), fast.model_dump()) == (True, repr(slow), slow.model_dump())
    assert fast.header == slow.header == {"kid": pool.signing_kid, "alg": "RS256"}
    assert CognitoCredentials.__private_attributes__ == {}  # else __pydantic_private__ matters
    # Every instance shares one fields set, which nothing changes.
    shared = fast.model_fields_set
    assert _credentials("bearer", "k.o.t", claims, None).model_fields_set is shared
    for other in (fast.model_copy(update={"scheme": "x"}), copy.copy(fast)):
        assert other.model_fields_set is not shared
    with pytest.raises(ValidationError):
        fast.scheme = "y"  # type: ignore[misc]
    assert shared == {"scheme", "credentials", "claims", "user_pool_id"}


def test_header_is_a_read_only_view_of_the_token(pool: LocalUserPool) -> None:
    token = pool.sign(pool.access_claims(), header={"alg": "RS256", "kid": "k", "typ": "JWT"})
    credentials = _credentials("Bearer", token, pool.credentials().claims, None)
    assert credentials.header == {"alg": "RS256", "kid": "k", "typ": "JWT"}
    with pytest.raises(TypeError):
        credentials.header["kid"] = "other"  # type: ignore[index]
    with pytest.raises((ValidationError, AttributeError)):
        credentials.header = {}  # type: ignore[misc]
    assert "header" not in credentials.model_dump() and credentials.header["kid"] == "k"


def test_header_of_credentials_that_are_not_a_jws_is_empty(pool: LocalUserPool) -> None:
    claims = pool.credentials().claims
    opaque = fcj.CognitoCredentials(scheme="Bearer", credentials="opaque-token", claims=claims)
    assert dict(opaque.header) == {}
    assert dict(pool.credentials().header) == {"kid": pool.signing_kid, "alg": "RS256"}


USER_FILE = """
from typing import Annotated
from fastapi import Depends
from pydantic import Field
from fastapi_cognito_jwt import (
    CognitoBearer, CognitoClaims, CognitoCredentials, CognitoSettings, CognitoWebSocketBearer,
    current_claims, require_groups,
)
from fastapi_cognito_jwt.testing import LocalUserPool

class Tenant(CognitoClaims):
    tenant: str = Field(alias="custom:tenant")

auth = CognitoBearer(CognitoSettings(), token_use="id", claims_model=Tenant)
plain = CognitoBearer(CognitoSettings(), token_use="access")
typed: CognitoBearer[Tenant] = LocalUserPool().bearer_like(auth)

async def route(creds: Annotated[CognitoCredentials[Tenant], Depends(auth)]) -> str:
    return creds.claims.tenant

async def helper(claims: Annotated[Tenant, Depends(current_claims(auth))]) -> str:
    return claims.tenant + (await require_groups(auth, "admin")()).tenant

async def default(creds: Annotated[CognitoCredentials, Depends(plain)]) -> str | None:
    return creds.claims.username

ws_auth = CognitoWebSocketBearer(CognitoSettings(), token_use="id", claims_model=Tenant)
typed_ws: CognitoWebSocketBearer[Tenant] = ws_auth
plain_ws: CognitoWebSocketBearer[CognitoClaims] = CognitoWebSocketBearer(token_use="access")
"""


def test_claims_are_typed_as_the_bearers_model_for_mypy(tmp_path: Any) -> None:
    """mypy --strict accepts a user file that reads a custom claim, and refuses a misspelt one."""
    from mypy import api

    good = tmp_path / "good.py"
    good.write_text(USER_FILE)
    bad = tmp_path / "bad.py"
    bad.write_text(
        USER_FILE.replace("return creds.claims.tenant", "return creds.claims.tenat")
        # a bearer built without the model cannot pass for one of Tenant
        + 'forgot: CognitoBearer[Tenant] = CognitoBearer(CognitoSettings(), token_use="id")\n'
    )
    out, err, status = api.run(["--strict", str(good)])
    assert status == 0, out + err
    out, _, status = api.run(["--strict", str(bad)])
    assert status == 1 and '"Tenant" has no attribute "tenat"' in out, out
    assert 'variable has type "CognitoBearer[Tenant]"' in out, out
