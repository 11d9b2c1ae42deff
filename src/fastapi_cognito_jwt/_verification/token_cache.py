"""The verified-token cache: a token sent again skips the signature and the claim rules."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, NamedTuple

from cachetools import LRUCache
from jose.backends.base import Key

from .claims import CognitoClaims

if TYPE_CHECKING:
    from .._telemetry import VerificationCounts
    from .jwks import JWKSCache

__all__ = ["CachedToken", "VerifiedTokenCache"]

# Entries are found by the signature's last 22 characters (about 128 random bits): cheaper to
# hash than the whole token, which is still compared in full before an entry is used.
_TAIL = 22


class CachedToken(NamedTuple):
    """A verified token, and what must still hold for it to be served again."""

    token: str
    expires: float
    """`exp` plus the leeway, in seconds since the epoch."""
    kid: str
    key: Key
    """The key that verified it: the entry is served only while the JWKS still holds it."""
    jwks: JWKSCache
    """The JWKS cache of the token's user pool."""
    counts: VerificationCounts
    """The tallies of the token's pool, where a hit (or a refusal) on this entry counts."""
    claims: CognitoClaims


_Slot = tuple[str, str, type[CognitoClaims]]


class VerifiedTokenCache:
    """A bounded LRU of verified tokens (cachetools), admitting a token on its second use.

    A token seen once (most traffic of many distinct clients) then costs no memory and cannot
    evict the tokens clients resend. A token is found only under the token use and claims
    model it was verified for. Whether an entry may still be served (expiry, key) is the
    caller's check: `get` only finds the very token. Safe to share between threads
    (`verify_sync`): cachetools' caches are not, so a lock guards every access to the LRU;
    the set of first sightings needs none (each set operation is atomic).
    """

    def __init__(self, size: int) -> None:
        self.size = size
        self._entries: LRUCache[_Slot, CachedToken] = LRUCache(max(size, 1))
        # Hashes of tails seen once; bounded like the cache but roomier, since forgetting who
        # was seen only costs a token one more full verification.
        self._seen: set[int] = set()
        self._seen_limit = max(2 * size, 1024)
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._entries)

    def get(
        self, token: str, token_use: str, claims_model: type[CognitoClaims]
    ) -> CachedToken | None:
        """The entry made for exactly this token, token use and claims model, if any."""
        tail = token[-_TAIL:]
        if hash(tail) not in self._seen:
            return None
        with self._lock:
            entry = self._entries.get((tail, token_use, claims_model))
        # Reaching this comparison takes the 22 characters (132 bits) of a cached token's
        # signature, i.e. holding that token; it then only tells whether this is the one.
        return entry if entry is not None and entry.token == token else None

    def admits(self, token: str) -> bool:
        """Whether `token`, just verified, is to be remembered: it was seen before.

        A token seen for the first time is only noted (and `False` returned), so the caller
        builds no entry for the one-off tokens that make up most traffic.
        """
        if not self.size:
            return False
        fingerprint = hash(token[-_TAIL:])
        # No lock: each set operation is atomic, and two threads clearing a full set in turn
        # only forget more first sightings.
        seen = self._seen
        if fingerprint in seen:
            # A hash collision only admits a token early; an entry serves only its own.
            return True
        if len(seen) >= self._seen_limit:
            seen.clear()
        seen.add(fingerprint)
        return False

    def put(self, token_use: str, claims_model: type[CognitoClaims], entry: CachedToken) -> None:
        """Remember a verified token that `admits` let in."""
        with self._lock:
            self._entries[(entry.token[-_TAIL:], token_use, claims_model)] = entry

    def discard(self, token: str, token_use: str, claims_model: type[CognitoClaims]) -> None:
        """Forget the entry for `token` (no longer servable: expired, or its key is gone)."""
        with self._lock:
            self._entries.pop((token[-_TAIL:], token_use, claims_model), None)
