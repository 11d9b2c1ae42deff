"""Claim rules: the attack corpus of research/security.md §3 F-I through `CognitoVerifier`,
the pure `check_claims` function, and the `CognitoClaims` model."""

from __future__ import annotations

import copy
import random
from types import MappingProxyType
from typing import Any, cast

import pytest
from pydantic import Field, ValidationError

from fastapi_cognito_jwt import (
    CognitoClaims,
    InvalidClaimError,
    InvalidClientError,
    InvalidIssuerError,
    InvalidTokenUseError,
    TokenError,
    TokenExpiredError,
    TokenNotYetValidError,
)
from fastapi_cognito_jwt._claims import _build_plain, build_claims, check_claims
from fastapi_cognito_jwt.testing import LocalUserPool
from tests.test_verifier import (
    CLIENT,
    ISS,
    KID,
    MISSING,
    NOW,
    POOL_ID,
    TIMES,
    RoleClaims,
    payload_for,
    rejects,
    verifier_for,
)

anyio = pytest.mark.anyio
HOST = "https://cognito-idp.eu-west-1.amazonaws.com"

# -- F/G/H. claims of a correctly signed token, through the verifier ----------------------

# (token_use of the token, changes to its claims, expected exception, claim named on it)
REJECTED: list[Any] = [
    *(
        pytest.param("access", {"iss": iss}, InvalidIssuerError, "iss", id=f"iss-{name}")
        for name, iss in [
            ("other-pool", f"{HOST}/eu-west-1_OtherPool"),
            ("other-region", f"https://cognito-idp.us-west-2.amazonaws.com/{POOL_ID}"),
            ("http", ISS.replace("https://", "http://")),
            ("trailing-slash", ISS + "/"),
            ("upper-host", ISS.replace("cognito-idp", "COGNITO-IDP")),
            ("lower-pool", ISS.replace(POOL_ID, POOL_ID.lower())),
            ("prefix-host", HOST),
            ("prefix-http", "http"),
            ("empty", ""),
            ("superstring-x", ISS + "x"),
            ("superstring-dotdot", ISS + "/../eu-west-1_OtherPool"),
            ("superstring-query", ISS + "?"),
            ("superstring-space", ISS + " "),
            ("superstring-zwsp", ISS + "\u200b"),
            ("list", [ISS]),
            ("null", None),
            ("missing", MISSING),
        ]
    ),
    pytest.param("id", {"iss": ISS + "/"}, InvalidIssuerError, "iss", id="iss-id-token"),
    *(
        pytest.param("access", {"token_use": use}, InvalidTokenUseError, "token_use",
                     id=f"token-use-{use!r}")
        for use in [MISSING, "", "ACCESS", "access ", "acc\u200bess", ["access"], "refresh", None]
    ),
    *(
        pytest.param("access", {"client_id": client}, InvalidClientError, "client_id",
                     id=f"client-id-{client!r}")
        for client in ["otherclient", MISSING, [CLIENT], CLIENT + " ", None, ""]
    ),
    pytest.param("access", {"aud": CLIENT, "client_id": "otherclient"}, InvalidClientError,
                 "client_id", id="access-aud-ours-client-id-other"),
    pytest.param("access", {"aud": CLIENT, "client_id": MISSING}, InvalidClientError,
                 "client_id", id="access-aud-ours-no-client-id"),
    *(
        pytest.param("id", {"aud": aud}, InvalidClientError, "aud", id=f"aud-{aud!r}")
        for aud in ["otherclient", MISSING, [CLIENT, "x"], [CLIENT], CLIENT + " ", None]
    ),
    pytest.param("id", {"client_id": CLIENT, "aud": "otherclient"}, InvalidClientError, "aud",
                 id="id-client-id-ours-aud-other"),
    pytest.param("access", {"exp": NOW - 1}, TokenExpiredError, None, id="exp-past"),
    pytest.param("access", {"exp": NOW}, TokenExpiredError, None, id="exp-now"),
    pytest.param("id", {"exp": NOW - 1}, TokenExpiredError, None, id="exp-past-id"),
    *(
        pytest.param("access", {"exp": exp}, InvalidClaimError, "exp", id=f"exp-{exp!r:.12}")
        for exp in [MISSING, str(NOW + 3600), "9999999999", NOW + 3600.5, float(NOW + 3600),
                    True, False, None, [], {}, 0, -1, 10**400, 2**53, 1e308]
    ),
    pytest.param("access", {"nbf": NOW + 3600}, TokenNotYetValidError, None, id="nbf-future"),
    pytest.param("access", {"nbf": NOW + 1}, TokenNotYetValidError, None, id="nbf-next-second"),
    pytest.param("access", {"nbf": "0"}, InvalidClaimError, "nbf", id="nbf-string"),
    pytest.param("access", {"nbf": None}, InvalidClaimError, "nbf", id="nbf-null"),
    pytest.param("access", {"iat": NOW + 10**6}, TokenNotYetValidError, None, id="iat-far-future"),
    pytest.param("access", {"iat": NOW + 61}, TokenNotYetValidError, None, id="iat-past-skew"),
    *(
        pytest.param("access", {"iat": iat}, InvalidClaimError, "iat", id=f"iat-{iat!r}")
        for iat in [MISSING, "abc", [1], None, True, float(NOW), 0]
    ),
    pytest.param("access", {"exp": NOW + 2 * 86400}, InvalidClaimError, "exp", id="lifetime-2d"),
    pytest.param("access", {"exp": NOW - 10 + 86401}, InvalidClaimError, "exp",
                 id="lifetime-1d-1s"),
    pytest.param("id", {"exp": NOW + 2 * 86400}, InvalidClaimError, "exp", id="lifetime-id"),
    pytest.param("access", {"sub": MISSING}, InvalidClaimError, "sub", id="sub-missing"),
    pytest.param("access", {"sub": 5}, InvalidClaimError, "sub", id="sub-number"),
    pytest.param("access", {"username": 5}, InvalidClaimError, "username", id="username-number"),
    pytest.param("id", {"cognito:username": ["a"]}, InvalidClaimError, "cognito:username",
                 id="cognito-username-list"),
    pytest.param("id", {"client_id": "client-b"}, InvalidClientError, "client_id",
                 id="id-client-id-disagrees-with-aud"),
    pytest.param("access", {"cognito:username": "bob"}, InvalidClaimError, "username",
                 id="access-cognito-username-disagrees"),
    pytest.param("access", {"auth_time": "1"}, InvalidClaimError, "auth_time",
                 id="auth-time-string"),
    pytest.param("access", {"jti": 5}, InvalidClaimError, "jti", id="jti-number"),
    pytest.param("access", {"auth_time": True}, InvalidClaimError, "auth_time",
                 id="auth-time-bool"),
    pytest.param("access", {"origin_jti": ["x"]}, InvalidClaimError, "origin_jti",
                 id="origin-jti-list"),
]  # fmt: skip


@anyio
@pytest.mark.parametrize(("kind", "changes", "expected", "claim"), REJECTED)
async def test_claim_rejected(
    pool: LocalUserPool,
    kind: str,
    changes: dict[str, Any],
    expected: type[TokenError],
    claim: str | None,
) -> None:
    token = pool.sign(payload_for(pool, kind, changes))
    error = await rejects(verifier_for(pool), token, expected, kind)
    if claim is not None:
        assert isinstance(error, InvalidClaimError)
        assert error.claim == claim


@anyio
@pytest.mark.parametrize(
    ("kind", "wrong"),
    [("id", "access"), ("access", "id")],
    ids=["id-token-as-access", "access-token-as-id"],
)
async def test_token_kind_confusion(pool: LocalUserPool, kind: str, wrong: str) -> None:
    # An ID token for our client, carrying admin groups, is never an access token.
    token = pool.sign(payload_for(pool, kind, {"cognito:groups": ["admin"]}))
    await rejects(verifier_for(pool), token, InvalidTokenUseError, wrong)
    await verifier_for(pool).verify(token, token_use=cast("Any", kind))


ACCEPTED: list[Any] = [
    pytest.param({"exp": NOW + 5}, id="exp-in-5s"),
    pytest.param({"exp": NOW + 1}, id="exp-in-1s"),
    pytest.param({"iat": NOW + 30}, id="iat-30s-ahead"),
    pytest.param({"iat": NOW + 60}, id="iat-60s-ahead"),
    pytest.param({"nbf": NOW}, id="nbf-now"),
    pytest.param({"nbf": NOW - 100}, id="nbf-past"),
    pytest.param({"exp": NOW - 10 + 86400}, id="lifetime-exactly-1d"),
    pytest.param({"auth_time": MISSING, "jti": MISSING, "origin_jti": MISSING}, id="optional"),
]


@anyio
@pytest.mark.parametrize("changes", ACCEPTED)
async def test_claim_accepted(pool: LocalUserPool, changes: dict[str, Any]) -> None:
    token = pool.sign(payload_for(pool, changes=changes))
    claims = await verifier_for(pool).verify(token, token_use="access")
    assert claims.client_id == CLIENT


@anyio
@pytest.mark.parametrize(
    ("changes", "leeway", "expected"),
    [
        pytest.param({"exp": NOW - 5}, 10, None, id="expired-5s-leeway-10"),
        pytest.param({"exp": NOW - 5}, 0, TokenExpiredError, id="expired-5s-leeway-0"),
        pytest.param({"exp": NOW - 10}, 10, TokenExpiredError, id="expired-10s-leeway-10"),
        pytest.param({"nbf": NOW + 5}, 10, None, id="nbf-5s-leeway-10"),
        pytest.param({"nbf": NOW + 5}, 0, TokenNotYetValidError, id="nbf-5s-leeway-0"),
        pytest.param({"iat": NOW + 70}, 10, None, id="iat-70s-leeway-10"),
        pytest.param({"iat": NOW + 71}, 10, TokenNotYetValidError, id="iat-71s-leeway-10"),
    ],
)
async def test_leeway(
    pool: LocalUserPool,
    changes: dict[str, Any],
    leeway: float,
    expected: type[TokenError] | None,
) -> None:
    token = pool.sign(payload_for(pool, changes=changes))
    verifier = verifier_for(pool, leeway=leeway)
    if expected is None:
        await verifier.verify(token, token_use="access")
    else:
        await rejects(verifier, token, expected)


@anyio
async def test_valid_access_token(pool: LocalUserPool) -> None:
    payload = payload_for(pool, changes={"cognito:groups": ["users"], "scope": "openid api/read"})
    verifier = verifier_for(pool)
    claims, header, _ = await verifier._verify_fetching(pool.sign(payload), "access", CognitoClaims)
    assert type(claims) is CognitoClaims
    assert dict(header) == {"kid": KID, "alg": "RS256"}
    assert (claims.sub, claims.iss, claims.token_use) == (payload["sub"], ISS, "access")
    assert (claims.client_id, claims.username) == (CLIENT, "alice")
    assert (claims.exp, claims.iat, claims.auth_time) == (NOW + 3600, NOW - 10, NOW - 10)
    assert (claims.jti, claims.origin_jti) == (payload["jti"], payload["origin_jti"])
    assert claims.groups == ("users",)
    assert claims.scopes == ("openid", "api/read")
    assert claims["event_id"] == payload["event_id"]


class PlainSubclass(CognitoClaims):
    pass


@anyio
@pytest.mark.parametrize(
    ("kind", "changes"),
    [
        pytest.param("access", {}, id="access"),
        pytest.param("access", {"cognito:groups": ["a", "b"], "scope": "x  y\tz"}, id="groups"),
        pytest.param("access", {"auth_time": None, "jti": None, "username": None}, id="nulls"),
        pytest.param("access", {"auth_time": MISSING, "origin_jti": MISSING}, id="missing"),
        pytest.param("id", {"client_id": CLIENT, "username": "y", "payload": 1}, id="id-odd-names"),
        pytest.param("id", {"cognito:groups": [], "scope": ""}, id="id-empty"),
    ],
)
async def test_subclass_sees_the_same_claims(
    pool: LocalUserPool, kind: str, changes: dict[str, Any]
) -> None:
    token = pool.sign(payload_for(pool, kind, changes))
    verifier = verifier_for(pool)
    plain = await verifier.verify(token, token_use=cast("Any", kind))
    sub = await verifier.verify(token, token_use=cast("Any", kind), claims_model=PlainSubclass)
    assert type(sub) is PlainSubclass
    fields = list(CognitoClaims.model_fields)
    assert [getattr(plain, f) for f in fields] == [getattr(sub, f) for f in fields]
    assert {name: plain[name] for name in plain.payload} == dict(sub.payload)


@anyio
async def test_valid_id_token(pool: LocalUserPool) -> None:
    changes = {"email": "a@x.test", "custom:role": "editor", "cognito:groups": ["users"]}
    token = pool.sign(payload_for(pool, "id", changes))
    claims = await verifier_for(pool).verify(token, token_use="id")
    assert (claims.token_use, claims.client_id, claims.username) == ("id", CLIENT, "alice")
    assert claims.groups == ("users",)
    assert claims.scopes == ()
    assert claims["custom:role"] == "editor" == claims.get("custom:role")
    assert claims.get("email") == "a@x.test"
    assert "email" in claims and "custom:missing" not in claims
    assert claims.get("custom:missing") is None
    assert claims.get("custom:missing", "x") == "x"
    with pytest.raises(KeyError):
        claims["custom:missing"]


@anyio
async def test_m2m_client_credentials_token(pool: LocalUserPool) -> None:
    token = pool.m2m_token(scopes=["api/read", "api/write"], claims=TIMES)
    claims = await verifier_for(pool).verify(token, token_use="access")
    assert claims.username is None
    assert claims.sub == claims.client_id == CLIENT
    assert claims.scopes == ("api/read", "api/write")
    assert claims.groups == ()


@anyio
async def test_second_accepted_client_id(pool: LocalUserPool) -> None:
    verifier = verifier_for(pool, client_ids=[CLIENT, "secondclient"])
    access = pool.sign(payload_for(pool, changes={"client_id": "secondclient"}))
    assert (await verifier.verify(access, token_use="access")).client_id == "secondclient"
    id_token = pool.sign(payload_for(pool, "id", {"aud": "secondclient"}))
    assert (await verifier.verify(id_token, token_use="id")).client_id == "secondclient"
    third = pool.sign(payload_for(pool, changes={"client_id": "thirdclient"}))
    await rejects(verifier, third, InvalidClientError)


class LevelClaims(CognitoClaims):
    level: int = Field(alias="custom:level")


@anyio
async def test_custom_claims_model(pool: LocalUserPool) -> None:
    token = pool.sign(payload_for(pool, "id", {"custom:role": "admin"}))
    claims = await verifier_for(pool).verify(token, token_use="id", claims_model=RoleClaims)
    assert isinstance(claims, RoleClaims)
    assert claims.role == "admin" == claims["custom:role"]


@anyio
@pytest.mark.parametrize(
    ("model", "changes", "claim"),
    [
        pytest.param(RoleClaims, {}, "custom:role", id="missing"),
        pytest.param(RoleClaims, {"custom:role": 5}, "custom:role", id="wrong-type"),
        pytest.param(LevelClaims, {"custom:level": "5"}, "custom:level", id="string-for-int"),
    ],
)
async def test_custom_claims_model_failure(
    pool: LocalUserPool, model: type[CognitoClaims], changes: dict[str, Any], claim: str
) -> None:
    token = pool.sign(payload_for(pool, "id", changes))
    with pytest.raises(InvalidClaimError) as info:
        await verifier_for(pool).verify(token, token_use="id", claims_model=model)
    assert info.type is InvalidClaimError
    assert info.value.claim == claim


@anyio
async def test_claims_and_header_are_immutable(pool: LocalUserPool) -> None:
    token = pool.sign(payload_for(pool, changes={"cognito:groups": ["users"]}))
    verifier = verifier_for(pool)
    await verifier.verify(token, token_use="access")
    claims, header, _ = await verifier._verify_fetching(token, "access", CognitoClaims)
    with pytest.raises(ValidationError):
        claims.username = "mallory"  # type: ignore[misc]
    with pytest.raises(TypeError):
        header["alg"] = "none"  # type: ignore[index]
    claims["cognito:groups"].append("admin")
    again = await verifier.verify(token, token_use="access")
    assert again is claims  # served from the cache, unchanged
    assert again["cognito:groups"] == ["users"]
    assert again.groups == ("users",)


@anyio
@pytest.mark.parametrize(
    ("scope", "scopes"),
    [
        pytest.param("openid  api/read", ("openid", "api/read"), id="double-space"),
        pytest.param("openid\tapi/read", ("openid\tapi/read",), id="tab-kept"),
        pytest.param(" api/read ", ("api/read",), id="outer-spaces"),
        pytest.param("", (), id="empty"),
        pytest.param(MISSING, (), id="missing"),
    ],
)
async def test_scope_split_on_single_spaces(
    pool: LocalUserPool, scope: Any, scopes: tuple[str, ...]
) -> None:
    token = pool.sign(payload_for(pool, changes={"scope": scope}))
    assert (await verifier_for(pool).verify(token, token_use="access")).scopes == scopes


@anyio
@pytest.mark.parametrize(
    "changes",
    [
        pytest.param({"cognito:groups": "admin"}, id="groups-string"),
        pytest.param({"cognito:groups": ["admin", 5]}, id="groups-non-string-member"),
        pytest.param({"cognito:groups": {"admin": True}}, id="groups-object"),
        pytest.param({"cognito:groups": None}, id="groups-null"),
        pytest.param({"scope": ["api/read"]}, id="scope-list"),
        pytest.param({"scope": 5}, id="scope-number"),
    ],
)
async def test_authorization_claim_types(pool: LocalUserPool, changes: dict[str, Any]) -> None:
    await rejects(verifier_for(pool), pool.sign(payload_for(pool, changes=changes)),
                  InvalidClaimError)  # fmt: skip


# -- check_claims, pure -------------------------------------------------------------------


def _check(payload: dict[str, Any], token_use: str = "access", **options: Any) -> None:
    arguments: dict[str, Any] = {
        "token_use": token_use,
        "issuers": [ISS],
        "client_ids": [CLIENT],
        "leeway": 0.0,
        "now": NOW,
    }
    check_claims(payload, **{**arguments, **options})


def _payload(**claims: Any) -> dict[str, Any]:
    base = {"iss": ISS, "token_use": "access", "client_id": CLIENT, **TIMES}
    return {name: value for name, value in {**base, **claims}.items() if value is not MISSING}


def test_check_claims_accepts_both_kinds() -> None:
    _check(_payload())  # raises if refused
    _check(_payload(token_use="id", client_id=MISSING, aud=CLIENT), "id")
    with pytest.raises(InvalidTokenUseError):
        _check(_payload(), "id")


@pytest.mark.parametrize(
    ("claims", "expected"),
    [
        pytest.param({"iss": "x", "token_use": "id", "client_id": "x", "exp": 0},
                     InvalidIssuerError, id="issuer-first"),
        pytest.param({"token_use": "id", "client_id": "x", "exp": 0}, InvalidTokenUseError,
                     id="token-use-second"),
        pytest.param({"client_id": "x", "exp": 0}, InvalidClientError, id="client-third"),
        pytest.param({"exp": NOW - 1, "iat": "x"}, InvalidClaimError, id="types-before-times"),
        pytest.param({"exp": NOW - 1, "iat": NOW + 3600}, TokenExpiredError, id="exp-before-iat"),
        pytest.param({"nbf": NOW + 1, "iat": NOW + 3600}, TokenNotYetValidError,
                     id="nbf-before-iat"),
    ],
)  # fmt: skip
def test_check_claims_order(claims: dict[str, Any], expected: type[TokenError]) -> None:
    with pytest.raises(TokenError) as info:
        _check(_payload(**claims))
    assert info.type is expected


@pytest.mark.parametrize(
    ("now", "leeway", "expected"),
    [
        pytest.param(NOW + 3599, 0, None, id="last-second"),
        pytest.param(NOW + 3599.999, 0, None, id="fraction-before"),
        pytest.param(NOW + 3600, 0, TokenExpiredError, id="at-exp"),
        pytest.param(NOW + 3629.5, 30, None, id="in-leeway"),
        pytest.param(NOW + 3630, 30, TokenExpiredError, id="end-of-leeway"),
    ],
)
def test_check_claims_expiry_boundary(
    now: float, leeway: float, expected: type[TokenError] | None
) -> None:
    if expected is None:
        _check(_payload(), now=now, leeway=leeway)
    else:
        with pytest.raises(expected):
            _check(_payload(), now=now, leeway=leeway)


def test_check_claims_accepts_any_collection() -> None:
    issuers = frozenset({ISS, f"{HOST}/eu-west-1_Second"})
    _check(_payload(iss=f"{HOST}/eu-west-1_Second"), issuers=issuers, client_ids=(CLIENT, "b"))
    with pytest.raises(InvalidIssuerError):
        _check(_payload(iss=ISS[:-1]), issuers=issuers)


# -- CognitoClaims ------------------------------------------------------------------------


def _model(**claims: Any) -> CognitoClaims:
    return CognitoClaims.model_validate(_payload(**{"sub": "u-1", **claims}))


def test_model_access_names() -> None:
    claims = _model(username="alice", aud="ignored")
    assert (claims.client_id, claims.username) == (CLIENT, "alice")


def test_model_id_names() -> None:
    claims = _model(token_use="id", client_id=MISSING, aud="c", **{"cognito:username": "bob"})
    assert (claims.client_id, claims.username) == ("c", "bob")


def test_model_prefers_client_id_and_cognito_username() -> None:
    # The verifier refuses tokens whose two spellings disagree; on its own the model reads
    # client_id before aud and cognito:username before username.
    claims = _model(token_use="id", aud="c", username="x", **{"cognito:username": "bob"})
    assert (claims.client_id, claims.username) == (CLIENT, "bob")


@pytest.mark.parametrize(
    ("scope", "scopes"),
    [
        ("a b", ("a", "b")),
        ("a  b", ("a", "b")),
        ("a\tb c", ("a\tb", "c")),
        ("a\nb", ("a\nb",)),
        ("a\u00a0b", ("a\u00a0b",)),
        ("", ()),
        ("   ", ()),
    ],
    ids=["single", "double", "tab", "newline", "nbsp", "empty", "spaces"],
)
def test_model_scope_split(scope: str, scopes: tuple[str, ...]) -> None:
    assert _model(scope=scope).scopes == scopes


def test_model_groups() -> None:
    assert _model().groups == ()
    assert _model(**{"cognito:groups": ["a", "b"]}).groups == ("a", "b")
    for bad in ("admin", ["admin", 5], {"admin": True}, None, [["admin"]]):
        with pytest.raises(ValidationError):
            _model(**{"cognito:groups": bad})


def test_model_is_strict() -> None:
    for claims in ({"exp": "1"}, {"exp": 1.0}, {"iat": True}, {"token_use": "refresh"},
                   {"sub": 1}, {"client_id": MISSING}, {"scope": ["a"]}):  # fmt: skip
        with pytest.raises(ValidationError):
            _model(**claims)


def test_model_item_access_copies() -> None:
    claims = _model(**{"cognito:groups": ["users"], "custom:tags": {"a": [1]}})
    claims["custom:tags"]["a"].append(2)
    claims["cognito:groups"].append("admin")
    assert claims["custom:tags"] == {"a": [1]}
    assert claims["cognito:groups"] == ["users"]
    assert claims.get("custom:tags") == {"a": [1]}
    assert "custom:tags" in claims and 5 not in claims
    with pytest.raises(ValidationError):
        claims.sub = "x"  # type: ignore[misc]


# -- the fast construction path must build exactly what validation builds -----------------

_VALUES: list[Any] = [
    MISSING, None, "", "alice", "access", "id", 0, 7, True, 1.5, [], ["a"], ["a", 1], {},
]  # fmt: skip
_NAMES = [
    "sub", "iss", "token_use", "exp", "iat", "auth_time", "jti", "origin_jti", "client_id",
    "aud", "username", "cognito:username", "cognito:groups", "scope", "payload", "email",
]  # fmt: skip


def _validated(payload: dict[str, Any]) -> CognitoClaims | None:
    try:
        return CognitoClaims.model_validate(payload)
    except ValidationError:
        return None


def _assert_same_as_validation(payload: dict[str, Any]) -> bool:
    fast = _build_plain(payload, MappingProxyType(payload))
    if fast is None:
        return False
    slow = _validated(dict(payload))
    assert slow is not None, payload
    assert fast == slow
    assert fast.model_fields_set == slow.model_fields_set
    assert fast.model_dump() == slow.model_dump()
    assert repr(fast) == repr(slow)
    assert (fast.scopes, dict(fast.payload)) == (slow.scopes, dict(slow.payload))
    return True


@pytest.mark.parametrize("kind", ["access", "id", "m2m"])
@pytest.mark.parametrize("groups", [(), ("users", "admin")], ids=["no-groups", "groups"])
def test_fast_path_builds_cognito_shaped_claims_as_validation_does(
    pool: LocalUserPool, kind: str, groups: tuple[str, ...]
) -> None:
    if kind == "access":
        payload = pool.access_claims(groups=groups)
    elif kind == "id":
        payload = pool.id_claims(groups=groups, claims={"email": "a@example.com"})
    else:
        payload = pool.access_claims(groups=groups, claims={"username": None})
    assert _assert_same_as_validation(payload)  # and it did take the fast path


def test_fast_path_never_disagrees_with_validation() -> None:
    rng = random.Random(20261122)
    base = _payload(sub="u-1", username="alice", scope="openid")
    taken = 0
    for _ in range(4000):
        payload = dict(base)
        for name in rng.sample(_NAMES, rng.randint(1, 4)):
            value = rng.choice(_VALUES)
            if value is MISSING:
                payload.pop(name, None)
            else:
                payload[name] = copy.deepcopy(value)
        taken += _assert_same_as_validation(payload)
    assert 200 < taken < 4000  # both paths were exercised


def test_subclasses_are_always_validated(pool: LocalUserPool) -> None:
    class Plain(CognitoClaims):
        pass

    claims = build_claims(Plain, pool.access_claims())
    assert type(claims) is Plain


def test_claims_of_one_shape_share_a_fields_set_that_nothing_changes(pool: LocalUserPool) -> None:
    # The fast path shares one fields-set per shape (memory); copies must not write through it.
    first = build_claims(CognitoClaims, pool.access_claims(username="alice"))
    second = build_claims(CognitoClaims, pool.access_claims(username="bob"))
    shared = first.model_fields_set
    assert second.model_fields_set is shared
    before = set(shared)
    updated = first.model_copy(update={"scope": "x"})
    shallow = copy.copy(first)
    for other in (updated, shallow):
        assert other.model_fields_set is not shared
    assert shared == before
    assert "scope" in updated.model_fields_set
    with pytest.raises(ValidationError):
        first.scope = "y"  # type: ignore[misc]
    assert shared == before
