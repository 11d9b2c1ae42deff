"""The revocation list: signed-out users and revoked sessions, checked on every verification.

Cognito's tokens are verified locally, so Cognito's own sign-out (`GlobalSignOut`) and session
revocation (`RevokeToken`) reach no verifier: a signed-out access token verifies until it
expires. The list records both, and `CognitoVerifier.verify` consults it after the signature
and the claims, for cached tokens too.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Iterable
from typing import NamedTuple

from .._exceptions import ConfigurationError, TokenRevokedError
from .._settings import CognitoSettings, load_settings
from .._telemetry import count_revocation_recorded
from .claims import CognitoClaims

__all__ = ["InMemoryRevocationList", "Revocation", "RevocationList"]

logger = logging.getLogger("fastapi_cognito_jwt")

# Expiry times are rounded up to this many seconds, so that entries recorded close together
# share one int object (a million entries hold a few thousand ints, not a million).
_EXPIRY_STEP = 60
# Expired entries are swept at most this often, on a write.
_SWEEP_EVERY = 60.0


class Revocation(NamedTuple):
    """One entry: a session (`origin_jti`) or a user's sign-out (`issuer`, `sub`, `at`).

    `expires` is when the entry may be forgotten (no token it covers can still be valid).
    Backends send these between replicas; `kind` is `"session"` or `"user"`.
    """

    kind: str
    key: str
    """The session's `origin_jti`, or the user's `sub`."""
    issuer: str
    """The user's `iss` (empty for a session)."""
    at: float
    """When the user signed out, seconds since the epoch (0 for a session)."""
    expires: float


class RevocationList:
    """The local copy every backend keeps, and the check the verifier makes against it.

    `check` is a dict lookup or two: the hot path never waits for the network. A backend
    shared by replicas (`RedisRevocationList`) extends `record` to store and publish entries,
    and `check` to refuse while its copy may be incomplete.

    A token is refused when its `origin_jti` is a revoked session, or when its user signed out
    after the token's sign-in: `auth_time` (or `iat` when a token has none) before the
    sign-out time. `auth_time` is kept by refreshes, so a session that began before the
    sign-out is refused even in tokens refreshed after it.

    Entries expire `revocation_max_lifetime` seconds after they are recorded: by then every
    token they cover has expired, provided Cognito revoked the refresh tokens too (which
    `GlobalSignOut` and `RevokeToken` do).
    """

    def __init__(
        self, settings: CognitoSettings | None = None, /, *, clock: Callable[[], float] = time.time
    ) -> None:
        self.settings = load_settings(settings)
        self._clock = clock
        self._lifetime = self.settings.revocation_max_lifetime
        # origin_jti -> when the entry expires. Keys are the claims' strings in lower case
        # (Cognito writes its uuids so): a check is a lookup, with no conversion beyond that
        # (1 000 000 entries take about 125 MB). In any case a uuid names the same session;
        # other keys too, which can only refuse more, never less.
        self._sessions: dict[str, int] = {}
        # iss -> sub -> the sign-out time rounded up to a whole second (Cognito's
        # times are whole seconds, so `auth_time < at` and `auth_time < ceil(at)` agree); the
        # entry expires `lifetime` after it.
        self._users: dict[str, dict[str, int]] = {}
        self._user_count = 0
        self._ints: dict[int, int] = {}
        self._next_sweep = clock() + _SWEEP_EVERY

    def __len__(self) -> int:
        return len(self._sessions) + self._user_count

    async def start(self) -> None:
        """Get ready to check (a shared backend loads the list); nothing to do here."""

    async def aclose(self) -> None:
        """Stop what `start` began; nothing to do here."""

    def check(self, claims: CognitoClaims) -> None:
        """Raise `TokenRevokedError` if the verified token `claims` is revoked."""
        if self._sessions:
            origin_jti = claims.origin_jti
            if origin_jti is not None and origin_jti.lower() in self._sessions:
                raise TokenRevokedError("token's session was revoked", kind="session")
        if self._users:
            users = self._users.get(claims.iss)
            if users is not None:
                signed_out = users.get(claims.sub.lower())
                if signed_out is not None:
                    signed_in = claims.auth_time if claims.auth_time is not None else claims.iat
                    if signed_in < signed_out:
                        raise TokenRevokedError(
                            "token's user signed out after it was issued", kind="user"
                        )

    async def revoke_session(self, origin_jti: str) -> None:
        """Refuse every token of the session `origin_jti` (the access and ID tokens of one
        sign-in and of its refreshes), as Cognito's `RevokeToken` does.

        ```python
        await verifier.revocations.revoke_session(claims.origin_jti)
        ```
        """
        if not isinstance(origin_jti, str) or not origin_jti:
            raise ConfigurationError("origin_jti must be a non-empty string")
        await self.record([Revocation("session", origin_jti, "", 0.0, self._expiry())])
        count_revocation_recorded("session")

    async def revoke_user(self, issuer: str, sub: str, *, at: float | None = None) -> None:
        """Refuse every token of the user (`issuer`, `sub`) signed in before `at`, as Cognito's
        `GlobalSignOut` does: for an admin disabling an account, say.

        `at` defaults to the start of the current second: Cognito's times are whole seconds,
        so a sign-in just after the sign-out, in the same second, is not refused (nor one
        just before it: revoke the session you know of too, as `/logout` does).

        Pair it with Cognito's `AdminUserGlobalSignOut`: the entry lasts as long as a token
        can, not as long as a refresh token that Cognito did not revoke.

        ```python
        await verifier.revocations.revoke_user(claims.iss, claims.sub)
        ```
        """
        if not (isinstance(issuer, str) and issuer and isinstance(sub, str) and sub):
            raise ConfigurationError("issuer and sub must be non-empty strings")
        when = math.floor(self._clock()) if at is None else at
        entry = Revocation("user", sub, issuer, float(when), self._expiry(when))
        await self.record([entry])
        count_revocation_recorded("user")

    async def record(self, entries: Iterable[Revocation]) -> None:
        """Add entries to this list; a shared backend also stores and publishes them."""
        self.apply(entries)

    def apply(self, entries: Iterable[Revocation]) -> int:
        """Add entries to the local copy only (expired ones are skipped); return how many."""
        now = self._clock()
        added = 0
        for entry in entries:
            if entry.expires <= now:
                continue
            if entry.kind == "session":
                expires = self._shared(-(-int(entry.expires) // _EXPIRY_STEP) * _EXPIRY_STEP)
                key = entry.key.lower()
                if self._sessions.get(key, 0) < expires:
                    self._sessions[key] = expires
                added += 1
            elif entry.kind == "user":
                users = self._users.setdefault(entry.issuer, {})
                at = self._shared(math.ceil(entry.at))
                key = entry.key.lower()
                known = users.get(key)
                # Two sign-outs of one user: the later one covers the earlier.
                if known is None or known < at:
                    self._user_count += known is None
                    users[key] = at
                added += 1
        if now >= self._next_sweep:
            self.sweep(now)
        return added

    def entries(self) -> list[Revocation]:
        """The entries held now (for re-publishing and tests)."""
        lifetime = self._lifetime
        entries = [
            Revocation("session", key, "", 0.0, float(expires))
            for key, expires in self._sessions.items()
        ]
        for issuer, users in self._users.items():
            entries.extend(
                Revocation("user", key, issuer, float(at), at + lifetime)
                for key, at in users.items()
            )
        return entries

    def sweep(self, now: float | None = None) -> None:
        """Forget the entries that no longer cover any valid token."""
        now = self._clock() if now is None else now
        self._sessions = {k: e for k, e in self._sessions.items() if e > now}
        oldest = now - self._lifetime
        self._users = {
            issuer: kept
            for issuer, users in self._users.items()
            if (kept := {k: at for k, at in users.items() if at > oldest})
        }
        self._user_count = sum(map(len, self._users.values()))
        self._ints = {k: v for k, v in self._ints.items() if k > oldest}
        self._next_sweep = now + _SWEEP_EVERY

    def _expiry(self, start: float | None = None) -> float:
        return (self._clock() if start is None else start) + self._lifetime

    def _shared(self, value: int) -> int:
        return self._ints.setdefault(value, value)


class InMemoryRevocationList(RevocationList):
    """The default revocation list: this process only (one replica, or tests).

    ```python
    verifier = CognitoVerifier(settings, revocations=InMemoryRevocationList(settings))
    await verifier.revocations.revoke_user(claims.iss, claims.sub)
    ```

    With several replicas use `RedisRevocationList`, or a sign-out on one replica is not
    seen by the others.
    """
