"""`CognitoClaims`, the verified payload, and the Cognito claim rules that run before it."""

from __future__ import annotations

import copy
from collections.abc import Collection, Mapping
from types import MappingProxyType
from typing import Any, Literal

from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    SkipValidation,
    ValidationError,
    computed_field,
    model_validator,
)
from typing_extensions import TypeVar

from .._exceptions import (
    InvalidAudienceError,
    InvalidClaimError,
    InvalidClientError,
    InvalidIssuerError,
    InvalidTokenUseError,
    TokenExpiredError,
    TokenNotYetValidError,
)

__all__ = ["ClaimsT", "CognitoClaims", "TokenUse", "build_claims", "check_claims"]

TokenUse = Literal["access", "id"]

# Cognito tokens live 5 minutes to 1 day; anything longer is not a Cognito token.
MAX_LIFETIME = 86_400
# A freshly minted token may carry an iat slightly ahead of our clock.
IAT_SKEW = 60
# Far beyond any real timestamp, and small enough that float arithmetic stays exact.
_MAX_TIMESTAMP = 2**53


class CognitoClaims(BaseModel):
    """The verified claims of a Cognito access or ID token.

    Typed fields cover what Cognito puts in both kinds of token; every other claim stays
    reachable by its wire name:

    ```python
    claims = await verifier.verify(token, token_use="id")
    claims.username, claims.groups   # "alice", ("admin",)
    claims["custom:tenant"]          # KeyError if absent
    claims.get("email")              # None if absent
    ```

    Subclass it to type your own claims (declare them with `Field(alias="custom:tenant")`) and
    pass the subclass as `claims_model`. Instances are immutable: a verified token's claims
    may be served from cache to several requests.
    """

    model_config = ConfigDict(frozen=True, strict=True, extra="ignore")

    sub: str
    """The subject: the user's id, or the app client id for client-credentials tokens."""
    iss: str
    """The issuer, one of the accepted issuers."""
    token_use: TokenUse
    """`access` or `id`."""
    exp: int
    """Expiry, in seconds since the epoch."""
    iat: int
    """Issue time, in seconds since the epoch."""
    auth_time: int | None = None
    """When the user authenticated, in seconds since the epoch."""
    jti: str | None = None
    """The token's unique id."""
    origin_jti: str | None = None
    """The id of the authentication event the token descends from."""
    client_id: str = Field(validation_alias=AliasChoices("client_id", "aud"))
    """The app client: `client_id` in access tokens, `aud` in ID tokens."""
    username: str | None = Field(
        default=None, validation_alias=AliasChoices("cognito:username", "username")
    )
    """`username` (access) or `cognito:username` (ID); None for client-credentials tokens."""
    groups: tuple[str, ...] = Field(default=(), validation_alias="cognito:groups", strict=False)
    """`cognito:groups`, empty when absent."""
    scope: str | None = None
    """The space-separated `scope` claim as sent; see `scopes`."""
    payload: SkipValidation[Mapping[str, Any]] = Field(
        default_factory=lambda: MappingProxyType({}), exclude=True, repr=False
    )
    """The whole verified payload by wire name, read-only."""

    @model_validator(mode="before")
    @classmethod
    def _keep_payload(cls, data: Any) -> Any:
        if isinstance(data, MappingProxyType):
            view = data  # the verifier hands over a payload nobody else holds
        elif isinstance(data, dict):
            # A read-only copy: claims of a cached token are shared by the requests sending it.
            view = MappingProxyType(dict(data))
        else:
            return data
        # Aliases map the wire names onto the fields, in pydantic's compiled validator.
        data = view.copy()
        data["payload"] = view
        return data

    @computed_field  # type: ignore[prop-decorator]
    @property
    def scopes(self) -> tuple[str, ...]:
        """`scope` split on single spaces, empty when absent."""
        # RFC 6749 §3.3: scopes are separated by single spaces; a tab is part of a scope name.
        return tuple(filter(None, self.scope.split(" "))) if self.scope else ()

    def __getitem__(self, name: str) -> Any:
        """Return the claim `name` as it appears in the token (a copy of lists and objects)."""
        value = self.payload[name]
        return copy.deepcopy(value) if isinstance(value, (list, dict)) else value

    def __contains__(self, name: object) -> bool:
        return name in self.payload

    def get(self, name: str, default: Any = None) -> Any:
        """Return the claim `name`, or `default` when the token does not carry it."""
        if name in self.payload:
            return self[name]
        return default


def _not_a_time(name: str) -> InvalidClaimError:
    return InvalidClaimError(f"{name} is missing or not a positive integer", claim=name)


def check_claims(
    payload: Mapping[str, Any],
    token_use: TokenUse,
    issuers: Collection[str],
    client_ids: Collection[str],
    resource_ids: Collection[str],
    leeway: float,
    now: float,
) -> None:
    """Apply Cognito's rules to a signature-verified payload; raise a `TokenError` if one fails.

    Order: issuer, token use, client (and, on access tokens, the resource), then the time
    claims. `client_ids` are those of the token's own pool.
    """
    get = payload.get
    iss = get("iss")
    if type(iss) is not str or iss not in issuers:
        raise InvalidIssuerError()
    if get("token_use") != token_use:
        raise InvalidTokenUseError()
    # Access tokens name the client in client_id and have no aud; never accept one for the other.
    client_claim = "client_id" if token_use == "access" else "aud"
    client = get(client_claim)
    if type(client) is not str or client not in client_ids:
        raise InvalidClientError(
            f"{client_claim} is not an accepted app client", claim=client_claim
        )
    # CognitoClaims reads client_id before aud and cognito:username before username; where
    # a token carries the other kind's spelling too, it must agree with the one checked here.
    if token_use == "id":
        if get("client_id", client) != client:
            raise InvalidClientError("client_id differs from aud", claim="client_id")
    else:
        if "aud" in payload:
            # Resource binding: the access token names the API it was issued for. A token
            # bound to some resource is for that resource only, so with none configured here
            # it is refused rather than taken as unbound.
            _check_audience(get("aud"), resource_ids)
        if "cognito:username" in payload and get("cognito:username") != get("username"):
            raise InvalidClaimError("cognito:username differs from username", claim="username")
    exp, iat = get("exp"), get("iat")
    # bool is an int subclass in Python; a JSON true is not a time.
    if type(exp) is not int or not 0 < exp < _MAX_TIMESTAMP:
        raise _not_a_time("exp")
    if type(iat) is not int or not 0 < iat < _MAX_TIMESTAMP:
        raise _not_a_time("iat")
    nbf = get("nbf")
    if nbf is not None or "nbf" in payload:
        if type(nbf) is not int or not 0 < nbf < _MAX_TIMESTAMP:
            raise _not_a_time("nbf")
    if now >= exp + leeway:
        raise TokenExpiredError("token has expired")
    if nbf is not None and now + leeway < nbf:
        raise TokenNotYetValidError("token is not valid yet (nbf)")
    if iat > now + IAT_SKEW + leeway:
        raise TokenNotYetValidError("token was issued in the future (iat)")
    if exp - iat > MAX_LIFETIME:
        raise InvalidClaimError(
            "token lifetime exceeds 24 hours", claim="exp", reason="lifetime_too_long"
        )


def _check_audience(aud: Any, resource_ids: Collection[str]) -> None:
    # RFC 7519 allows a list of audiences; the token is for this API if one of them is.
    names = aud if type(aud) is list else [aud]
    if (
        not names
        or not all(type(name) is str for name in names)
        or not any(name in resource_ids for name in names)
    ):
        raise InvalidAudienceError()


ClaimsT = TypeVar("ClaimsT", bound=CognitoClaims, default=CognitoClaims)


def build_claims(claims_model: type[ClaimsT], payload: dict[str, Any]) -> ClaimsT:
    """Validate a verified payload into `claims_model`; raise `InvalidClaimError` if it fails.

    The verifier hands over a payload it parsed itself and keeps no other reference to, so
    the claims can hold it read-only without a copy.
    """
    try:
        return claims_model.model_validate(MappingProxyType(payload))
    except ValidationError as exc:
        # Only the top-level claim names: deeper parts of a location are keys of the token's
        # own objects, i.e. token content.
        fields = sorted({str(error["loc"][0]) for error in exc.errors() if error["loc"]})
        raise InvalidClaimError(
            f"claims do not fit {claims_model.__name__}: {', '.join(fields)}",
            claim=fields[0] if fields else "",
            reason="claims_model",
        ) from None
