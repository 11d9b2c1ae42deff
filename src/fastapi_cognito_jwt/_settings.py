"""`CognitoSettings`: one validated configuration object, from arguments or the environment."""

from __future__ import annotations

import ipaddress
import json
import re
from typing import TYPE_CHECKING, Annotated, Any, Literal, Self
from urllib.parse import urlsplit

import httpx2
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from ._exceptions import ConfigurationError

__all__ = ["CognitoSettings", "UserPoolSettings", "load_settings"]

# aws-jwt-verify's pool-id grammar: the region is the part before the underscore.
_POOL_ID = re.compile(r"(?P<region>[a-z]{2}(?:-gov)?-[a-z]+-\d)_[A-Za-z0-9]+")
# Anything used in a URL must be inert there: no '/', '#', '@', '?' or '%'.
_SAFE_POOL_ID = re.compile(r"[A-Za-z0-9_-]{1,55}")
_REGION = re.compile(r"[a-z]{2}(?:-gov)?-[a-z]+-\d")
_CLIENT_ID = re.compile(r"[\w+]{1,128}", re.ASCII)

_SCOPE = re.compile(r"[\x21\x23-\x5b\x5d-\x7e]{1,256}")

MAX_TOKEN_BYTES_LIMIT = 64 * 1024
_PREFIX = "invalid Cognito settings: "
# Cognito's standard profile attributes a user may set about themselves by default. Left out:
# `sub`, the `*_verified` flags (only a verification may set them) and every `custom:` one.
DEFAULT_WRITABLE_ATTRIBUTES = (
    "address", "birthdate", "email", "family_name", "gender", "given_name", "locale",
    "middle_name", "name", "nickname", "phone_number", "picture", "preferred_username",
    "profile", "website", "zoneinfo",
)  # fmt: skip
# limits' rate strings: "5/minute", "10 per 2 hours", "100/day;5/second" (one or several).
_RATE = re.compile(
    r"\d{1,9}\s*(?:/|per)\s*(?:\d{1,9}\s*)?(?:second|minute|hour|day|month|year)s?"
    r"(?:\s*[;,]\s*\d{1,9}\s*(?:/|per)\s*(?:\d{1,9}\s*)?(?:second|minute|hour|day|month|year)s?)*"
)
_ATTRIBUTE_NAME = re.compile(r"custom:[\w.-]{1,20}|[a-z_]{1,32}", re.ASCII)


def _split_list(value: Any) -> Any:
    """Accept a JSON list or a comma-separated string, as environment variables carry them."""
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            try:
                return json.loads(text)
            except (ValueError, RecursionError):
                raise ValueError("not a valid JSON list") from None
        return [part.strip() for part in text.split(",") if part.strip()]
    return value


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class UserPoolSettings(BaseModel):
    """One user pool: where its tokens come from and which of its app clients are accepted.

    `CognitoSettings` is itself the first pool; give more in `additional_pools`. A token is
    matched to its pool by its issuer, and a client id is accepted only with its own pool's
    issuer.

    ```python
    UserPoolSettings(user_pool_id="us-east-1_XyZ789", client_ids=["1example23456789"])
    ```
    """

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    user_pool_id: str = Field(description="The user pool id, e.g. `eu-west-1_AbC123`.")
    client_ids: Annotated[list[str], NoDecode] = Field(
        description="App client ids whose tokens are accepted; at least one."
    )
    region: str | None = Field(
        default=None, description="AWS region; derived from the pool id when not given."
    )
    issuers: Annotated[list[str] | None, NoDecode] = Field(
        default=None,
        description="Accepted `iss` values; default `https://cognito-idp.{region}.amazonaws.com/{pool}`.",
    )
    jwks_url: str | None = Field(
        default=None,
        description="Where the signing keys are fetched; default `{issuer}/.well-known/jwks.json`.",
    )
    allow_insecure_jwks_url: bool = Field(
        default=False,
        description="Allow a plain `http://` JWKS URL on a non-loopback host (emulators only).",
    )

    if not TYPE_CHECKING:  # pragma: no branch
        # Wrap pydantic's ValidationError so callers catch one library exception. Hidden from
        # type checkers so that the pydantic plugin still types the keyword arguments.
        def __init__(self, **values: Any) -> None:
            try:
                super().__init__(**values)
            except ValidationError as exc:
                raise ConfigurationError(_describe(exc)) from None

    @field_validator("client_ids", "issuers", mode="before")
    @classmethod
    def _parse_list(cls, value: Any) -> Any:
        return _split_list(value)

    @field_validator("user_pool_id")
    @classmethod
    def _check_pool_id(cls, value: str) -> str:
        if not _SAFE_POOL_ID.fullmatch(value):
            raise ValueError("must be 1-55 characters of letters, digits, '_' or '-'")
        return value

    @field_validator("region")
    @classmethod
    def _check_region(cls, value: str | None) -> str | None:
        if value is not None and not _REGION.fullmatch(value):
            raise ValueError("is not an AWS region name such as eu-west-1")
        return value

    @field_validator("client_ids")
    @classmethod
    def _check_client_ids(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("at least one app client id is required")
        for client_id in value:
            if not _CLIENT_ID.fullmatch(client_id):
                raise ValueError("an app client id is 1-128 letters, digits, '_' or '+'")
        return value

    @field_validator("issuers")
    @classmethod
    def _check_issuers(cls, value: list[str] | None) -> list[str] | None:
        if value is None:
            return None
        if not value:
            raise ValueError("give at least one issuer, or leave it unset for the default")
        for issuer in value:
            if (
                not issuer
                or issuer != issuer.strip()
                or not issuer.startswith(("https://", "http://"))
            ):
                raise ValueError("an issuer is an http(s) URL without surrounding spaces")
        return value

    @model_validator(mode="after")
    def _check_pool(self) -> Self:
        if not _POOL_ID.fullmatch(self.user_pool_id) and (
            self.issuers is None or self.jwks_url is None
        ):
            raise ValueError(
                "user_pool_id is not of the form <region>_<id>: set issuers and jwks_url"
            )
        if self.jwks_url is None and self.issuers is not None:
            if len(self.issuers) > 1:
                raise ValueError("with several issuers, set jwks_url explicitly")
            if "?" in self.issuers[0] or "#" in self.issuers[0]:
                raise ValueError("the issuer has a query or fragment: set jwks_url explicitly")
        _check_url("jwks_url", self.resolved_jwks_url, self.allow_insecure_jwks_url)
        return self

    @property
    def resolved_region(self) -> str | None:
        """The region given, or the one in the pool id (None when neither tells)."""
        if self.region is not None:
            return self.region
        match = _POOL_ID.fullmatch(self.user_pool_id)
        return match["region"] if match else None

    @property
    def accepted_issuers(self) -> tuple[str, ...]:
        """The exact `iss` values accepted."""
        if self.issuers is not None:
            return tuple(self.issuers)
        return (f"https://cognito-idp.{self.resolved_region}.amazonaws.com/{self.user_pool_id}",)

    @property
    def resolved_jwks_url(self) -> str:
        """The URL the signing keys are fetched from."""
        if self.jwks_url is not None:
            return self.jwks_url
        return f"{self.accepted_issuers[0]}/.well-known/jwks.json"


class CognitoSettings(UserPoolSettings, BaseSettings):
    """Where tokens come from and how strictly they are checked.

    The one way to configure the library: every constructor takes a `CognitoSettings`, and
    reads one from the environment when given none. Fields come from keyword arguments or
    from `COGNITO_*` environment variables (a `.env` file is read only if you pass
    `_env_file`). Everything is validated at construction; a problem raises
    `ConfigurationError`. Nothing touches the network here.

    The pool fields (`user_pool_id`, `client_ids`, `region`, `issuers`, `jwks_url`) describe
    the first user pool, which the auth flows use; `additional_pools` adds more for
    verification (`COGNITO_ADDITIONAL_POOLS` holds them as a JSON list).

    ```python
    settings = CognitoSettings(
        user_pool_id="eu-west-1_AbC123",
        client_ids=["3n4b5urk1ft4fl3mg5e62d9ado"],
        additional_pools=[{"user_pool_id": "us-east-1_XyZ789", "client_ids": ["1example"]}],
    )
    ```
    """

    model_config = SettingsConfigDict(
        env_prefix="COGNITO_",
        frozen=True,
        extra="forbid",  # a misspelt keyword argument is an error, not a silent default
        dotenv_filtering="only_existing",  # a .env file may hold the app's other variables
        allow_inf_nan=False,
    )

    leeway: float = Field(
        default=0.0,
        ge=0,
        le=300,
        description="Clock skew allowed on `exp`, `nbf` and `iat`, in seconds.",
    )
    jwks_ttl: float = Field(
        default=600.0, gt=0, description="Seconds before the JWKS is fetched again."
    )
    jwks_miss_cooldown: float = Field(
        default=30.0,
        ge=0,
        description="Seconds after a JWKS fetch during which unknown kids are refused unfetched.",
    )
    jwks_max_stale: float = Field(
        default=86400.0,
        gt=0,
        description="How long keys are still used while the JWKS endpoint fails, in seconds.",
    )
    http_timeout: float = Field(
        default=5.0,
        gt=0,
        le=60,
        description="Total deadline of one request to Cognito (a JWKS fetch or an auth flow).",
    )
    max_token_bytes: int = Field(
        default=16 * 1024,
        ge=256,
        le=MAX_TOKEN_BYTES_LIMIT,
        description="Longest token accepted, in bytes.",
    )
    token_cache_size: int = Field(
        default=10_000, ge=0, description="Verified tokens remembered; 0 disables the cache."
    )
    idp_endpoint: str | None = Field(
        default=None,
        description="The user-pool API for auth flows; default "
        "`https://cognito-idp.{region}.amazonaws.com/`. Override it for an emulator.",
    )
    allow_insecure_idp_endpoint: bool = Field(
        default=False,
        description="Allow a plain `http://` idp_endpoint on a non-loopback host (emulators only).",
    )
    client_secret: SecretStr | None = Field(
        default=None,
        description="The secret of a confidential app client (the first of client_ids); "
        "auth flows then send `SECRET_HASH`.",
    )
    additional_pools: Annotated[list[UserPoolSettings], NoDecode] = Field(
        default_factory=list,
        description="More user pools whose tokens are accepted, each with its own issuer, "
        "JWKS and app clients (a JSON list in the environment).",
    )
    resource_ids: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="This API's resource identifiers: an access token carrying `aud` is "
        "accepted only when `aud` names one of them, and refused when none is set.",
    )
    sign_in_flow: Literal["USER_SRP_AUTH", "USER_PASSWORD_AUTH"] = Field(
        default="USER_SRP_AUTH",
        description="How `CognitoAuthClient.sign_in` proves the password: `USER_SRP_AUTH` "
        "(SRP, the password never leaves this process; the app client must allow "
        "`ALLOW_USER_SRP_AUTH`) or `USER_PASSWORD_AUTH` (sent to Cognito over TLS).",
    )
    revocation_max_lifetime: float = Field(
        default=86400.0,
        gt=0,
        le=86400,
        description="How long a revocation is kept, in seconds: the longest lifetime of the "
        "pool's access and ID tokens (24 h at most, Cognito's limit).",
    )
    revocation_max_stale: float = Field(
        default=5.0,
        gt=0,
        description="A shared revocation list (Redis) out of touch for longer than this, in "
        "seconds, refuses every token with 503 (it may be missing revocations).",
    )
    revocation_fail_open: bool = Field(
        default=False,
        description="Accept tokens on the local copy alone when the shared revocation list "
        "is out of touch, instead of 503 (logged as a warning).",
    )
    oauth_domain: str | None = Field(
        default=None,
        description="The pool's OAuth 2.0 domain (managed login), e.g. "
        "`https://myapp.auth.eu-west-1.amazoncognito.com`; serves `/oauth2/authorize` and "
        "`/oauth2/token` for Swagger UI sign-in and service tokens.",
    )
    oauth_client_id: str | None = Field(
        default=None,
        description="The public app client (no secret, PKCE) Swagger UI signs in with; "
        "must be one of client_ids.",
    )
    oauth_scopes: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Scopes Swagger UI offers and requests, e.g. `openid`, `api/read`.",
    )
    service_client_id: str | None = Field(
        default=None,
        description="The confidential app client that fetches client-credentials service tokens.",
    )
    service_client_secret: SecretStr | None = Field(
        default=None, description="The secret of service_client_id."
    )

    writable_attributes: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: list(DEFAULT_WRITABLE_ATTRIBUTES),
        description="User attributes the auth router lets a user set (sign-up, challenge "
        "answers, attribute updates). Never `*_verified`; a `custom:` attribute only if listed.",
    )
    refresh_token_rotation: bool = Field(
        default=False,
        description="The app client rotates refresh tokens: refresh with "
        "`GetTokensFromRefreshToken` (returns the new refresh token) instead of "
        "`REFRESH_TOKEN_AUTH`, which Cognito refuses once rotation is on.",
    )
    trusted_proxies: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Addresses or networks (CIDR) of your reverse proxies: only a request from "
        "one of them has its `X-Forwarded-For` read for the caller's IP sent to Cognito.",
    )
    rate_limit_storage: str | None = Field(
        default=None,
        description="A `limits` storage URI (`memory://`, `redis://host:6379`, ...): turns on "
        "the auth router's rate limits. Needs the rate-limit extra.",
    )
    rate_limit_per_ip: str = Field(
        default="20/minute",
        description="Requests per caller IP to each group of limited routes (`limits` syntax).",
    )
    rate_limit_per_username: str = Field(
        default="5/minute",
        description="Requests per username to each group of limited routes (`limits` syntax).",
    )

    @field_validator("writable_attributes", "trusted_proxies", "oauth_scopes", mode="before")
    @classmethod
    def _parse_lists(cls, value: Any) -> Any:
        return _split_list(value)

    @field_validator("resource_ids", mode="before")
    @classmethod
    def _parse_resource_ids(cls, value: Any) -> Any:
        return _split_list(value)

    @field_validator("additional_pools", mode="before")
    @classmethod
    def _parse_pools(cls, value: Any) -> Any:
        if isinstance(value, str):  # from the environment: a JSON list, nothing else
            try:
                value = json.loads(value)
            except (ValueError, RecursionError):
                raise ValueError("not a valid JSON list") from None
        if not isinstance(value, list):
            return value  # pydantic says what is wrong
        pools = []
        for index, pool in enumerate(value):
            try:
                pools.append(UserPoolSettings(**pool) if isinstance(pool, dict) else pool)
            except ConfigurationError as exc:
                # The pool's own problems, said as the entry's, not as the first pool's.
                detail = str(exc).removeprefix(_PREFIX)
                raise ValueError(f"entry {index}: {detail}") from None
        return pools

    @field_validator("resource_ids")
    @classmethod
    def _check_resource_ids(cls, value: list[str]) -> list[str]:
        for resource_id in value:
            if not resource_id or resource_id != resource_id.strip() or len(resource_id) > 256:
                raise ValueError("a resource id is 1-256 characters without surrounding spaces")
        return value

    @field_validator("oauth_scopes")
    @classmethod
    def _check_scopes(cls, value: list[str]) -> list[str]:
        # RFC 6749 scope-token: printable ASCII without space, '"' or '\\'.
        for scope in value:
            if not _SCOPE.fullmatch(scope):
                raise ValueError("a scope is 1-256 printable ASCII characters without spaces")
        return value

    @field_validator("oauth_client_id", "service_client_id")
    @classmethod
    def _check_oauth_client(cls, value: str | None) -> str | None:
        if value is not None and not _CLIENT_ID.fullmatch(value):
            raise ValueError("an app client id is 1-128 letters, digits, '_' or '+'")
        return value

    @field_validator("client_secret", "service_client_secret")
    @classmethod
    def _check_secret(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not value.get_secret_value():
            raise ValueError("must not be empty: leave it unset for an app client without one")
        return value

    @field_validator("writable_attributes")
    @classmethod
    def _check_writable(cls, value: list[str]) -> list[str]:
        for name in value:
            if not _ATTRIBUTE_NAME.fullmatch(name):
                raise ValueError("an attribute is a standard name or custom:<name>")
            if name == "sub" or name.endswith("_verified"):
                raise ValueError("sub and the *_verified flags are never writable by users")
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _check_proxies(cls, value: list[str]) -> list[str]:
        for network in value:
            try:
                ipaddress.ip_network(network, strict=False)
            except ValueError:
                raise ValueError("a trusted proxy is an IP address or a CIDR network") from None
        return value

    @field_validator("rate_limit_per_ip", "rate_limit_per_username")
    @classmethod
    def _check_rate(cls, value: str) -> str:
        if not _RATE.fullmatch(value):
            raise ValueError("a rate is like '5/minute' or '100 per hour'")
        return value

    @model_validator(mode="after")
    def _check_derived(self) -> Self:
        if self.idp_endpoint is not None:
            _check_url("idp_endpoint", self.idp_endpoint, self.allow_insecure_idp_endpoint)
            if urlsplit(self.idp_endpoint).query:
                raise ValueError("idp_endpoint must not have a query")
        if self.oauth_domain is not None:
            _check_url("oauth_domain", self.oauth_domain, False)
            if urlsplit(self.oauth_domain).path.strip("/") or urlsplit(self.oauth_domain).query:
                raise ValueError(
                    "oauth_domain is the pool domain's origin, without a path or query"
                )
        if self.oauth_client_id is not None and self.oauth_client_id not in self.client_ids:
            raise ValueError("oauth_client_id must be one of client_ids (its tokens are verified)")
        if (self.service_client_id is None) != (self.service_client_secret is None):
            raise ValueError("set service_client_id and service_client_secret together")
        if self.jwks_max_stale < self.jwks_ttl:
            raise ValueError("jwks_max_stale must be at least jwks_ttl")
        seen: set[str] = set()
        for pool in self.pools:
            issuers = set(pool.accepted_issuers)
            if issuers & seen:
                # The issuer picks the pool: one issuer in two pools would be ambiguous.
                raise ValueError("two user pools share an issuer")
            seen |= issuers
        if len({pool.user_pool_id for pool in self.pools}) < len(self.pools):
            raise ValueError("two user pools share a user_pool_id")
        return self

    @property
    def pools(self) -> tuple[UserPoolSettings, ...]:
        """Every user pool accepted: these settings' own first, then `additional_pools`."""
        return (self, *self.additional_pools)

    @property
    def resolved_idp_endpoint(self) -> str | None:
        """The user-pool API URL for auth flows (None when the region is unknown)."""
        if self.idp_endpoint is not None:
            return self.idp_endpoint
        region = self.resolved_region
        return f"https://cognito-idp.{region}.amazonaws.com/" if region else None

    def oauth_endpoint(self, path: str) -> str:
        """`{oauth_domain}/oauth2/{path}`, e.g. the token endpoint (ConfigurationError if unset)."""
        if self.oauth_domain is None:
            raise ConfigurationError(
                "set oauth_domain (COGNITO_OAUTH_DOMAIN) to use the OAuth 2.0 endpoints"
            )
        return f"{self.oauth_domain.rstrip('/')}/oauth2/{path}"


def _check_url(name: str, value: str, allow_insecure: bool) -> None:
    """Refuse anything but an http(s) URL with a host; plain http only on loopback or opt-in."""
    url = urlsplit(value)
    try:
        url.port  # noqa: B018 - parsing the port is the check
    except ValueError:
        raise ValueError(f"{name} has an invalid port") from None
    if (
        url.scheme not in ("https", "http")
        or not url.hostname
        or url.username
        or url.password
        or url.fragment
    ):
        raise ValueError(f"{name} must be an http(s) URL with a host and no credentials")
    try:
        # What httpx2 will be asked to send to must also be a URL it can send to.
        httpx2.URL(value).host.encode("idna")
    except (httpx2.InvalidURL, UnicodeError):
        raise ValueError(f"{name} is not a valid URL") from None
    if url.scheme == "http" and not _is_loopback(url.hostname) and not allow_insecure:
        raise ValueError(
            f"{name} uses plain http on a non-loopback host: "
            f"use https, or set allow_insecure_{name}"
        )


def _describe(error: ValidationError) -> str:
    """Summarise a ValidationError without echoing input values (they may be secrets)."""
    problems = []
    for item in error.errors(include_url=False, include_input=False):
        where = ".".join(str(part) for part in item["loc"]) or "settings"
        problems.append(f"{where}: {item['msg']}")
    return _PREFIX + "; ".join(problems)


def load_settings(settings: CognitoSettings | None) -> CognitoSettings:
    """`settings` itself, or `CognitoSettings()` read from the environment when None."""
    if settings is None:
        return CognitoSettings()
    if not isinstance(settings, CognitoSettings):
        raise ConfigurationError("settings must be a CognitoSettings instance")
    return settings
