"""`current_claims`, `current_username`, `require_groups` and `require_scopes` in a real app.

Covers research/security.md §3.I (scope and groups): exact matching, strict claim types, and
403 `insufficient_scope` only for a token that verified. Rejections also assert that nothing
of the token is echoed (§3.J).
"""

# No `from __future__ import annotations`: FastAPI reads the route signatures at runtime.

import logging
from collections.abc import Iterator
from typing import Annotated, Any, cast

import pytest
from fastapi import Depends, FastAPI
from fastapi.testclient import TestClient

from fastapi_cognito_jwt import (
    CognitoBearer,
    CognitoClaims,
    ConfigurationError,
    current_claims,
    current_username,
    require_groups,
    require_scopes,
)
from fastapi_cognito_jwt.testing import LocalUserPool
from tests.answers import (
    FORBIDDEN,
    INVALID,
    NO_CREDENTIALS,
    Expected,
    assert_rejected,
    token_secrets,
)

MISSING: Any = object()  # as a claim value: leave the claim out


def access_token(pool: LocalUserPool, **claims: Any) -> str:
    """An access token with `claims` set exactly (JSON null included; MISSING removes)."""
    payload = pool.access_claims()
    for name, value in claims.items():
        if value is MISSING:
            payload.pop(name, None)
        else:
            payload[name] = value
    return pool.sign(payload)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def summary(claims: CognitoClaims) -> dict[str, Any]:
    return {"username": claims.username, "groups": list(claims.groups), "scopes": claims.scopes}


@pytest.fixture
def app(pool: LocalUserPool, auth: CognitoBearer) -> FastAPI:
    id_auth = pool.bearer(token_use="id")
    optional = pool.bearer(token_use="access", auto_error=False)
    app = FastAPI()
    claims_routes = {
        "/claims": current_claims(auth),
        "/groups/any": require_groups(auth, "admin", "ops"),
        "/groups/all": require_groups(auth, "admin", "ops", match="all"),
        "/groups/one-all": require_groups(auth, "admin", match="all"),
        "/scopes/read": require_scopes(auth, "api/read"),
        "/scopes/read-write": require_scopes(auth, "api/read", "api/write"),
        "/id/claims": current_claims(id_auth),
        "/id/groups": require_groups(id_auth, "admin"),
        "/optional/claims": current_claims(optional),
        "/optional/groups": require_groups(optional, "admin"),
    }
    for path, dependency in claims_routes.items():

        async def route(claims: Annotated[CognitoClaims, Depends(dependency)]) -> dict[str, Any]:
            assert isinstance(claims, CognitoClaims)
            return summary(claims)

        app.get(path)(route)

    for path, username_dependency in {
        "/username": current_username(auth),
        "/id/username": current_username(id_auth),
        "/optional/username": current_username(optional),
    }.items():

        async def username_route(
            username: Annotated[str, Depends(username_dependency)],
        ) -> dict[str, str]:
            return {"username": username}

        app.get(path)(username_route)

    @app.get("/guarded", dependencies=[Depends(require_groups(auth, "admin"))])
    async def guarded() -> dict[str, str]:
        return {"ok": "yes"}

    return app


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, raise_server_exceptions=True) as client:
        yield client


# -- groups -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "groups", "status"),
    [
        pytest.param("/groups/any", ["admin"], 200, id="any-first"),
        pytest.param("/groups/any", ["ops"], 200, id="any-second"),
        pytest.param("/groups/any", ["users", "ops"], 200, id="any-among-others"),
        pytest.param("/groups/any", ["users"], 403, id="any-none-held"),
        pytest.param("/groups/any", [], 403, id="any-empty-list"),
        pytest.param("/groups/any", MISSING, 403, id="any-claim-missing"),
        pytest.param("/groups/any", ["Admin"], 403, id="case-differs"),
        pytest.param("/groups/any", ["admin "], 403, id="trailing-space"),
        pytest.param("/groups/any", [" admin"], 403, id="leading-space"),
        pytest.param("/groups/any", ["superadmin", "not-admin"], 403, id="substrings"),
        pytest.param("/groups/any", ["administrators"], 403, id="prefix"),
        pytest.param("/groups/any", "admin", 401, id="string-admin"),
        pytest.param("/groups/any", "superadmin", 401, id="string-superadmin"),
        pytest.param("/groups/any", ["admin", 5], 401, id="list-with-int"),
        pytest.param("/groups/any", {"admin": True}, 401, id="object"),
        pytest.param("/groups/any", None, 401, id="null"),
        pytest.param("/groups/all", ["admin", "ops"], 200, id="all-held"),
        pytest.param("/groups/all", ["ops", "users", "admin"], 200, id="all-among-others"),
        pytest.param("/groups/all", ["admin"], 403, id="all-one-missing"),
        pytest.param("/groups/all", ["ops", "ops"], 403, id="all-duplicates"),
        pytest.param("/groups/all", MISSING, 403, id="all-claim-missing"),
        pytest.param("/groups/one-all", ["admin"], 200, id="all-single"),
        pytest.param("/guarded", ["admin"], 200, id="route-dependencies"),
        pytest.param("/guarded", ["users"], 403, id="route-dependencies-denied"),
    ],
)
def test_require_groups(
    client: TestClient, pool: LocalUserPool, path: str, groups: Any, status: int
) -> None:
    token = access_token(pool, **{"cognito:groups": groups})
    response = client.get(path, headers=bearer(token))
    if status == 200:
        assert response.status_code == 200
        if path != "/guarded":
            assert response.json()["groups"] == groups
            assert response.json()["username"] == "alice"
        return
    assert_rejected(response, FORBIDDEN if status == 403 else INVALID, pool, token)


@pytest.mark.parametrize(
    ("path", "token_use", "groups", "expected"),
    [
        pytest.param("/groups/any", "id", ["admin"], INVALID, id="id-token-on-access-groups"),
        pytest.param("/id/groups", "id", ["admin"], None, id="id-token-on-id-groups"),
        pytest.param("/id/groups", "id", ["users"], FORBIDDEN, id="id-token-lacks-group"),
        pytest.param("/id/groups", "access", ["admin"], INVALID, id="access-token-on-id-groups"),
    ],
)
def test_groups_check_the_token_kind_first(
    client: TestClient,
    pool: LocalUserPool,
    path: str,
    token_use: str,
    groups: list[str],
    expected: Expected | None,
) -> None:
    token = pool.id_token(groups=groups) if token_use == "id" else pool.access_token(groups=groups)
    response = client.get(path, headers=bearer(token))
    if expected is None:
        assert response.status_code == 200
        assert response.json()["groups"] == groups
    else:
        assert_rejected(response, expected, pool, token)


# -- scopes -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "scope", "status"),
    [
        pytest.param("/scopes/read", "api/read", 200, id="exact"),
        pytest.param("/scopes/read", "openid api/read", 200, id="among-others"),
        pytest.param("/scopes/read", "api/read openid", 200, id="first-of-several"),
        pytest.param("/scopes/read", "openid  api/read", 200, id="double-space"),
        pytest.param("/scopes/read", " api/read ", 200, id="outer-spaces"),
        pytest.param("/scopes/read", "api/readx", 403, id="longer"),
        pytest.param("/scopes/read", "xapi/read", 403, id="prefixed"),
        pytest.param("/scopes/read", "api/read.write", 403, id="suffixed"),
        pytest.param("/scopes/read", "API/READ", 403, id="case-differs"),
        pytest.param("/scopes/read", "openid\tapi/read", 403, id="tab-is-part-of-a-scope"),
        pytest.param("/scopes/read", "openid\napi/read", 403, id="newline-is-part-of-a-scope"),
        pytest.param("/scopes/read", "", 403, id="empty"),
        pytest.param("/scopes/read", MISSING, 403, id="missing"),
        pytest.param("/scopes/read", ["api/read"], 401, id="list"),
        pytest.param("/scopes/read", 5, 401, id="number"),
        pytest.param("/scopes/read-write", "api/read api/write", 200, id="all-held"),
        pytest.param("/scopes/read-write", "api/write openid api/read", 200, id="all-any-order"),
        pytest.param("/scopes/read-write", "api/read", 403, id="one-missing"),
        pytest.param("/scopes/read-write", "api/write", 403, id="other-missing"),
        pytest.param("/scopes/read-write", "api/read,api/write", 403, id="comma-separated"),
    ],
)
def test_require_scopes(
    client: TestClient, pool: LocalUserPool, path: str, scope: Any, status: int
) -> None:
    token = access_token(pool, scope=scope)
    response = client.get(path, headers=bearer(token))
    if status == 200:
        assert response.status_code == 200
        assert response.json()["scopes"] == [name for name in scope.split(" ") if name]
        return
    assert_rejected(response, FORBIDDEN if status == 403 else INVALID, pool, token)


def test_machine_token_scopes_pass_but_username_is_denied(
    client: TestClient, pool: LocalUserPool
) -> None:
    token = pool.m2m_token(scopes=["api/read", "api/write"])
    response = client.get("/scopes/read-write", headers=bearer(token))
    assert response.json() == {"username": None, "groups": [], "scopes": ["api/read", "api/write"]}
    assert_rejected(client.get("/username", headers=bearer(token)), FORBIDDEN, pool, token)
    denied = client.get("/groups/any", headers=bearer(token))
    assert_rejected(denied, FORBIDDEN, pool, token)


# -- claims and username ------------------------------------------------------------------------


def test_dependencies_hand_the_claims_and_username_to_the_handler(
    client: TestClient, pool: LocalUserPool
) -> None:
    token = pool.access_token(username="frank", groups=["admin"], scopes=["openid", "api/read"])
    expected = {"username": "frank", "groups": ["admin"], "scopes": ["openid", "api/read"]}
    for path in ("/claims", "/groups/any", "/scopes/read", "/optional/claims"):
        assert client.get(path, headers=bearer(token)).json() == expected
    assert client.get("/username", headers=bearer(token)).json() == {"username": "frank"}
    id_token = pool.id_token(username="grace")
    assert client.get("/id/username", headers=bearer(id_token)).json() == {"username": "grace"}
    assert client.get("/id/claims", headers=bearer(id_token)).json()["username"] == "grace"


@pytest.mark.parametrize(
    "path",
    [
        "/claims",
        "/username",
        "/groups/any",
        "/scopes/read",
        "/guarded",
        "/optional/claims",
        "/optional/username",
        "/optional/groups",
    ],
)
@pytest.mark.parametrize(
    "authorization",
    [
        pytest.param(None, id="no-header"),
        pytest.param("Basic dXNlcjpwYXNz", id="basic"),
        pytest.param("Bearer ", id="empty-bearer"),
    ],
)
def test_without_credentials_every_dependency_is_401(
    client: TestClient, pool: LocalUserPool, path: str, authorization: str | None
) -> None:
    headers = {} if authorization is None else {"Authorization": authorization}
    assert_rejected(client.get(path, headers=headers), NO_CREDENTIALS, pool)
    assert pool.jwks_requests == 0


@pytest.mark.parametrize(
    "path", ["/claims", "/username", "/groups/any", "/optional/claims", "/optional/groups"]
)
def test_a_bad_token_is_401_before_any_permission_check(
    client: TestClient, pool: LocalUserPool, path: str
) -> None:
    header, payload, signature = pool.access_token(groups=["admin"]).split(".")
    forged = f"{header}.{payload}.{signature[:-4]}AAAA"
    assert_rejected(client.get(path, headers=bearer(forged)), INVALID, pool, forged)


def test_denials_are_logged_at_info_without_the_token(
    client: TestClient, pool: LocalUserPool, library_logs: pytest.LogCaptureFixture
) -> None:
    token = pool.access_token(groups=["users"], scopes=["openid"])
    client.get("/groups/any", headers=bearer(token))
    client.get("/scopes/read", headers=bearer(token))
    denials = [r for r in library_logs.records if r.getMessage().startswith("Request denied")]
    assert [(r.name, r.levelno) for r in denials] == [("fastapi_cognito_jwt", logging.INFO)] * 2
    logged = "\n".join(r.getMessage() for r in denials)
    for needle in token_secrets(token) | {pool.signing_kid}:
        assert needle not in logged


# -- construction -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("factory", "names", "match"),
    [
        pytest.param(require_groups, (), "any", id="groups-none"),
        pytest.param(require_groups, ("",), "any", id="groups-empty-string"),
        pytest.param(require_groups, ("admin", ""), "any", id="groups-one-empty"),
        pytest.param(require_groups, (5,), "any", id="groups-not-a-string"),
        pytest.param(require_groups, ("admin",), "some", id="groups-match-some"),
        pytest.param(require_groups, ("admin",), "ALL", id="groups-match-upper"),
        pytest.param(require_scopes, (), None, id="scopes-none"),
        pytest.param(require_scopes, ("",), None, id="scopes-empty-string"),
        pytest.param(require_scopes, (None,), None, id="scopes-not-a-string"),
    ],
)
def test_invalid_construction_raises_configuration_error(
    auth: CognitoBearer, factory: Any, names: tuple[Any, ...], match: str | None
) -> None:
    kwargs = {} if match is None else {"match": match}
    with pytest.raises(ConfigurationError):
        factory(auth, *names, **kwargs)


def test_valid_construction(auth: CognitoBearer) -> None:
    assert callable(require_groups(auth, "admin", match="all"))
    assert callable(require_groups(auth, "admin", "ops", match=cast(Any, "any")))
    assert callable(require_scopes(auth, "api/read", "api/write"))
    assert callable(current_claims(auth)) and callable(current_username(auth))
