"""`CognitoBearer`, `CognitoCredentials` and `http_exception`, through a real FastAPI app.

Covers research/security.md §3.A (the Authorization header), §3.H (token kind and client) and
§3.J (response hygiene). Every rejection asserts the status, the exact `WWW-Authenticate`
challenge, the exact body, and that nothing of the token (nor its kid or claims) is echoed.
"""

# No `from __future__ import annotations`: FastAPI reads the route signatures at runtime.

import base64
import copy
import hashlib
import hmac
import json
import logging
import time
from collections.abc import Callable, Iterator
from typing import Annotated, Any, cast

import httpx
import pytest
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from fastapi import APIRouter, Depends, FastAPI, WebSocket
from fastapi.testclient import TestClient
from pydantic import Field, ValidationError
from starlette.testclient import WebSocketDenialResponse

import fastapi_cognito_jwt as fcj
from fastapi_cognito_jwt import (
    CognitoBearer,
    CognitoClaims,
    CognitoCredentials,
    CognitoJWTError,
    CognitoVerifier,
    ConfigurationError,
    _verifier as verifier_module,
    current_claims,
    current_username,
    require_groups,
)
from fastapi_cognito_jwt._security import _credentials, http_exception
from fastapi_cognito_jwt.testing import LocalUserPool
from tests.answers import (
    BAD_REQUEST,
    EXPIRED,
    FORBIDDEN,
    INVALID,
    NO_CREDENTIALS,
    UNAVAILABLE,
    Expected,
    assert_echoes_nothing,
    assert_rejected,
    token_secrets,
)


def b64u(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def compact(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


async def send_raw(app: FastAPI, path: str, headers: list[tuple[bytes, bytes]]) -> httpx.Response:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        return await client.get(path, headers=headers)


class RoleClaims(CognitoClaims):
    role: str = Field(alias="custom:role")


# -- the app ------------------------------------------------------------------------------


@pytest.fixture
def app(pool: LocalUserPool, auth: CognitoBearer) -> FastAPI:
    id_auth = pool.bearer(token_use="id")
    role_auth = pool.bearer(token_use="id", claims_model=RoleClaims)
    optional = pool.bearer(token_use="access", auto_error=False)
    app = FastAPI()

    @app.get("/access")
    async def access(creds: Annotated[CognitoCredentials, Depends(auth)]) -> dict[str, Any]:
        assert isinstance(creds, CognitoCredentials)
        return {
            "credentials": creds.credentials,
            "scheme": creds.scheme,
            "kid": creds.header["kid"],
            "sub": creds.claims.sub,
            "username": creds.claims.username,
        }

    @app.get("/id")
    async def id_route(creds: Annotated[CognitoCredentials, Depends(id_auth)]) -> dict[str, Any]:
        return {"username": creds.claims.username, "token_use": creds.claims.token_use}

    @app.get("/me")
    async def me(username: Annotated[str, Depends(current_username(auth))]) -> dict[str, str]:
        return {"username": username}

    @app.get("/role")
    async def role(creds: Annotated[CognitoCredentials, Depends(role_auth)]) -> dict[str, str]:
        assert isinstance(creds.claims, RoleClaims)
        return {"role": creds.claims.role}

    @app.get("/optional")
    async def optional_route(
        creds: Annotated[CognitoCredentials | None, Depends(optional)],
    ) -> dict[str, Any]:
        return {"username": None if creds is None else creds.claims.username}

    router = APIRouter(prefix="/api", dependencies=[Depends(auth)])

    @router.get("/{name}")
    async def routed(name: str) -> dict[str, str]:
        return {"route": name}

    router.add_api_route("/{name}", routed, methods=["POST"])  # a second operation
    app.include_router(router)

    @app.websocket("/ws")
    async def ws(websocket: WebSocket, creds: Annotated[CognitoCredentials, Depends(auth)]) -> None:
        await websocket.accept()
        await websocket.send_json({"username": creds.claims.username})
        await websocket.close()

    return app


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, raise_server_exceptions=True) as client:
        yield client


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# -- A. the Authorization header ----------------------------------------------------------


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        pytest.param(None, NO_CREDENTIALS, id="no-header"),
        pytest.param("", NO_CREDENTIALS, id="empty-header"),
        pytest.param("Basic dXNlcjpwYXNz", NO_CREDENTIALS, id="basic"),
        pytest.param("Token {valid}", NO_CREDENTIALS, id="token-scheme"),
        pytest.param("JWT {valid}", NO_CREDENTIALS, id="jwt-scheme"),
        pytest.param("Bearer{valid}", NO_CREDENTIALS, id="no-space"),
        pytest.param("{valid}", NO_CREDENTIALS, id="token-only"),
        pytest.param("Bearer", NO_CREDENTIALS, id="bearer-alone"),
        pytest.param("Bearer ", NO_CREDENTIALS, id="bearer-space"),
        pytest.param("Bearer    ", NO_CREDENTIALS, id="bearer-spaces"),
        pytest.param("Bearer {valid} extra", INVALID, id="trailing-word"),
        pytest.param("Bearer {valid} ", INVALID, id="trailing-space"),
        pytest.param("Bearer {header}.{payload} .{signature}", INVALID, id="space-in-token"),
        pytest.param("Bearer {valid}.", INVALID, id="trailing-dot"),
        pytest.param("Bearer abc", INVALID, id="one-segment"),
        pytest.param("Bearer " + "A" * 2**20, INVALID, id="one-mebibyte"),
    ],
)
def test_header_level_rejections_make_no_jwks_request(
    client: TestClient, pool: LocalUserPool, template: str | None, expected: Expected
) -> None:
    valid = pool.access_token()
    header, payload, signature = valid.split(".")
    headers = {}
    if template is not None:
        value = template.format(valid=valid, header=header, payload=payload, signature=signature)
        headers["Authorization"] = value
    response = client.get("/access", headers=headers)
    assert_rejected(response, expected, pool, valid)
    assert pool.jwks_requests == 0


@pytest.mark.parametrize(
    "template", ["Bearer {}", "bearer {}", "BEARER {}", "bEaReR {}", "Bearer   {}"]
)
def test_bearer_scheme_is_case_insensitive_and_spaces_are_skipped(
    client: TestClient, pool: LocalUserPool, template: str
) -> None:
    token = pool.access_token(username="bob")
    response = client.get("/access", headers={"Authorization": template.format(token)})
    assert response.status_code == 200
    assert response.json()["credentials"] == token
    assert response.json()["username"] == "bob"


def test_oversized_signed_token_is_refused_before_any_fetch(
    client: TestClient, pool: LocalUserPool
) -> None:
    token = pool.access_token(claims={"pad": "x" * (16 * 1024)})
    assert len(token) > 16 * 1024
    assert_rejected(client.get("/access", headers=bearer(token)), INVALID, pool, token)
    assert pool.jwks_requests == 0


def _splice(token: str, char: str) -> str:
    return token[:20] + char + token[20:]


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("make", "expected"),
    [
        pytest.param(lambda t: b"Bearer " + _splice(t, "\t").encode(), INVALID, id="tab"),
        pytest.param(lambda t: b"Bearer " + _splice(t, "\n").encode(), INVALID, id="lf"),
        pytest.param(lambda t: b"Bearer " + _splice(t, "\r").encode(), INVALID, id="cr"),
        pytest.param(lambda t: b"Bearer " + _splice(t, "\x00").encode(), INVALID, id="nul"),
        pytest.param(lambda t: b"Bearer " + t.encode() + b"\x00", INVALID, id="trailing-nul"),
        pytest.param(lambda t: b"Bearer " + t.encode() + b"\t", INVALID, id="trailing-tab"),
        pytest.param(lambda t: b"Bearer\t" + t.encode(), NO_CREDENTIALS, id="tab-separator"),
        pytest.param(lambda t: b"Bearer \xc3\xa9" + t.encode(), INVALID, id="non-ascii-utf8"),
        pytest.param(lambda t: b"Bearer " + t.encode() + b"\xff", INVALID, id="non-ascii-byte"),
        pytest.param(
            lambda t: b"Bearer " + t.replace(".", "\uff0e").encode(), INVALID, id="fullwidth-dot"
        ),
    ],
)
async def test_raw_header_bytes_are_rejected(
    app: FastAPI, pool: LocalUserPool, make: Callable[[str], bytes], expected: Expected
) -> None:
    token = pool.access_token()
    value = make(token)
    response = await send_raw(app, "/access", [(b"authorization", value)])
    assert_rejected(response, expected, pool, value)
    assert_echoes_nothing(response, token)
    assert pool.jwks_requests == 0


@pytest.mark.anyio
@pytest.mark.parametrize(
    "order", ["valid,valid", "valid,junk", "junk,valid", "valid,other", "valid,empty"]
)
@pytest.mark.parametrize(
    "names", [(b"authorization", b"authorization"), (b"Authorization", b"AUTHORIZATION")]
)
async def test_several_authorization_headers_are_a_bad_request(
    app: FastAPI, pool: LocalUserPool, order: str, names: tuple[bytes, bytes]
) -> None:
    valid = pool.access_token()
    values = {"valid": valid, "junk": "Bearer junk", "other": pool.access_token(username="eve")}
    values["empty"] = ""
    raw = [
        f"Bearer {values[name]}" if name in ("valid", "other") else values[name]
        for name in order.split(",")
    ]
    headers = [(name, value.encode()) for name, value in zip(names, raw, strict=True)]
    response = await send_raw(app, "/access", headers)
    assert_rejected(response, BAD_REQUEST, pool, valid)
    assert_echoes_nothing(response, values["other"])
    assert pool.jwks_requests == 0


# -- H. token kind, client, issuer, algorithm, kid ----------------------------------------


def _expired(pool: LocalUserPool) -> str:
    now = int(time.time())
    return pool.access_token(claims={"iat": now - 7200, "auth_time": now - 7200, "exp": now - 3600})


def _hs256_with_public_pem(pool: LocalUserPool) -> str:
    pem = pool.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
    header = b64u(compact({"kid": pool.signing_kid, "alg": "HS256"}))
    signing_input = f"{header}.{b64u(compact(pool.access_claims()))}"
    mac = hmac.new(pem, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64u(mac)}"


def _unsigned(pool: LocalUserPool) -> str:
    header = b64u(compact({"kid": pool.signing_kid, "alg": "none"}))
    return f"{header}.{b64u(compact(pool.access_claims()))}."


def _tampered(pool: LocalUserPool) -> str:
    header, _, signature = pool.access_token().split(".")
    return f"{header}.{b64u(compact({**pool.access_claims(), 'username': 'root'}))}.{signature}"


TokenFactory = Callable[[LocalUserPool], str]
OTHER_CLIENT = "otherclient00000000000000"


def _access(**claims: Any) -> TokenFactory:
    return lambda pool: pool.access_token(claims=claims)


def _id(**claims: Any) -> TokenFactory:
    return lambda pool: pool.id_token(claims=claims)


def _with_header(**header: str | None) -> TokenFactory:
    """Sign with the pool's key; `header` overrides the default kid and alg (None drops)."""

    def make(pool: LocalUserPool) -> str:
        fields = {"kid": pool.signing_kid, "alg": "RS256", **header}
        return pool.sign(pool.access_claims(), header={k: v for k, v in fields.items() if v})

    return make


TOKEN_CASES: list[tuple[str, TokenFactory, str, Expected]] = [
    ("expired", _expired, "/access", EXPIRED),
    ("expired-on-router", _expired, "/api/one", EXPIRED),
    ("id-token-on-access", _id(), "/access", INVALID),
    ("id-token-with-groups", lambda p: p.id_token(groups=["admin"]), "/access", INVALID),
    ("id-token-on-username", _id(), "/me", INVALID),
    ("access-token-on-id", _access(), "/id", INVALID),
    ("other-client", _access(client_id=OTHER_CLIENT), "/access", INVALID),
    ("id-token-other-audience", _id(aud=OTHER_CLIENT), "/id", INVALID),
    ("wrong-issuer", _access(iss="https://evil.example.com/pool"), "/access", INVALID),
    ("token-use-refresh", _access(token_use="refresh"), "/access", INVALID),
    ("alg-none-unsigned", _unsigned, "/access", INVALID),
    ("alg-none-signed", _with_header(alg="none"), "/access", INVALID),
    ("hs256-public-pem", _hs256_with_public_pem, "/access", INVALID),
    ("missing-kid", _with_header(kid=None), "/access", INVALID),
    ("unknown-kid", _with_header(kid="unknown-kid-42"), "/access", INVALID),
    ("tampered-payload", _tampered, "/access", INVALID),
    ("claims-model-missing-claim", _id(), "/role", INVALID),
    ("claims-model-wrong-type", _id(**{"custom:role": 5}), "/role", INVALID),
    ("optional-bad-token", _tampered, "/optional", INVALID),
]


@pytest.mark.parametrize(
    ("make", "path", "expected"),
    [case[1:] for case in TOKEN_CASES],
    ids=[case[0] for case in TOKEN_CASES],
)
def test_unacceptable_tokens_are_401(
    client: TestClient, pool: LocalUserPool, make: TokenFactory, path: str, expected: Expected
) -> None:
    token = make(pool)
    response = client.get(path, headers=bearer(token))
    assert_rejected(response, expected, pool, token)
    assert_echoes_nothing(response, "unknown-kid-42", "otherclient00000000000000", "root")


# -- accepted tokens and what the handler sees ---------------------------------------------


def test_credentials_expose_the_token_claims_and_header(
    client: TestClient, pool: LocalUserPool
) -> None:
    token = pool.access_token(username="carol")
    response = client.get("/access", headers=bearer(token))
    assert response.status_code == 200
    assert response.json() == {
        "credentials": token,
        "scheme": "Bearer",
        "kid": pool.signing_kid,
        "sub": pool.access_claims("carol")["sub"],
        "username": "carol",
    }


def test_machine_token_passes_plain_auth_but_not_current_username(
    client: TestClient, pool: LocalUserPool
) -> None:
    token = pool.m2m_token()
    assert client.get("/access", headers=bearer(token)).json()["username"] is None
    assert_rejected(client.get("/me", headers=bearer(token)), FORBIDDEN, pool, token)
    assert client.get("/me", headers=bearer(pool.access_token())).json() == {"username": "alice"}


def test_id_route_and_custom_claims_model(client: TestClient, pool: LocalUserPool) -> None:
    response = client.get("/id", headers=bearer(pool.id_token(username="dave")))
    assert response.json() == {"username": "dave", "token_use": "id"}
    token = pool.id_token(claims={"custom:role": "editor"})
    assert client.get("/role", headers=bearer(token)).json() == {"role": "editor"}


def test_optional_auth(client: TestClient, pool: LocalUserPool) -> None:
    assert client.get("/optional").json() == {"username": None}
    basic = client.get("/optional", headers={"Authorization": "Basic dXNlcjpwYXNz"})
    assert basic.json() == {"username": None}
    token = pool.access_token(username="erin")
    assert client.get("/optional", headers=bearer(token)).json() == {"username": "erin"}
    assert_rejected(client.get("/optional", headers=bearer("abc.def.ghi")), INVALID, pool)


def test_router_wide_dependency_protects_every_route(
    client: TestClient, pool: LocalUserPool
) -> None:
    for method, path in (("GET", "/api/one"), ("POST", "/api/two")):
        assert_rejected(client.request(method, path), NO_CREDENTIALS, pool)
        response = client.request(method, path, headers=bearer(pool.access_token()))
        assert response.json() == {"route": path.rsplit("/", 1)[1]}


def test_each_request_verifies_the_token_once(
    pool: LocalUserPool, monkeypatch: pytest.MonkeyPatch
) -> None:
    auth = pool.bearer(token_use="access", token_cache_size=0)
    calls: list[str] = []
    original = auth.verifier._verify_now
    rsa_verifications: list[bytes] = []
    check_signature = verifier_module._check_signature

    def counting(token: str, *args: Any) -> Any:
        calls.append(token)
        return original(token, *args)

    def counting_rsa(key: Any, signing_input: bytes, signature: bytes) -> None:
        rsa_verifications.append(signing_input)
        check_signature(key, signing_input, signature)

    monkeypatch.setattr(auth.verifier, "_verify_now", counting)
    monkeypatch.setattr(verifier_module, "_check_signature", counting_rsa)
    app = FastAPI()
    router = APIRouter(dependencies=[Depends(auth)])

    @router.get("/all")
    async def everything(
        claims: Annotated[CognitoClaims, Depends(current_claims(auth))],
        username: Annotated[str, Depends(current_username(auth))],
        admin: Annotated[CognitoClaims, Depends(require_groups(auth, "admin"))],
    ) -> dict[str, str]:
        assert claims is admin
        return {"username": username}

    app.include_router(router)
    token = pool.access_token(groups=["admin"])
    with TestClient(app, raise_server_exceptions=True) as client:
        for request in (1, 2, 3):
            assert client.get("/all", headers=bearer(token)).json() == {"username": "alice"}
            assert calls == [token] * request
            assert len(rsa_verifications) == request


def test_websocket_route(client: TestClient, pool: LocalUserPool) -> None:
    with client.websocket_connect("/ws", headers=bearer(pool.access_token())) as websocket:
        assert websocket.receive_json() == {"username": "alice"}
    with pytest.raises(WebSocketDenialResponse) as refused:
        with client.websocket_connect("/ws"):
            pytest.fail("connected without credentials")  # pragma: no cover
    assert_rejected(refused.value, NO_CREDENTIALS, pool)
    token = _expired(pool)
    with pytest.raises(WebSocketDenialResponse) as expired:
        with client.websocket_connect("/ws", headers=bearer(token)):
            pytest.fail("connected with an expired token")  # pragma: no cover
    assert_rejected(expired.value, EXPIRED, pool, token)


# -- JWKS outage, OpenAPI, logging, construction -------------------------------------------


def test_jwks_down_on_a_cold_cache_is_503_with_retry_after(pool: LocalUserPool) -> None:
    verifier = CognitoVerifier(
        pool.settings(), transport=httpx.MockTransport(lambda r: httpx.Response(500))
    )
    auth = CognitoBearer(token_use="access", verifier=verifier)
    app = FastAPI()

    @app.get("/access")
    async def access(creds: Annotated[CognitoCredentials, Depends(auth)]) -> dict[str, str]:
        return {"sub": creds.claims.sub}  # pragma: no cover

    token = pool.access_token()
    with TestClient(app, raise_server_exceptions=True) as client:
        response = client.get("/access", headers=bearer(token))
    assert response.status_code == 503
    assert response.json() == UNAVAILABLE
    retry_after = response.headers["retry-after"]
    assert retry_after.isdigit() and int(retry_after) > 0
    assert "www-authenticate" not in response.headers
    assert_echoes_nothing(response, token, pool.signing_kid, pool.jwks_url)


def test_openapi_declares_the_bearer_scheme(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    schemes = spec["components"]["securitySchemes"]
    assert schemes == {"CognitoBearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}}
    for path in ("/access", "/me", "/api/{name}", "/optional"):
        assert spec["paths"][path]["get"]["security"] == [{"CognitoBearer": []}]


def test_rejections_are_logged_at_info_without_the_token(
    client: TestClient, pool: LocalUserPool, library_logs: pytest.LogCaptureFixture
) -> None:
    expired, foreign = _expired(pool), pool.access_token(claims={"client_id": "someoneelse0000"})
    client.get("/access", headers=bearer(expired))
    client.get("/access", headers=bearer(foreign))
    records = [r for r in library_logs.records if r.name == "fastapi_cognito_jwt"]
    rejections = [r for r in records if "rejected" in r.getMessage()]
    assert all(r.levelno == logging.INFO for r in rejections)
    assert len(rejections) == 2
    assert "TokenExpiredError" in rejections[0].getMessage()
    assert "InvalidClientError" in rejections[1].getMessage()
    logged = "\n".join(r.getMessage() for r in rejections)
    for needle in token_secrets(expired) | token_secrets(foreign) | {pool.signing_kid}:
        assert needle not in logged


def test_construction_errors(pool: LocalUserPool) -> None:
    settings = pool.settings()
    with pytest.raises(ConfigurationError):
        CognitoBearer(settings, token_use=cast(Any, "refresh"))
    with pytest.raises(ConfigurationError):
        CognitoBearer(settings, token_use="access", claims_model=cast(Any, dict))
    with pytest.raises(ConfigurationError):
        CognitoBearer(settings, token_use="access", verifier=pool.verifier())
    assert CognitoBearer(settings, token_use="id").token_use == "id"


# -- http_exception ---------------------------------------------------------------------------


SECRET = "secret-kid-123"
HTTP_CASES: list[tuple[CognitoJWTError, Expected]] = [
    (fcj.TokenError(SECRET), INVALID),
    (fcj.MalformedTokenError(SECRET), INVALID),
    (fcj.KeyNotFoundError(SECRET), INVALID),
    (fcj.InvalidSignatureError(SECRET), INVALID),
    (fcj.TokenNotYetValidError(SECRET), INVALID),
    (fcj.InvalidClaimError(SECRET, claim="x"), INVALID),
    (fcj.InvalidIssuerError(), INVALID),
    (fcj.InvalidTokenUseError(), INVALID),
    (fcj.InvalidClientError(SECRET, claim="aud"), INVALID),
    (fcj.TokenExpiredError(SECRET), EXPIRED),
    (fcj.PermissionDeniedError(SECRET, required=("admin",)), FORBIDDEN),
]


@pytest.mark.parametrize(
    ("error", "expected"), HTTP_CASES, ids=[type(error).__name__ for error, _ in HTTP_CASES]
)
def test_http_exception_maps_token_and_permission_errors(
    error: CognitoJWTError, expected: Expected
) -> None:
    status, challenge, body = expected
    exc = http_exception(error)
    assert (exc.status_code, exc.detail) == (status, body["detail"])
    assert exc.headers == {"WWW-Authenticate": challenge}


@pytest.mark.parametrize(
    ("error", "retry_after"),
    [
        pytest.param(fcj.JWKSUnavailableError("down", retry_after=2.2), "3", id="ceil-2.2"),
        pytest.param(fcj.JWKSUnavailableError("down", retry_after=1.0), "1", id="exact-1"),
        pytest.param(fcj.JWKSUnavailableError("down", retry_after=0.01), "1", id="ceil-small"),
        pytest.param(CognitoJWTError(SECRET), None, id="bare-CognitoJWTError"),
        pytest.param(ConfigurationError(SECRET), None, id="ConfigurationError"),
    ],
)
def test_http_exception_other_errors_are_503(
    error: CognitoJWTError, retry_after: str | None
) -> None:
    exc = http_exception(error)
    assert exc.status_code == 503
    assert exc.detail == UNAVAILABLE["detail"]
    assert exc.headers is not None and set(exc.headers) == {"Retry-After"}
    value = exc.headers["Retry-After"]
    assert value.isdigit() and int(value) > 0
    if retry_after is not None:
        assert value == retry_after
    assert SECRET not in str(exc.detail)


def test_credentials_are_what_model_construct_builds(pool: LocalUserPool) -> None:
    # The bearer builds its credentials without pydantic's constructor; they must not differ.
    claims = pool.credentials(username="alice").claims
    header = {"alg": "RS256", "kid": pool.signing_kid}
    fast = _credentials("Bearer", "t.o.k", claims, header)
    slow = CognitoCredentials.model_construct(
        scheme="Bearer", credentials="t.o.k", claims=claims, header=header
    )
    assert type(fast) is type(slow)
    assert fast.__dict__ == slow.__dict__
    assert fast.model_fields_set == slow.model_fields_set
    assert fast.__pydantic_extra__ == slow.__pydantic_extra__
    assert fast.__pydantic_private__ == slow.__pydantic_private__
    assert fast == slow
    assert repr(fast) == repr(slow)
    assert fast.model_dump() == slow.model_dump()
    assert CognitoCredentials.__private_attributes__ == {}  # else __pydantic_private__ matters


def test_credentials_share_a_fields_set_that_nothing_changes(pool: LocalUserPool) -> None:
    claims = pool.credentials(username="alice").claims
    header = {"alg": "RS256", "kid": pool.signing_kid}
    first = _credentials("Bearer", "t.o.k", claims, header)
    shared = first.model_fields_set
    assert _credentials("bearer", "k.o.t", claims, header).model_fields_set is shared
    before = set(shared)
    for other in (first.model_copy(update={"scheme": "x"}), copy.copy(first)):
        assert other.model_fields_set is not shared
    with pytest.raises(ValidationError):
        first.scheme = "y"  # type: ignore[misc]
    assert shared == before
