"""Cognito's claim rules (`check_claims`) and the claims model (`CognitoClaims`, `build_claims`):
the order of the rules, their exact boundaries, and what the model holds. Claims an attacker
can send are refused through the whole app in tests/security/test_attack_corpus.py."""

from __future__ import annotations

from types import MappingProxyType
from typing import Any

import pytest
from pydantic import Field, ValidationError, create_model, model_validator

import fastapi_cognito_jwt as fcj
from fastapi_cognito_jwt._verification.claims import build_claims, check_claims
from fastapi_cognito_jwt.testing import LocalUserPool
from tests.helpers import segments

NOW = 1_700_000_000
ISS = "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_Pool1"
ISS2 = ISS.replace("Pool1", "Pool2")
CLIENT = "client0"
API = "https://api.example.com"
MISSING: Any = object()  # in a change set: remove the claim
ID = {"token_use": "id", "client_id": MISSING, "aud": CLIENT}


def payload(**claims: Any) -> dict[str, Any]:
    base = {"sub": "u-1", "iss": ISS, "token_use": "access", "client_id": CLIENT,
            "iat": NOW - 10, "exp": NOW + 3600}  # fmt: skip
    return {name: value for name, value in {**base, **claims}.items() if value is not MISSING}


# fmt: off
CHECKS: dict[str, tuple[dict[str, Any], dict[str, Any], type[fcj.TokenError] | None]] = {
    # accepted shapes
    "access": ({}, {}, None),
    "id": (ID, {"token_use": "id"}, None),
    "id-client-id-agrees-with-aud": ({**ID, "client_id": CLIENT}, {"token_use": "id"}, None),
    "access-usernames-agree": ({"username": "a", "cognito:username": "a"}, {}, None),
    # resource binding: an access token's aud names the API it was issued for
    "access-aud-without-resource-ids": ({"aud": CLIENT}, {}, fcj.InvalidAudienceError),
    "access-aud-is-a-resource-id": ({"aud": API}, {"resource_ids": {API, "b"}}, None),
    "access-aud-list-names-one": ({"aud": ["x", API]}, {"resource_ids": {API}}, None),
    "access-aud-another-resource": ({"aud": "x"}, {"resource_ids": {API}},
                                    fcj.InvalidAudienceError),
    "access-aud-empty-list": ({"aud": []}, {"resource_ids": {API}}, fcj.InvalidAudienceError),
    "access-aud-not-strings": ({"aud": [API, 1]}, {"resource_ids": {API}},
                               fcj.InvalidAudienceError),
    "access-aud-prefix": ({"aud": API + "/"}, {"resource_ids": {API}}, fcj.InvalidAudienceError),
    "access-no-aud-is-unbound": ({}, {"resource_ids": {API}}, None),
    "id-aud-is-the-client-not-a-resource": ({**ID, "aud": API}, {"token_use": "id",
                                            "resource_ids": {API}}, fcj.InvalidClientError),
    "any-collections": ({"iss": ISS2, "client_id": "b"},
                        {"issuers": frozenset({ISS, ISS2}), "client_ids": ["x", "b"]}, None),
    "any-collections-exact": ({"iss": ISS[:-1]}, {"issuers": frozenset({ISS, ISS2})},
                              fcj.InvalidIssuerError),
    # the order of the rules
    "issuer-first": ({"iss": "x", "token_use": "id", "client_id": "x", "exp": 0}, {},
                     fcj.InvalidIssuerError),
    "token-use-second": ({"token_use": "id", "client_id": "x"}, {}, fcj.InvalidTokenUseError),
    "client-third": ({"client_id": "x", "exp": 0, "iat": "x"}, {}, fcj.InvalidClientError),
    "types-before-times": ({"exp": NOW - 1, "iat": "x"}, {}, fcj.InvalidClaimError),
    "exp-before-iat": ({"exp": NOW - 1, "iat": NOW + 3600}, {}, fcj.TokenExpiredError),
    "nbf-before-iat": ({"nbf": NOW + 1, "iat": NOW + 3600}, {}, fcj.TokenNotYetValidError),
    "exp-before-nbf": ({"exp": NOW - 1, "nbf": NOW + 1}, {}, fcj.TokenExpiredError),
    # the time boundaries (those without leeway are in the attack corpus)
    "last-second": ({}, {"now": NOW + 3599}, None),
    "fraction-before-exp": ({}, {"now": NOW + 3599.999}, None),
    "in-leeway": ({}, {"now": NOW + 3629.5, "leeway": 30}, None),
    "end-of-leeway": ({}, {"now": NOW + 3630, "leeway": 30}, fcj.TokenExpiredError),
    "expired-5s-leeway-10": ({"exp": NOW - 5}, {"leeway": 10}, None),
    "expired-10s-leeway-10": ({"exp": NOW - 10}, {"leeway": 10}, fcj.TokenExpiredError),
    "nbf-past": ({"nbf": NOW - 100}, {}, None),
    "nbf-5s-leeway-10": ({"nbf": NOW + 5}, {"leeway": 10}, None),
    "iat-70s-leeway-10": ({"iat": NOW + 70}, {"leeway": 10}, None),
    "iat-71s-leeway-10": ({"iat": NOW + 71}, {"leeway": 10}, fcj.TokenNotYetValidError),
}
# fmt: on


@pytest.mark.parametrize(("claims", "options", "expected"), CHECKS.values(), ids=CHECKS)
def test_check_claims(
    claims: dict[str, Any], options: dict[str, Any], expected: type[fcj.TokenError] | None
) -> None:
    arguments = {"token_use": "access", "issuers": (ISS,), "client_ids": (CLIENT,),
                 "resource_ids": frozenset(), "leeway": 0.0, "now": NOW, **options}  # fmt: skip
    if expected is None:
        check_claims(payload(**claims), **arguments)  # raises if refused
    else:
        with pytest.raises(fcj.TokenError) as info:
            check_claims(payload(**claims), **arguments)
        assert info.type is expected


@pytest.mark.parametrize("name", ["exp", "iat", "nbf"])
@pytest.mark.parametrize(
    "value", [MISSING, None, True, False, 0, -1, 1.5, float(NOW), 2**53, "1", [NOW]], ids=repr
)
def test_time_claims_must_be_positive_integers(name: str, value: Any) -> None:
    if name == "nbf" and value is MISSING:
        return  # nbf is optional; absent, it is not checked
    with pytest.raises(fcj.InvalidClaimError) as info:
        check_claims(payload(**{name: value}), "access", (ISS,), (CLIENT,), (), 0.0, NOW)
    assert info.type is fcj.InvalidClaimError and info.value.claim == name


class RoleClaims(fcj.CognitoClaims):
    role: str = Field(alias="custom:role")


Base = fcj.CognitoClaims
LevelClaims = create_model("LevelClaims", __base__=Base, level=(int, Field(alias="custom:level")))
Preferences = create_model("Preferences", __base__=Base, prefs=(dict[str, int], ...))


class NoAlice(fcj.CognitoClaims):
    @model_validator(mode="after")
    def _not_alice(self) -> NoAlice:
        if self.username == "alice":
            raise ValueError("no alice")
        return self


# fmt: off
READS: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    "access": ({"username": "alice", "aud": "x"}, {"client_id": CLIENT, "username": "alice"}),
    "id": ({**ID, "cognito:username": "bob"}, {"client_id": CLIENT, "username": "bob"}),
    "client-id-and-cognito-username-first": (
        {**ID, "aud": "c", "client_id": "a", "username": "x", "cognito:username": "b"},
        {"client_id": "a", "username": "b"}),
    "no-username": ({}, {"username": None}),
    "groups": ({"cognito:groups": ["a", "b"]}, {"groups": ("a", "b")}),
    "no-groups": ({}, {"groups": ()}),
    **{f"scope-{name}": ({"scope": scope}, {"scopes": scopes}) for name, scope, scopes in [
        ("single", "a b", ("a", "b")), ("outer", " a ", ("a",)), ("newline", "a\nb", ("a\nb",)),
        ("nbsp", "a\u00a0b", ("a\u00a0b",)), ("spaces", "   ", ()), ("null", None, ())]},
}
# fmt: on


@pytest.mark.parametrize(("claims", "expected"), READS.values(), ids=READS)
def test_model_reads(claims: dict[str, Any], expected: dict[str, Any]) -> None:
    model = fcj.CognitoClaims.model_validate(payload(**claims))
    assert {name: getattr(model, name) for name in expected} == expected


def test_claims_by_wire_name_are_read_only_copies() -> None:
    source = payload(**{"cognito:groups": ["users"], "custom:tags": {"a": [1]}, "email": "e"})
    claims = fcj.CognitoClaims.model_validate(source)
    source["email"] = "changed"
    claims["custom:tags"]["a"].append(2)
    claims["cognito:groups"].append("admin")
    assert claims.groups == ("users",) and claims["cognito:groups"] == ["users"]
    assert claims["custom:tags"] == {"a": [1]} == claims.get("custom:tags")
    assert claims["email"] == "e" and claims.get("missing") is None and claims.get("x", 1) == 1
    assert "email" in claims and "missing" not in claims and 5 not in claims
    with pytest.raises(KeyError):
        claims["missing"]
    with pytest.raises(TypeError):
        claims.payload["email"] = "x"  # type: ignore[index]
    with pytest.raises(ValidationError):
        claims.sub = "x"  # type: ignore[misc]
    assert "payload" not in claims.model_dump() and "payload" not in repr(claims)
    view = MappingProxyType(payload())
    assert fcj.CognitoClaims.model_validate(view).payload is view  # handed over, not copied
    with pytest.raises(ValidationError):
        fcj.CognitoClaims.model_validate(["not", "a", "mapping"])


@pytest.mark.parametrize(
    ("kind", "changes"),
    [("access", {}), ("access", {"cognito:groups": ["a", "b"], "scope": "x  y\tz"}),
     ("access", {"auth_time": None, "jti": None, "username": None}),
     ("access", {"auth_time": MISSING, "origin_jti": MISSING}),
     ("id", {"client_id": "c", "username": "y", "payload": 1}),
     ("id", {"cognito:groups": [], "scope": ""}), ("m2m", {})],
    ids=["access", "groups", "nulls", "missing", "id-odd-names", "id-empty", "client-credentials"],
)  # fmt: skip
def test_build_claims_into_the_model_or_a_subclass(
    pool: LocalUserPool, kind: str, changes: dict[str, Any]
) -> None:
    minted = {
        "access": lambda: pool.access_claims(),
        "id": lambda: pool.id_claims(claims={"email": "a@x.test"}),
        "m2m": lambda: segments(pool.m2m_token(scopes=["api/read", "api/write"]))[1],
    }[kind]()
    source = {n: v for n, v in {**minted, **changes}.items() if v is not MISSING}
    plain = build_claims(fcj.CognitoClaims, dict(source))
    sub = build_claims(RoleClaims, {**source, "custom:role": "r"})
    assert type(plain) is fcj.CognitoClaims and type(sub) is RoleClaims and sub.role == "r"
    fields = [name for name in [*fcj.CognitoClaims.model_fields, "scopes"] if name != "payload"]
    assert [getattr(plain, f) for f in fields] == [getattr(sub, f) for f in fields]
    assert (plain.sub, plain.iss, plain.exp) == (source["sub"], source["iss"], source["exp"])
    assert (dict(plain.payload), dict(sub.payload)) == (source, {**source, "custom:role": "r"})
    if kind == "m2m":
        assert plain.username is None and plain.sub == plain.client_id == pool.client_id
        assert (plain.scopes, plain.groups) == (("api/read", "api/write"), ())


@pytest.mark.parametrize(
    ("model", "changes", "claim"),
    [
        pytest.param(RoleClaims, {}, "custom:role", id="custom-missing"),
        pytest.param(RoleClaims, {"custom:role": 5}, "custom:role", id="custom-wrong-type"),
        pytest.param(LevelClaims, {"custom:level": "5"}, "custom:level", id="string-for-int"),
        pytest.param(Preferences, {"prefs": {"a@x.test-SECRET": "x"}}, "prefs", id="nested-key"),
        pytest.param(NoAlice, {"username": "alice"}, "", id="model-level-error"),
        *(pytest.param(fcj.CognitoClaims, {name: value}, name, id=f"{name}-{value!r}")
          for name, value in [("sub", MISSING), ("sub", 5), ("username", 5),
                              ("cognito:username", ["a"]), ("auth_time", "1"), ("auth_time", True),
                              ("jti", 5), ("origin_jti", ["x"]), ("exp", "1"), ("exp", 1.0),
                              ("iat", True), ("token_use", "refresh"), ("client_id", MISSING),
                              ("cognito:groups", [["admin"]])]),
    ],
)  # fmt: skip
def test_build_claims_failure_names_only_the_claim(
    model: type[fcj.CognitoClaims], changes: dict[str, Any], claim: str
) -> None:
    with pytest.raises(fcj.InvalidClaimError) as info:
        build_claims(model, payload(**changes))
    assert info.type is fcj.InvalidClaimError and info.value.claim == claim
    assert "SECRET" not in str(info.value)  # a claim's own keys are token content
