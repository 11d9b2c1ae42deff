"""`RedisRevocationList`: the revocation list shared by replicas through Redis.

Each replica keeps the whole list in memory (the verifier's check never waits for Redis) and
keeps it current through a pub/sub channel. Redis holds every entry as a key with a TTL, so a
replica that starts or reconnects loads the list whole; what it holds and Redis lacks
(written while Redis was away, or lost when Redis restarted empty) it writes back.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from .._exceptions import ConfigurationError, RevocationUnavailableError
from .._settings import CognitoSettings
from .claims import CognitoClaims
from .revocation import Revocation, RevocationList

if TYPE_CHECKING:
    from redis.asyncio import Redis

__all__ = ["RedisRevocationList"]

logger = logging.getLogger("fastapi_cognito_jwt")

# Keys fetched per MGET and written per pipeline when loading or writing back.
_BATCH = 1000
# The longest pause between reconnection attempts, in seconds.
_MAX_BACKOFF = 2.0


class RedisRevocationList(RevocationList):
    """A revocation list shared by every replica through Redis (`redis.asyncio`).

    Install the extra: `pip install 'fastapi-cognito-jwt[redis]'`. Start it in the app's
    lifespan; until it has loaded the list, and whenever it has been out of touch with Redis
    for longer than `revocation_max_stale`, every verification raises
    `RevocationUnavailableError` (503), unless `revocation_fail_open` is set.

    ```python
    from redis.asyncio import Redis

    revocations = RedisRevocationList(settings, redis=Redis.from_url("redis://redis:6379"))
    verifier = CognitoVerifier(settings, revocations=revocations)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with revocations:
            yield
    ```

    Args:
        settings: the revocation settings (`revocation_*`); read from the environment when
            not given.
        redis: a `redis.asyncio.Redis` client; you close it.
        prefix: the Redis key prefix and pub/sub channel name, one per list.
        clock: wall-clock time in seconds since the epoch, for tests.
    """

    def __init__(
        self,
        settings: CognitoSettings | None = None,
        /,
        *,
        redis: Redis,
        prefix: str = "fastapi-cognito-jwt:revoked",
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(settings, clock=clock)
        if not prefix or any(c in prefix for c in "*?[]"):
            raise ConfigurationError("prefix must be non-empty, without *, ?, [ or ]")
        self.redis = redis
        self.prefix = prefix
        self._channel = f"{prefix}:events"
        self._max_stale = self.settings.revocation_max_stale
        self._fail_open = self.settings.revocation_fail_open
        # Monotonic time until which the copy is known complete: the last proof of it (the
        # load, any message from Redis) plus revocation_max_stale; -inf until loaded.
        self._complete_until = -math.inf
        self._pending: list[Revocation] = []
        # Revocations waiting to be written, each batch with the future its caller awaits: a
        # flood of revocations is written in a few pipelines, not a connection each.
        self._outbox: list[tuple[list[Revocation], asyncio.Future[None]]] = []
        self._flushing: asyncio.Task[None] | None = None
        self._task: asyncio.Task[None] | None = None
        self._loaded = asyncio.Event()
        self._warned = False

    async def __aenter__(self) -> RedisRevocationList:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    @property
    def in_touch(self) -> bool:
        """Whether the local copy is known complete (loaded, and Redis heard from lately)."""
        return time.monotonic() <= self._complete_until

    async def start(self, *, wait: float | None = None) -> None:
        """Load the list and follow Redis in a background task; wait for the first load at
        most `wait` seconds (default `revocation_max_stale`). Redis being unreachable does
        not raise: the list keeps trying, and refuses tokens meanwhile (or fails open)."""
        if self._task is None:
            self._task = asyncio.create_task(self._follow(), name="revocation list (Redis)")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._loaded.wait(), self._max_stale if wait is None else wait)

    async def aclose(self) -> None:
        """Stop following Redis once the revocations being written are stored (waiting at most
        `revocation_max_stale` for them); the client itself is yours to close."""
        flushing = self._flushing
        if flushing is not None and not flushing.done():
            # Stored, they reach the other replicas; cut off, they would never.
            await asyncio.wait({flushing}, timeout=self._max_stale)
            if not flushing.done():
                logger.warning("Revocation list closed before Redis stored every revocation")
        for name in ("_flushing", "_task"):
            task = getattr(self, name)
            if task is None:
                continue
            # Cancelled until it has stopped: one cancel can be lost inside the Redis client
            # (taken for the read timeout it lands on), and awaiting the task then never ends.
            while not task.done():
                task.cancel()
                await asyncio.wait({task}, timeout=0.1)
            setattr(self, name, None)  # only now: if this wait is cancelled, aclose() again
            if not task.cancelled():
                task.exception()  # retrieved: how it stopped is no concern of the caller's

    def check(self, claims: CognitoClaims) -> None:
        """The local check, then: refuse (503) while the copy may be missing revocations."""
        RevocationList.check(self, claims)  # not super(): this runs on every verification
        if time.monotonic() > self._complete_until:
            self._out_of_touch()

    def _out_of_touch(self) -> None:
        if self._fail_open:
            if not self._warned:
                self._warned = True
                logger.warning("Revocation list out of touch with Redis: failing open")
            return
        raise RevocationUnavailableError(
            "the revocation list is out of touch with Redis", retry_after=self._max_stale
        )

    async def record(self, entries: Iterable[Revocation]) -> None:
        """Apply the entries here at once, then store and publish them in Redis.

        If Redis cannot take them now they are kept and written when it is back (this
        replica refuses the tokens meanwhile; the others refuse every token once they have
        been out of touch for `revocation_max_stale`)."""
        # Stored as held here (keys in lower case), so a reload finds each under one key.
        batch = [entry._replace(key=entry.key.lower()) for entry in entries]
        self.apply(batch)
        written = asyncio.get_running_loop().create_future()
        self._outbox.append((batch, written))
        if self._flushing is None or self._flushing.done():
            self._flushing = asyncio.create_task(self._flush())
        try:
            async with asyncio.timeout(self._max_stale):
                await asyncio.shield(written)
        except TimeoutError:
            logger.warning("Revocation not yet stored in Redis (slow); still writing")

    async def _flush(self) -> None:
        while self._outbox:
            waiting, self._outbox = self._outbox, []
            batch = [entry for entries, _ in waiting for entry in entries]
            try:
                await self._store(batch)
            except Exception as exc:  # Redis away: kept, written once it is back
                self._pending.extend(batch)
                logger.warning(
                    "Revocation not yet stored in Redis (%s); will retry", type(exc).__name__
                )
            finally:
                for _, written in waiting:
                    if not written.done():
                        written.set_result(None)

    # --- following Redis ------------------------------------------------------------------

    async def _follow(self) -> None:
        backoff = 0.05
        tick = min(1.0, self._max_stale / 4)
        while True:
            pubsub = self.redis.pubsub()
            try:
                # Subscribe first, then load: nothing published in between is missed.
                await pubsub.subscribe(self._channel)
                await self._load()
                self._complete_until = time.monotonic() + self._max_stale
                self._loaded.set()
                self._warned = False
                backoff = 0.05
                pinged = time.monotonic()
                while True:
                    message = await pubsub.get_message(timeout=tick)
                    now = time.monotonic()
                    if message is not None:
                        # Any reply (a revocation, a pong) proves the subscription is alive.
                        self._complete_until = now + self._max_stale
                        if message.get("type") == "message":
                            self._receive(message.get("data"))
                    if now - pinged >= tick:
                        pinged = now
                        await pubsub.ping()
                        if self._pending:
                            pending, self._pending = self._pending, []
                            await self._store(pending)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # any failure of Redis or the client: reconnect
                logger.warning("Revocation list lost Redis (%s); reconnecting", type(exc).__name__)
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, _MAX_BACKOFF)

    async def _load(self) -> None:
        """Read every entry Redis holds; write back the ones held here that it lacks."""
        present: set[str] = set()
        keys: list[str] = []
        async for key in self.redis.scan_iter(match=f"{self.prefix}:[su]:*", count=_BATCH):
            keys.append(_text(key))
        for start in range(0, len(keys), _BATCH):
            chunk = keys[start : start + _BATCH]
            values = await self.redis.mget(chunk)
            entries = [entry for value in values if (entry := _decode(value)) is not None]
            self.apply(entries)
            present.update(chunk)
        missing = [entry for entry in self.entries() if self._key(entry) not in present]
        missing.extend(self._pending)
        self._pending = []
        if missing:
            logger.info("Revocation list: writing back %d entries Redis lacks", len(missing))
            await self._store(missing)

    def _receive(self, data: Any) -> None:
        entry = _decode(data)
        if entry is not None:
            self.apply([entry])

    async def _store(self, entries: list[Revocation]) -> None:
        now = self._clock()
        for start in range(0, len(entries), _BATCH):
            async with self.redis.pipeline(transaction=False) as pipe:
                for entry in entries[start : start + _BATCH]:
                    ttl = math.ceil(entry.expires - now)
                    if ttl <= 0:
                        continue
                    value = _encode(entry)
                    pipe.set(self._key(entry), value, ex=ttl)
                    pipe.publish(self._channel, value)
                await pipe.execute()

    def _key(self, entry: Revocation) -> str:
        if entry.kind == "session":
            return f"{self.prefix}:s:{entry.key}"
        return f"{self.prefix}:u:{json.dumps([entry.issuer, entry.key])}"


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _encode(entry: Revocation) -> str:
    return json.dumps(
        {
            "kind": entry.kind,
            "key": entry.key,
            "iss": entry.issuer,
            "at": entry.at,
            "exp": entry.expires,
        },
        separators=(",", ":"),
    )


def _decode(value: Any) -> Revocation | None:
    """An entry from Redis, or None for anything that is not one (logged, not raised)."""
    if value is None:
        return None  # expired between SCAN and MGET
    try:
        data = json.loads(value)
        kind, key, issuer = data["kind"], data["key"], data["iss"]
        at, expires = float(data["at"]), float(data["exp"])
        if kind not in ("session", "user") or not isinstance(key, str) or not key:
            raise ValueError
        if not isinstance(issuer, str) or (kind == "user" and not issuer):
            raise ValueError
        if not (math.isfinite(at) and math.isfinite(expires)):
            raise ValueError
    except (ValueError, TypeError, KeyError):
        logger.warning("Revocation list: ignored an entry that is not one")
        return None
    return Revocation(kind, key, issuer, at, expires)
