"""`CognitoVerifier`: framework-free, async verification of Cognito access and ID tokens."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, NamedTuple, cast, overload

import httpx
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from jose.backends.base import Key
from jose.backends.cryptography_backend import CryptographyRSAKey
from pydantic import ValidationError

from ._claims import ClaimsT, CognitoClaims, TokenUse, build_claims, check_claims
from ._exceptions import (
    ConfigurationError,
    InvalidClaimError,
    InvalidSignatureError,
    MalformedTokenError,
)
from ._jwks import MAX_KID_LENGTH, JWKSCache
from ._settings import CognitoSettings, resolve_settings
from ._strict import (
    B64URL_ALPHABET,
    b64url_decode,
    canonical_end,
    decode_checked,
    decodes_strictly,
    loads_object,
)

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from ._settings import SettingsFields

__all__ = ["CognitoVerifier"]

MAX_HEADER_BYTES = 1024
# Header parameters that would make us fetch keys from, or trust keys in, the token itself,
# or that belong to JWE or to JWS extensions we do not implement (RFC 7515 §4.1.11, RFC 8725).
FORBIDDEN_HEADER_PARAMS = frozenset(
    {"crit", "b64", "jku", "x5u", "jwk", "x5c", "x5t", "x5t#S256", "zip", "enc", "epk", "p2c"}
)
# Cognito signs with a handful of headers; remembering the parsed form of the ones that led to
# a verified token saves work on every request without letting strangers fill memory.
_HEADER_MEMO_SIZE = 32
# RS256's padding and hash, made once: python-jose's `Key.verify` makes both anew per call.
_PKCS1V15 = padding.PKCS1v15()
_SHA256 = hashes.SHA256()


# The token cache and its admission go by the signature's last 22 characters (about 128
# random bits), which are cheaper to hash than the whole token; an entry is used only for
# the very token it was made for, so another token with the same tail is just a miss.
_FINGERPRINT_CHARS = 22
# A verified token's claims, JOSE header, and the key that verified it.
_Verified = tuple[CognitoClaims, Mapping[str, Any], Key]
# The signature's tail, the token use and the claims model.
_CacheKey = tuple[str, str, type[CognitoClaims]]
# What the cache keeps: the token, when it stops being valid (exp plus leeway), its kid, the
# key that verified it, and the verification.
_Entry = tuple[str, float, str, Key, _Verified]
# A token past `_parse`: signing input, signature, payload bytes, header segment, header.
_Parsed = tuple[bytes, bytes, bytes, str, Mapping[str, Any]]


class _FetchNeeded(NamedTuple):
    """`_verify_now`'s answer when the token's key must be fetched: the token, parsed."""

    parsed: _Parsed


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
        # Least recently used first. With size 0 nothing is ever admitted, so nothing is found.
        self._cache: OrderedDict[_CacheKey, _Entry] = OrderedDict()
        self._cache_size = size
        self._headers: dict[str, Mapping[str, Any]] = {}
        self._seen: set[int] = set()
        # Bounded like the cache, but roomier: forgetting who was seen only costs a re-check.
        self._seen_limit = max(2 * size, 1024)

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
        if token_use not in ("access", "id"):
            raise ConfigurationError("token_use must be 'access' or 'id'")
        if not isinstance(token, str):
            raise MalformedTokenError("token is not a string")
        # No coroutine on the way unless a fetch is needed: one per token costs measurably.
        outcome = self._verify_now(token, token_use, claims_model)
        if isinstance(outcome, _FetchNeeded):
            outcome = await self._verify_fetching(token, token_use, claims_model, outcome.parsed)
        return outcome[0]

    def _verify_now(
        self, token: str, token_use: TokenUse, claims_model: type[CognitoClaims]
    ) -> _Verified | _FetchNeeded:
        """Verify `token` without network: from the cache, or in full with a key at hand.

        Returns `_FetchNeeded` (the parsed token, for `_verify_fetching`) when the JWKS must be
        fetched first; raises a `TokenError` for a bad token.
        """
        tail = token[-_FINGERPRINT_CHARS:]
        # Only tokens seen before can be in the cache (see `_remember`): one-off tokens skip it.
        if hash(tail) in self._seen:
            cache_key = (tail, token_use, claims_model)
            entry = self._cache.get(cache_key)
            # Reaching this comparison takes the 22 characters (132 bits) of a cached token's
            # signature, i.e. holding that token; it then only tells whether this is the one.
            if entry is not None and entry[0] == token:
                # A remembered token is still re-checked for expiry and for its key having
                # left the JWKS (or the JWKS being due for a refresh, which the full path then
                # performs).
                if self._clock() < entry[1] and self.jwks.lookup(entry[2]) is entry[3]:
                    self._cache.move_to_end(cache_key)
                    return entry[4]
                del self._cache[cache_key]
        parsed = self._parse(token)
        key = self.jwks.lookup(parsed[4]["kid"])
        if key is None:
            return _FetchNeeded(parsed)
        return self._verify_parsed(token, tail, parsed, key, token_use, claims_model)

    async def _verify_fetching(
        self,
        token: str,
        token_use: TokenUse,
        claims_model: type[CognitoClaims],
        parsed: _Parsed | None = None,
    ) -> _Verified:
        """The full path when the token's key must be fetched, or a fetch waited for.

        `parsed` is `_FetchNeeded.parsed`: a flood of unknown kids is parsed once, not twice.
        """
        if parsed is None:
            parsed = self._parse(token)
        key = await self.jwks.get_key(parsed[4]["kid"])
        tail = token[-_FINGERPRINT_CHARS:]
        return self._verify_parsed(token, tail, parsed, key, token_use, claims_model)

    def _parse(self, token: str) -> _Parsed:
        """Check the compact syntax, decode the segments and read the header; no network."""
        if len(token) > self._max_bytes:
            raise MalformedTokenError("token exceeds the size limit")
        try:
            compact = token.encode("ascii")
        except UnicodeEncodeError:
            raise MalformedTokenError("token is not three base64url segments") from None
        # Where the decoder is strict, decoding checks every byte of the payload and the
        # signature (and the header is checked when first seen); elsewhere, deleting the
        # alphabet must leave exactly the two dots.
        if not decodes_strictly and compact.translate(None, B64URL_ALPHABET) != b"..":
            raise MalformedTokenError("token is not three base64url segments")  # pragma: no cover
        first_dot = token.find(".")
        second_dot = token.find(".", first_dot + 1)
        if (
            first_dot < 0
            or second_dot < 0
            or not canonical_end(second_dot - first_dot - 1, token[second_dot - 1])
            or not canonical_end(len(token) - second_dot - 1, token[-1])
        ):
            raise MalformedTokenError("token is not three canonical base64url segments")
        try:
            signature = decode_checked(compact[second_dot + 1 :])
            payload = decode_checked(compact[first_dot + 1 : second_dot])
        except ValueError:
            raise MalformedTokenError("token is not three base64url segments") from None
        header_segment = token[:first_dot]
        # A memoised header segment was checked when it was first seen.
        header = self._headers.get(header_segment)
        if header is None:
            header = _parse_header(header_segment)
        return compact[:second_dot], signature, payload, header_segment, header

    def _verify_parsed(
        self,
        token: str,
        tail: str,
        parsed: _Parsed,
        key: Key,
        token_use: TokenUse,
        claims_model: type[CognitoClaims],
    ) -> _Verified:
        """Check the signature, then the claims, of a token that passed `_parse`; remember it.

        `tail` is the token's last `_FINGERPRINT_CHARS` characters, as the caller sliced them.
        """
        signing_input, signature, payload_bytes, _header_segment, header = parsed
        _check_signature(key, signing_input, signature)

        try:
            payload = loads_object(payload_bytes)
        except ValueError as exc:
            raise MalformedTokenError("payload is not a strict JSON object") from exc
        # Positional: keyword passing costs measurably on this path.
        check_claims(
            payload, token_use, self._issuers, self._client_ids, self._leeway, self._clock()
        )
        try:
            claims = build_claims(claims_model, payload)
        except ValidationError as exc:
            # Only the top-level claim names: deeper parts of a location are keys of the token's
            # own objects, i.e. token content.
            fields = sorted({str(error["loc"][0]) for error in exc.errors() if error["loc"]})
            raise InvalidClaimError(
                f"claims do not fit {claims_model.__name__}: {', '.join(fields)}",
                claim=fields[0] if fields else "",
            ) from None
        verified = claims, header, key
        self._remember(token, tail, token_use, claims_model, parsed[3], verified)
        return verified

    def _remember(
        self,
        token: str,
        tail: str,
        token_use: TokenUse,
        claims_model: type[CognitoClaims],
        header_segment: str,
        verified: _Verified,
    ) -> None:
        claims, header, key = verified
        # Only headers of verified tokens, and only flat ones: a memoised header is shared.
        if (
            header_segment not in self._headers
            and len(self._headers) < _HEADER_MEMO_SIZE
            and all(isinstance(value, str) for value in header.values())
        ):
            self._headers[header_segment] = header
        if not self._cache_size:
            return
        # Admit a token on its second verification: a token seen once (most traffic of many
        # distinct clients) then costs no memory, and cannot evict the tokens clients resend.
        # A hash collision only admits a token early; an entry serves only its own token.
        fingerprint = hash(tail)  # computed once already, and kept by the string
        if fingerprint in self._seen:
            cache_key = (tail, token_use, claims_model)
            self._cache[cache_key] = (
                token,
                claims.exp + self._leeway,
                header["kid"],
                key,
                verified,
            )
            if len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        else:
            if len(self._seen) >= self._seen_limit:
                self._seen.clear()
            self._seen.add(fingerprint)


def _check_signature(key: Key, signing_input: bytes, signature: bytes) -> None:
    """Check an RS256 signature with the `cryptography` public key that python-jose prepared.

    The JWKS cache builds every key with python-jose's `cryptography` backend (the package
    refuses to import without it). Raises `InvalidSignatureError`.
    """
    try:
        cast("CryptographyRSAKey", key).prepared_key.verify(
            signature, signing_input, _PKCS1V15, _SHA256
        )
    except InvalidSignature:
        raise InvalidSignatureError("signature does not match") from None
    except Exception as exc:  # a verify crash is a bad signature, not a 500
        raise InvalidSignatureError("signature could not be verified") from exc


def _parse_header(segment: str) -> Mapping[str, Any]:
    try:
        raw = b64url_decode(segment)  # also refuses an empty or non-canonical segment
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
