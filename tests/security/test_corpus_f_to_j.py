"""The attack corpus of research/security.md §3, groups F-J, and the count of all 62 cases.

F (time claims), G (issuer), H (token kind and client binding), I (scope and groups) and
J (response hygiene). Request cases run through `run_case` of test_corpus_a_to_e.py: a new
app with a cold key cache per case, the exact status, challenge and body, nothing of the token
echoed in the answer or the logs, and no request but to the configured JWKS URL (which is how
case 46 shows that the other pool's JWKS is never fetched). Every time claim is relative to the
fixed `NOW` the app's verifiers use as their clock.

Case 47 is a configuration check; 59-62 check properties of the whole corpus; the last test
asserts that all 62 research cases are covered.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Mapping
from typing import Any

import pytest
from fastapi.testclient import TestClient

from fastapi_cognito_jwt import CognitoBearer, CognitoVerifier, ConfigurationError, JWKSCache
from tests.answers import BAD_REQUEST, EXPIRED, FORBIDDEN, INVALID
from tests.security.conftest import (
    CLIENT_A,
    CLIENT_B,
    DROP,
    FIXED_CHALLENGES,
    ISS,
    JWKS_URL,
    KID1,
    NOW,
    POOL,
    JWKSMock,
    Keys,
    access_claims,
    baseline_jwks,
    corpus_settings,
    id_claims,
    make_app,
    raw_payload,
    rsa_jwk,
    send,
    sign,
)
from tests.security.test_corpus_a_to_e import (
    CASE_ID,
    CASES as CASES_A_TO_E,
    DEDICATED as DEDICATED_A_TO_E,
    GROUPS,
    Build,
    Case,
    JWKSVariant,
    acc,
    run_case,
    several,
    tok,
)

pytestmark = pytest.mark.security

POOL_B = "us-east-1_OtherPool"
ISS_B = f"https://cognito-idp.us-east-1.amazonaws.com/{POOL_B}"
JWKS_URL_B = f"{ISS_B}/.well-known/jwks.json"
DAY = 86_400


def idt(changes: Mapping[str, Any] | None = None, /, **more: Any) -> Build:
    """A K1-signed ID token with the claims changed."""
    return tok(payload=id_claims(changes, **more))


def exp_literal(literal: str) -> Build:
    """A K1-signed access token whose `exp` is the raw JSON text `literal`."""
    return tok(payload=raw_payload(access_claims(exp=DROP), f'"exp":{literal}'))


def with_pool_b(kid: str) -> JWKSVariant:
    """Pool A's baseline JWKS, and pool B's JWKS (KX under `kid`) served at B's URL."""
    return lambda k: {
        JWKS_URL: baseline_jwks(k),
        JWKS_URL_B: {"keys": [rsa_jwk(k.kx, kid)]},
    }


def pool_b_token(claims: dict[str, Any], kid: str = "kb") -> Build:
    """A token issued by pool B: `iss` is B's, signed with the key B publishes under `kid`."""
    return tok(header={"kid": kid, "alg": "RS256"}, payload={**claims, "iss": ISS_B}, key="kx")


CANARY = "CANARY"
CANARY_CLAIMS = {
    "sub": "CANARY-sub-0001",
    "username": "CANARY-user",
    "jti": "CANARY-jti-0001",
    "scope": "openid api/read CANARY/scope",
    "cognito:groups": ["users", "CANARY-group"],
    "custom:note": "CANARY-custom",
}
ISS_VARIANTS: dict[str, Any] = {
    "other-pool": ISS_B,
    "other-region": f"https://cognito-idp.us-west-2.amazonaws.com/{POOL}",
    "http-scheme": ISS.replace("https://", "http://"),
    "trailing-slash": ISS + "/",
    "uppercase-host": ISS.replace("cognito-idp", "COGNITO-IDP"),
    "lowercase-pool": ISS.replace("TestPool1", "testpool1"),
    "prefix-host-only": "https://cognito-idp.us-east-1.amazonaws.com",
    "prefix-http": "http",
    "superstring-x": ISS + "x",
    "superstring-dot-dot-other-pool": ISS + "/../us-east-1_OtherPool",
    "superstring-question-mark": ISS + "?",
    "superstring-space": ISS + " ",
    "superstring-zero-width-space": ISS + "\u200b",
    "list": [ISS],
    "null": None,
}

# fmt: off
CASES: list[Case] = [
    # -- F. time claims
    Case("F38-exp-one-second-ago", acc(exp=NOW - 1), EXPIRED),
    Case("F38-exp-equals-now", acc(exp=NOW), EXPIRED),
    Case("F38-exp-in-five-seconds-accepted", acc(exp=NOW + 5), None),
    Case("F39-exp-missing", acc(exp=DROP), INVALID),
    *(Case(f"F40-exp-{name}", acc(exp=value), INVALID)
      for name, value in [("string", "9999999999"), ("float", NOW + 3600.5), ("true", True),
                          ("false", False), ("null", None), ("empty-list", []),
                          ("empty-object", {}), ("zero", 0), ("minus-one", -1)]),
    *(Case(f"F41-exp-{name}", exp_literal(literal), INVALID)
      for name, literal in [("10-pow-400", str(10**400)), ("1e308", "1e308"),
                            ("1e309", "1e309"), ("infinity", "Infinity"),
                            ("minus-infinity", "-Infinity"), ("nan", "NaN")]),
    Case("F42-nbf-in-an-hour", acc(nbf=NOW + 3600), INVALID),
    Case("F42-nbf-string-zero", acc(nbf="0"), INVALID),
    Case("F42-nbf-now-accepted", acc(nbf=NOW), None),
    Case("F43-iat-a-million-seconds-ahead", acc(iat=NOW + 10**6), INVALID),
    Case("F43-iat-30-seconds-ahead-accepted", acc(iat=NOW + 30), None),
    Case("F43-iat-60-seconds-ahead-accepted", acc(iat=NOW + 60), None),
    Case("F43-iat-61-seconds-ahead", acc(iat=NOW + 61), INVALID),
    Case("F43-iat-missing", acc(iat=DROP), INVALID),
    Case("F43-iat-string", acc(iat="abc"), INVALID),
    Case("F43-iat-list", acc(iat=[1]), INVALID),
    Case("F44-lifetime-two-days", acc(iat=NOW - 10, exp=NOW + 2 * DAY), INVALID),
    Case("F44-lifetime-one-day-plus-one-second", acc(iat=NOW - 10, exp=NOW - 10 + DAY + 1),
         INVALID),
    Case("F44-lifetime-exactly-one-day-accepted", acc(iat=NOW - 10, exp=NOW - 10 + DAY), None),

    # -- G. issuer
    *(Case(f"G45-iss-{name}", acc(iss=value), INVALID) for name, value in ISS_VARIANTS.items()),
    Case("G45-iss-missing", acc(iss=DROP), INVALID),
    Case("G46-pool-b-access-token", pool_b_token(access_claims()), INVALID,
         jwks=with_pool_b("kb")),
    Case("G46-pool-b-id-token", pool_b_token(id_claims()), INVALID, path="/id",
         jwks=with_pool_b("kb")),
    Case("G46-pool-b-token-under-k1-kid", pool_b_token(access_claims(), kid=KID1), INVALID,
         jwks=with_pool_b(KID1)),

    # -- H. token kind and client binding
    Case("H48-id-token-with-admin-group-on-access", idt({"cognito:groups": ["admin"]}), INVALID),
    Case("H48-id-token-with-admin-group-on-admin", idt({"cognito:groups": ["admin"]}), INVALID,
         path="/admin"),
    Case("H48-id-token-on-scoped", idt(), INVALID, path="/access/scoped"),
    Case("H49-access-token-on-id", acc(), INVALID, path="/id"),
    Case("H49-id-token-on-id-accepted", idt(), None, path="/id"),
    *(Case(f"H50-token-use-{name}", acc(token_use=value), INVALID)
      for name, value in [("missing", DROP), ("empty", ""), ("uppercase", "ACCESS"),
                          ("trailing-space", "access "), ("zero-width-space", "acc\u200bess"),
                          ("list", ["access"]), ("refresh", "refresh"), ("id", "id")]),
    Case("H51-client-id-of-another-client", acc(client_id=CLIENT_B), INVALID),
    *(Case(f"H52-client-id-{name}", acc(client_id=value), INVALID)
      for name, value in [("missing", DROP), ("list", [CLIENT_A]), ("trailing-space",
                                                                   CLIENT_A + " ")]),
    Case("H53-aud-client-a-client-id-client-b", acc(aud=CLIENT_A, client_id=CLIENT_B), INVALID),
    Case("H53-aud-client-a-no-client-id", acc(aud=CLIENT_A, client_id=DROP), INVALID),
    *(Case(f"H54-id-aud-{name}", idt(aud=value), INVALID, path="/id")
      for name, value in [("other-client", CLIENT_B), ("missing", DROP),
                          ("list-with-extra", [CLIENT_A, "x"]), ("list", [CLIENT_A]),
                          ("trailing-space", CLIENT_A + " ")]),
    Case("H55-id-client-id-a-aud-b", idt(client_id=CLIENT_A, aud=CLIENT_B), INVALID, path="/id"),
    Case("H55-id-aud-a-client-id-b", idt(client_id=CLIENT_B, aud=CLIENT_A), INVALID, path="/id"),

    # -- I. scope and groups
    Case("I56-groups-users-on-admin", acc(), FORBIDDEN, path="/admin"),
    Case("I56-groups-missing-on-admin", acc({"cognito:groups": DROP}), FORBIDDEN, path="/admin"),
    Case("I56-groups-with-admin-accepted", acc({"cognito:groups": ["users", "admin"]}), None,
         path="/admin"),
    *(Case(f"I57-groups-{name}", acc({"cognito:groups": value}), expected, path="/admin")
      for name, value, expected in [
          ("string-admin", "admin", INVALID), ("string-superadmin", "superadmin", INVALID),
          ("string-not-admin", "not-admin", INVALID), ("list-with-number", ["admin", 5], INVALID),
          ("object", {"admin": True}, INVALID), ("null", None, INVALID),
          ("capitalised", ["Admin"], FORBIDDEN), ("trailing-space", ["admin "], FORBIDDEN),
          ("superadmin-in-list", ["superadmin"], FORBIDDEN)]),
    *(Case(f"I58-scope-{name}", acc(scope=value), expected, path="/access/scoped")
      for name, value, expected in [
          ("list", ["api/read"], INVALID), ("suffix", "api/readx", FORBIDDEN),
          ("prefix", "xapi/read", FORBIDDEN), ("dotted", "api/read.write", FORBIDDEN),
          ("tab-separated", "openid\tapi/read", FORBIDDEN), ("empty", "", FORBIDDEN),
          ("missing", DROP, FORBIDDEN)]),
    Case("I58-scope-double-space-accepted", acc(scope="openid  api/read"), None,
         path="/access/scoped"),
    Case("I58-scope-accepted", acc(), None, path="/access/scoped"),

    # -- J.61 canaries: claim values and a kid that no answer or log may contain
    Case("J61-canary-forbidden", acc(CANARY_CLAIMS), FORBIDDEN, path="/admin", echo=(CANARY,)),
    Case("J61-canary-other-client", acc(CANARY_CLAIMS, client_id="CANARYclient"), INVALID,
         echo=(CANARY,)),
    Case("J61-canary-expired", acc(CANARY_CLAIMS, exp=NOW - 1), EXPIRED, echo=(CANARY,)),
    Case("J61-canary-unknown-kid",
         tok(header={"kid": "CANARY-kid", "alg": "RS256"}, payload=access_claims(CANARY_CLAIMS),
             key="kx"), INVALID, echo=(CANARY,)),
    Case("J61-canary-claims-model-error",
         acc(CANARY_CLAIMS, **{"cognito:groups": {"CANARY-key": [CANARY]}}), INVALID,
         path="/admin", echo=(CANARY,)),
    Case("J61-canary-two-headers", several("Bearer CANARY.token", "Bearer CANARY.other"),
         BAD_REQUEST, echo=(CANARY,)),
]
# fmt: on


@pytest.mark.anyio
@pytest.mark.parametrize("case", [pytest.param(case, id=case.id) for case in CASES])
async def test_corpus(case: Case, keys: Keys, library_logs: pytest.LogCaptureFixture) -> None:
    await run_case(case, keys, library_logs)


ALL_CASES = CASES_A_TO_E + CASES
DEDICATED = {
    "G47-unsafe-pool-or-region": "test_g47_unsafe_pool_or_region_is_a_configuration_error",
    "J59-harness-raises-on-500": "test_j59_the_harness_raises_instead_of_answering_500",
    "J59-testclient-sweep": "test_j59_no_case_raises_under_testclient",
    "J60-fixed-challenges": "test_j60_challenges_are_fixed_rfc6750_strings",
    "J62-header-level-cases-never-fetch": "test_j62_header_level_cases_are_all_nofetch",
}
"""Research cases with a test of their own: case id -> test function in this module."""


# -- G.47: configuration --------------------------------------------------------------------


@pytest.mark.parametrize(
    "fields",
    [
        pytest.param({"user_pool_id": "us-east-1_abc/../../x"}, id="G47-pool-id-path-traversal"),
        pytest.param({"region": "evil.test#"}, id="G47-region-fragment"),
        pytest.param({"user_pool_id": "us-east-1_abc@evil.test"}, id="G47-pool-id-at-sign"),
        pytest.param({"user_pool_id": "us-east-1_abc?x=1"}, id="G47-pool-id-query"),
        pytest.param({"user_pool_id": "us-east-1_abc#x"}, id="G47-pool-id-fragment"),
        pytest.param({"user_pool_id": "us-east-1_a%2F..%2Fx"}, id="G47-pool-id-percent-encoded"),
        pytest.param({"region": "us-east-1.evil.test"}, id="G47-region-with-host"),
        pytest.param({"region": "evil.test/x"}, id="G47-region-slash"),
    ],
)
def test_g47_unsafe_pool_or_region_is_a_configuration_error(fields: dict[str, Any]) -> None:
    """G47: a pool id or region that could steer the JWKS URL is refused at construction."""
    with pytest.raises(ConfigurationError) as info:
        corpus_settings(**fields)
    for value in fields.values():
        assert value not in str(info.value)  # the message names the field, not the value
    base = {"user_pool_id": POOL, "client_ids": [CLIENT_A], **fields}
    with pytest.raises(ConfigurationError):
        CognitoBearer(token_use="access", **base)
    with pytest.raises(ConfigurationError):
        CognitoVerifier(**base)
    with pytest.raises(ConfigurationError):
        JWKSCache(**base)
    assert corpus_settings().resolved_jwks_url == JWKS_URL  # control


# -- J. response hygiene across the corpus --------------------------------------------------


@pytest.mark.anyio
async def test_j59_the_harness_raises_instead_of_answering_500(
    keys: Keys, jwks: JWKSMock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """J59: the corpus's transport would raise on a 500, so no case passing means none did."""

    def crash(*args: Any) -> Any:
        raise RuntimeError("boom")

    app = make_app(jwks).app
    monkeypatch.setattr(CognitoVerifier, "_verify_now", crash)
    with pytest.raises(RuntimeError, match="boom"):
        await send(app, "/access", [(b"authorization", b"Bearer " + sign(keys.k1).encode())])


def test_j59_no_case_raises_under_testclient(keys: Keys) -> None:
    """J59: every request case, through `TestClient(raise_server_exceptions=True)`."""
    for case in ALL_CASES:
        documents = case.jwks(keys) if case.jwks else {JWKS_URL: baseline_jwks(keys)}
        app = make_app(JWKSMock(documents), **case.settings).app
        with TestClient(app, raise_server_exceptions=True) as client:
            response = client.get(case.path, headers=case.build(keys))
        expected = 200 if case.expected is None else case.expected[0]
        assert response.status_code == expected, case.id


# RFC 6750 §3: error codes are fixed tokens; error_description is %x20-21 / %x23-5B / %x5D-7E.
CHALLENGE_GRAMMAR = re.compile(
    r'Bearer( error="(invalid_request|invalid_token|insufficient_scope)"'
    r'(, error_description="[\x20\x21\x23-\x5b\x5d-\x7e]*")?)?'
)


def test_j60_challenges_are_fixed_rfc6750_strings() -> None:
    """J60: each challenge a case expects (and `run_case` asserts) is fixed and well-formed."""
    for challenge in FIXED_CHALLENGES:
        assert CHALLENGE_GRAMMAR.fullmatch(challenge), challenge
    for case in ALL_CASES:
        if case.expected is not None:
            assert case.expected[1] in FIXED_CHALLENGES, case.id
    seen = {case.expected[1] for case in ALL_CASES if case.expected is not None}
    assert seen == FIXED_CHALLENGES  # the corpus reaches every answer the library has


# research §3.J.62: the cases whose rejection must not fetch the JWKS, even on a cold cache.
NOFETCH_NUMBERS = {*range(1, 15), 19, 20, 21, 25, 26}


def test_j62_header_level_cases_are_all_nofetch() -> None:
    """J62: every rejection in cases 1-14, 19-21, 25-26 is checked not to fetch the JWKS."""
    for case in ALL_CASES:
        if case.number in NOFETCH_NUMBERS and case.expected is not None:
            assert case.nofetch, f"{case.id} does not check that the JWKS stays unfetched"
    covered = {case.number for case in ALL_CASES if case.nofetch}
    # Case 3 is controls only (a valid token must be accepted, and so fetches the keys).
    assert covered >= NOFETCH_NUMBERS - {3}
    assert all(case.expected is None for case in ALL_CASES if case.number == 3)


def test_all_62_research_cases_are_covered() -> None:
    """Every case of research §3 (1-62) has at least one request case or a test of its own."""
    ids = [case.id for case in ALL_CASES]
    assert len(ids) == len(set(ids)), "duplicate case ids"
    modules = [
        (sys.modules["tests.security.test_corpus_a_to_e"], DEDICATED_A_TO_E),
        (sys.modules[__name__], DEDICATED),
    ]
    numbers = {case.number for case in ALL_CASES}
    for module, dedicated in modules:
        for case_id, function in dedicated.items():
            assert callable(getattr(module, function, None)), function
            ids.append(case_id)
    for case_id in ids:
        match = CASE_ID.fullmatch(case_id)
        assert match, case_id
        assert int(match["number"]) in GROUPS[match["group"]], f"{case_id}: wrong group"
        numbers.add(int(match["number"]))
    assert numbers == set(range(1, 63)), sorted(set(range(1, 63)) - numbers)
