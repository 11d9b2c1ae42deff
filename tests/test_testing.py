"""The public test kit, `fastapi_cognito_jwt.testing.LocalUserPool`, as a user's tests use it.

No `from __future__ import annotations` here: FastAPI reads the route signatures at runtime.
"""

import base64
import json
from collections.abc import Callable
from typing import Annotated, Any

import httpx
import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from fastapi import Depends, FastAPI
from fastapi.testclient import TestClient
from pydantic import Field

from fastapi_cognito_jwt import (
    CognitoBearer,
    CognitoClaims,
    CognitoCredentials,
    CognitoSettings,
    CognitoVerifier,
    InvalidClientError,
    InvalidSignatureError,
    KeyNotFoundError,
    TokenExpiredError,
    current_username,
)
from fastapi_cognito_jwt.testing import LocalUserPool

POOL_ID = "eu-west-1_LocalPool1"
CLIENT = "localclient0000000000000000"
ISS = f"https://cognito-idp.eu-west-1.amazonaws.com/{POOL_ID}"
JWKS_URL = f"{ISS}/.well-known/jwks.json"


def b64d(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def header_of(token: str) -> dict[str, Any]:
    value: dict[str, Any] = json.loads(b64d(token.split(".")[0]))
    return value


def payload_of(token: str) -> dict[str, Any]:
    value: dict[str, Any] = json.loads(b64d(token.split(".")[1]))
    return value


# -- tokens verify with pool.verifier() -----------------------------------------------------


@pytest.mark.anyio
async def test_access_token_verifies(pool: LocalUserPool) -> None:
    token = pool.access_token(username="alice", groups=["admin", "dev"], scopes=["a/read", "b"])
    claims = await pool.verifier().verify(token, token_use="access")
    assert claims.username == "alice"
    assert claims.groups == ("admin", "dev")
    assert claims.scopes == ("a/read", "b")
    assert claims.client_id == CLIENT
    assert claims.token_use == "access"
    assert claims.iss == ISS
    assert claims.exp - claims.iat == 3600
    assert claims.auth_time == claims.iat
    assert claims.jti is not None
    assert claims.origin_jti is not None
    assert "aud" not in claims


@pytest.mark.anyio
async def test_access_token_defaults(pool: LocalUserPool) -> None:
    claims = await pool.verifier().verify(pool.access_token(), token_use="access")
    assert claims.username == "alice"
    assert claims.groups == ()
    assert "cognito:groups" not in claims
    assert claims.scopes == ("aws.cognito.signin.user.admin",)


@pytest.mark.anyio
async def test_sub_is_stable_per_username(pool: LocalUserPool) -> None:
    verifier = pool.verifier()
    first = await verifier.verify(pool.access_token(username="alice"), token_use="access")
    again = await verifier.verify(pool.id_token(username="alice"), token_use="id")
    other = await verifier.verify(pool.access_token(username="bob"), token_use="access")
    assert first.sub == again.sub
    assert first.sub != other.sub


@pytest.mark.anyio
async def test_id_token_verifies(pool: LocalUserPool) -> None:
    token = pool.id_token(
        username="carol",
        groups=["staff"],
        claims={"email": "carol@example.com", "email_verified": True, "custom:tenant": "t1"},
    )
    claims = await pool.verifier().verify(token, token_use="id")
    assert claims.username == "carol"
    assert claims["cognito:username"] == "carol"
    assert claims.client_id == CLIENT
    assert claims["aud"] == CLIENT
    assert claims.groups == ("staff",)
    assert claims.token_use == "id"
    assert claims["email"] == "carol@example.com"
    assert claims.get("email_verified") is True
    assert claims["custom:tenant"] == "t1"
    assert claims.get("phone_number") is None
    assert "client_id" not in claims
    assert claims.scope is None


@pytest.mark.anyio
async def test_m2m_token_verifies(pool: LocalUserPool) -> None:
    token = pool.m2m_token(scopes=["api/read", "api/write"])
    claims = await pool.verifier().verify(token, token_use="access")
    assert claims.username is None
    assert claims.sub == CLIENT
    assert claims.client_id == CLIENT
    assert claims.scopes == ("api/read", "api/write")
    assert claims.groups == ()
    assert "username" not in claims


@pytest.mark.anyio
async def test_m2m_token_default_scope(pool: LocalUserPool) -> None:
    claims = await pool.verifier().verify(pool.m2m_token(), token_use="access")
    assert claims.scopes == ("api/read",)


@pytest.mark.parametrize(
    ("mint", "removed"),
    [
        pytest.param(lambda p: p.access_token(claims={"jti": None}), "jti", id="access-jti"),
        pytest.param(
            lambda p: p.access_token(claims={"auth_time": None, "origin_jti": None}),
            "auth_time",
            id="access-auth-time",
        ),
        pytest.param(lambda p: p.id_token(claims={"event_id": None}), "event_id", id="id-event"),
        pytest.param(lambda p: p.m2m_token(claims={"jti": None}), "jti", id="m2m-jti"),
        pytest.param(
            lambda p: p.access_token(claims={"not-there": None}), "not-there", id="absent-claim"
        ),
    ],
)
def test_none_removes_a_claim(
    pool: LocalUserPool, mint: Callable[[LocalUserPool], str], removed: str
) -> None:
    assert removed not in payload_of(mint(pool))


@pytest.mark.anyio
async def test_claims_override_and_remove(pool: LocalUserPool) -> None:
    token = pool.access_token(claims={"jti": None, "origin_jti": None, "extra": [1, 2]})
    payload = payload_of(token)
    assert "jti" not in payload
    assert "origin_jti" not in payload
    claims = await pool.verifier().verify(token, token_use="access")
    assert claims.jti is None
    assert claims.origin_jti is None
    assert claims["extra"] == [1, 2]


def test_claims_builders_match_tokens(pool: LocalUserPool) -> None:
    access = pool.access_claims("dave", ["g"], ["s1", "s2"], 60, {"x": 1})
    assert access["username"] == "dave"
    assert access["cognito:groups"] == ["g"]
    assert access["scope"] == "s1 s2"
    assert access["exp"] - access["iat"] == 60
    assert access["x"] == 1
    identity = pool.id_claims("dave", claims={"email": "d@example.com"})
    assert identity["cognito:username"] == "dave"
    assert identity["aud"] == CLIENT
    assert identity["email"] == "d@example.com"
    assert identity["sub"] == access["sub"]


@pytest.mark.parametrize(
    "mint",
    [
        pytest.param(lambda p, e: p.access_token(expires_in=e), id="access"),
        pytest.param(lambda p, e: p.id_token(expires_in=e), id="id"),
        pytest.param(lambda p, e: p.m2m_token(expires_in=e), id="m2m"),
    ],
)
@pytest.mark.parametrize("expires_in", [60, 300, 86400])
def test_expires_in_sets_lifetime(
    pool: LocalUserPool, mint: Callable[[LocalUserPool, int], str], expires_in: int
) -> None:
    payload = payload_of(mint(pool, expires_in))
    assert payload["exp"] - payload["iat"] == expires_in


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("token_use", "mint"),
    [
        pytest.param("access", lambda p: p.access_token(expires_in=-1), id="access"),
        pytest.param("id", lambda p: p.id_token(expires_in=-1), id="id"),
        pytest.param("access", lambda p: p.m2m_token(expires_in=-1), id="m2m"),
    ],
)
async def test_expired_tokens_are_refused(
    pool: LocalUserPool, token_use: Any, mint: Callable[[LocalUserPool], str]
) -> None:
    with pytest.raises(TokenExpiredError):
        await pool.verifier().verify(mint(pool), token_use=token_use)


@pytest.mark.anyio
async def test_short_lived_token_still_valid(pool: LocalUserPool) -> None:
    claims = await pool.verifier().verify(pool.access_token(expires_in=30), token_use="access")
    assert claims.exp - claims.iat == 30


# -- keys -----------------------------------------------------------------------------------


def kids(pool: LocalUserPool) -> list[str]:
    return [key["kid"] for key in pool.jwks()["keys"]]


def test_jwks_shape(pool: LocalUserPool) -> None:
    (key,) = pool.jwks()["keys"]
    assert key["kid"] == "local-key-1" == pool.signing_kid
    assert key["alg"] == "RS256"
    assert key["kty"] == "RSA"
    assert key["use"] == "sig"
    assert key["e"] == "AQAB"
    assert len(b64d(key["n"])) == 256
    assert set(key) == {"kid", "alg", "kty", "use", "n", "e"}


@pytest.mark.anyio
async def test_rotate_key_keeping_old(pool: LocalUserPool) -> None:
    old = pool.signing_kid
    old_token = pool.access_token()
    new = pool.rotate_key(keep_old=True)
    assert new != old
    assert pool.signing_kid == new
    assert kids(pool) == [old, new]
    new_token = pool.access_token()
    assert header_of(new_token)["kid"] == new
    assert header_of(old_token)["kid"] == old
    verifier = pool.verifier()
    assert (await verifier.verify(old_token, token_use="access")).username == "alice"
    assert (await verifier.verify(new_token, token_use="access")).username == "alice"


@pytest.mark.anyio
async def test_rotate_key_dropping_old(pool: LocalUserPool) -> None:
    old = pool.signing_kid
    old_token = pool.access_token()
    new = pool.rotate_key(keep_old=False)
    assert kids(pool) == [new]
    verifier = pool.verifier()
    assert (await verifier.verify(pool.access_token(), token_use="access")).username == "alice"
    with pytest.raises(KeyNotFoundError):
        await verifier.verify(old_token, token_use="access")
    assert old not in kids(pool)


def test_rotate_key_default_keeps_old(pool: LocalUserPool) -> None:
    old = pool.signing_kid
    new = pool.rotate_key()
    assert kids(pool) == [old, new]


@pytest.mark.anyio
async def test_add_and_remove_key(pool: LocalUserPool) -> None:
    extra = pool.add_key("extra-key")
    assert extra == "extra-key"
    assert kids(pool) == ["local-key-1", "extra-key"]
    assert pool.signing_kid == "local-key-1"
    token = pool.sign(pool.access_claims(), kid="extra-key")
    assert header_of(token)["kid"] == "extra-key"
    assert (await pool.verifier().verify(token, token_use="access")).username == "alice"
    pool.remove_key("extra-key")
    assert kids(pool) == ["local-key-1"]
    with pytest.raises(KeyNotFoundError):
        await pool.verifier().verify(token, token_use="access")


def test_add_key_generates_a_kid(pool: LocalUserPool) -> None:
    kid = pool.add_key()
    assert kid.startswith("local-key-")
    assert kid != pool.signing_kid
    assert kid in kids(pool)


def test_remove_signing_key_empties_jwks(pool: LocalUserPool) -> None:
    pool.remove_key(pool.signing_kid)
    assert pool.jwks() == {"keys": []}


def test_public_key_verifies_a_signature(pool: LocalUserPool) -> None:
    token = pool.sign({"sub": "x"})
    signing_input, _, signature = token.rpartition(".")
    key = pool.public_key()
    assert isinstance(key, rsa.RSAPublicKey)
    assert key.key_size == 2048
    key.verify(b64d(signature), signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
    with pytest.raises(InvalidSignature):
        key.verify(b64d(signature), b"tampered", padding.PKCS1v15(), hashes.SHA256())


def test_public_key_by_kid(pool: LocalUserPool) -> None:
    first = pool.signing_kid
    pool.rotate_key()
    token = pool.sign({"sub": "x"}, kid=first)
    signing_input, _, signature = token.rpartition(".")
    args = (b64d(signature), signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
    pool.public_key(first).verify(*args)
    with pytest.raises(InvalidSignature):
        pool.public_key().verify(*args)


def test_sign_with_custom_header_and_raw_payload(pool: LocalUserPool) -> None:
    token = pool.sign(b'{"raw":1}', header=b'{"alg":"RS256","kid":"local-key-1","x":1}')
    assert payload_of(token) == {"raw": 1}
    assert header_of(token) == {"alg": "RS256", "kid": "local-key-1", "x": 1}


# -- transport ------------------------------------------------------------------------------


def test_transport_serves_jwks(pool: LocalUserPool) -> None:
    assert pool.jwks_url == JWKS_URL
    assert pool.jwks_requests == 0
    with httpx.Client(transport=pool.transport()) as client:
        response = client.get(JWKS_URL)
        assert response.status_code == 200
        assert response.headers["content-type"] == "application/json"
        assert response.json() == pool.jwks()
        assert pool.jwks_requests == 1
        assert client.get(JWKS_URL).status_code == 200
        assert pool.jwks_requests == 2


@pytest.mark.parametrize(
    ("method", "url"),
    [
        pytest.param("GET", ISS, id="issuer"),
        pytest.param("GET", JWKS_URL + "?x=1", id="query"),
        pytest.param("GET", JWKS_URL.replace("eu-west-1", "us-east-1"), id="other-region"),
        pytest.param("GET", "https://example.com/.well-known/jwks.json", id="other-host"),
        pytest.param("POST", JWKS_URL, id="post"),
    ],
)
def test_transport_404_elsewhere(pool: LocalUserPool, method: str, url: str) -> None:
    with httpx.Client(transport=pool.transport()) as client:
        assert client.request(method, url).status_code == 404
    assert pool.jwks_requests == 0


@pytest.mark.anyio
async def test_verifier_fetches_jwks_once(pool: LocalUserPool) -> None:
    verifier = pool.verifier()
    assert pool.jwks_requests == 0  # nothing fetched at construction
    await verifier.verify(pool.access_token(username="a"), token_use="access")
    await verifier.verify(pool.access_token(username="b"), token_use="access")
    assert pool.jwks_requests == 1


@pytest.mark.anyio
async def test_transport_serves_rotated_keys(pool: LocalUserPool) -> None:
    async with httpx.AsyncClient(transport=pool.transport()) as client:
        before = (await client.get(JWKS_URL)).json()
        pool.rotate_key(keep_old=False)
        after = (await client.get(JWKS_URL)).json()
    assert before != after
    assert [key["kid"] for key in after["keys"]] == [pool.signing_kid]


# -- settings -------------------------------------------------------------------------------


def test_settings(pool: LocalUserPool) -> None:
    settings = pool.settings()
    assert isinstance(settings, CognitoSettings)
    assert settings.user_pool_id == POOL_ID
    assert settings.client_ids == [CLIENT]
    assert settings.accepted_issuers == (pool.issuer,) == (ISS,)
    assert settings.resolved_jwks_url == pool.jwks_url


def test_settings_overrides(pool: LocalUserPool) -> None:
    settings = pool.settings(leeway=5, client_ids=["other", CLIENT], token_cache_size=0)
    assert settings.leeway == 5
    assert settings.client_ids == ["other", CLIENT]
    assert settings.token_cache_size == 0
    assert settings.user_pool_id == POOL_ID


@pytest.mark.anyio
async def test_verifier_overrides_reach_the_verifier(pool: LocalUserPool) -> None:
    verifier = pool.verifier(client_ids=["someoneelse"])
    assert isinstance(verifier, CognitoVerifier)
    with pytest.raises(InvalidClientError):
        await verifier.verify(pool.access_token(), token_use="access")


@pytest.mark.anyio
async def test_custom_pool() -> None:
    pool = LocalUserPool(user_pool_id="us-gov-west-1_Custom9", client_id="customclient", kid="k1")
    assert pool.issuer == "https://cognito-idp.us-gov-west-1.amazonaws.com/us-gov-west-1_Custom9"
    assert pool.jwks_url == f"{pool.issuer}/.well-known/jwks.json"
    assert pool.settings().resolved_jwks_url == pool.jwks_url
    assert kids(pool) == ["k1"]
    claims = await pool.verifier().verify(pool.access_token(), token_use="access")
    assert claims.client_id == "customclient"
    assert claims.iss == pool.issuer


@pytest.mark.anyio
async def test_tokens_of_another_pool_with_same_ids_are_refused(pool: LocalUserPool) -> None:
    impostor = LocalUserPool()  # same pool id, client id and kid; different key
    with pytest.raises(InvalidSignatureError):
        await pool.verifier().verify(impostor.access_token(), token_use="access")


# -- FastAPI overrides ----------------------------------------------------------------------


class Unreachable:
    """The production pool's JWKS endpoint, as seen from the tests: never reachable."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        raise httpx.ConnectError("unreachable", request=request)


def create_app(auth: CognitoBearer) -> FastAPI:
    app = FastAPI()

    @app.get("/me")
    async def me(username: Annotated[str, Depends(current_username(auth))]) -> dict[str, str]:
        return {"username": username}

    @app.get("/creds")
    async def creds(
        credentials: Annotated[CognitoCredentials, Depends(auth)],
    ) -> dict[str, Any]:
        return {
            "username": credentials.claims.username,
            "token_use": credentials.claims.token_use,
            "groups": list(credentials.claims.groups),
            "kid": credentials.header["kid"],
        }

    return app


@pytest.fixture
def unreachable() -> Unreachable:
    return Unreachable()


@pytest.fixture
def production_auth(unreachable: Unreachable) -> CognitoBearer:
    """The app's own `auth`: another pool and client, whose JWKS cannot be fetched."""
    verifier = CognitoVerifier(
        user_pool_id="us-east-1_Production1",
        client_ids=["productionclient"],
        transport=httpx.MockTransport(unreachable),
    )
    return CognitoBearer(token_use="access", verifier=verifier)


def test_without_override_pool_tokens_do_not_pass(
    pool: LocalUserPool, production_auth: CognitoBearer, unreachable: Unreachable
) -> None:
    app = create_app(production_auth)
    with TestClient(app) as client:
        response = client.get("/me", headers={"Authorization": f"Bearer {pool.access_token()}"})
    assert response.status_code == 503
    assert len(unreachable.requests) >= 1


def test_bearer_override_verifies_for_real(
    pool: LocalUserPool, production_auth: CognitoBearer, unreachable: Unreachable
) -> None:
    app = create_app(production_auth)
    app.dependency_overrides[production_auth] = pool.bearer(token_use="access")
    with TestClient(app) as client:
        token = pool.access_token(username="alice", groups=["admin"])
        ok = client.get("/me", headers={"Authorization": f"Bearer {token}"})
        assert ok.status_code == 200
        assert ok.json() == {"username": "alice"}
        creds = client.get("/creds", headers={"Authorization": f"Bearer {token}"})
        assert creds.status_code == 200
        assert creds.json() == {
            "username": "alice",
            "token_use": "access",
            "groups": ["admin"],
            "kid": pool.signing_kid,
        }
        for bad in (
            "garbage",
            "a.b.c",
            pool.id_token(),  # wrong token_use
            pool.access_token(expires_in=-1),
            pool.access_token(claims={"client_id": "productionclient"}),
            pool.access_token()[:-4] + "AAAA",
        ):
            response = client.get("/me", headers={"Authorization": f"Bearer {bad}"})
            assert response.status_code == 401, bad
            assert response.headers["www-authenticate"].startswith("Bearer")
        assert client.get("/me").status_code == 401
    assert unreachable.requests == []
    assert pool.jwks_requests == 1


def test_bearer_override_id_tokens(pool: LocalUserPool, unreachable: Unreachable) -> None:
    auth = CognitoBearer(
        token_use="id",
        verifier=CognitoVerifier(
            user_pool_id="us-east-1_Production1",
            client_ids=["productionclient"],
            transport=httpx.MockTransport(unreachable),
        ),
    )
    app = create_app(auth)
    app.dependency_overrides[auth] = pool.bearer(token_use="id")
    with TestClient(app) as client:
        good = client.get("/me", headers={"Authorization": f"Bearer {pool.id_token()}"})
        bad = client.get("/me", headers={"Authorization": f"Bearer {pool.access_token()}"})
    assert good.status_code == 200
    assert good.json() == {"username": "alice"}
    assert bad.status_code == 401
    assert unreachable.requests == []


def test_bearer_override_without_auto_error(
    pool: LocalUserPool, production_auth: CognitoBearer
) -> None:
    app = FastAPI()

    @app.get("/maybe")
    async def maybe(
        credentials: Annotated[CognitoCredentials | None, Depends(production_auth)],
    ) -> dict[str, str | None]:
        return {"username": credentials.claims.username if credentials else None}

    app.dependency_overrides[production_auth] = pool.bearer(token_use="access", auto_error=False)
    with TestClient(app) as client:
        anonymous = client.get("/maybe")
        garbage = client.get("/maybe", headers={"Authorization": "Bearer garbage"})
        user = client.get("/maybe", headers={"Authorization": f"Bearer {pool.access_token()}"})
    assert anonymous.status_code == 200
    assert anonymous.json() == {"username": None}
    assert garbage.status_code == 401
    assert user.json() == {"username": "alice"}


class TenantClaims(CognitoClaims):
    """A user's own claims model."""


def test_bearer_passes_claims_model_and_overrides(pool: LocalUserPool) -> None:
    bearer = pool.bearer(token_use="id", claims_model=TenantClaims, leeway=7)
    assert bearer.token_use == "id"
    assert bearer.claims_model is TenantClaims
    assert bearer.auto_error is True
    assert bearer.verifier.settings.leeway == 7
    assert bearer.verifier.settings.user_pool_id == POOL_ID


def test_credentials_override(
    pool: LocalUserPool, production_auth: CognitoBearer, unreachable: Unreachable
) -> None:
    app = create_app(production_auth)
    app.dependency_overrides[production_auth] = lambda: pool.credentials(username="bob")
    with TestClient(app) as client:
        me = client.get("/me")  # no Authorization header at all: nothing is verified
        creds = client.get("/creds", headers={"Authorization": "Bearer garbage"})
    assert me.status_code == 200
    assert me.json() == {"username": "bob"}
    assert creds.status_code == 200
    assert creds.json()["username"] == "bob"
    assert creds.json()["token_use"] == "access"
    assert creds.json()["kid"] == pool.signing_kid
    assert unreachable.requests == []
    assert pool.jwks_requests == 0


@pytest.mark.anyio
async def test_credentials_content(pool: LocalUserPool) -> None:
    access = pool.credentials(username="bob", groups=["ops"], scopes=["s"])
    assert isinstance(access, CognitoCredentials)
    assert access.scheme == "Bearer"
    assert access.claims.username == "bob"
    assert access.claims.groups == ("ops",)
    assert access.claims.scopes == ("s",)
    assert access.claims.token_use == "access"
    assert access.header == {"kid": pool.signing_kid, "alg": "RS256"}
    verified = await pool.verifier().verify(access.credentials, token_use="access")
    assert verified.username == "bob"

    identity = pool.credentials(token_use="id", username="carol", claims={"email": "c@x.test"})
    assert identity.claims.token_use == "id"
    assert identity.claims.username == "carol"
    assert identity.claims.client_id == CLIENT
    assert identity.claims["email"] == "c@x.test"
    verified = await pool.verifier().verify(identity.credentials, token_use="id")
    assert verified.username == "carol"


def test_testing_module_exports() -> None:
    import fastapi_cognito_jwt.testing as testing

    assert testing.__all__ == ["LocalUserPool"]
    assert testing.__doc__


def test_credentials_validate_into_a_claims_model() -> None:
    class Team(CognitoClaims):
        team: str = Field(alias="custom:team")

    pool = LocalUserPool()
    credentials = pool.credentials(
        token_use="id", claims_model=Team, claims={"custom:team": "platform"}
    )
    assert isinstance(credentials.claims, Team)
    assert credentials.claims.team == "platform"
