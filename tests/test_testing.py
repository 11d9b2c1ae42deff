"""The public test kit, `fastapi_cognito_jwt.testing.LocalUserPool`, as a user's tests use it."""

# No `from __future__ import annotations`: FastAPI reads the route signatures at runtime.

from collections.abc import Callable
from typing import Annotated, Any

import httpx2
import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from fastapi import Depends, FastAPI
from pydantic import Field

import fastapi_cognito_jwt as fcj
from fastapi_cognito_jwt.testing import LocalUserPool
from tests.helpers import INVALID, NO_CREDENTIALS, assert_rejected, b64d, bearer, segments, send

pytestmark = pytest.mark.anyio
POOL_ID = "eu-west-1_LocalPool1"
CLIENT = "localclient0000000000000000"
ISS = f"https://cognito-idp.eu-west-1.amazonaws.com/{POOL_ID}"
JWKS_URL = f"{ISS}/.well-known/jwks.json"


def kids(pool: LocalUserPool) -> list[str]:
    return [key["kid"] for key in pool.jwks()["keys"]]


class Team(fcj.CognitoClaims):
    team: str = Field(alias="custom:team")


# The claims Cognito puts in a client-credentials token, and those of a user's sign-in.
M2M = {"sub", "iss", "token_use", "iat", "exp", "jti", "client_id", "scope"}
USER = M2M - {"client_id", "scope"} | {"origin_jti", "event_id", "auth_time"}


async def test_tokens_have_cognitos_shape_and_verify(pool: LocalUserPool) -> None:
    verifier = pool.verifier()
    token = pool.access_token(username="alice", groups=["admin", "dev"], scopes=["a/read", "b"])
    assert set(segments(token)[1]) == USER | {"client_id", "scope", "username", "cognito:groups"}
    access = await verifier.verify(token, token_use="access")
    assert access.username == "alice" and access.groups == ("admin", "dev")
    assert access.scopes == ("a/read", "b") and access.client_id == CLIENT
    assert access.token_use == "access" and access.iss == ISS and access.jti
    assert access.exp - access.iat == 3600 and access.auth_time == access.iat
    default = await verifier.verify(pool.access_token(), token_use="access")
    assert default.groups == () and "cognito:groups" not in default
    assert default.username == "alice" and default.scopes == ("aws.cognito.signin.user.admin",)

    attributes = {"email": "carol@example.com", "custom:tenant": "t1"}
    token = pool.id_token(username="carol", groups=["staff"], claims=attributes)
    shape = USER | {"aud", "cognito:username", "cognito:groups", *attributes}
    assert set(segments(token)[1]) == shape
    identity = await verifier.verify(token, token_use="id")
    assert identity.username == identity["cognito:username"] == "carol"
    assert identity.client_id == identity["aud"] == CLIENT and identity.token_use == "id"
    assert identity.groups == ("staff",) and identity.scope is None
    assert identity["email"] == "carol@example.com" and identity["custom:tenant"] == "t1"

    token = pool.m2m_token(scopes=["api/read", "api/write"])
    assert set(segments(token)[1]) == M2M
    machine = await verifier.verify(token, token_use="access")
    assert machine.username is None and machine.sub == machine.client_id == CLIENT
    assert machine.scopes == ("api/read", "api/write") and machine.groups == ()
    assert (await verifier.verify(pool.m2m_token(), token_use="access")).scopes == ("api/read",)

    # sub is stable per username, as Cognito's is per user.
    assert access.sub == pool.id_claims("alice")["sub"] != identity.sub


async def test_claims_override_and_remove(pool: LocalUserPool) -> None:
    token = pool.access_token(claims={"jti": None, "auth_time": None, "extra": [1, 2]})
    assert "jti" not in segments(token)[1] and "auth_time" not in segments(token)[1]
    claims = await pool.verifier().verify(token, token_use="access")
    assert claims.jti is None and claims.auth_time is None and claims["extra"] == [1, 2]
    assert "event_id" not in segments(pool.id_token(claims={"event_id": None}))[1]
    assert "jti" not in segments(pool.m2m_token(claims={"jti": None}))[1]
    assert "absent" not in segments(pool.access_token(claims={"absent": None}))[1]
    access = pool.access_claims("dave", ["g"], ["s1", "s2"], 60, {"x": 1})
    assert access["username"] == "dave" and access["cognito:groups"] == ["g"]
    assert access["scope"] == "s1 s2" and access["exp"] - access["iat"] == 60 and access["x"] == 1
    identity = pool.id_claims("dave", claims={"email": "d@example.com"})
    assert identity["cognito:username"] == "dave" and identity["email"] == "d@example.com"
    assert identity["aud"] == CLIENT and identity["sub"] == access["sub"]


async def test_expires_in_sets_the_lifetime(pool: LocalUserPool) -> None:
    verifier = pool.verifier()
    mints: list[tuple[Any, Callable[..., str]]] = [("access", pool.access_token)]
    mints += [("id", pool.id_token), ("access", pool.m2m_token)]
    for token_use, mint in mints:
        for expires_in in (30, 300, 86400):
            claims = await verifier.verify(mint(expires_in=expires_in), token_use=token_use)
            assert claims.exp - claims.iat == expires_in
        with pytest.raises(fcj.TokenExpiredError):
            await verifier.verify(mint(expires_in=-1), token_use=token_use)


def test_jwks_has_cognitos_shape(pool: LocalUserPool) -> None:
    (key,) = pool.jwks()["keys"]
    expected = {"kid": "local-key-1", "alg": "RS256", "kty": "RSA", "use": "sig", "e": "AQAB"}
    assert key == {**expected, "n": key["n"]} and len(b64d(key["n"])) == 256  # RSA-2048
    assert key["kid"] == pool.signing_kid


@pytest.mark.parametrize("keep_old", [True, False, None])
def test_rotate_key(pool: LocalUserPool, keep_old: bool | None) -> None:
    old, old_token = pool.signing_kid, pool.access_token()
    new = pool.rotate_key() if keep_old is None else pool.rotate_key(keep_old=keep_old)
    assert new != old and pool.signing_kid == new == segments(pool.access_token())[0]["kid"]
    assert kids(pool) == ([new] if keep_old is False else [old, new])  # kept by default
    assert segments(old_token)[0]["kid"] == old


async def test_a_rotation_takes_effect_at_the_next_request(pool: LocalUserPool) -> None:
    """The kit's settings set no unknown-kid cooldown: no waiting after `rotate_key`."""
    verifier = pool.verifier()
    await verifier.verify(pool.access_token(), token_use="access")
    pool.rotate_key(keep_old=False)
    assert (await verifier.verify(pool.access_token(), token_use="access")).username == "alice"
    assert pool.jwks_requests == 2
    cooled = pool.verifier(jwks_miss_cooldown=30)  # the cooldown itself, on request
    await cooled.verify(pool.access_token(), token_use="access")
    pool.rotate_key()
    with pytest.raises(fcj.KeyNotFoundError):
        await cooled.verify(pool.access_token(), token_use="access")


async def test_add_and_remove_keys(pool: LocalUserPool) -> None:
    assert pool.add_key("extra-key") == "extra-key"
    generated = pool.add_key()
    assert generated.startswith("local-key-") and generated != pool.signing_kid
    assert kids(pool) == ["local-key-1", "extra-key", generated]
    assert pool.signing_kid == "local-key-1"  # an added key does not sign
    token = pool.sign(pool.access_claims(), kid="extra-key")
    assert segments(token)[0]["kid"] == "extra-key"
    assert (await pool.verifier().verify(token, token_use="access")).username == "alice"
    pool.remove_key("extra-key")
    pool.remove_key(generated)
    assert kids(pool) == ["local-key-1"]
    with pytest.raises(fcj.KeyNotFoundError):
        await pool.verifier().verify(token, token_use="access")
    pool.remove_key(pool.signing_kid)
    assert pool.jwks() == {"keys": []}


def test_public_key_and_sign(pool: LocalUserPool) -> None:
    first = pool.signing_kid
    assert pool.public_key().key_size == 2048
    pool.rotate_key()
    signing_input, _, signature = pool.sign({"sub": "x"}, kid=first).rpartition(".")
    args = (b64d(signature), signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
    pool.public_key(first).verify(*args)
    with pytest.raises(InvalidSignature):
        pool.public_key().verify(*args)  # the signing key is now another one
    with pytest.raises(InvalidSignature):
        pool.public_key(first).verify(args[0], b"tampered", *args[2:])
    # sign() takes raw bytes too, for tests of malformed JSON.
    token = pool.sign(b'{"raw":1}', header=b'{"alg":"RS256","kid":"local-key-1","x":1}')
    assert segments(token)[:2] == ({"alg": "RS256", "kid": "local-key-1", "x": 1}, {"raw": 1})


async def test_transport_serves_the_current_jwks_at_its_url_only(pool: LocalUserPool) -> None:
    async with httpx2.AsyncClient(transport=pool.transport()) as client:
        elsewhere = [("GET", ISS), ("GET", JWKS_URL + "?x=1"), ("POST", JWKS_URL)]
        elsewhere += [("GET", JWKS_URL.replace("eu-west-1", "us-east-1"))]
        for method, url in [*elsewhere, ("GET", "https://example.com/.well-known/jwks.json")]:
            assert (await client.request(method, url)).status_code == 404
        assert pool.jwks_requests == 0
        response = await client.get(JWKS_URL)
        assert (response.status_code, response.headers["content-type"]) == (200, "application/json")
        assert response.json() == pool.jwks() and pool.jwks_requests == 1
        pool.rotate_key(keep_old=False)
        assert (await client.get(JWKS_URL)).json() == {"keys": [pool.jwks()["keys"][0]]}
        assert kids(pool) == [pool.signing_kid] and pool.jwks_requests == 2


async def test_settings_and_verifier_describe_the_pool(pool: LocalUserPool) -> None:
    settings = pool.settings()
    assert isinstance(settings, fcj.CognitoSettings)
    assert (settings.user_pool_id, settings.client_ids) == (POOL_ID, [CLIENT])
    assert settings.accepted_issuers == (pool.issuer,) == (ISS,)
    assert settings.resolved_jwks_url == pool.jwks_url == JWKS_URL
    changed = pool.settings(leeway=5, client_ids=["other", CLIENT], token_cache_size=0)
    assert changed.leeway == 5 and changed.client_ids == ["other", CLIENT]
    assert changed.token_cache_size == 0 and changed.user_pool_id == POOL_ID
    verifier = pool.verifier()
    assert isinstance(verifier, fcj.CognitoVerifier) and pool.jwks_requests == 0
    for username in ("a", "b"):
        await verifier.verify(pool.access_token(username=username), token_use="access")
    assert pool.jwks_requests == 1  # fetched once, at the first verification
    with pytest.raises(fcj.InvalidClientError):
        await pool.verifier(client_ids=["other"]).verify(pool.access_token(), token_use="access")
    impostor = LocalUserPool()  # same pool id, client id and kid; another key
    with pytest.raises(fcj.InvalidSignatureError):
        await pool.verifier().verify(impostor.access_token(), token_use="access")


@pytest.mark.parametrize("user_pool_id", ["us-gov-west-1_Custom9", "local_abc"])
async def test_a_pool_of_its_own(user_pool_id: str) -> None:
    pool = LocalUserPool(user_pool_id=user_pool_id, client_id="customclient", kid="k1")
    region = user_pool_id.split("_")[0]
    assert pool.issuer == f"https://cognito-idp.{region}.amazonaws.com/{user_pool_id}"
    assert pool.jwks_url == f"{pool.issuer}/.well-known/jwks.json"
    settings = pool.settings()
    assert settings.resolved_jwks_url == pool.jwks_url
    assert settings.accepted_issuers == (pool.issuer,)
    assert kids(pool) == ["k1"]
    claims = await pool.verifier().verify(pool.access_token(), token_use="access")
    assert (claims.client_id, claims.iss) == ("customclient", pool.issuer)


def production_app(token_use: Any = "access") -> tuple[FastAPI, fcj.CognitoBearer, list[Any]]:
    """An app whose own bearer is for another pool, whose JWKS the tests never reach."""
    requests: list[httpx2.Request] = []

    def unreachable(request: httpx2.Request) -> httpx2.Response:
        requests.append(request)
        raise httpx2.ConnectError("unreachable", request=request)

    settings = fcj.CognitoSettings(user_pool_id="us-east-1_Prod1", client_ids=["prodclient"])
    verifier = fcj.CognitoVerifier(settings, transport=httpx2.MockTransport(unreachable))
    auth = fcj.CognitoBearer(token_use=token_use, verifier=verifier, auto_error=False)
    app = FastAPI()

    @app.get("/creds")
    async def creds(credentials: Annotated[Any, Depends(auth)]) -> dict[str, Any] | None:
        if credentials is None:
            return None
        claims, kid = credentials.claims, credentials.header["kid"]
        team = claims.team if isinstance(claims, Team) else None
        return {"username": claims.username, "groups": claims.groups, "kid": kid, "team": team}

    return app, auth, requests


async def test_a_bearer_override_verifies_for_real_against_the_pool(pool: LocalUserPool) -> None:
    app, auth, unreachable = production_app()
    token = pool.access_token(username="alice", groups=["admin"])
    # Not overridden yet: the production pool does not know the local issuer, and says so
    # without fetching its keys.
    assert (await send(app, "/creds", bearer(token))).status_code == 401
    assert unreachable == []
    app.dependency_overrides[auth] = pool.bearer(token_use="access")
    expected = {"username": "alice", "groups": ["admin"], "kid": pool.signing_kid, "team": None}
    assert (await send(app, "/creds", bearer(token))).json() == expected
    forged = pool.access_token()[:-4] + "AAAA"
    other_client = pool.access_token(claims={"client_id": "prodclient"})
    for bad in ("a.b.c", pool.id_token(), other_client, forged):
        assert_rejected(await send(app, "/creds", bearer(bad)), INVALID, pool, bad)
    expired = await send(app, "/creds", bearer(pool.access_token(expires_in=-1)))
    assert expired.status_code == 401 and "expired" in expired.headers["www-authenticate"]
    assert_rejected(await send(app, "/creds"), NO_CREDENTIALS, pool)
    assert unreachable == [] and pool.jwks_requests == 1


async def test_bearer_passes_its_arguments_on(pool: LocalUserPool) -> None:
    made = pool.bearer(token_use="id", claims_model=Team, auto_error=False, leeway=7)
    assert (made.token_use, made.claims_model, made.auto_error) == ("id", Team, False)
    assert (made.verifier.settings.leeway, made.verifier.settings.user_pool_id) == (7, POOL_ID)
    assert pool.bearer(token_use="access").auto_error is True
    app, auth, unreachable = production_app("id")
    app.dependency_overrides[auth] = made
    token = pool.id_token(username="bob", claims={"custom:team": "platform"})
    assert (await send(app, "/creds", bearer(token))).json()["team"] == "platform"
    assert (await send(app, "/creds")).json() is None  # auto_error=False
    assert_rejected(await send(app, "/creds", bearer(pool.access_token())), INVALID, pool)
    assert unreachable == []


async def test_bearer_like_keeps_the_claims_model(pool: LocalUserPool) -> None:
    """The override of a bearer with a custom claims model serves that model (no 500)."""
    app, auth, unreachable = production_app("id")
    production = fcj.CognitoBearer(
        token_use="id", claims_model=Team, verifier=auth.verifier, auto_error=False
    )
    app.dependency_overrides[auth] = pool.bearer_like(production)
    token = pool.id_token(claims={"custom:team": "platform"})
    assert (await send(app, "/creds", bearer(token))).json()["team"] == "platform"
    assert (await send(app, "/creds")).json() is None  # auto_error=False carried over
    made = pool.bearer_like(production, leeway=3)
    assert (made.token_use, made.claims_model, made.verifier.settings.leeway) == ("id", Team, 3)
    credentials = pool.credentials(token_use="id", claims_model=Team, claims={"custom:team": "x"})
    assert (credentials.claims.team, credentials.user_pool_id) == ("x", pool.user_pool_id)
    assert unreachable == []


async def test_several_pools_in_one_verifier(pool: LocalUserPool) -> None:
    other = LocalUserPool(user_pool_id="us-west-2_Other", client_id="otherclient", kid="o1")
    settings = pool.settings(also=[other])
    assert [p.user_pool_id for p in settings.pools] == [pool.user_pool_id, "us-west-2_Other"]
    made = pool.bearer(token_use="access", also=[other])
    app = FastAPI()

    @app.get("/pool")
    async def which(credentials: Annotated[Any, Depends(made)]) -> str:
        return str(credentials.user_pool_id)

    for source in (pool, other):
        answer = await send(app, "/pool", bearer(source.access_token()))
        assert answer.json() == source.user_pool_id
    assert (pool.jwks_requests, other.jwks_requests) == (1, 1)


async def test_credentials_stand_in_for_verification(pool: LocalUserPool) -> None:
    app, auth, unreachable = production_app()
    app.dependency_overrides[auth] = lambda: pool.credentials(username="bob", groups=["ops"])
    for headers in ({}, {"Authorization": "Bearer garbage"}):  # nothing is verified
        response = await send(app, "/creds", headers)
        expected = {"username": "bob", "groups": ["ops"], "kid": pool.signing_kid, "team": None}
        assert response.json() == expected
    assert unreachable == [] and pool.jwks_requests == 0
    access = pool.credentials(username="bob", groups=["ops"], scopes=["s"])
    assert isinstance(access, fcj.CognitoCredentials) and access.scheme == "Bearer"
    assert access.header == {"kid": pool.signing_kid, "alg": "RS256"}
    claims = await pool.verifier().verify(access.credentials, token_use="access")
    assert claims == access.claims and claims.username == "bob" and claims.token_use == "access"
    assert (claims.groups, claims.scopes) == (("ops",), ("s",))
    identity = pool.credentials(token_use="id", username="carol", claims={"email": "c@x.test"})
    claims = await pool.verifier().verify(identity.credentials, token_use="id")
    assert claims == identity.claims and claims.username == "carol" and claims.token_use == "id"
    assert (claims.client_id, claims["email"]) == (CLIENT, "c@x.test")
    team = pool.credentials(token_use="id", claims_model=Team, claims={"custom:team": "platform"})
    assert isinstance(team.claims, Team) and team.claims.team == "platform"


async def test_bearer_like_shares_the_revocation_list(pool: LocalUserPool) -> None:
    """A sign-out recorded through the production bearer's list (as an auth router's /logout
    does) is refused by the stand-in too."""
    app, auth, unreachable = production_app()
    app.dependency_overrides[auth] = pool.bearer_like(auth)
    token = pool.access_token(claims={"origin_jti": "session-1"})
    assert (await send(app, "/creds", bearer(token))).json()["username"] == "alice"
    await auth.verifier.revocations.revoke_session("session-1")
    assert_rejected(await send(app, "/creds", bearer(token)), INVALID, pool, token)
    assert unreachable == []
