"""`CognitoVerifier`: framework-free verification of Cognito access and ID tokens."""

from __future__ import annotations

import asyncio
import concurrent.futures
import time
from collections.abc import Callable, Coroutine, Iterable, Mapping
from types import MappingProxyType
from typing import Any, NamedTuple, overload

import httpx2
from jose.backends.base import Key

from .._exceptions import (
    CognitoJWTError,
    ConfigurationError,
    InvalidIssuerError,
    JWKSUnavailableError,
    MalformedTokenError,
    RevocationUnavailableError,
    TokenError,
    TokenRevokedError,
)
from .._settings import CognitoSettings, UserPoolSettings, load_settings
from .._telemetry import VerificationCounts, count_revocation_enforced
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


class _Pool(NamedTuple):
    """One user pool as the verifier uses it: found by issuer, with its own keys and clients."""

    settings: UserPoolSettings
    jwks: JWKSCache
    issuers: frozenset[str]
    client_ids: frozenset[str]
    counts: VerificationCounts


class CognitoVerifier:
    """Verify Cognito access and ID tokens: signature, issuer, client, token use and times.

    Framework-free and async; raises a `TokenError` subclass for a bad token and
    `JWKSUnavailableError` when no signing key can be had. `verify` is the one path every
    caller takes, `CognitoBearer` and `verify_sync` included, so a subclass that overrides it
    (to add a check of its own, say) is honoured everywhere.

    With several user pools (`settings.additional_pools`), the token's issuer picks the pool,
    before any key is looked up: each pool has its own JWKS cache and app clients, and a
    token from an issuer no pool has is refused without a fetch.

    ```python
    verifier = CognitoVerifier(CognitoSettings(user_pool_id=..., client_ids=[...]))
    claims = await verifier.verify(token, token_use="access")
    ```

    Args:
        settings: the pools and the rules; read from the environment when not given.
        jwks: `JWKSCache`s to share with other verifiers, matched to the pools by URL; a
            cache is made for each pool not given one.
        http_client: an `httpx2.AsyncClient` for the JWKS caches this verifier makes.
        transport: an httpx2 transport for the JWKS caches this verifier makes (tests).
        clock: wall-clock time in seconds since the epoch, for tests.
        revocations: the `RevocationList` checked after the claims (`self.revocations`);
            by default an `InMemoryRevocationList` of this process.
    """

    def __init__(
        self,
        settings: CognitoSettings | None = None,
        /,
        *,
        jwks: JWKSCache | Iterable[JWKSCache] | None = None,
        http_client: httpx2.AsyncClient | None = None,
        transport: httpx2.AsyncBaseTransport | None = None,
        clock: Callable[[], float] = time.time,
        revocations: RevocationList | None = None,
    ) -> None:
        self.settings = load_settings(settings)
        if jwks is not None and (http_client is not None or transport is not None):
            raise ConfigurationError("pass either jwks or http_client/transport, not both")
        shared = [jwks] if isinstance(jwks, JWKSCache) else list(jwks or ())
        given = {cache.url: cache for cache in shared}
        by_issuer: dict[str, _Pool] = {}
        caches: dict[str, JWKSCache] = {}
        for pool in self.settings.pools:
            url = pool.resolved_jwks_url
            cache = caches.get(url) or given.pop(url, None)
            if cache is None:
                cache = JWKSCache(
                    self.settings, pool=pool, http_client=http_client, transport=transport
                )
            caches[url] = cache
            entry = _Pool(
                pool,
                cache,
                frozenset(pool.accepted_issuers),
                frozenset(pool.client_ids),
                VerificationCounts(pool.user_pool_id),
            )
            by_issuer.update(dict.fromkeys(entry.issuers, entry))
        if given:
            raise ConfigurationError("a JWKSCache given matches no user pool's jwks_url")
        self._pools = by_issuer
        self.jwks_caches: Mapping[str, JWKSCache] = MappingProxyType(
            {pool.user_pool_id: caches[pool.resolved_jwks_url] for pool in self.settings.pools}
        )
        """Each user pool's JWKS cache, by user pool id (e.g. to warm them at startup)."""
        self.jwks = self.jwks_caches[self.settings.user_pool_id]
        """The first user pool's JWKS cache."""
        self._clock = clock
        self._resource_ids = frozenset(self.settings.resource_ids)
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
        # Counts of tokens refused before their pool is known, and of cache misses (the pool
        # is not known before the token is read): `pool` is empty there.
        self._counts = VerificationCounts("")

    def user_pool_of(self, issuer: str) -> UserPoolSettings | None:
        """The user pool whose tokens carry `issuer` as `iss`, or None."""
        pool = self._pools.get(issuer)
        return None if pool is None else pool.settings

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
        parsed = self._begin(token, token_use, claims_model)
        if not isinstance(parsed, ParsedToken):
            return parsed  # remembered
        pool = self._pools[parsed.payload["iss"]]  # `_begin` refused any other issuer
        try:
            # Most tokens are signed by a key at hand; only for the others is anything awaited.
            key = pool.jwks.lookup(parsed.kid) or await pool.jwks.get_key(parsed.kid)
        except (TokenError, JWKSUnavailableError) as exc:
            self._rejected(exc, pool.counts, token_use)
            raise
        return self._finish(token, parsed, pool, key, token_use, claims_model)

    @overload
    def verify_sync(self, token: str, *, token_use: TokenUse) -> CognitoClaims: ...

    @overload
    def verify_sync(
        self, token: str, *, token_use: TokenUse, claims_model: type[ClaimsT]
    ) -> ClaimsT: ...

    def verify_sync(
        self,
        token: str,
        *,
        token_use: TokenUse,
        claims_model: type[CognitoClaims] = CognitoClaims,
    ) -> CognitoClaims:
        """`verify` for synchronous code: Lambda handlers, scripts, WSGI views, task queues.

        The same steps, rules and caches as `verify`. Keys that are not at hand are fetched
        by `JWKSCache.get_key_sync`: threads share one fetch, which takes at most
        `http_timeout`, and callers of keys at hand never wait on it. A subclass that
        overrides `verify` is honoured: its `verify` runs whole on an event loop of its own
        (after the keys were brought in), in a worker thread when the calling thread runs a
        loop. On an event loop's thread it works too, but a key fetch blocks that loop: in
        async code, `await verify(...)` instead.

        ```python
        def handler(event, context):
            claims = verifier.verify_sync(event["token"], token_use="access")
        ```

        Raises:
            TokenError: the token is not acceptable (a subclass says why).
            JWKSUnavailableError: no signing key can be had right now.
        """
        if type(self).verify is not CognitoVerifier.verify:
            self._bring_keys(token)
            return _run_whole(
                lambda: self.verify(token, token_use=token_use, claims_model=claims_model)
            )
        parsed = self._begin(token, token_use, claims_model)
        if not isinstance(parsed, ParsedToken):
            return parsed
        pool = self._pools[parsed.payload["iss"]]
        try:
            key = pool.jwks.lookup(parsed.kid) or pool.jwks.get_key_sync(parsed.kid)
        except (TokenError, JWKSUnavailableError) as exc:
            self._rejected(exc, pool.counts, token_use)
            raise
        return self._finish(token, parsed, pool, key, token_use, claims_model)

    def _bring_keys(self, token: str) -> None:
        """Fetch the signing key `token` names if it is not at hand; nothing else, no count.

        For an override of `verify`, run afterwards on a loop of its own: it then finds the
        key, and decides about the token itself (counted once, by `verify`).
        """
        try:
            parsed = parse_token(token, self._max_bytes, self._known_headers)
            pool = self._pool(parsed)
            if pool.jwks.lookup(parsed.kid) is None:
                pool.jwks.get_key_sync(parsed.kid)
        except (CognitoJWTError, TypeError):  # TypeError: not a string; verify says so
            pass

    def _begin(
        self, token: str, token_use: TokenUse, claims_model: type[CognitoClaims]
    ) -> CognitoClaims | ParsedToken:
        """The arguments, the verified-token cache, the strict parse and the pool's choice.

        The claims of a remembered token still servable (checked against the revocation list
        too), or the token read, its issuer one of a pool's (`self._pools[payload["iss"]]`).
        """
        if token_use not in ("access", "id"):
            raise ConfigurationError("token_use must be 'access' or 'id'")
        counts = self._counts
        try:
            if not isinstance(token, str):
                raise MalformedTokenError("token is not a string")
            entry = self._cache.get(token, token_use, claims_model)
            # A remembered token is still re-checked for expiry and for its key having left
            # the JWKS (or the JWKS being due for a refresh, which the full path performs).
            if entry is not None:
                if self._clock() < entry.expires and entry.jwks.lookup(entry.kid) is entry.key:
                    counts = entry.counts
                    self.revocations.check(entry.claims)  # revocation: remembered tokens too
                    # A hit is also an accepted verification: the metrics' reader adds them.
                    counts.hits[token_use].count += 1
                    return entry.claims
                self._cache.discard(token, token_use, claims_model)
            counts.misses[token_use].count += 1
            parsed = parse_token(token, self._max_bytes, self._known_headers)
            self._pool(parsed)
            return parsed
        except (TokenError, RevocationUnavailableError) as exc:
            self._rejected(exc, counts, token_use)
            raise

    def _finish(
        self,
        token: str,
        parsed: ParsedToken,
        pool: _Pool,
        key: Key,
        token_use: TokenUse,
        claims_model: type[CognitoClaims],
    ) -> CognitoClaims:
        """Signature, claim rules, claims model and revocation for a token whose key is at
        hand; remembered if it was seen before, and counted."""
        try:
            check_signature(key, parsed.signing_input, parsed.signature)
            payload = parsed.payload
            check_claims(
                payload,
                token_use,
                pool.issuers,
                pool.client_ids,
                self._resource_ids,
                self._leeway,
                self._clock(),
            )
            claims = build_claims(claims_model, payload)
            self.revocations.check(claims)  # revocation: after the signature and the claims
        except (TokenError, RevocationUnavailableError) as exc:
            self._rejected(exc, pool.counts, token_use)
            raise
        if parsed.header_segment not in self._known_headers:  # known: nearly every token
            remember_header(self._known_headers, parsed, _KNOWN_HEADERS)
        if self._cache.admits(token):
            entry = CachedToken(
                token, claims.exp + self._leeway, parsed.kid, key, pool.jwks, pool.counts, claims
            )
            self._cache.put(token_use, claims_model, entry)
        pool.counts.accepted[token_use].count += 1
        return claims

    def _rejected(
        self, error: CognitoJWTError, counts: VerificationCounts, token_use: TokenUse
    ) -> None:
        counts.rejected(error, token_use)
        if isinstance(error, TokenRevokedError):
            count_revocation_enforced(error.kind, counts.pool)

    def _pool(self, parsed: ParsedToken) -> _Pool:
        """The pool the token's issuer names; an unknown issuer is refused before any key.

        `verify` and `verify_sync` then find the pool as `self._pools[payload["iss"]]`: an
        issuer this lets through is, exactly, a key of `_pools`.
        """
        issuer = parsed.payload.get("iss")
        pool = self._pools.get(issuer) if type(issuer) is str else None
        if pool is None:
            raise InvalidIssuerError()
        return pool


def _run_whole(make: Callable[[], Coroutine[Any, Any, ClaimsT]]) -> ClaimsT:
    """Run the coroutine `make()` to its end on a new event loop, off any loop this thread runs."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(make())
    with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="verify_sync") as worker:
        return worker.submit(lambda: asyncio.run(make())).result()
