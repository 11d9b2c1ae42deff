"""`JWKSCache`: the pool's signing keys, fetched asynchronously and indexed by `kid`."""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import math
import random
import threading
import time
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from typing import Any, Literal, TypeVar

import anyio
import httpx2
from jose.backends.base import Key

from .._exceptions import ConfigurationError, JWKSUnavailableError, KeyNotFoundError
from .._settings import CognitoSettings, UserPoolSettings, load_settings
from .._telemetry import count_jwks_fetch, jwks_fetch_span
from .signing_keys import JWKSFormatError, parse_jwks

__all__ = ["MAX_JWKS_BYTES", "JWKSCache"]

logger = logging.getLogger("fastapi_cognito_jwt")

MAX_JWKS_BYTES = 64 * 1024
# Failed fetches back off exponentially so an outage is not amplified into a request storm.
BACKOFF_INITIAL = 5.0
BACKOFF_MAX = 300.0


T = TypeVar("T")

_REQUEST_HEADERS = {"Accept": "application/json", "Accept-Encoding": "identity"}


class _FetchError(Exception):
    """A JWKS download that failed; the message is safe to log."""


class JWKSCache:
    """The user pool's RSA signing keys, indexed by `kid`, fetched with httpx2.

    Nothing is fetched at construction. The first verification (or `await cache.refresh()`,
    e.g. in an app lifespan) fetches the keys. After `jwks_ttl` the next caller refreshes them
    while the others keep using the keys they know. A `kid` that is not in the set triggers one
    refetch, unless the last successful fetch (or unknown-kid attempt) is younger than the
    cooldown: then unknown kids are refused without fetching; known kids never wait on it.
    Concurrent callers share a single fetch. When a refresh fails the previous keys stay in use
    for up to `jwks_max_stale`, and further attempts back off. One cache can serve several
    verifiers. `get_key_sync` does the same for synchronous callers; threads share one
    fetch, and sync and async callers wait on each other's fetch instead of starting one.

    ```python
    cache = JWKSCache(settings)
    await cache.refresh()
    verifier = CognitoVerifier(settings, jwks=cache)
    ```

    Args:
        settings: the timings and limits; read from the environment when not given.
        pool: whose keys to fetch: one of `settings.pools` (default: the first).
        http_client: an `httpx2.AsyncClient` to fetch with; it is used as is and never closed
            (not by `get_key_sync`, which cannot use a client of the app's event loop).
        transport: an httpx2 transport for the clients this cache creates per fetch (tests).
        clock: a monotonic clock in seconds, for tests.
    """

    def __init__(
        self,
        settings: CognitoSettings | None = None,
        /,
        *,
        pool: UserPoolSettings | None = None,
        http_client: httpx2.AsyncClient | None = None,
        transport: httpx2.AsyncBaseTransport | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = load_settings(settings)
        if http_client is not None and transport is not None:
            raise ConfigurationError("pass either http_client or transport, not both")
        if pool is None:
            pool = self.settings
        elif pool not in self.settings.pools:
            raise ConfigurationError("pool must be one of settings.pools")
        self.url = pool.resolved_jwks_url
        self.user_pool_id = pool.user_pool_id
        """The id of the user pool whose keys these are."""
        self._http_client = http_client
        self._transport = transport
        self._clock = clock
        self._ttl = self.settings.jwks_ttl
        self._max_stale = self.settings.jwks_max_stale
        self._cooldown = self.settings.jwks_miss_cooldown
        self._keys: dict[str, Key] = {}
        self._fetched_at = -math.inf
        self._retry_at = -math.inf
        self._miss_cooldown_until = -math.inf
        self._failures = 0
        # Set while a fetch is under way; everyone else waits on it instead of fetching.
        self._fetching: anyio.Event | None = None
        # Synchronous callers queue on this lock; the first fetches, the others then find keys.
        self._sync_lock = threading.Lock()
        # Set while a synchronous caller fetches: async callers wait on it instead of fetching.
        self._sync_fetching: threading.Event | None = None

    @property
    def kids(self) -> frozenset[str]:
        """The `kid`s currently held (possibly stale)."""
        return frozenset(self._keys)

    def lookup(self, kid: str) -> Key | None:
        """Return the key for `kid` if it can be used now without any network I/O.

        `None` when the `kid` is unknown, when the keys are too stale to use, or when a refresh
        is due and nobody is performing it yet: the caller then calls `get_key`, which does.
        While one caller refreshes, the others keep using the keys they know.
        """
        # Every request passes here: the two checks below are `_refresh_due` and
        # `_usable_keys`, spelt out.
        now = self._clock()
        age = now - self._fetched_at
        if age < self._ttl:
            return self._keys.get(kid)
        if age >= self._max_stale or (
            now >= self._retry_at and self._fetching is None and self._sync_fetching is None
        ):
            return None
        return self._keys.get(kid)

    async def get_key(self, kid: str) -> Key:
        """Return the prepared key for `kid`, fetching the JWKS if needed.

        Raises:
            KeyNotFoundError: no usable key has this `kid`.
            JWKSUnavailableError: no usable keys at all (endpoint down and nothing cached).
        """
        key = self.lookup(kid)
        if key is not None:
            return key
        if self._fetching is not None:
            # Join the fetch under way and abide by what it brings: a caller that joined never
            # fetches itself, so a queue of made-up kids cannot become a queue of fetches.
            await self._fetching.wait()
        elif self._sync_fetching is not None:  # a synchronous caller's, in another thread
            await anyio.to_thread.run_sync(self._sync_fetching.wait, self.settings.http_timeout)
        else:
            fetch = self._fetch_needed(kid)
            if fetch is not None:
                await self._fetch_once(miss=fetch == "miss")
        return self._select(kid)

    def get_key_sync(self, kid: str) -> Key:
        """`get_key` for synchronous callers: the same rules, the caller's thread waits.

        Threads that find no key queue behind one fetch, then use what it brought; callers of
        keys at hand never wait on it. The fetch is the async one, with its whole deadline
        (`http_timeout`), run on an event loop of its own (in a worker thread when the caller's
        thread runs a loop already). It cannot use an `http_client` given to this cache, which
        belongs to the app's event loop: such a cache raises `ConfigurationError` here.

        Raises:
            KeyNotFoundError: no usable key has this `kid`.
            JWKSUnavailableError: no usable keys at all (endpoint down and nothing cached).
        """
        key = self.lookup(kid)
        if key is not None:
            return key
        with self._sync_lock:
            self._await_async_fetch()
            fetch = self._fetch_needed(kid)
            if fetch is not None:
                if self._http_client is not None:
                    raise ConfigurationError(
                        "a JWKSCache given an http_client cannot fetch for synchronous "
                        "callers: give it a transport, or fetch first with `await refresh()`"
                    )
                self._sync_fetching = done = threading.Event()
                try:
                    _run_on_own_loop(self._fetch)
                    if fetch == "miss":
                        self._miss_cooldown_until = self._clock() + self._cooldown
                finally:
                    self._sync_fetching = None
                    done.set()
        return self._select(kid)

    def _await_async_fetch(self) -> None:
        """Let an async fetch under way (on some event loop) finish, within its deadline."""
        deadline = time.monotonic() + self.settings.http_timeout
        while self._fetching is not None and time.monotonic() < deadline:
            time.sleep(0.005)  # an anyio event cannot be waited on from another thread

    def _fetch_needed(self, kid: str) -> Literal["refresh", "miss"] | None:
        """ "refresh", "miss" (an unknown kid may fetch), or None (use what is held)."""
        now = self._clock()
        if self._refresh_due(now):
            return "refresh"
        if (
            kid not in self._usable_keys(now)
            and now >= self._retry_at
            and now >= self._miss_cooldown_until
        ):
            return "miss"
        return None

    async def refresh(self) -> None:
        """Fetch the JWKS now, whatever the TTL says; e.g. to warm the cache at startup.

        Raises:
            JWKSUnavailableError: the fetch failed (previously fetched keys are kept).
        """
        while self._fetching is not None:
            await self._fetching.wait()
        if not await self._fetch_once(miss=False):
            raise JWKSUnavailableError(
                "the JWKS could not be fetched", retry_after=self._retry_after(self._clock())
            )

    def _usable_keys(self, now: float) -> dict[str, Key]:
        return {} if now - self._fetched_at >= self._max_stale else self._keys

    def _refresh_due(self, now: float) -> bool:
        return now - self._fetched_at >= self._ttl and now >= self._retry_at

    def _retry_after(self, now: float) -> float:
        return max(1.0, self._retry_at - now)

    def _select(self, kid: str) -> Key:
        keys = self._usable_keys(self._clock())
        if not keys:
            raise JWKSUnavailableError(
                "no usable signing keys", retry_after=self._retry_after(self._clock())
            )
        key = keys.get(kid)
        if key is None:
            raise KeyNotFoundError("no signing key in the JWKS has the token's kid")
        return key

    async def _fetch_once(self, *, miss: bool) -> bool:
        """Fetch while others wait on `_fetching`.

        A successful fetch starts the unknown-kid cooldown (in `_fetch`); an unknown-kid fetch
        starts it even when it fails, so that failures cannot be retried by made-up kids.
        """
        done = self._fetching = anyio.Event()
        try:
            # Shielded (the deadline still applies): a caller that goes away mid-fetch must not
            # abort the refresh that the callers using the old keys are counting on.
            with anyio.CancelScope(shield=True):
                ok = await self._fetch()
            if miss:
                self._miss_cooldown_until = self._clock() + self._cooldown
            return ok
        finally:
            self._fetching = None
            done.set()

    async def _fetch(self) -> bool:
        """One download under its span and count, for async and synchronous callers alike."""
        with jwks_fetch_span() as span:
            ok = await self._fetch_keys()
            count_jwks_fetch(self.user_pool_id, ok, span)
        return ok

    async def _fetch_keys(self) -> bool:
        try:
            with anyio.fail_after(self.settings.http_timeout):
                body = await self._download_with_retry()
            keys = parse_jwks(body)
        except Exception as exc:  # any failure is a failed fetch, never a crash
            self._record_failure(exc)
            return False
        now = self._clock()
        # Logged whether or not the keys changed (an operator sees every refresh), with counts
        # only: never a kid or key material.
        added, removed = len(keys.keys() - self._keys.keys()), len(self._keys.keys() - keys.keys())
        logger.info(
            "JWKS fetched from %s: %d signing keys (%s)",
            self.url,
            len(keys),
            f"{added} new, {removed} gone" if added or removed else "unchanged",
        )
        self._keys = keys
        self._fetched_at = now
        # A set just fetched is as fresh as an unknown-kid refetch would make it: counting the
        # cooldown from here keeps a kid flood that starts right after a refresh from adding a
        # second fetch within the cooldown.
        self._miss_cooldown_until = now + self._cooldown
        self._failures = 0
        self._retry_at = -math.inf
        return True

    def _record_failure(self, exc: Exception) -> None:
        self._failures += 1
        delay = min(BACKOFF_MAX, BACKOFF_INITIAL * 2 ** (self._failures - 1))
        delay *= random.uniform(0.8, 1.2)  # noqa: S311 - jitter, not cryptography
        self._retry_at = self._clock() + delay
        safe = isinstance(exc, (_FetchError, JWKSFormatError))
        reason = str(exc) if safe else type(exc).__name__
        logger.warning(
            "JWKS fetch from %s failed (%s); next attempt in %.0f s", self.url, reason, delay
        )

    @asynccontextmanager
    async def _client(self) -> AsyncIterator[httpx2.AsyncClient]:
        if self._http_client is not None:
            yield self._http_client
            return
        # A client per fetch: fetches are rare, and a client bound to one event loop would
        # break apps and tests that run several loops over the cache's lifetime.
        async with httpx2.AsyncClient(
            transport=self._transport,
            timeout=self.settings.http_timeout,
            follow_redirects=False,
        ) as client:
            yield client

    async def _download_with_retry(self) -> bytes:
        try:
            return await self._download()
        except httpx2.TransportError as exc:
            # One immediate retry for a dropped connection; a timeout has used up the deadline.
            if isinstance(exc, httpx2.TimeoutException):
                raise
            return await self._download()

    async def _download(self) -> bytes:
        async with (
            self._client() as client,
            client.stream(
                "GET", self.url, headers=_REQUEST_HEADERS, follow_redirects=False
            ) as response,
        ):
            _check_response(response)
            body = bytearray()
            async for chunk in response.aiter_bytes():  # identity: the bytes as sent
                _append(body, chunk)
            return bytes(body)


def _check_response(response: httpx2.Response) -> None:
    if response.status_code != 200:
        raise _FetchError(f"HTTP status {response.status_code}")
    if response.headers.get("Content-Encoding", "identity").lower() != "identity":
        # Decompressing would let a small body expand far past the size cap in memory.
        raise _FetchError("compressed response refused")
    declared = response.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > MAX_JWKS_BYTES:
        raise _FetchError("response larger than the JWKS size limit")


def _append(body: bytearray, chunk: bytes) -> None:
    body += chunk
    if len(body) > MAX_JWKS_BYTES:
        raise _FetchError("response larger than the JWKS size limit")


def _run_on_own_loop(function: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run `function()` to its end on a new event loop, off any loop this thread runs."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(function())
    with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="cognito-sync") as worker:
        return worker.submit(asyncio.run, function()).result()
