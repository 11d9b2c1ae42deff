"""`current_claims`, `current_username`, `require_groups` and `require_scopes` in a real app.

Names match exactly, a permission is checked only for a token that verified (403
`insufficient_scope`), and a refusal echoes nothing of the token.
"""

# No `from __future__ import annotations`: FastAPI reads the route signatures at runtime.

import logging
from collections.abc import Callable
from typing import Annotated, Any

import pytest
from fastapi import APIRouter, Depends, FastAPI

import fastapi_cognito_jwt as fcj
from fastapi_cognito_jwt import current_claims, current_username, require_groups, require_scopes
from fastapi_cognito_jwt.testing import LocalUserPool
from tests import helpers as h
from tests.helpers import (
    assert_logs_hide,
    assert_rejected,
    bearer,
    get_answers,
    send,
    token_secrets,
)

pytestmark = pytest.mark.anyio


def app_with(routes: dict[str, Callable[..., Any]]) -> FastAPI:
    """One GET route per dependency; it answers with what the dependency yields."""
    app = FastAPI()
    for path, dependency in routes.items():

        async def route(value: Annotated[Any, Depends(dependency)]) -> Any:
            if isinstance(value, str):
                return {"username": value}
            assert isinstance(value, fcj.CognitoClaims)
            return {"username": value.username, "groups": value.groups, "scopes": value.scopes}

        app.get(path)(route)
    return app


@pytest.fixture
def app(pool: LocalUserPool, auth: fcj.CognitoBearer) -> FastAPI:
    id_auth = pool.bearer(token_use="id")
    optional = pool.bearer(token_use="access", auto_error=False)
    routes = {
        "/claims": current_claims(auth),
        "/username": current_username(auth),
        "/groups/any": require_groups(auth, "admin", "ops"),
        "/groups/all": require_groups(auth, "admin", "ops", match="all"),
        "/groups/one-all": require_groups(auth, "admin", match="all"),
        "/scopes/read": require_scopes(auth, "api/read"),
        "/scopes/read-write": require_scopes(auth, "api/read", "api/write"),
        "/id/claims": current_claims(id_auth),
        "/id/username": current_username(id_auth),
        "/id/groups": require_groups(id_auth, "admin"),
        "/optional/claims": current_claims(optional),
        "/optional/username": current_username(optional),
        "/optional/groups": require_groups(optional, "admin"),
    }
    app = app_with(routes)
    app.get("/guarded", dependencies=[Depends(require_groups(auth, "admin"))])(lambda: "ok")
    return app


G, S = "cognito:groups", "scope"


@pytest.mark.parametrize(
    ("path", "claim", "value", "allowed"),
    [
        pytest.param("/groups/any", G, ["admin"], True, id="any-first"),
        pytest.param("/groups/any", G, ["ops"], True, id="any-second"),
        pytest.param("/groups/any", G, ["users", "ops"], True, id="any-among-others"),
        pytest.param("/groups/any", G, [], False, id="any-empty-list"),
        pytest.param("/groups/any", G, [" admin"], False, id="leading-space"),
        pytest.param("/groups/any", G, ["superadmin", "not-admin"], False, id="substrings"),
        pytest.param("/groups/any", G, ["administrators"], False, id="prefix"),
        pytest.param("/groups/all", G, ["admin", "ops"], True, id="all-held"),
        pytest.param("/groups/all", G, ["ops", "users", "admin"], True, id="all-among-others"),
        pytest.param("/groups/all", G, ["admin"], False, id="all-one-missing"),
        pytest.param("/groups/all", G, ["ops", "ops"], False, id="all-duplicates"),
        pytest.param("/groups/all", G, None, False, id="all-claim-missing"),
        pytest.param("/groups/one-all", G, ["admin"], True, id="all-single"),
        pytest.param("/guarded", G, ["admin"], True, id="route-dependencies"),
        pytest.param("/guarded", G, ["users"], False, id="route-dependencies-denied"),
        pytest.param("/scopes/read", S, "api/read", True, id="exact"),
        pytest.param("/scopes/read", S, "openid api/read", True, id="among-others"),
        pytest.param("/scopes/read", S, "api/read openid", True, id="first-of-several"),
        pytest.param("/scopes/read", S, " api/read ", True, id="outer-spaces"),
        pytest.param("/scopes/read", S, "API/READ", False, id="case-differs"),
        pytest.param("/scopes/read", S, "openid\napi/read", False, id="newline-not-a-separator"),
        pytest.param("/scopes/read-write", S, "api/read api/write", True, id="all-held"),
        pytest.param("/scopes/read-write", S, "api/write openid api/read", True, id="any-order"),
        pytest.param("/scopes/read-write", S, "api/read", False, id="one-missing"),
        pytest.param("/scopes/read-write", S, "api/write", False, id="other-missing"),
        pytest.param("/scopes/read-write", S, "api/read,api/write", False, id="comma-separated"),
    ],
)
async def test_groups_and_scopes_match_exactly(
    app: FastAPI, pool: LocalUserPool, path: str, claim: str, value: Any, allowed: bool
) -> None:
    token = pool.access_token(claims={claim: value})  # None: without the claim
    response = await send(app, path, bearer(token))
    if not allowed:
        assert_rejected(response, h.FORBIDDEN, pool, token)
    elif path == "/guarded":
        assert response.json() == "ok"
    else:  # the dependency yields the claims
        field = "groups" if claim == G else "scopes"
        assert response.json()[field] == (value.split() if claim == S else value)
        assert response.json()["username"] == "alice"


async def test_helpers_yield_claims_and_username(app: FastAPI, pool: LocalUserPool) -> None:
    token = pool.access_token(username="frank", groups=["admin"], scopes=["openid", "api/read"])
    expected = {"username": "frank", "groups": ["admin"], "scopes": ["openid", "api/read"]}
    for path in ("/claims", "/groups/any", "/scopes/read", "/optional/claims"):
        assert (await send(app, path, bearer(token))).json() == expected
    for path in ("/username", "/optional/username"):
        assert (await send(app, path, bearer(token))).json() == {"username": "frank"}
    # On a bearer of ID tokens: the username is cognito:username; groups are checked too.
    id_token = pool.id_token(username="grace", groups=["admin"])
    assert (await send(app, "/id/username", bearer(id_token))).json() == {"username": "grace"}
    for path in ("/id/claims", "/id/groups"):
        assert (await send(app, path, bearer(id_token))).json()["groups"] == ["admin"]
    id_token = pool.id_token(groups=["users"])
    assert_rejected(await send(app, "/id/groups", bearer(id_token)), h.FORBIDDEN, pool, id_token)


async def test_a_machine_token_has_no_username(app: FastAPI, pool: LocalUserPool) -> None:
    token = pool.m2m_token(scopes=["api/read", "api/write"])
    response = await send(app, "/scopes/read-write", bearer(token))
    assert response.json() == {"username": None, "groups": [], "scopes": ["api/read", "api/write"]}
    for path in ("/username", "/groups/any"):
        assert_rejected(await send(app, path, bearer(token)), h.FORBIDDEN, pool, token)
    reader = pool.m2m_token(scopes=["api/read"])
    assert (await send(app, "/scopes/read", bearer(reader))).json()["scopes"] == ["api/read"]
    assert_rejected(await send(app, "/scopes/read-write", bearer(reader)), h.FORBIDDEN, pool)


PROTECTED = ["/claims", "/username", "/groups/any", "/scopes/read", "/guarded"]
PROTECTED += ["/optional/claims", "/optional/username", "/optional/groups"]


@pytest.mark.parametrize("path", PROTECTED)
async def test_no_or_bad_credentials_are_401(app: FastAPI, pool: LocalUserPool, path: str) -> None:
    """No credentials is 401 even with auto_error=False; a bad token, before any check."""
    for headers in ({}, {"Authorization": "Basic dXNlcjpwYXNz"}, {"Authorization": "Bearer "}):
        assert_rejected(await send(app, path, headers), h.NO_CREDENTIALS, pool)
    assert pool.jwks_requests == 0
    forged = pool.access_token(groups=["admin"], scopes=["api/read"])[:-4] + "AAAA"
    assert_rejected(await send(app, path, bearer(forged)), h.INVALID, pool, forged)


async def test_denials_are_logged_at_info_without_the_token(
    app: FastAPI, pool: LocalUserPool, library_logs: pytest.LogCaptureFixture
) -> None:
    token = pool.access_token(groups=["users"], scopes=["openid"])
    await send(app, "/groups/any", bearer(token))
    await send(app, "/scopes/read", bearer(token))
    denials = [r for r in library_logs.records if r.getMessage().startswith("Request denied")]
    assert [(r.name, r.levelno) for r in denials] == [("fastapi_cognito_jwt", logging.INFO)] * 2
    assert_logs_hide(denials, *token_secrets(token), pool.signing_kid)


class Counting(fcj.CognitoVerifier):
    """Counts the calls to `verify`; refuses tokens whose `jti` is in `denied`."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.calls: list[str] = []
        self.denied: set[str] = set()

    async def verify(self, token: str, **options: Any) -> Any:
        self.calls.append(token)
        claims = await super().verify(token, **options)
        if claims.jti in self.denied:
            raise fcj.TokenError("token is denied")
        return claims


def all_helpers_app(auth: fcj.CognitoBearer) -> FastAPI:
    app = FastAPI()
    router = APIRouter(dependencies=[Depends(auth)])

    @router.get("/all")
    async def everything(
        claims: Annotated[fcj.CognitoClaims, Depends(current_claims(auth))],
        username: Annotated[str, Depends(current_username(auth))],
        admin: Annotated[fcj.CognitoClaims, Depends(require_groups(auth, "admin"))],
        reader: Annotated[fcj.CognitoClaims, Depends(require_scopes(auth, "api/read"))],
    ) -> dict[str, str]:
        assert claims is admin is reader
        return {"username": username}

    app.include_router(router)
    return app


async def test_verify_once_per_request_and_subclass_checks_everywhere(pool: LocalUserPool) -> None:
    verifier = Counting(pool.settings(token_cache_size=0), transport=pool.transport())
    app = all_helpers_app(fcj.CognitoBearer(token_use="access", verifier=verifier))
    token = pool.access_token(groups=["admin"], scopes=["api/read"])
    for request in (1, 2, 3):
        assert (await send(app, "/all", bearer(token))).json() == {"username": "alice"}
        assert verifier.calls == [token] * request
    denied = pool.access_token(groups=["admin"], scopes=["api/read"], claims={"jti": "revoked-1"})
    verifier.denied.add("revoked-1")
    assert_rejected(await send(app, "/all", bearer(denied)), h.INVALID, pool, denied)


async def test_override_reaches_helpers(pool: LocalUserPool, auth: fcj.CognitoBearer) -> None:
    app = all_helpers_app(auth)
    credentials = pool.credentials(username="bob", groups=["admin"], scopes=["api/read"])
    app.dependency_overrides[auth] = lambda: credentials
    assert (await send(app, "/all")).json() == {"username": "bob"}  # no header: not verified
    app.dependency_overrides[auth] = lambda: pool.credentials(username="bob", groups=["users"])
    assert_rejected(await send(app, "/all"), h.FORBIDDEN, pool)
    assert pool.jwks_requests == 0


def test_bad_arguments_are_a_configuration_error(auth: fcj.CognitoBearer) -> None:
    groups: Any = [((), "any"), (("",), "any"), (("admin", ""), "any"), ((5,), "any")]
    for names, match in groups + [(("admin",), "some"), (("admin",), "ALL")]:
        with pytest.raises(fcj.ConfigurationError):
            require_groups(auth, *names, match=match)
    scopes: Any = [(), ("",), (None,)]
    for names in scopes:
        with pytest.raises(fcj.ConfigurationError):
            require_scopes(auth, *names)
    require_groups(auth, "admin", "ops", match="all")
    require_scopes(auth, "api/read", "api/write")


def test_openapi_lists_the_answers_of_protected_routes(auth: fcj.CognitoBearer) -> None:
    """401 and 503 wherever a bearer guards a route, 403 where a helper can deny, with their
    headers; unprotected routes and WebSocket routes are left alone."""
    app = all_helpers_app(auth)
    app.get("/claims-only")(current_claims(auth))
    app.get("/route-level", dependencies=[Depends(require_scopes(auth, "api/read"))])(lambda: 1)
    app.get("/open")(lambda: 1)
    app.get("/own-401", dependencies=[Depends(auth)], responses={401: {"description": "Mine"}})(
        lambda: 1
    )
    app.websocket("/ws")(lambda websocket: None)
    assert "401" not in app.openapi()["paths"]["/all"]["get"]["responses"]
    fcj.document_auth_responses(app)
    paths = app.openapi()["paths"]
    answers = get_answers(app)
    assert answers == {
        "/all": ["200", "401", "403", "503"],
        "/claims-only": ["200", "401", "503"],
        "/route-level": ["200", "401", "403", "503"],
        "/open": ["200"],
        "/own-401": ["200", "401", "503"],
    }
    assert paths["/own-401"]["get"]["responses"]["401"]["description"] == "Mine"
    responses = paths["/all"]["get"]["responses"]
    assert (
        set(responses["401"]["headers"]) == set(responses["403"]["headers"]) == {"WWW-Authenticate"}
    )
    assert set(responses["503"]["headers"]) == {"Retry-After"}
    responses["401"]["description"] = "edited"  # each operation holds its own copy
    assert paths["/claims-only"]["get"]["responses"]["401"]["description"] != "edited"
    fcj.document_auth_responses(app)  # twice: nothing doubles, nothing a route set is lost
    assert sorted(app.openapi()["paths"]["/all"]["get"]["responses"]) == answers["/all"]
