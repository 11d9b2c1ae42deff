"""`CognitoVerifier`: framework-free, async verification of Cognito access and ID tokens."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, overload

import httpx
from cachetools import LRUCache
from jose.backends.base import Key
from pydantic import ValidationError

from ._claims import ClaimsT, CognitoClaims, TokenUse, check_claims
from ._exceptions import (
    ConfigurationError,
    InvalidClaimError,
    InvalidSignatureError,
    MalformedTokenError,
)
from ._jwks import MAX_KID_LENGTH, JWKSCache
from ._settings import CognitoSettings, resolve_settings
from ._strict import B64URL_ALPHABET, b64url_decode, check_canonical, decode_checked, loads_object

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from ._settings import SettingsFields

__all__ = ["CognitoVerifier"]

logger = logging.getLogger("fastapi_cognito_jwt")


MAX_HEADER_BYTES = 1024
# Header parameters that would make us fetch keys from, or trust keys in, the token itself,
# or that belong to JWE or to JWS extensions we do not implement (RFC 7515 §4.1.11, RFC 8725).
FORBIDDEN_HEADER_PARAMS = frozenset(
    {"crit", "b64", "jku", "x5u", "jwk", "x5c", "x5t", "x5t#S256", "zip", "enc", "epk", "p2c"}
)
# Cognito signs with a handful of headers; remembering the parsed form of the ones that led to
# a verified token saves work on every request without letting strangers fill memory.
_HEADER_MEMO_SIZE = 32


# A verified token as the cache keeps it: claims, JOSE header, and the key that verified it.
_Verified = tuple[CognitoClaims, Mapping[str, Any], Key]


class CognitoVerifier:
    """Verify Cognito access and ID tokens: signature, issuer, client, token use and times.

    Framework-free and async; raises a `TokenError` subclass for a bad token and
    `JWKSUnavailableError` when no signing key can be had.

    ```python
    verifier = CognitoVerifier(user_pool_id="eu-west-1_AbC123", client_ids=["3n4b5urk1ft4"])
    claims = await verifier.verify(token, token_use="access")
    ```

    Args:
        settings: a `CognitoSettings`; or pass its fields as keyword arguments.
        jwks: a `JWKSCache` to share with other verifiers; by default one is made.
        http_client: an `httpx.AsyncClient` for the JWKS cache this verifier makes.
        transport: an httpx transport for the JWKS cache this verifier makes (tests).
        clock: wall-clock time in seconds since the epoch, for tests.
    """

    def __init__(
        self,
        settings: CognitoSettings | None = None,
        /,
        *,
        jwks: JWKSCache | None = None,
        http_client: httpx.AsyncClient | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        clock: Callable[[], float] = time.time,
        **fields: Unpack[SettingsFields],
    ) -> None:
        self.settings = resolve_settings(settings, fields)
        if jwks is not None and (http_client is not None or transport is not None):
            raise ConfigurationError("pass either jwks or http_client/transport, not both")
        self.jwks = jwks or JWKSCache(self.settings, http_client=http_client, transport=transport)
        self._clock = clock
        self._issuers = frozenset(self.settings.accepted_issuers)
        self._client_ids = frozenset(self.settings.client_ids)
        self._leeway = self.settings.leeway
        self._max_bytes = self.settings.max_token_bytes
        size = self.settings.token_cache_size
        self._cache: LRUCache[tuple[str, str, type[CognitoClaims]], _Verified] | None = (
            LRUCache(maxsize=size) if size else None
        )
        self._headers: dict[str, Mapping[str, Any]] = {}

    @overload
    async def verify(self, token: str, *, token_use: TokenUse) -> CognitoClaims: ...

    @overload
    async def verify(
        self, token: str, *, token_use: TokenUse, claims_model: type[ClaimsT]
    ) -> ClaimsT: ...

    async def verify(
        self,
        token: str,
        *,
        token_use: TokenUse,
        claims_model: type[CognitoClaims] = CognitoClaims,
    ) -> CognitoClaims:
        """Verify `token` as a `token_use` token and return its claims.

        Raises:
            TokenError: the token is not acceptable (a subclass says why).
            JWKSUnavailableError: no signing key can be had right now.
        """
        claims, _header, _key = await self.verify_with_header(token, token_use, claims_model)
        return claims

    async def verify_with_header(
        self, token: str, token_use: TokenUse, claims_model: type[CognitoClaims]
    ) -> _Verified:
        """`verify`, also returning the verified JOSE header and the key (for the bearer)."""
        if token_use not in ("access", "id"):
            raise ValueError("token_use must be 'access' or 'id'")
        if not isinstance(token, str):
            raise MalformedTokenError("token is not a string")
        if len(token) > self._max_bytes:
            raise MalformedTokenError("token exceeds the size limit")
        cache_key = (token, token_use, claims_model)
        if self._cache is not None:
            cached = self._cache.get(cache_key)
            if cached is not None:
                claims, header, key = cached
                # A remembered token is still re-checked for expiry and for its key having
                # left the JWKS (or the JWKS being due for a refresh).
                if (
                    self._clock() < claims.exp + self._leeway
                    and self.jwks.lookup(header["kid"]) is key
                ):
                    return cached
                del self._cache[cache_key]
        verified = await self._verify_uncached(token, token_use, claims_model)
        if self._cache is not None:
            self._cache[cache_key] = verified
        return verified

    async def _verify_uncached(
        self, token: str, token_use: TokenUse, claims_model: type[CognitoClaims]
    ) -> _Verified:
        try:
            compact = token.encode("ascii")
        except UnicodeEncodeError:
            raise MalformedTokenError("token is not three base64url segments") from None
        # Deleting the alphabet must leave exactly the two dots: one C call checks every byte.
        if compact.translate(None, B64URL_ALPHABET) != b"..":
            raise MalformedTokenError("token is not three base64url segments")
        header_segment, payload_segment, signature_segment = token.split(".")
        try:
            for segment in (header_segment, payload_segment, signature_segment):
                if not segment:
                    raise ValueError("empty segment")
                check_canonical(segment)
        except ValueError as exc:
            raise MalformedTokenError("token segment is empty or not canonical") from exc
        header = self._headers.get(header_segment) or _parse_header(header_segment)
        kid: str = header["kid"]

        key = await self.jwks.get_key(kid)

        dot = len(header_segment) + 1 + len(payload_segment)
        try:
            valid = key.verify(compact[:dot], decode_checked(compact[dot + 1 :]))
        except Exception as exc:  # a verify crash is a bad signature, not a 500
            raise InvalidSignatureError("signature could not be verified") from exc
        if not valid:
            raise InvalidSignatureError("signature does not match")

        try:
            payload = loads_object(decode_checked(compact[len(header_segment) + 1 : dot]))
        except ValueError as exc:
            raise MalformedTokenError("payload is not a strict JSON object") from exc
        check_claims(
            payload,
            token_use=token_use,
            issuers=self._issuers,
            client_ids=self._client_ids,
            leeway=self._leeway,
            now=self._clock(),
        )
        try:
            claims = claims_model.model_validate(MappingProxyType(payload))
        except ValidationError as exc:
            fields = sorted({".".join(map(str, error["loc"])) for error in exc.errors()})
            raise InvalidClaimError(
                f"claims do not fit {claims_model.__name__}: {', '.join(fields)}",
                claim=fields[0] if fields else "",
            ) from None

        if (
            header_segment not in self._headers
            and len(self._headers) < _HEADER_MEMO_SIZE
            and all(isinstance(value, str) for value in header.values())
        ):
            self._headers[header_segment] = header
        return claims, header, key


def _parse_header(segment: str) -> Mapping[str, Any]:
    try:
        raw = b64url_decode(segment)
        if len(raw) > MAX_HEADER_BYTES:
            raise MalformedTokenError("header exceeds the size limit")
        header = loads_object(raw)
    except ValueError as exc:
        raise MalformedTokenError("header is not a strict JSON object") from exc
    if header.get("alg") != "RS256":
        raise MalformedTokenError("alg is not RS256")
    if not FORBIDDEN_HEADER_PARAMS.isdisjoint(header):
        raise MalformedTokenError("header carries a forbidden parameter")
    kid = header.get("kid")
    if not isinstance(kid, str) or not 0 < len(kid) <= MAX_KID_LENGTH:
        raise MalformedTokenError("kid is missing or not a string of 1-128 characters")
    return MappingProxyType(header)
