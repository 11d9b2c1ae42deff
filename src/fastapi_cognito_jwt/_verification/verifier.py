"""`CognitoVerifier`: framework-free verification of Cognito access and ID tokens."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any, overload

import httpx2
from jose.backends.base import Key

from .._exceptions import ConfigurationError, MalformedTokenError
from .._settings import CognitoSettings, load_settings
from .claims import ClaimsT, CognitoClaims, TokenUse, build_claims, check_claims
from .jwks import JWKSCache
from .parsed_token import ParsedToken, parse_token, remember_header
from .revocation import InMemoryRevocationList, RevocationList
from .signing_keys import check_signature
from .token_cache import CachedToken, VerifiedTokenCache

__all__ = ["CognitoVerifier"]

# Cognito signs with a handful of headers; the parsed form of those that led to a verified
# token is kept, and at most this many.
_KNOWN_HEADERS = 32


class CognitoVerifier:
    """Verify Cognito access and ID tokens: signature, issuer, client, token use and times.

    Framework-free and async; raises a `TokenError` subclass for a bad token and
    `JWKSUnavailableError` when no signing key can be had. `verify` is the one path every
    caller takes, `CognitoBearer` included, so a subclass that overrides it (to add a check
    of its own, say) is honoured everywhere.

    ```python
    verifier = CognitoVerifier(CognitoSettings(user_pool_id=..., client_ids=[...]))
    claims = await verifier.verify(token, token_use="access")
    ```

    Args:
        settings: the pool and the rules; read from the environment when not given.
        jwks: a `JWKSCache` to share with other verifiers; by default one is made.
        http_client: an `httpx2.AsyncClient` for the JWKS cache this verifier makes.
        transport: an httpx2 transport for the JWKS cache this verifier makes (tests).
        clock: wall-clock time in seconds since the epoch, for tests.
        revocations: the `RevocationList` checked after the claims (`self.revocations`);
            by default an `InMemoryRevocationList` of this process.
    """

    def __init__(
        self,
        settings: CognitoSettings | None = None,
        /,
        *,
        jwks: JWKSCache | None = None,
        http_client: httpx2.AsyncClient | None = None,
        transport: httpx2.AsyncBaseTransport | None = None,
        clock: Callable[[], float] = time.time,
        revocations: RevocationList | None = None,
    ) -> None:
        self.settings = load_settings(settings)
        if jwks is not None and (http_client is not None or transport is not None):
            raise ConfigurationError("pass either jwks or http_client/transport, not both")
        self.jwks = jwks or JWKSCache(self.settings, http_client=http_client, transport=transport)
        self._clock = clock
        self._issuers = frozenset(self.settings.accepted_issuers)
        self._client_ids = frozenset(self.settings.client_ids)
        self._leeway = self.settings.leeway
        self._max_bytes = self.settings.max_token_bytes
        self._cache = VerifiedTokenCache(self.settings.token_cache_size)
        self._known_headers: dict[str, Mapping[str, Any]] = {}
        if revocations is not None and not isinstance(revocations, RevocationList):
            raise ConfigurationError("revocations must be a RevocationList")
        # (Not `or`: an empty list is falsy.)
        self.revocations = (
            revocations
            if revocations is not None
            else InMemoryRevocationList(self.settings, clock=clock)
        )

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
        """Verify `token` as a `token_use` token and return its claims as `claims_model`.

        Raises:
            TokenError: the token is not acceptable (a subclass says why; `TokenRevokedError`
                when it is on the revocation list).
            RevocationUnavailableError: a shared revocation list is out of touch.
            JWKSUnavailableError: no signing key can be had right now.
        """
        if token_use not in ("access", "id"):
            raise ConfigurationError("token_use must be 'access' or 'id'")
        if not isinstance(token, str):
            raise MalformedTokenError("token is not a string")
        cached = self._cached(token, token_use, claims_model)
        if cached is not None:
            self.revocations.check(cached)  # revocation: cached tokens too
            return cached
        parsed = parse_token(token, self._max_bytes, self._known_headers)
        # Most tokens are signed by a key at hand; only for the others is anything awaited.
        key = self.jwks.lookup(parsed.kid)
        if key is None:
            key = await self.jwks.get_key(parsed.kid)
        claims = self._check(token, parsed, key, token_use, claims_model)
        self.revocations.check(claims)  # revocation: after the signature and the claims
        return claims

    def _cached(
        self, token: str, token_use: TokenUse, claims_model: type[CognitoClaims]
    ) -> CognitoClaims | None:
        entry = self._cache.get(token, token_use, claims_model)
        if entry is None:
            return None
        # A remembered token is still re-checked for expiry and for its key having left the
        # JWKS (or the JWKS being due for a refresh, which the full path then performs).
        if self._clock() < entry.expires and self.jwks.lookup(entry.kid) is entry.key:
            return entry.claims
        self._cache.discard(token, token_use, claims_model)
        return None

    def _check(
        self,
        token: str,
        parsed: ParsedToken,
        key: Key,
        token_use: TokenUse,
        claims_model: type[CognitoClaims],
    ) -> CognitoClaims:
        """Signature, then the claim rules, then the claims model; remember the token."""
        check_signature(key, parsed.signing_input, parsed.signature)
        payload = parsed.payload
        check_claims(
            payload, token_use, self._issuers, self._client_ids, self._leeway, self._clock()
        )
        claims = build_claims(claims_model, payload)
        remember_header(self._known_headers, parsed, _KNOWN_HEADERS)
        entry = CachedToken(token, claims.exp + self._leeway, parsed.kid, key, claims)
        self._cache.put(token_use, claims_model, entry)
        return claims
