"""`CognitoSettings` and `load_settings`: defaults, derived values, the environment, validation.

Every invalid configuration raises `ConfigurationError` (never pydantic's `ValidationError`)
naming the field, and its message never echoes the value refused. Nothing here touches the
network.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, cast

import pytest
from pydantic import SecretStr, ValidationError

import fastapi_cognito_jwt as fcj
from fastapi_cognito_jwt import CognitoSettings, ConfigurationError
from fastapi_cognito_jwt._settings import DEFAULT_WRITABLE_ATTRIBUTES, load_settings

POOL_ID = "eu-west-1_AbC123"
CLIENT = "3n4b5urk1ft4fl3mg5e62d9ado"
ISS = f"https://cognito-idp.eu-west-1.amazonaws.com/{POOL_ID}"
JWKS_URL = f"{ISS}/.well-known/jwks.json"
SECRET = S = "AKIAsekrit9Zq7Xw"  # secret-looking text: never in an error message
CLIENT_SECRET = "1example23secret456789abcdefghijklmnopqrstuvwxyz0"
LOCAL_POOL = "http://127.0.0.1:9229/local_abc"  # an emulator's pool, whose id names no region
NO_REGION: dict[str, Any] = {"user_pool_id": "local_abc", "issuers": [LOCAL_POOL]}
NO_REGION["jwks_url"] = f"{LOCAL_POOL}/.well-known/jwks.json"


def make(**fields: Any) -> CognitoSettings:
    """Settings for POOL_ID and CLIENT with `fields` overriding (None removes one)."""
    values = {"user_pool_id": POOL_ID, "client_ids": [CLIENT], **fields}
    return CognitoSettings(**{name: value for name, value in values.items() if value is not None})


def refused(**fields: Any) -> str:
    """Assert the fields are refused with ConfigurationError alone; return its message."""
    with pytest.raises(ConfigurationError) as info:
        make(**fields)
    assert not isinstance(info.value, ValidationError)
    # Raised `from None`: pydantic's error (which holds the input) is not chained.
    assert info.value.__cause__ is None and info.value.__suppress_context__
    message = str(info.value)
    assert message.startswith("invalid Cognito settings: ")
    assert repr(info.value).count(SECRET) == message.count(SECRET) == 0
    return message


def pairs(table: dict[str, list[Any]]) -> list[tuple[str, Any]]:
    """(name, value) for each value listed under each name."""
    return [(name, value) for name, values in table.items() for value in values]


def environment(monkeypatch: pytest.MonkeyPatch, **variables: str) -> None:
    """Set COGNITO_<NAME> for each variable, over a valid pool id and client id."""
    variables = {"user_pool_id": POOL_ID, "client_ids": CLIENT, **variables}
    for name, value in variables.items():
        monkeypatch.setenv(f"COGNITO_{name.upper()}", value)


def test_defaults() -> None:
    settings = make()
    assert settings.model_dump() == {
        "user_pool_id": POOL_ID, "client_ids": [CLIENT], "region": None, "issuers": None,
        "jwks_url": None, "allow_insecure_jwks_url": False, "leeway": 0.0, "jwks_ttl": 600.0,
        "jwks_miss_cooldown": 30.0, "jwks_max_stale": 86400.0, "http_timeout": 5.0,
        "max_token_bytes": 16384, "token_cache_size": 10000, "idp_endpoint": None,
        "allow_insecure_idp_endpoint": False, "client_secret": None, "additional_pools": [],
        "resource_ids": [], "sign_in_flow": "USER_SRP_AUTH",
        "revocation_max_lifetime": 86400.0, "revocation_max_stale": 5.0,
        "revocation_fail_open": False,
        "writable_attributes": list(DEFAULT_WRITABLE_ATTRIBUTES), "refresh_token_rotation": False,
        "trusted_proxies": [], "rate_limit_storage": None, "rate_limit_per_ip": "20/minute",
        "rate_limit_per_username": "5/minute",
        "oauth_domain": None, "oauth_client_id": None, "oauth_scopes": [],
        "service_client_id": None, "service_client_secret": None,
    }  # fmt: skip
    assert (settings.resolved_region, settings.accepted_issuers) == ("eu-west-1", (ISS,))
    assert settings.resolved_jwks_url == JWKS_URL
    assert settings.resolved_idp_endpoint == "https://cognito-idp.eu-west-1.amazonaws.com/"
    assert make(client_ids="a,b").client_ids == ["a", "b"]
    assert make(jwks_ttl=100, jwks_max_stale=100).jwks_max_stale == 100


AWS = "https://cognito-idp.{}.amazonaws.com/{}"
NEW_FORM = f"https://issuer-cognito-idp.eu-west-1.amazonaws.com/{POOL_ID}"
IDP = "https://cognito.example.test/"
TWO = ["https://i.example/a", "https://i.example/b"]
LOCAL = "http://127.0.0.1:9229/"


@pytest.mark.parametrize(
    ("fields", "region", "idp"),
    [
        ({"user_pool_id": "us-east-1_P9"}, "us-east-1", None),
        ({"user_pool_id": "ap-southeast-2_xY"}, "ap-southeast-2", None),
        ({"user_pool_id": "us-gov-west-1_G1"}, "us-gov-west-1", None),
        ({"user_pool_id": "us-west-2_P9", "region": "us-gov-west-1"}, "us-gov-west-1", None),
        ({"region": "us-gov-west-1"}, "us-gov-west-1", None),
        ({"issuers": [NEW_FORM]}, "eu-west-1", None),
        ({"issuers": TWO, "jwks_url": "https://i.example/k"}, "eu-west-1", None),
        ({"idp_endpoint": IDP}, "eu-west-1", IDP),
        (NO_REGION, None, None),
        ({**NO_REGION, "region": "eu-central-1"}, "eu-central-1", None),
        ({**NO_REGION, "idp_endpoint": LOCAL}, None, LOCAL),
    ],
)
def test_derived_values(fields: dict[str, Any], region: str | None, idp: str | None) -> None:
    # The defaults: the AWS issuer of the pool, its JWKS, and the region's user-pool API.
    settings = make(**fields)
    issuers = fields.get("issuers") or [AWS.format(region, settings.user_pool_id)]
    assert (settings.resolved_region, settings.accepted_issuers) == (region, tuple(issuers))
    jwks_url = fields.get("jwks_url", f"{issuers[0]}/.well-known/jwks.json")
    assert settings.resolved_jwks_url == jwks_url
    default_idp = AWS.format(region, "") if region else None
    assert settings.resolved_idp_endpoint == (idp or default_idp)


URLS = ["https://k.example/j", "https://k.example:8443/a/v1/", "http://127.0.0.1:9229/"]
URLS += ["http://127.8.9.10/", "http://[::1]/", "http://[::1]:8080/j", "http://localhost:4566/"]
GOOD_VALUES: dict[str, list[Any]] = {
    "client_ids": [["a"], ["a" * 128, "abc_DEF+123"]],
    "user_pool_id": ["us-east-1_" + "a" * 45, "eu-west-1_a-b_c"],
    "leeway": [300, 0.5], "jwks_ttl": [0.001], "jwks_miss_cooldown": [0], "http_timeout": [60],
    "max_token_bytes": [256, 65536], "token_cache_size": [0],
    "jwks_url": [*URLS, "https://k.example/j?v=1"], "idp_endpoint": URLS,
    "sign_in_flow": ["USER_PASSWORD_AUTH"],
}  # fmt: skip


@pytest.mark.parametrize(("field", "value"), pairs(GOOD_VALUES))
def test_accepted_values(field: str, value: Any) -> None:
    settings = make(**{**(NO_REGION if field == "user_pool_id" else {}), field: value})
    assert getattr(settings, field) == value


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("a,b", ["a", "b"]), (" a , b ", ["a", "b"]), ("a,,b,", ["a", "b"]), (CLIENT, [CLIENT]),
     ('["a","b"]', ["a", "b"]), (' ["a", "b"] ', ["a", "b"])],
)  # fmt: skip
def test_client_ids_from_the_environment_as_csv_or_json(
    monkeypatch: pytest.MonkeyPatch, raw: str, expected: list[str]
) -> None:
    environment(monkeypatch, client_ids=raw)
    settings = CognitoSettings()
    assert (settings.user_pool_id, settings.client_ids) == (POOL_ID, expected)
    assert settings.accepted_issuers == (ISS,)
    assert load_settings(None) == settings  # None: read the environment


@pytest.mark.parametrize("issuers", [", ".join(TWO), json.dumps(TWO)])
def test_other_fields_from_the_environment(monkeypatch: pytest.MonkeyPatch, issuers: str) -> None:
    environment(
        monkeypatch, user_pool_id="local_abc", issuers=issuers, jwks_url="https://idp.example/k",
        leeway="5", client_secret=CLIENT_SECRET, idp_endpoint="http://cognito.local:9229/",
        allow_insecure_idp_endpoint="true", domain=f"auth.{SECRET}.example",  # another tool's
    )  # fmt: skip
    settings = CognitoSettings()
    assert settings.accepted_issuers == tuple(TWO)
    assert (settings.resolved_jwks_url, settings.leeway) == ("https://idp.example/k", 5)
    secret = settings.client_secret
    assert secret is not None and secret.get_secret_value() == CLIENT_SECRET
    assert settings.resolved_idp_endpoint == "http://cognito.local:9229/"
    assert settings.allow_insecure_idp_endpoint is True


def test_several_pools_and_resource_ids_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    other = {"user_pool_id": "us-east-1_Second", "client_ids": ["secondclient"]}
    emulated = {"user_pool_id": "local_x", "client_ids": "c1,c2",
                "issuers": ["http://127.0.0.1:9229/local_x"],
                "jwks_url": "http://127.0.0.1:9229/local_x/.well-known/jwks.json"}  # fmt: skip
    environment(
        monkeypatch, user_pool_id=POOL_ID, client_ids=CLIENT,
        additional_pools=json.dumps([other, emulated]),
        resource_ids="https://api.example.com, https://api.example.com/v2",
    )  # fmt: skip
    settings = CognitoSettings()
    first, second, third = settings.pools
    assert first is settings and first.accepted_issuers == (ISS,)
    assert second.accepted_issuers == (
        "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_Second",
    )
    assert second.resolved_jwks_url.endswith("us-east-1_Second/.well-known/jwks.json")
    assert (third.client_ids, third.accepted_issuers) == (
        ["c1", "c2"],
        ("http://127.0.0.1:9229/local_x",),
    )
    assert settings.resource_ids == ["https://api.example.com", "https://api.example.com/v2"]


def test_keyword_arguments_win_over_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    environment(monkeypatch, user_pool_id="us-east-1_FromEnv", client_ids="envclient", leeway="7")
    settings = make()
    assert (settings.user_pool_id, settings.client_ids, settings.leeway) == (POOL_ID, [CLIENT], 7)


BAD_ENVIRONMENT = {
    "client_ids": [f"a,b {S}", f'["{S}"', "", " , ", "[]", "[1, 2]", "[" * 10**5 + "]" * 10**5],
    "leeway": [S, "-1"], "issuers": [f"ftp://{S}"], "jwks_url": [f"http://{S}.example/jwks"],
    "idp_endpoint": [f"http://{S}.example/", f"https://x.test/?k={S}"],
    "allow_insecure_idp_endpoint": [S],
    "client_secret": [""],  # `COGNITO_CLIENT_SECRET=` must not become an empty HMAC key
    "additional_pools": [f"{S} not json", "[" * 3000, '{"a": 1}',
                         f'[{{"user_pool_id": "{S}!", "client_ids": ["x"]}}]'],
}  # fmt: skip


@pytest.mark.parametrize(("name", "raw"), pairs(BAD_ENVIRONMENT), ids=lambda v: str(v)[:20])
def test_invalid_environment(monkeypatch: pytest.MonkeyPatch, name: str, raw: str) -> None:
    environment(monkeypatch, **{"client_secret": CLIENT_SECRET, name: raw})
    with pytest.raises(ConfigurationError, match=name) as info:
        CognitoSettings()
    assert SECRET not in str(info.value) and CLIENT_SECRET not in str(info.value)


def test_dotenv_file_only_when_passed(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / ".env").write_text(
        f"DATABASE_URL=postgres://app:{SECRET}@db/app\n"  # the app's other variables are fine
        f"COGNITO_USER_POOL_ID={POOL_ID}\nCOGNITO_CLIENT_IDS={CLIENT}, b\n"
    )
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigurationError, match="user_pool_id"):
        CognitoSettings()  # not read by default
    options: dict[str, Any] = {"_env_file": tmp_path / ".env"}
    assert CognitoSettings(**options) == make(client_ids=[CLIENT, "b"])


# Values each field refuses: the message names the field, and shows neither the value nor S.
BAD_VALUES: dict[str, list[Any]] = {
    "user_pool_id": [
        "", f"us-east-1_abc/../../{S}", f"us-east-1_ab@{S}", f"{S}.test#", f"us-east-1_{S}?x",
        f"us-east-1_{S}%2f", f"us-east-1_{S} ", "us-east-1_" + S * 3, f"{S}_abc",
        "US-EAST-1_abc", 12345, "local_abc",  # no region: needs issuers and jwks_url
    ],
    "region": [f"{S}.test#", "eu-west-1/", "eu-west-1 ", ""],
    "client_ids": [
        [], "", [""], [f"has spaces {S}"], [f"a/{S}"], [CLIENT, f"{S}#"], [S + "a" * 113],
        [f"{S}é"], [123],
    ],
    "issuers": [
        [], [""], [f"cognito-idp.{S}.example/pool"], [f"ftp://{S}.example/pool"],
        [f" https://{S}.example/p"], [f"https://{S}.example/p\n"], [ISS, f"https://{S}.e/p "],
    ],
    "leeway": [-1, 301, S, math.inf, math.nan],
    "jwks_ttl": [0, -5, math.inf, math.nan],
    "jwks_miss_cooldown": [-1, math.inf, math.nan],
    "jwks_max_stale": [0, math.inf, math.nan],
    "http_timeout": [0, 61],
    "max_token_bytes": [255, 65537],
    "token_cache_size": [-1],
    "allow_insecure_jwks_url": [S],
    "allow_insecure_idp_endpoint": [S],
    "client_secret": ["", [S], {"value": S}],
    "sign_in_flow": [S, "ADMIN_NO_SRP_AUTH", "user_srp_auth"],
    # Both URLs: not http(s), a host, no credentials or fragment, a sendable host and port.
    **dict.fromkeys(("jwks_url", "idp_endpoint"), [
        f"ftp://{S}.example/j", f"file:///{S}", f"/{S}/j", "", "https:///j",
        f"https://u:{S}@k.example/j", f"https://{S}@k.example/j", f"https://k.example/j#{S}",
        f"https://{S}..test/j", f"https://{S * 5}.test/j", f"https://{S}.example:99999/j",
    ]),
}  # fmt: skip


@pytest.mark.parametrize(("field", "value"), pairs(BAD_VALUES))
def test_invalid_values(field: str, value: Any) -> None:
    fields = {"client_secret": CLIENT_SECRET, field: value}
    opt_ins = [{}, {"allow_insecure_jwks_url": True, "allow_insecure_idp_endpoint": True}]
    for opt_in in opt_ins if field in ("jwks_url", "idp_endpoint") else [{}]:
        message = refused(**{**fields, **opt_in})  # no opt-in makes these acceptable
        assert field in message and CLIENT_SECRET not in message
        assert not isinstance(value, str) or len(value) < 4 or value not in message


# Plain http on another host than loopback needs the field's own opt-in; the value is not shown.
@pytest.mark.parametrize("field", ["jwks_url", "idp_endpoint"])
@pytest.mark.parametrize(
    "host", [f"{S}.example", "cognito.local", "localhost.evil.test", "10.0.0.1"]
)
def test_plain_http_needs_an_opt_in(field: str, host: str) -> None:
    other = "allow_insecure_idp_endpoint" if field == "jwks_url" else "allow_insecure_jwks_url"
    for opt_in in ({}, {other: True}):
        message = refused(**{field: f"http://{host}/j", **opt_in})
        assert f"allow_insecure_{field}" in message and host not in message
    url = f"http://{host}/j"
    assert make(**{field: url, f"allow_insecure_{field}": True}).model_dump()[field] == url


# Combinations: (fields, a value the message must not show, what it must say)
COMBINATIONS: list[tuple[dict[str, Any], str | None, str]] = [
    ({"user_pool_id": "local_abc", "jwks_url": "https://k.e/j"}, "local_abc", "user_pool_id"),
    ({"user_pool_id": "local_abc", "region": "eu-central-1"}, "local_abc", "user_pool_id"),
    ({"user_pool_id": "local_abc", "issuers": ["https://i.e/p"]}, "local_abc", "user_pool_id"),
    ({"issuers": [ISS, f"https://{S}.e/p"]}, S, "several issuers"),
    ({"issuers": [f"https://{S}.e/p?x"]}, S, "query or fragment"),
    ({"issuers": ["https://"]}, None, "jwks_url"),
    ({"idp_endpoint": f"https://c.e/?token={S}"}, S, "idp_endpoint must not have a query"),
    ({"idp_endpoint": f"http://c.local/?t={S}", "allow_insecure_idp_endpoint": True}, S, "query"),
    ({"jwks_ttl": 600, "jwks_max_stale": 599}, "599", "settings: Value error, jwks_max_stale"),
    ({"jwks_max_stale": 599}, "599", "jwks_max_stale must be at least jwks_ttl"),
    ({"client_secrets": S}, S, "client_secrets"),
    ({"leway": 5}, None, "leway"),
    ({"user_pool_id": None}, None, "user_pool_id"),
    ({"client_ids": None}, None, "client_ids"),
    # several pools: each pool is checked like the first, and an issuer picks one pool only
    ({"additional_pools": [{"user_pool_id": POOL_ID, "client_ids": ["x"]}]}, None,
     "two user pools share an issuer"),
    ({"additional_pools": [{"user_pool_id": "local_p", "client_ids": ["x"]}]}, None,
     "set issuers and jwks_url"),
    ({"additional_pools": [{"user_pool_id": "us-east-1_P", "client_ids": [S + "!"]}]}, S,
     "client_ids"),
    ({"additional_pools": [{"user_pool_id": "us-east-1_P", "client_ids": ["x"], "leeway": 1}]},
     None, "leeway"),
    ({"additional_pools": [{"user_pool_id": "us-east-1_P", "client_ids": ["x"],
                            "jwks_url": f"http://{S}.example/j"}]}, S, "plain http"),
    ({"additional_pools": [{"user_pool_id": POOL_ID, "client_ids": ["x"],
                            "issuers": ["https://other.test/p"], "jwks_url": "https://o.test/j"}]},
     None, "two user pools share a user_pool_id"),
    ({"resource_ids": [" https://api.example.com"]}, None, "resource id"),
    ({"resource_ids": [""]}, None, "resource id"),
]  # fmt: skip


@pytest.mark.parametrize(("fields", "shown", "says"), COMBINATIONS)
def test_invalid_combinations(fields: dict[str, Any], shown: str | None, says: str) -> None:
    message = refused(**{"client_secret": CLIENT_SECRET, **fields})
    assert says in message and CLIENT_SECRET not in message
    assert shown is None or shown not in message


def test_an_invalid_configuration_lists_every_problem() -> None:
    message = refused(leeway=-1, http_timeout=0, client_ids=[])
    assert "leeway" in message and "http_timeout" in message and "client_ids" in message


def test_settings_are_frozen_compare_by_value_and_hide_the_secret() -> None:
    settings = make(client_secret=CLIENT_SECRET)
    with pytest.raises(ValidationError):
        settings.leeway = 5  # type: ignore[misc]
    assert settings.leeway == 0 and settings == make(client_secret=CLIENT_SECRET)
    assert settings != make(client_secret=CLIENT_SECRET, leeway=1)
    secret = settings.client_secret
    assert isinstance(secret, SecretStr) and secret.get_secret_value() == CLIENT_SECRET
    for shown in (repr(settings), str(settings), settings.model_dump_json()):
        assert CLIENT_SECRET not in shown and CLIENT_SECRET not in str(settings.model_dump())


def test_load_settings() -> None:
    with pytest.raises(ConfigurationError, match="user_pool_id.*client_ids"):
        load_settings(None)  # nothing in the environment
    settings = make()
    assert load_settings(settings) is settings
    for wrong in (object(), {"user_pool_id": POOL_ID, "client_ids": [CLIENT]}, CognitoSettings):
        with pytest.raises(ConfigurationError, match="CognitoSettings"):
            load_settings(wrong)  # type: ignore[arg-type]


def test_constructors_take_settings_or_read_them(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each constructor takes a CognitoSettings, or reads one from the environment."""
    settings = make(leeway=3)
    assert fcj.CognitoVerifier(settings).settings is settings
    assert fcj.JWKSCache(settings).settings is settings
    assert fcj.CognitoBearer(settings, token_use="id").verifier.settings is settings
    environment(monkeypatch, leeway="3")
    assert fcj.CognitoVerifier().settings == settings
    assert fcj.JWKSCache().settings == settings
    assert fcj.CognitoBearer(token_use="access").verifier.settings == settings
    fields: Any = {"user_pool_id": POOL_ID, "client_ids": [CLIENT]}
    bearer = lambda s: fcj.CognitoBearer(s, token_use="access")  # noqa: E731
    for factory in (fcj.CognitoVerifier, fcj.JWKSCache, bearer):
        with pytest.raises(ConfigurationError):
            factory(fields)
    cache = fcj.JWKSCache(settings)  # shared: then the verifier makes no cache, so takes no client
    assert fcj.CognitoVerifier(settings, jwks=cache).jwks is cache
    with pytest.raises(ConfigurationError):
        fcj.CognitoVerifier(settings, jwks=cache, http_client=cast(Any, object()))


@pytest.mark.parametrize("names", [["email_verified"], ["sub"], ["custom:"], ["Name"], ["a b"]])
def test_writable_attributes_never_hold_verified_flags_or_odd_names(names: list[str]) -> None:
    with pytest.raises(ConfigurationError, match="writable_attributes"):
        make(writable_attributes=names)


def test_writable_attributes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    environment(monkeypatch, writable_attributes="name,custom:plan")
    assert CognitoSettings().writable_attributes == ["name", "custom:plan"]
    assert "custom:role" not in DEFAULT_WRITABLE_ATTRIBUTES


def test_rate_limit_and_proxy_fields(monkeypatch: pytest.MonkeyPatch) -> None:
    environment(monkeypatch, trusted_proxies="10.0.0.0/8,::1", rate_limit_per_ip="10 per hour")
    settings = CognitoSettings()
    assert (settings.trusted_proxies, settings.rate_limit_per_ip) == (
        ["10.0.0.0/8", "::1"], "10 per hour")  # fmt: skip
    for bad in ({"trusted_proxies": ["nope"]}, {"rate_limit_per_username": "5/fortnight"},
                {"rate_limit_per_ip": "many"}):  # fmt: skip
        with pytest.raises(ConfigurationError):
            make(**bad)
