"""`CognitoSettings` and `resolve_settings`: defaults, the environment, and config validation.

Every invalid configuration raises `ConfigurationError` (never pydantic's `ValidationError`),
and its message never echoes the value that was refused (research/security.md §3 G.47, §5
"Config validation"). Nothing here touches the network.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, cast

import httpx
import pytest
from pydantic import SecretStr, ValidationError

from fastapi_cognito_jwt import (
    CognitoBearer,
    CognitoClaims,
    CognitoSettings,
    CognitoVerifier,
    ConfigurationError,
    JWKSCache,
    SettingsFields,
)
from fastapi_cognito_jwt._settings import resolve_settings

POOL_ID = "eu-west-1_AbC123"
CLIENT = "3n4b5urk1ft4fl3mg5e62d9ado"
ISS = f"https://cognito-idp.eu-west-1.amazonaws.com/{POOL_ID}"
JWKS_URL = f"{ISS}/.well-known/jwks.json"
# Distinctive, secret-looking text: it must never come back in an error message.
SECRET = "AKIAsekrit9Zq7Xw"
BASE: dict[str, Any] = {"user_pool_id": POOL_ID, "client_ids": [CLIENT]}


def make(**fields: Any) -> CognitoSettings:
    """`CognitoSettings` from the base fields with `fields` overriding (None removes one)."""
    values = {**BASE, **fields}
    return CognitoSettings(**{name: value for name, value in values.items() if value is not None})


def refused(**fields: Any) -> ConfigurationError:
    """Assert the fields are refused with ConfigurationError (not ValidationError); return it."""
    with pytest.raises(ConfigurationError) as info:
        make(**fields)
    assert not isinstance(info.value, ValidationError)
    assert str(info.value).startswith("invalid Cognito settings: ")
    return info.value


# -- defaults -------------------------------------------------------------------------------


def test_defaults() -> None:
    settings = make()
    assert settings.user_pool_id == POOL_ID
    assert settings.client_ids == [CLIENT]
    assert settings.region is None
    assert settings.issuers is None
    assert settings.jwks_url is None
    assert settings.allow_insecure_jwks_url is False
    assert settings.resolved_region == "eu-west-1"
    assert settings.accepted_issuers == (ISS,)
    assert settings.resolved_jwks_url == JWKS_URL
    assert settings.leeway == 0
    assert settings.jwks_ttl == 600
    assert settings.jwks_miss_cooldown == 30
    assert settings.jwks_max_stale == 86400
    assert settings.http_timeout == 5
    assert settings.max_token_bytes == 16384
    assert settings.token_cache_size == 10000


@pytest.mark.parametrize(
    ("fields", "region", "issuer"),
    [
        pytest.param(
            {"user_pool_id": "us-east-1_Pool9"},
            "us-east-1",
            "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_Pool9",
            id="derived-us-east-1",
        ),
        pytest.param(
            {"user_pool_id": "ap-southeast-2_xY"},
            "ap-southeast-2",
            "https://cognito-idp.ap-southeast-2.amazonaws.com/ap-southeast-2_xY",
            id="derived-ap-southeast-2",
        ),
        pytest.param(
            {"user_pool_id": "us-gov-west-1_Gov1"},
            "us-gov-west-1",
            "https://cognito-idp.us-gov-west-1.amazonaws.com/us-gov-west-1_Gov1",
            id="derived-gov",
        ),
        pytest.param(
            {"user_pool_id": "us-west-2_Pool9", "region": "us-gov-west-1"},
            "us-gov-west-1",
            "https://cognito-idp.us-gov-west-1.amazonaws.com/us-west-2_Pool9",
            id="region-overrides-pool-prefix",
        ),
    ],
)
def test_region_and_issuer(fields: dict[str, Any], region: str, issuer: str) -> None:
    settings = make(**fields)
    assert settings.resolved_region == region
    assert settings.accepted_issuers == (issuer,)
    assert settings.resolved_jwks_url == f"{issuer}/.well-known/jwks.json"


def test_explicit_issuers_and_jwks_url() -> None:
    settings = make(
        issuers=["https://idp.example/a", "https://idp.example/b"],
        jwks_url="https://idp.example/keys.json",
    )
    assert settings.accepted_issuers == ("https://idp.example/a", "https://idp.example/b")
    assert settings.resolved_jwks_url == "https://idp.example/keys.json"


def test_single_issuer_derives_jwks_url() -> None:
    # Cognito's newer issuer form, for a pool whose id names its region.
    issuer = "https://issuer-cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbC123"
    settings = make(user_pool_id="eu-west-1_AbC123", issuers=[issuer])
    assert settings.accepted_issuers == (issuer,)
    assert settings.resolved_jwks_url == f"{issuer}/.well-known/jwks.json"


def test_pool_without_region_prefix_with_issuers_and_jwks_url() -> None:
    settings = make(
        user_pool_id="local_abc",
        issuers=["http://127.0.0.1:9229/local_abc"],
        jwks_url="http://127.0.0.1:9229/local_abc/.well-known/jwks.json",
    )
    assert settings.resolved_region is None
    assert settings.accepted_issuers == ("http://127.0.0.1:9229/local_abc",)


@pytest.mark.parametrize(
    "client_ids",
    [
        pytest.param(["a"], id="one-char"),
        pytest.param(["a" * 128], id="128-chars"),
        pytest.param(["abc_DEF+123"], id="underscore-plus"),
        pytest.param(["a", "b", "c"], id="several"),
        pytest.param("a,b", id="comma-string"),
    ],
)
def test_valid_client_ids(client_ids: Any) -> None:
    settings = make(client_ids=client_ids)
    expected = client_ids.split(",") if isinstance(client_ids, str) else client_ids
    assert settings.client_ids == expected


@pytest.mark.parametrize(
    "user_pool_id",
    [
        pytest.param("us-east-1_" + "a" * 45, id="55-chars"),
        pytest.param("eu-west-1_a-b_c", id="dash-and-underscore"),
    ],
)
def test_valid_pool_ids(user_pool_id: str) -> None:
    settings = make(
        user_pool_id=user_pool_id,
        issuers=["https://idp.example/pool"],
        jwks_url="https://idp.example/pool/jwks.json",
    )
    assert settings.user_pool_id == user_pool_id


@pytest.mark.parametrize(
    ("fields", "name", "value"),
    [
        pytest.param({"leeway": 300}, "leeway", 300, id="leeway-300"),
        pytest.param({"leeway": 0.5}, "leeway", 0.5, id="leeway-fraction"),
        pytest.param({"jwks_ttl": 0.001}, "jwks_ttl", 0.001, id="jwks-ttl-small"),
        pytest.param({"jwks_miss_cooldown": 0}, "jwks_miss_cooldown", 0, id="cooldown-0"),
        pytest.param(
            {"jwks_ttl": 100, "jwks_max_stale": 100}, "jwks_max_stale", 100, id="max-stale-eq-ttl"
        ),
        pytest.param({"http_timeout": 60}, "http_timeout", 60, id="http-timeout-60"),
        pytest.param({"max_token_bytes": 256}, "max_token_bytes", 256, id="max-bytes-256"),
        pytest.param({"max_token_bytes": 65536}, "max_token_bytes", 65536, id="max-bytes-64k"),
        pytest.param({"token_cache_size": 0}, "token_cache_size", 0, id="cache-off"),
    ],
)
def test_valid_bounds(fields: dict[str, Any], name: str, value: float) -> None:
    assert getattr(make(**fields), name) == value


@pytest.mark.parametrize(
    "jwks_url",
    [
        pytest.param("https://keys.example/jwks.json", id="https"),
        pytest.param("https://keys.example:8443/jwks.json?v=1", id="https-port-query"),
        pytest.param("http://127.0.0.1:9229/pool/.well-known/jwks.json", id="http-ipv4-loopback"),
        pytest.param("http://127.8.9.10/jwks.json", id="http-ipv4-loopback-range"),
        pytest.param("http://[::1]/pool/.well-known/jwks.json", id="http-ipv6-loopback"),
        pytest.param("http://[::1]:8080/jwks.json", id="http-ipv6-loopback-port"),
        pytest.param("http://localhost/pool/.well-known/jwks.json", id="http-localhost"),
        pytest.param("http://localhost:4566/jwks.json", id="http-localhost-port"),
    ],
)
def test_jwks_url_accepted(jwks_url: str) -> None:
    assert make(jwks_url=jwks_url).resolved_jwks_url == jwks_url


def test_insecure_jwks_url_allowed_when_asked() -> None:
    url = "http://cognito.local:9229/pool/.well-known/jwks.json"
    settings = make(jwks_url=url, allow_insecure_jwks_url=True)
    assert settings.resolved_jwks_url == url


# -- the environment ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        pytest.param("a,b", ["a", "b"], id="comma"),
        pytest.param(" a , b ", ["a", "b"], id="comma-spaces"),
        pytest.param("a,,b,", ["a", "b"], id="comma-empty-parts"),
        pytest.param('["a","b"]', ["a", "b"], id="json-list"),
        pytest.param(' ["a", "b"] ', ["a", "b"], id="json-list-spaces"),
        pytest.param(CLIENT, [CLIENT], id="single"),
    ],
)
def test_client_ids_from_environment(
    monkeypatch: pytest.MonkeyPatch, raw: str, expected: list[str]
) -> None:
    monkeypatch.setenv("COGNITO_USER_POOL_ID", POOL_ID)
    monkeypatch.setenv("COGNITO_CLIENT_IDS", raw)
    settings = CognitoSettings()
    assert settings.user_pool_id == POOL_ID
    assert settings.client_ids == expected
    assert settings.accepted_issuers == (ISS,)


def test_issuers_and_leeway_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COGNITO_USER_POOL_ID", "local_abc")
    monkeypatch.setenv("COGNITO_CLIENT_IDS", CLIENT)
    monkeypatch.setenv("COGNITO_ISSUERS", "https://idp.example/a, https://idp.example/b")
    monkeypatch.setenv("COGNITO_JWKS_URL", "https://idp.example/jwks.json")
    monkeypatch.setenv("COGNITO_LEEWAY", "5")
    settings = CognitoSettings()
    assert settings.accepted_issuers == ("https://idp.example/a", "https://idp.example/b")
    assert settings.resolved_jwks_url == "https://idp.example/jwks.json"
    assert settings.leeway == 5


def test_issuers_json_list_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COGNITO_USER_POOL_ID", "local_abc")
    monkeypatch.setenv("COGNITO_CLIENT_IDS", CLIENT)
    monkeypatch.setenv("COGNITO_ISSUERS", '["https://idp.example/a"]')
    monkeypatch.setenv("COGNITO_JWKS_URL", "https://idp.example/a/keys")
    settings = CognitoSettings()
    assert settings.accepted_issuers == ("https://idp.example/a",)
    assert settings.resolved_jwks_url == "https://idp.example/a/keys"


def test_keyword_arguments_win_over_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COGNITO_USER_POOL_ID", "us-east-1_FromEnv")
    monkeypatch.setenv("COGNITO_CLIENT_IDS", "envclient")
    monkeypatch.setenv("COGNITO_LEEWAY", "7")
    settings = make()
    assert settings.user_pool_id == POOL_ID
    assert settings.client_ids == [CLIENT]
    assert settings.leeway == 7


@pytest.mark.parametrize(
    ("name", "raw"),
    [
        pytest.param("COGNITO_CLIENT_IDS", f"good,bad {SECRET}", id="client-ids-space"),
        pytest.param("COGNITO_CLIENT_IDS", f'["{SECRET}"', id="client-ids-broken-json"),
        pytest.param("COGNITO_CLIENT_IDS", "", id="client-ids-empty"),
        pytest.param("COGNITO_CLIENT_IDS", " , ", id="client-ids-only-commas"),
        pytest.param("COGNITO_CLIENT_IDS", "[]", id="client-ids-empty-json"),
        pytest.param("COGNITO_CLIENT_IDS", "[1, 2]", id="client-ids-json-numbers"),
        pytest.param("COGNITO_LEEWAY", f"{SECRET}", id="leeway-not-a-number"),
        pytest.param("COGNITO_LEEWAY", "-1", id="leeway-negative"),
        pytest.param("COGNITO_ISSUERS", f"ftp://{SECRET}", id="issuers-not-http"),
        pytest.param("COGNITO_JWKS_URL", f"http://{SECRET}.example/jwks", id="jwks-url-http"),
    ],
)
def test_invalid_environment(monkeypatch: pytest.MonkeyPatch, name: str, raw: str) -> None:
    monkeypatch.setenv("COGNITO_USER_POOL_ID", POOL_ID)
    monkeypatch.setenv("COGNITO_CLIENT_IDS", CLIENT)
    monkeypatch.setenv(name, raw)
    with pytest.raises(ConfigurationError) as info:
        CognitoSettings()
    assert SECRET not in str(info.value)


def test_unrelated_cognito_variables_are_ignored(monkeypatch: pytest.MonkeyPatch) -> None:
    # Other tools use COGNITO_* names too (e.g. COGNITO_DOMAIN); they must not break startup.
    monkeypatch.setenv("COGNITO_USER_POOL_ID", POOL_ID)
    monkeypatch.setenv("COGNITO_CLIENT_IDS", CLIENT)
    monkeypatch.setenv("COGNITO_DOMAIN", f"auth.{SECRET}.example")
    assert CognitoSettings() == make()


def test_dotenv_file_is_not_read_by_default(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / ".env").write_text(f"COGNITO_USER_POOL_ID={POOL_ID}\nCOGNITO_CLIENT_IDS={CLIENT}\n")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigurationError, match="user_pool_id"):
        CognitoSettings()


def test_dotenv_file_is_read_when_passed(tmp_path: Path) -> None:
    env_file = tmp_path / "cognito.env"
    env_file.write_text(f"COGNITO_USER_POOL_ID={POOL_ID}\nCOGNITO_CLIENT_IDS=a, b\n")
    options: dict[str, Any] = {"_env_file": env_file}
    settings = CognitoSettings(**options)
    assert settings.user_pool_id == POOL_ID
    assert settings.client_ids == ["a", "b"]


def test_dotenv_file_with_other_variables(tmp_path: Path) -> None:
    # An application's .env holds more than this library's settings; the docstring invites
    # passing `_env_file`, so its other (unprefixed) variables must not be refused.
    env_file = tmp_path / ".env"
    env_file.write_text(
        f"DATABASE_URL=postgres://app:{SECRET}@db/app\n"
        f"COGNITO_USER_POOL_ID={POOL_ID}\nCOGNITO_CLIENT_IDS={CLIENT}\n"
    )
    options: dict[str, Any] = {"_env_file": env_file}
    assert CognitoSettings(**options) == make()


def test_missing_everything_in_environment() -> None:
    with pytest.raises(ConfigurationError, match="user_pool_id") as info:
        CognitoSettings()
    assert "client_ids" in str(info.value)


# -- invalid configurations -----------------------------------------------------------------

LONG_POOL = "us-east-1_" + "a" * 46  # 56 characters


@pytest.mark.parametrize(
    ("fields", "secret", "where"),
    [
        # user_pool_id
        pytest.param({"user_pool_id": None}, None, "user_pool_id", id="pool-missing"),
        pytest.param({"user_pool_id": ""}, None, "user_pool_id", id="pool-empty"),
        pytest.param(
            {"user_pool_id": f"us-east-1_abc/../../{SECRET}"},
            SECRET,
            "user_pool_id",
            id="pool-path-traversal",
        ),
        pytest.param(
            {"user_pool_id": "us-east-1_abc/../../x"}, "/../", "user_pool_id", id="pool-dotdot"
        ),
        pytest.param(
            {"user_pool_id": f"us-east-1_ab@{SECRET}"}, SECRET, "user_pool_id", id="pool-at"
        ),
        pytest.param({"user_pool_id": "us-east-1_ab@c"}, "ab@c", "user_pool_id", id="pool-at-c"),
        pytest.param({"user_pool_id": "evil.test#"}, "evil.test", "user_pool_id", id="pool-hash"),
        pytest.param(
            {"user_pool_id": f"us-east-1_{SECRET}?x"}, SECRET, "user_pool_id", id="pool-query"
        ),
        pytest.param(
            {"user_pool_id": f"us-east-1_{SECRET}%2f"}, SECRET, "user_pool_id", id="pool-percent"
        ),
        pytest.param(
            {"user_pool_id": f"us-east-1_{SECRET} "}, SECRET, "user_pool_id", id="pool-space"
        ),
        pytest.param({"user_pool_id": LONG_POOL}, LONG_POOL, "user_pool_id", id="pool-56-chars"),
        pytest.param(
            {"user_pool_id": "local_abc"}, "local_abc", "user_pool_id", id="pool-no-region"
        ),
        pytest.param(
            {"user_pool_id": "local_abc", "jwks_url": "https://keys.example/jwks.json"},
            "local_abc",
            "user_pool_id",
            id="pool-no-region-jwks-url-only",
        ),
        pytest.param(
            {"user_pool_id": f"{SECRET}_abc"}, SECRET, "user_pool_id", id="pool-bad-region-prefix"
        ),
        pytest.param(
            {"user_pool_id": "local_abc", "region": "eu-central-1"},
            "local_abc",
            "user_pool_id",
            id="pool-no-region-region-only",
        ),
        pytest.param(
            {"user_pool_id": "local_abc", "issuers": ["https://idp.example/local_abc"]},
            "local_abc",
            "user_pool_id",
            id="pool-no-region-issuers-only",
        ),
        pytest.param(
            {"jwks_url": f"https://{SECRET}.example:99999/jwks.json"},
            SECRET,
            "invalid port",
            id="jwks-port-out-of-range",
        ),
        pytest.param(
            {"issuers": [f"https://{SECRET}.example/pool?x"]},
            SECRET,
            "query or fragment",
            id="issuer-query-without-jwks-url",
        ),
        pytest.param(
            {"user_pool_id": "US-EAST-1_abc"}, "US-EAST-1", "user_pool_id", id="pool-upper-region"
        ),
        pytest.param({"user_pool_id": 12345}, "12345", "user_pool_id", id="pool-not-str"),
        # region
        pytest.param({"region": "evil.test#"}, "evil.test", "region", id="region-hash"),
        pytest.param({"region": f"{SECRET}.test#"}, SECRET, "region", id="region-secret"),
        pytest.param({"region": "eu-west-1/"}, "eu-west-1/", "region", id="region-slash"),
        pytest.param({"region": "eu-west-1 "}, None, "region", id="region-trailing-space"),
        pytest.param({"region": ""}, None, "region", id="region-empty"),
        # client_ids
        pytest.param({"client_ids": None}, None, "client_ids", id="clients-missing"),
        pytest.param({"client_ids": []}, None, "client_ids", id="clients-empty-list"),
        pytest.param({"client_ids": ""}, None, "client_ids", id="clients-empty-string"),
        pytest.param({"client_ids": [""]}, None, "client_ids", id="clients-empty-id"),
        pytest.param(
            {"client_ids": [f"has spaces {SECRET}"]}, SECRET, "client_ids", id="client-spaces"
        ),
        pytest.param({"client_ids": [f"a/{SECRET}"]}, SECRET, "client_ids", id="client-slash"),
        pytest.param(
            {"client_ids": [CLIENT, f"{SECRET}#"]}, SECRET, "client_ids", id="client-second-bad"
        ),
        pytest.param(
            {"client_ids": [SECRET + "a" * 113]}, SECRET, "client_ids", id="client-129-chars"
        ),
        pytest.param({"client_ids": [f"{SECRET}é"]}, SECRET, "client_ids", id="client-non-ascii"),
        pytest.param({"client_ids": [123]}, None, "client_ids", id="client-not-str"),
        # issuers
        pytest.param({"issuers": []}, None, "issuers", id="issuers-empty"),
        pytest.param({"issuers": [""]}, None, "issuers", id="issuers-empty-string"),
        pytest.param(
            {"issuers": [f"cognito-idp.{SECRET}.example/pool"]}, SECRET, "issuers", id="issuer-bare"
        ),
        pytest.param(
            {"issuers": [f"ftp://{SECRET}.example/pool"]}, SECRET, "issuers", id="issuer-ftp"
        ),
        pytest.param(
            {"issuers": [f" https://{SECRET}.example/pool"]},
            SECRET,
            "issuers",
            id="issuer-leading-space",
        ),
        pytest.param(
            {"issuers": [f"https://{SECRET}.example/pool\n"]},
            SECRET,
            "issuers",
            id="issuer-trailing-newline",
        ),
        pytest.param(
            {"issuers": [ISS, f"https://{SECRET}.example/pool "]},
            SECRET,
            "issuers",
            id="issuer-second-trailing-space",
        ),
        pytest.param(
            {"issuers": [ISS, f"https://{SECRET}.example/pool"]},
            SECRET,
            "several issuers",
            id="issuers-several-without-jwks-url",
        ),
        pytest.param({"issuers": ["https://"]}, None, "jwks_url", id="issuer-without-host"),
        # jwks_url
        pytest.param(
            {"jwks_url": f"http://{SECRET}.example/jwks.json"},
            SECRET,
            "allow_insecure_jwks_url",
            id="jwks-http-remote",
        ),
        pytest.param(
            {"jwks_url": "http://cognito.local/jwks.json"},
            "cognito.local",
            "allow_insecure_jwks_url",
            id="jwks-http-local-name",
        ),
        pytest.param(
            {"jwks_url": "http://localhost.evil.test/jwks.json"},
            "evil.test",
            "allow_insecure_jwks_url",
            id="jwks-http-localhost-prefix",
        ),
        pytest.param(
            {"jwks_url": "http://10.0.0.1/jwks.json"},
            "10.0.0.1",
            "allow_insecure_jwks_url",
            id="jwks-http-private-ip",
        ),
        pytest.param(
            {"jwks_url": f"ftp://{SECRET}.example/jwks.json"}, SECRET, "jwks_url", id="jwks-ftp"
        ),
        pytest.param(
            {"jwks_url": f"ftp://{SECRET}.example/jwks.json", "allow_insecure_jwks_url": True},
            SECRET,
            "jwks_url",
            id="jwks-ftp-insecure-allowed",
        ),
        pytest.param({"jwks_url": f"file:///{SECRET}"}, SECRET, "jwks_url", id="jwks-file"),
        pytest.param({"jwks_url": f"/{SECRET}/jwks.json"}, SECRET, "jwks_url", id="jwks-relative"),
        pytest.param({"jwks_url": ""}, None, "jwks_url", id="jwks-empty"),
        pytest.param({"jwks_url": "https:///jwks.json"}, None, "jwks_url", id="jwks-no-host"),
        pytest.param(
            {"jwks_url": f"https://user:{SECRET}@keys.example/jwks.json"},
            SECRET,
            "jwks_url",
            id="jwks-userinfo-password",
        ),
        pytest.param(
            {"jwks_url": f"https://{SECRET}@keys.example/jwks.json"},
            SECRET,
            "jwks_url",
            id="jwks-userinfo-user",
        ),
        pytest.param(
            {"jwks_url": f"https://keys.example/jwks.json#{SECRET}"},
            SECRET,
            "jwks_url",
            id="jwks-fragment",
        ),
        # numbers
        pytest.param({"leeway": -1}, "-1", "leeway", id="leeway-negative"),
        pytest.param({"leeway": 301}, "301", "leeway", id="leeway-301"),
        pytest.param({"leeway": float("nan")}, None, "leeway", id="leeway-nan"),
        pytest.param({"leeway": SECRET}, SECRET, "leeway", id="leeway-not-a-number"),
        pytest.param({"jwks_ttl": 0}, None, "jwks_ttl", id="jwks-ttl-0"),
        pytest.param({"jwks_ttl": -5}, "-5", "jwks_ttl", id="jwks-ttl-negative"),
        pytest.param({"jwks_miss_cooldown": -1}, "-1", "jwks_miss_cooldown", id="cooldown-neg"),
        pytest.param({"jwks_max_stale": 0}, None, "jwks_max_stale", id="max-stale-0"),
        pytest.param(
            {"jwks_ttl": 600, "jwks_max_stale": 599},
            "599",
            "jwks_max_stale must be at least jwks_ttl",
            id="max-stale-below-ttl",
        ),
        pytest.param(
            {"jwks_max_stale": 599},
            "599",
            "jwks_max_stale must be at least jwks_ttl",
            id="max-stale-below-default-ttl",
        ),
        pytest.param({"http_timeout": 0}, None, "http_timeout", id="http-timeout-0"),
        pytest.param({"http_timeout": 61}, "61", "http_timeout", id="http-timeout-61"),
        pytest.param({"max_token_bytes": 255}, "255", "max_token_bytes", id="max-bytes-255"),
        pytest.param({"max_token_bytes": 65537}, "65537", "max_token_bytes", id="max-bytes-64k+1"),
        pytest.param({"token_cache_size": -1}, "-1", "token_cache_size", id="cache-size-negative"),
        pytest.param(
            {"allow_insecure_jwks_url": SECRET}, SECRET, "allow_insecure_jwks_url", id="bool-junk"
        ),
        # extra=forbid
        pytest.param({"client_secrets": SECRET}, SECRET, "client_secrets", id="unknown-field"),
        pytest.param({"leway": 5}, None, "leway", id="misspelt-field"),
    ],
)
def test_invalid_configuration(fields: dict[str, Any], secret: str | None, where: str) -> None:
    error = refused(**fields)
    message = str(error)
    assert where in message
    if secret is not None:
        assert secret not in message
    # Raised `from None`: pydantic's error (which holds the input) is not chained.
    assert error.__cause__ is None
    assert error.__suppress_context__


def test_invalid_configuration_lists_every_problem() -> None:
    message = str(refused(leeway=-1, http_timeout=0, client_ids=[]))
    assert "leeway" in message
    assert "http_timeout" in message
    assert "client_ids" in message


def test_settings_are_frozen() -> None:
    settings = make()
    with pytest.raises((ValidationError, TypeError, AttributeError)):
        settings.leeway = 5  # type: ignore[misc]
    with pytest.raises((ValidationError, TypeError, AttributeError)):
        setattr(settings, "user_pool_id", "us-east-1_Other")  # noqa: B010
    assert settings.leeway == 0
    assert settings.user_pool_id == POOL_ID


def test_settings_compare_by_value() -> None:
    assert make() == make()
    assert make() != make(leeway=1)


# -- resolve_settings -----------------------------------------------------------------------


def test_resolve_from_fields_only() -> None:
    settings = resolve_settings(None, {"user_pool_id": POOL_ID, "client_ids": [CLIENT]})
    assert settings == make()


def test_resolve_none_and_no_fields_reads_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COGNITO_USER_POOL_ID", POOL_ID)
    monkeypatch.setenv("COGNITO_CLIENT_IDS", CLIENT)
    assert resolve_settings(None, {}) == make()


def test_resolve_none_and_no_fields_without_environment() -> None:
    with pytest.raises(ConfigurationError):
        resolve_settings(None, {})


def test_resolve_keeps_values_read_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COGNITO_USER_POOL_ID", "us-east-1_FromEnv")
    monkeypatch.setenv("COGNITO_CLIENT_IDS", "envclient")
    monkeypatch.setenv("COGNITO_LEEWAY", "7")
    settings = CognitoSettings()
    monkeypatch.delenv("COGNITO_USER_POOL_ID")
    monkeypatch.delenv("COGNITO_CLIENT_IDS")
    monkeypatch.delenv("COGNITO_LEEWAY")
    resolved = resolve_settings(settings, {"http_timeout": 2})
    assert resolved.user_pool_id == "us-east-1_FromEnv"
    assert resolved.client_ids == ["envclient"]
    assert resolved.leeway == 7
    assert resolved.http_timeout == 2


def test_resolve_returns_same_object_without_fields() -> None:
    settings = make()
    assert resolve_settings(settings, {}) is settings


def test_resolve_overrides_and_keeps_the_rest() -> None:
    settings = make(jwks_url="https://keys.example/jwks.json", token_cache_size=7)
    resolved = resolve_settings(settings, {"leeway": 5})
    assert resolved is not settings
    assert resolved.leeway == 5
    assert settings.leeway == 0
    assert resolved.user_pool_id == POOL_ID
    assert resolved.client_ids == [CLIENT]
    assert resolved.jwks_url == "https://keys.example/jwks.json"
    assert resolved.token_cache_size == 7
    assert resolved.model_dump(exclude={"leeway"}) == settings.model_dump(exclude={"leeway"})


def test_resolve_override_recomputes_derived_values() -> None:
    resolved = resolve_settings(make(), {"user_pool_id": "us-east-1_Other"})
    assert resolved.accepted_issuers == (
        "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_Other",
    )


def test_resolve_validates_overrides() -> None:
    with pytest.raises(ConfigurationError) as info:
        resolve_settings(make(), {"leeway": 301})
    assert "leeway" in str(info.value)


@pytest.mark.parametrize(
    "settings",
    [pytest.param(None, id="no-settings"), pytest.param(make(), id="with-settings")],
)
def test_resolve_unknown_fields(settings: CognitoSettings | None) -> None:
    with pytest.raises(ConfigurationError, match="unknown settings fields: bogus, other"):
        resolve_settings(settings, {**BASE, "other": 1, "bogus": 2})


@pytest.mark.parametrize(
    "settings",
    [
        pytest.param(dict(BASE), id="dict"),
        pytest.param("settings", id="str"),
        pytest.param(CognitoClaims, id="class"),
    ],
)
@pytest.mark.parametrize(
    "fields",
    [pytest.param({}, id="no-fields"), pytest.param({"leeway": 1}, id="fields")],
)
def test_resolve_rejects_non_settings(settings: Any, fields: dict[str, Any]) -> None:
    with pytest.raises(ConfigurationError, match="CognitoSettings"):
        resolve_settings(settings, fields)


def test_settings_fields_match_the_model() -> None:
    keys = set(SettingsFields.__annotations__)
    assert keys == set(CognitoSettings.model_fields)
    assert SettingsFields.__optional_keys__ == frozenset(CognitoSettings.model_fields)
    assert SettingsFields.__required_keys__ == frozenset()


# -- constructors ---------------------------------------------------------------------------


class Recorder:
    """An httpx.MockTransport handler that records every request it gets."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return httpx.Response(500)


def test_verifier_accepts_fields() -> None:
    verifier = CognitoVerifier(user_pool_id=POOL_ID, client_ids=[CLIENT], leeway=3)
    assert verifier.settings == make(leeway=3)
    assert verifier.jwks.settings == verifier.settings


def test_verifier_settings_with_override() -> None:
    verifier = CognitoVerifier(make(), leeway=3)
    assert verifier.settings == make(leeway=3)


def test_jwks_cache_accepts_fields() -> None:
    cache = JWKSCache(user_pool_id=POOL_ID, client_ids=[CLIENT], jwks_ttl=60)
    assert cache.settings == make(jwks_ttl=60)


def test_bearer_accepts_fields() -> None:
    bearer = CognitoBearer(token_use="access", user_pool_id=POOL_ID, client_ids=[CLIENT])
    assert bearer.verifier.settings == make()
    assert bearer.token_use == "access"


def test_bearer_accepts_settings() -> None:
    settings = make()
    bearer = CognitoBearer(settings, token_use="id")
    assert bearer.verifier.settings is settings


@pytest.mark.parametrize(
    "factory",
    [
        pytest.param(lambda: CognitoVerifier(leeway=1), id="verifier-missing-pool"),
        pytest.param(lambda: JWKSCache(user_pool_id=POOL_ID), id="cache-missing-clients"),
        pytest.param(
            lambda: CognitoBearer(token_use="access", user_pool_id="evil.test#", client_ids=["a"]),
            id="bearer-bad-pool",
        ),
        pytest.param(
            lambda: CognitoVerifier(make(), **cast(Any, {"bogus": 1})), id="verifier-unknown"
        ),
        pytest.param(lambda: CognitoVerifier(cast(Any, dict(BASE))), id="verifier-dict-settings"),
    ],
)
def test_constructors_validate(factory: Any) -> None:
    with pytest.raises(ConfigurationError):
        factory()


def test_bearer_refuses_settings_and_verifier() -> None:
    settings = make()
    verifier = CognitoVerifier(settings)
    with pytest.raises(ConfigurationError):
        CognitoBearer(settings, token_use="access", verifier=verifier)
    with pytest.raises(ConfigurationError):
        CognitoBearer(token_use="access", verifier=verifier, leeway=5)


def test_bearer_accepts_verifier_alone() -> None:
    verifier = CognitoVerifier(make())
    assert CognitoBearer(token_use="access", verifier=verifier).verifier is verifier


def test_verifier_refuses_jwks_and_transport() -> None:
    settings = make()
    cache = JWKSCache(settings)
    with pytest.raises(ConfigurationError):
        CognitoVerifier(settings, jwks=cache, transport=httpx.MockTransport(Recorder()))


@pytest.mark.anyio
async def test_verifier_refuses_jwks_and_http_client() -> None:
    settings = make()
    async with httpx.AsyncClient(transport=httpx.MockTransport(Recorder())) as client:
        with pytest.raises(ConfigurationError):
            CognitoVerifier(settings, jwks=JWKSCache(settings), http_client=client)


def test_verifier_shares_a_given_jwks_cache() -> None:
    cache = JWKSCache(make())
    assert CognitoVerifier(make(), jwks=cache).jwks is cache


@pytest.mark.parametrize(
    "kwargs",
    [
        pytest.param({"token_use": "refresh"}, id="token-use-refresh"),
        pytest.param({"token_use": "ACCESS"}, id="token-use-upper"),
        pytest.param({"token_use": "access", "claims_model": dict}, id="claims-model-dict"),
        pytest.param({"token_use": "access", "claims_model": "CognitoClaims"}, id="model-str"),
    ],
)
def test_bearer_refuses_bad_arguments(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ConfigurationError):
        CognitoBearer(make(), **kwargs)


def test_no_network_at_construction() -> None:
    recorder = Recorder()
    transport = httpx.MockTransport(recorder)
    settings = make()
    verifier = CognitoVerifier(settings, transport=transport)
    CognitoVerifier(user_pool_id=POOL_ID, client_ids=[CLIENT], transport=transport)
    JWKSCache(settings, transport=transport)
    CognitoBearer(token_use="access", verifier=verifier)
    CognitoBearer(token_use="id", verifier=CognitoVerifier(settings, transport=transport))
    assert recorder.requests == []


@pytest.mark.parametrize("name", ["jwks_ttl", "jwks_max_stale", "jwks_miss_cooldown", "leeway"])
@pytest.mark.parametrize("value", [math.inf, math.nan], ids=["inf", "nan"])
def test_non_finite_durations_are_refused(name: str, value: float) -> None:
    with pytest.raises(ConfigurationError, match=name):
        make(**{name: value})


def test_local_pool_with_a_non_region_pool_id() -> None:
    from fastapi_cognito_jwt.testing import LocalUserPool

    pool = LocalUserPool(user_pool_id="local_abc")
    settings = pool.settings()
    assert settings.accepted_issuers == (pool.issuer,)
    assert settings.resolved_jwks_url == pool.jwks_url


def test_absurdly_nested_client_ids_are_a_configuration_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("COGNITO_USER_POOL_ID", POOL_ID)
    monkeypatch.setenv("COGNITO_CLIENT_IDS", "[" * 100_000 + "]" * 100_000)
    with pytest.raises(ConfigurationError, match="client_ids"):
        CognitoSettings()


# -- auth flows: idp_endpoint and client_secret ---------------------------------------------

CLIENT_SECRET = "1example23secret456789abcdefghijklmnopqrstuvwxyz0"
NO_REGION: dict[str, Any] = {
    "user_pool_id": "local_abc",
    "issuers": ["http://127.0.0.1:9229/local_abc"],
    "jwks_url": "http://127.0.0.1:9229/local_abc/.well-known/jwks.json",
}


def test_auth_flow_defaults() -> None:
    settings = make()
    assert settings.idp_endpoint is None
    assert settings.allow_insecure_idp_endpoint is False
    assert settings.client_secret is None
    assert settings.resolved_idp_endpoint == "https://cognito-idp.eu-west-1.amazonaws.com/"


@pytest.mark.parametrize(
    ("fields", "endpoint"),
    [
        pytest.param(
            {"user_pool_id": "us-east-1_Pool9"},
            "https://cognito-idp.us-east-1.amazonaws.com/",
            id="from-pool-id",
        ),
        pytest.param(
            {"region": "us-gov-west-1"},
            "https://cognito-idp.us-gov-west-1.amazonaws.com/",
            id="region-wins",
        ),
        pytest.param(
            {**NO_REGION, "region": "eu-central-1"},
            "https://cognito-idp.eu-central-1.amazonaws.com/",
            id="no-region-pool-with-region",
        ),
        pytest.param(NO_REGION, None, id="unknown-without-region"),
        pytest.param(
            {**NO_REGION, "idp_endpoint": "http://127.0.0.1:9229/"},
            "http://127.0.0.1:9229/",
            id="no-region-pool-with-endpoint",
        ),
        pytest.param(
            {"idp_endpoint": "https://cognito.example.test/"},
            "https://cognito.example.test/",
            id="override-wins-over-region",
        ),
    ],
)
def test_resolved_idp_endpoint(fields: dict[str, Any], endpoint: str | None) -> None:
    assert make(**fields).resolved_idp_endpoint == endpoint


@pytest.mark.parametrize(
    "endpoint",
    [
        pytest.param("https://cognito.example.test/", id="https"),
        pytest.param("https://cognito.example.test:8443/api/v1/", id="https-port-path"),
        pytest.param("http://127.0.0.1:9229/", id="http-ipv4-loopback"),
        pytest.param("http://127.8.9.10/", id="http-ipv4-loopback-range"),
        pytest.param("http://[::1]:4566/", id="http-ipv6-loopback"),
        pytest.param("http://localhost:4566/", id="http-localhost"),
    ],
)
def test_idp_endpoint_accepted(endpoint: str) -> None:
    settings = make(idp_endpoint=endpoint)
    assert settings.idp_endpoint == endpoint
    assert settings.resolved_idp_endpoint == endpoint


def test_insecure_idp_endpoint_allowed_only_when_asked() -> None:
    url = "http://cognito.local:9229/"
    settings = make(idp_endpoint=url, allow_insecure_idp_endpoint=True)
    assert settings.resolved_idp_endpoint == url
    refused(idp_endpoint=url)
    refused(idp_endpoint=url, allow_insecure_jwks_url=True)  # the JWKS opt-in is separate


@pytest.mark.parametrize(
    ("fields", "secret", "where"),
    [
        pytest.param(
            {"idp_endpoint": f"http://{SECRET}.example/"},
            SECRET,
            "allow_insecure_idp_endpoint",
            id="http-remote",
        ),
        pytest.param(
            {"idp_endpoint": "http://10.0.0.1/"},
            "10.0.0.1",
            "allow_insecure_idp_endpoint",
            id="http-private-ip",
        ),
        pytest.param(
            {"idp_endpoint": "http://localhost.evil.test/"},
            "evil.test",
            "allow_insecure_idp_endpoint",
            id="http-localhost-prefix",
        ),
        pytest.param(
            {"idp_endpoint": f"https://cognito.example.test/?token={SECRET}"},
            SECRET,
            "query",
            id="query",
        ),
        pytest.param(
            {
                "idp_endpoint": f"http://cognito.local/?token={SECRET}",
                "allow_insecure_idp_endpoint": True,
            },
            SECRET,
            "query",
            id="query-insecure-allowed",
        ),
        pytest.param(
            {"idp_endpoint": f"https://user:{SECRET}@cognito.example.test/"},
            SECRET,
            "idp_endpoint",
            id="userinfo-password",
        ),
        pytest.param(
            {"idp_endpoint": f"https://{SECRET}@cognito.example.test/"},
            SECRET,
            "idp_endpoint",
            id="userinfo-user",
        ),
        pytest.param(
            {"idp_endpoint": f"https://cognito.example.test/#{SECRET}"},
            SECRET,
            "idp_endpoint",
            id="fragment",
        ),
        pytest.param(
            {"idp_endpoint": f"ftp://{SECRET}.example/"}, SECRET, "idp_endpoint", id="ftp"
        ),
        pytest.param({"idp_endpoint": f"/{SECRET}/"}, SECRET, "idp_endpoint", id="relative"),
        pytest.param({"idp_endpoint": ""}, None, "idp_endpoint", id="empty"),
        pytest.param({"idp_endpoint": "https:///"}, None, "idp_endpoint", id="no-host"),
        pytest.param(
            {"idp_endpoint": f"https://{SECRET}..test/"}, SECRET, "idp_endpoint", id="empty-label"
        ),
        pytest.param(
            {"idp_endpoint": f"https://{SECRET * 5}.test/"}, SECRET, "idp_endpoint", id="long-label"
        ),
        pytest.param(
            {"idp_endpoint": f"https://{SECRET}.example:99999/"},
            SECRET,
            "invalid port",
            id="port-out-of-range",
        ),
        pytest.param(
            {"allow_insecure_idp_endpoint": SECRET},
            SECRET,
            "allow_insecure_idp_endpoint",
            id="bool-junk",
        ),
    ],
)
def test_invalid_idp_endpoint(fields: dict[str, Any], secret: str | None, where: str) -> None:
    message = str(refused(client_secret=CLIENT_SECRET, **fields))
    assert where in message
    if secret is not None:
        assert secret not in message
    assert CLIENT_SECRET not in message


def test_client_secret_is_a_secret_str() -> None:
    settings = make(client_secret=CLIENT_SECRET)
    assert isinstance(settings.client_secret, SecretStr)
    assert settings.client_secret.get_secret_value() == CLIENT_SECRET
    shown = (
        repr(settings),
        str(settings),
        repr(settings.client_secret),
        str(settings.client_secret),
        settings.model_dump_json(),
        str(settings.model_dump()),
    )
    for text in shown:
        assert CLIENT_SECRET not in text


def test_client_secret_survives_resolve_settings() -> None:
    resolved = resolve_settings(make(client_secret=CLIENT_SECRET), {"leeway": 1})
    assert resolved.client_secret is not None
    assert resolved.client_secret.get_secret_value() == CLIENT_SECRET


@pytest.mark.parametrize(
    "fields",
    [
        pytest.param({"client_secret": CLIENT_SECRET, "leeway": -1}, id="other-field-bad"),
        pytest.param(
            {"client_secret": CLIENT_SECRET, "idp_endpoint": "ftp://x.test/"}, id="endpoint-bad"
        ),
        pytest.param({"client_secret": [CLIENT_SECRET]}, id="list"),
        pytest.param({"client_secret": {"value": CLIENT_SECRET}}, id="dict"),
        pytest.param({"client_secrets": CLIENT_SECRET}, id="misspelt"),
    ],
)
def test_client_secret_is_not_in_configuration_errors(fields: dict[str, Any]) -> None:
    error = refused(**fields)
    assert CLIENT_SECRET not in str(error)
    assert CLIENT_SECRET not in repr(error)


@pytest.mark.parametrize("source", ["keyword", "environment"])
def test_an_empty_client_secret_is_not_used_as_a_key(
    monkeypatch: pytest.MonkeyPatch, source: str
) -> None:
    # `COGNITO_CLIENT_SECRET=` in a compose file must not turn on an HMAC with an empty key:
    # refused, or taken as no secret.
    monkeypatch.setenv("COGNITO_CLIENT_SECRET", "")
    try:
        settings = make() if source == "environment" else make(client_secret="")
    except ConfigurationError:
        return
    assert settings.client_secret is None


def test_auth_flow_settings_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COGNITO_USER_POOL_ID", POOL_ID)
    monkeypatch.setenv("COGNITO_CLIENT_IDS", CLIENT)
    monkeypatch.setenv("COGNITO_CLIENT_SECRET", CLIENT_SECRET)
    monkeypatch.setenv("COGNITO_IDP_ENDPOINT", "http://cognito.local:9229/")
    monkeypatch.setenv("COGNITO_ALLOW_INSECURE_IDP_ENDPOINT", "true")
    settings = CognitoSettings()
    assert settings.client_secret is not None
    assert settings.client_secret.get_secret_value() == CLIENT_SECRET
    assert settings.resolved_idp_endpoint == "http://cognito.local:9229/"
    assert settings.allow_insecure_idp_endpoint is True


@pytest.mark.parametrize(
    ("name", "raw"),
    [
        pytest.param("COGNITO_IDP_ENDPOINT", f"http://{SECRET}.example/", id="endpoint-http"),
        pytest.param("COGNITO_IDP_ENDPOINT", f"https://x.test/?k={SECRET}", id="endpoint-query"),
        pytest.param("COGNITO_ALLOW_INSECURE_IDP_ENDPOINT", SECRET, id="allow-insecure-junk"),
    ],
)
def test_invalid_auth_flow_environment(
    monkeypatch: pytest.MonkeyPatch, name: str, raw: str
) -> None:
    monkeypatch.setenv("COGNITO_USER_POOL_ID", POOL_ID)
    monkeypatch.setenv("COGNITO_CLIENT_IDS", CLIENT)
    monkeypatch.setenv("COGNITO_CLIENT_SECRET", CLIENT_SECRET)
    monkeypatch.setenv(name, raw)
    with pytest.raises(ConfigurationError) as info:
        CognitoSettings()
    assert SECRET not in str(info.value)
    assert CLIENT_SECRET not in str(info.value)
