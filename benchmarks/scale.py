"""Scale: memory over many distinct tokens, JWKS fetches at a cold start and under an
unknown-kid flood, and CPU profiles of the verification hot path.

The sections run in this order (memory first, in a process that has done nothing else yet:
memory freed by the other sections would be reused by the run and hide part of its growth):

- (c) memory: `--tokens` distinct valid tokens (100 000; `--tokens 1000000` for the full run),
  each verified twice in a row (a token is admitted to the verified-token cache on its second
  verification), through one verifier with the default `token_cache_size`. Minting is RSA
  signing, so forked workers mint while this process verifies, a few chunks ahead. Resident
  memory (psutil) is sampled every 10 000 tokens, with the cache's and the `_seen` set's
  lengths. Target: the cache within its bound and less than `--max-growth-mb` (64) of growth.
  Then what an entry costs, on a cache of `--trace-entries` (5000) entries: tracemalloc by
  source line, and the objects one entry holds (those shared with other entries excluded).
- (a) cold start: `--cold-requests` (1000) concurrent verifications on a cold JWKS cache, once
  through `CognitoVerifier.verify` and once as requests through a FastAPI app
  (`httpx.ASGITransport`), with a JWKS endpoint that answers after `--fetch-delay` seconds, so
  that the callers arrive while the fetch is under way. Counts the fetches (target: exactly 1).
  A third run has the endpoint fail (HTTP 500): one fetch too, and every request gets a 503.
- (b) unknown-kid flood: tokens with random unknown kids, `--flood-rate` per simulated second
  for `--flood-minutes` simulated minutes, in concurrent bursts, against a `JWKSCache` driven
  by a fake clock (the cache takes one); a valid token is mixed in. Reports fetches per
  simulated minute (target: at most 2, the 30 s `jwks_miss_cooldown`). A short real-clock run
  with the cooldown scaled down 60x checks the same rate without the fake clock.
- (d) profile: cProfile of `--profile-distinct` (20 000) distinct-token and
  `--profile-repeated` (200 000) repeated-token verifications, the top entries by own time;
  and of `--profile-http` (5000) in-process requests to `/protected` (a repeated token) and to
  `/open`: the functions whose own time grows most from the one to the other.

Exit status 1 when a target is missed. Run: `make bench-scale`, or `python benchmarks/scale.py
[--only SECTION] [--tokens N] [--workers W]`. POSIX only (the minting workers are forked).
"""

# No `from __future__ import annotations`: FastAPI reads the route signatures at runtime.

import argparse
import asyncio
import base64
import cProfile
import gc
import importlib.util
import io
import json
import linecache
import logging
import multiprocessing
import os
import pstats
import secrets
import sys
import time
import tracemalloc
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

import httpx
import psutil
from jose.backends.base import Key

from fastapi_cognito_jwt import (
    CognitoBearer,
    CognitoSettings,
    CognitoVerifier,
    JWKSCache,
    KeyNotFoundError,
)
from fastapi_cognito_jwt.testing import LocalUserPool

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
# The app http_bench.py measures: `/open` and `/protected` (and its yardsticks) alike.
from benchmarks.http_bench import create_app

# httpcore imports sniffio on every request; where it is not installed, each attempt is a
# fruitless search of sys.path (see load.py). Say once that it is absent.
if importlib.util.find_spec("sniffio") is None:
    sys.modules["sniffio"] = None  # type: ignore[assignment]

MB = 1024 * 1024
COLD_TARGET = 1
FLOOD_TARGET = 2  # fetches per minute
DEFAULT_MAX_GROWTH_MB = 64.0
SAMPLE_EVERY = 10_000
CHUNK = 1000
TRACE_LINES = 12


# -- minting in forked workers ----------------------------------------------------------------

# The pool the workers sign with: set before they are forked (RSA keys cannot be pickled).
_MINT_POOL: LocalUserPool | None = None


def _mint_range(bounds: tuple[int, int]) -> list[str]:
    pool = _MINT_POOL
    assert pool is not None
    return [pool.access_token(username=f"user{i}", groups=["users"]) for i in range(*bounds)]


def mint_stream(
    pool: LocalUserPool, count: int, *, workers: int, start: int = 0
) -> Iterator[list[str]]:
    """Yield `count` distinct access tokens in chunks, in order, minted `workers` at a time.

    At most two chunks per worker are ahead of the consumer, so that tokens do not pile up in
    this process (and in its resident memory) when it verifies more slowly than they are minted.
    """
    global _MINT_POOL
    ranges = iter(
        [(low, min(low + CHUNK, start + count)) for low in range(start, start + count, CHUNK)]
    )
    if workers <= 1:
        _MINT_POOL = pool
        for bounds in ranges:
            yield _mint_range(bounds)
        return
    _MINT_POOL = pool
    context = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as executor:
        pending: deque[Future[list[str]]] = deque()
        for bounds in ranges:
            pending.append(executor.submit(_mint_range, bounds))
            if len(pending) >= 2 * workers:
                break
        while pending:
            tokens = pending.popleft().result()
            following = next(ranges, None)
            if following is not None:
                pending.append(executor.submit(_mint_range, following))
            yield tokens


def mint(pool: LocalUserPool, count: int, *, workers: int, start: int = 0) -> list[str]:
    return [
        token for chunk in mint_stream(pool, count, workers=workers, start=start) for token in chunk
    ]


# -- JWKS endpoints that count, and take their time -------------------------------------------


class CountingTransport(httpx.AsyncBaseTransport):
    """Serves `inner` (the pool's JWKS) after `delay` seconds; records when each fetch came."""

    def __init__(
        self,
        inner: httpx.AsyncBaseTransport,
        *,
        delay: float = 0.0,
        clock: Callable[[], float] = time.monotonic,
        status: int | None = None,
    ) -> None:
        self.inner = inner
        self.delay = delay
        self.clock = clock
        self.status = status
        self.fetched_at: list[float] = []
        self.answered_at: list[float] = []

    @property
    def requests(self) -> int:
        return len(self.fetched_at)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.fetched_at.append(self.clock())
        await asyncio.sleep(self.delay)
        self.answered_at.append(time.monotonic())
        if self.status is not None:
            return httpx.Response(self.status)
        return await self.inner.handle_async_request(request)


class WatchedJWKSCache(JWKSCache):
    """A `JWKSCache` that records when each caller without a usable key came to `get_key`."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.callers: list[float] = []

    async def get_key(self, kid: str) -> Key:
        self.callers.append(time.monotonic())
        return await super().get_key(kid)


# -- (a) cold start ---------------------------------------------------------------------------


@dataclass
class ColdResult:
    name: str
    requests: int
    outcomes: Counter[str]
    fetches: int
    callers: int
    callers_during_fetch: int
    seconds: float


def _cold_verifier(
    pool: LocalUserPool, delay: float, status: int | None = None
) -> tuple[CognitoVerifier, WatchedJWKSCache, CountingTransport]:
    transport = CountingTransport(pool.transport(), delay=delay, status=status)
    cache = WatchedJWKSCache(pool.settings(), transport=transport)
    return CognitoVerifier(pool.settings(), jwks=cache), cache, transport


def _cold_result(
    name: str,
    outcomes: Counter[str],
    cache: WatchedJWKSCache,
    transport: CountingTransport,
    seconds: float,
) -> ColdResult:
    # A caller that reached get_key before the (first) fetch was answered had to share it.
    answered = transport.answered_at[0] if transport.answered_at else float("inf")
    return ColdResult(
        name=name,
        requests=sum(outcomes.values()),
        outcomes=outcomes,
        fetches=transport.requests,
        callers=len(cache.callers),
        callers_during_fetch=sum(1 for at in cache.callers if at < answered),
        seconds=seconds,
    )


async def cold_start(pool: LocalUserPool, tokens: Sequence[str], delay: float) -> list[ColdResult]:
    results = []

    # Straight through the verifier.
    verifier, cache, transport = _cold_verifier(pool, delay)

    async def verify(token: str) -> str:
        try:
            await verifier.verify(token, token_use="access")
        except Exception as exc:
            return type(exc).__name__
        return "ok"

    start = time.monotonic()
    outcomes = Counter(await asyncio.gather(*(verify(token) for token in tokens)))
    results.append(
        _cold_result("verifier.verify", outcomes, cache, transport, time.monotonic() - start)
    )

    # As HTTP requests through the app, in-process; and with the JWKS endpoint failing.
    for name, status in (("ASGI app", None), ("ASGI app, JWKS answers 500", 500)):
        verifier, cache, transport = _cold_verifier(pool, delay, status)
        app = create_app(CognitoBearer(token_use="access", verifier=verifier))
        client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://cold")
        async with client:

            async def get(token: str, client: httpx.AsyncClient = client) -> str:
                response = await client.get(
                    "/protected", headers={"Authorization": f"Bearer {token}"}
                )
                return str(response.status_code)

            start = time.monotonic()
            outcomes = Counter(await asyncio.gather(*(get(token) for token in tokens)))
            results.append(_cold_result(name, outcomes, cache, transport, time.monotonic() - start))
    return results


def report_cold(results: Sequence[ColdResult]) -> bool:
    met = True
    for result in results:
        outcomes = ", ".join(f"{name} x{count}" for name, count in sorted(result.outcomes.items()))
        print(
            f"  {result.name:28} {result.requests} requests in {result.seconds:.2f} s: "
            f"JWKS fetches {result.fetches}; {result.callers} callers without a key, "
            f"{result.callers_during_fetch} of them while the fetch was under way; {outcomes}"
        )
        met = met and result.fetches == COLD_TARGET
    print(f"  target: exactly {COLD_TARGET} fetch per cold start: {'met' if met else 'NOT met'}")
    return met


# -- (b) unknown-kid flood ---------------------------------------------------------------------


class FakeClock:
    """A monotonic clock that moves only when told."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def unknown_kid_token(template: str) -> str:
    """`template`'s payload and signature under a header with a random, unknown kid."""
    _header, payload, signature = template.split(".")
    header = json.dumps({"kid": secrets.token_hex(8), "alg": "RS256"}, separators=(",", ":"))
    return f"{_b64(header.encode())}.{payload}.{signature}"


@dataclass
class FloodResult:
    name: str
    seconds: float  # simulated or real
    minute: float  # how long a "minute" is on this run's clock
    requests: int
    outcomes: Counter[str]
    warm_fetches: list[float]
    flood_fetches: list[float]
    wall: float
    extra: dict[str, float] = field(default_factory=dict)

    def per_window(self, fetches: Sequence[float]) -> int:
        """The most fetches in any window of one minute (half-open, starting at a fetch)."""
        return max(
            (
                sum(1 for other in fetches if start <= other < start + self.minute)
                for start in fetches
            ),
            default=0,
        )

    def per_minute(self, fetches: Sequence[float], origin: float) -> list[int]:
        minutes = max(1, round(self.seconds / self.minute))
        counts = [0] * minutes
        for at in fetches:
            index = int((at - origin) // self.minute)
            if 0 <= index < minutes:
                counts[index] += 1
        return counts


async def _flood(
    verifier: CognitoVerifier,
    template: str,
    valid: str,
    *,
    burst: int,
    until: Callable[[], bool],
    advance: Callable[[], None],
    outcomes: Counter[str],
) -> int:
    """Bursts of concurrent unknown-kid verifications (and one valid token each) until told."""

    async def verify(token: str) -> str:
        try:
            await verifier.verify(token, token_use="access")
        except KeyNotFoundError:
            return "KeyNotFoundError (unknown kid)"
        except Exception as exc:
            return type(exc).__name__
        return "ok"

    sent = 0
    while not until():
        tokens = [unknown_kid_token(template) for _ in range(burst - 1)] + [valid]
        for outcome, token in zip(await asyncio.gather(*map(verify, tokens)), tokens, strict=True):
            outcomes[outcome if token is not valid else f"valid token: {outcome}"] += 1
        sent += burst
        advance()
    return sent


async def flood(pool: LocalUserPool, args: argparse.Namespace) -> list[FloodResult]:
    template = pool.access_token(username="template")
    valid = pool.access_token(username="valid")
    results = []

    # Simulated time: the cache's clock advances by burst / rate per burst.
    clock = FakeClock()
    transport = CountingTransport(pool.transport(), delay=0.005, clock=clock)
    cache = JWKSCache(pool.settings(), transport=transport, clock=clock)
    verifier = CognitoVerifier(pool.settings(), jwks=cache)
    await cache.refresh()  # the app's start-up fetch, just before the flood comes
    origin = clock.now
    seconds = args.flood_minutes * 60.0
    step = args.flood_burst / args.flood_rate
    outcomes: Counter[str] = Counter()
    wall = time.monotonic()

    def advance() -> None:
        clock.now += step

    sent = await _flood(
        verifier,
        template,
        valid,
        burst=args.flood_burst,
        until=lambda: clock.now >= origin + seconds,
        advance=advance,
        outcomes=outcomes,
    )
    results.append(
        FloodResult(
            name="fake clock",
            seconds=seconds,
            minute=60.0,
            requests=sent,
            outcomes=outcomes,
            warm_fetches=transport.fetched_at[:1],
            flood_fetches=transport.fetched_at[1:],
            wall=time.monotonic() - wall,
            extra={"rate": args.flood_rate},
        )
    )

    # Real time, with the cooldown (and so the minute) scaled down 60x: 0.5 s and 1 s.
    scale = 60.0
    settings = pool.settings(jwks_miss_cooldown=30.0 / scale)
    transport = CountingTransport(pool.transport(), delay=0.005)
    cache = JWKSCache(settings, transport=transport)
    verifier = CognitoVerifier(settings, jwks=cache)
    await cache.refresh()
    origin = time.monotonic()
    outcomes = Counter()
    sent = await _flood(
        verifier,
        template,
        valid,
        burst=args.flood_burst,
        until=lambda: time.monotonic() >= origin + args.flood_real_seconds,
        advance=lambda: None,
        outcomes=outcomes,
    )
    results.append(
        FloodResult(
            name=f"real clock, cooldown {30.0 / scale:g} s",
            seconds=args.flood_real_seconds,
            minute=60.0 / scale,
            requests=sent,
            outcomes=outcomes,
            warm_fetches=transport.fetched_at[:1],
            flood_fetches=transport.fetched_at[1:],
            wall=time.monotonic() - origin,
            extra={"origin": origin},
        )
    )
    return results


def report_flood(results: Sequence[FloodResult], args: argparse.Namespace) -> bool:
    print(
        f"(b) unknown-kid flood: bursts of {args.flood_burst} concurrent verifications "
        "(random unknown kids, one valid token a burst); jwks_miss_cooldown 30 s"
    )
    met = True
    for result in results:
        simulated = result.name == "fake clock"
        if simulated:
            rate = f"{result.extra['rate']:g}/s simulated"
            span = f"{result.seconds / 60:g} simulated minutes"
            unit = "minute"
            origin = result.warm_fetches[0] if result.warm_fetches else 0.0
        else:
            rate = f"{result.requests / result.wall:.0f}/s"
            span = f"{result.seconds:g} s (= {result.seconds / result.minute:g} scaled minutes)"
            unit = f"scaled minute ({result.minute:g} s)"
            origin = result.extra["origin"]
        flood_max = result.per_window(result.flood_fetches)
        with_warm = result.per_window(result.warm_fetches + result.flood_fetches)
        per_minute = result.per_minute(result.flood_fetches, origin)
        average = len(result.flood_fetches) / (result.seconds / result.minute)
        outcomes = ", ".join(f"{name} x{count}" for name, count in sorted(result.outcomes.items()))
        print(
            f"  {result.name}: {result.requests} requests ({rate}) over {span}, "
            f"{result.wall:.1f} s wall"
        )
        print(
            f"    fetches caused by the flood: {len(result.flood_fetches)}; "
            f"{average:.2f} per {unit} on average, at most {flood_max} in any {unit}"
        )
        shown = ", ".join(map(str, per_minute[:12])) + (", ..." if len(per_minute) > 12 else "")
        print(f"    per {unit}: [{shown}]")
        print(
            "    counting the start-up fetch just before the flood: "
            f"at most {with_warm} in any {unit}"
        )
        print(f"    outcomes: {outcomes}")
        met = met and flood_max <= FLOOD_TARGET and result.outcomes.get("valid token: ok", 0) > 0
    print(f"  target: at most {FLOOD_TARGET} fetches per minute: {'met' if met else 'NOT met'}")
    return met


# -- (c) memory -------------------------------------------------------------------------------


def _rss() -> int:
    return int(psutil.Process().memory_info().rss)


def _payload_of(claims: Any) -> dict[str, Any]:
    view = claims.payload
    assert isinstance(view, MappingProxyType)
    (inner,) = gc.get_referents(view)
    assert isinstance(inner, dict)
    return inner


def _values(value: Any) -> Iterator[Any]:
    yield value
    if isinstance(value, dict):
        for item in value.values():
            yield from _values(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _values(item)


def entry_parts(entry: tuple[Any, Any]) -> list[tuple[str, list[Any]]]:
    """The objects one cache entry refers to, by role (an object shared by roles: the first)."""
    (tail, token_use, model), value = entry
    token, expires_at, kid, key, verified = value
    claims, header, _key = verified
    payload = _payload_of(claims)
    return [
        ("cache key tuple (signature tail, token_use, model)", [entry[0]]),
        ("signature tail string", [tail]),
        ("token string", [token]),
        ("entry tuple (token, expiry, kid, key, verification)", [value, expires_at]),
        ("verification tuple (claims, header, key)", [verified]),
        ("CognitoClaims instance", [claims]),
        ("claims __dict__ (13 fields)", [claims.__dict__]),
        ("claims __pydantic_fields_set__", [claims.__pydantic_fields_set__]),
        ("payload MappingProxyType", [claims.payload]),
        (f"payload dict ({len(payload)} claims)", [payload]),
        ("payload key strings", list(payload)),
        (
            "payload values (str, int, list)",
            [v for item in payload.values() for v in _values(item)],
        ),
        ("groups tuple", [claims.groups]),
        ("token_use, model, kid, header, key", [token_use, model, kid, header, key]),
    ]


def entry_breakdown(entry: tuple[Any, Any], other: tuple[Any, Any]) -> list[tuple[str, int, int]]:
    """Bytes (sys.getsizeof) per role of `entry`, not counting objects `other` refers to too."""
    shared = {id(obj) for _role, objects in entry_parts(other) for obj in objects}
    counted: set[int] = set()
    rows = []
    for role, objects in entry_parts(entry):
        size = count = 0
        for obj in objects:
            if id(obj) in shared or id(obj) in counted:
                continue
            counted.add(id(obj))
            size += sys.getsizeof(obj)
            count += 1
        rows.append((role, count, size))
    return rows


@dataclass
class TraceResult:
    entries: int
    seen: int
    total: int
    lines: list[tuple[str, int, int, str]]  # where, bytes, blocks, source line
    breakdown: list[tuple[str, int, int]]


def trace_entries(pool: LocalUserPool, entries: int, workers: int) -> TraceResult:
    """Fill a cache of `entries` under tracemalloc; what each entry costs, by source line."""
    raw = [token.encode() for token in mint(pool, entries + 200, workers=workers)]
    warm, raw = raw[:200], raw[200:]
    loop = asyncio.new_event_loop()
    verifier = pool.verifier(token_cache_size=entries)

    async def verify_twice(tokens: Iterable[bytes]) -> None:
        for token in tokens:
            await verifier.verify(token.decode(), token_use="access")
            # A fresh string, as each request carries its own: the cache keeps this one.
            await verifier.verify(token.decode(), token_use="access")

    loop.run_until_complete(verifier.jwks.refresh())
    loop.run_until_complete(verify_twice(warm))  # code paths, memos and the like, not measured
    verifier._cache.clear()
    verifier._seen.clear()
    gc.collect()
    tracemalloc.start(1)
    before = tracemalloc.take_snapshot()
    loop.run_until_complete(verify_twice(raw))
    gc.collect()
    after = tracemalloc.take_snapshot()
    tracemalloc.stop()
    cache = verifier._cache
    assert len(cache) == entries, len(cache)
    ignore = [tracemalloc.Filter(False, tracemalloc.__file__)]
    diff = after.filter_traces(ignore).compare_to(before.filter_traces(ignore), "lineno")
    total = sum(stat.size_diff for stat in diff)
    lines = []
    for stat in sorted(diff, key=lambda stat: -stat.size_diff)[:TRACE_LINES]:
        frame = stat.traceback[0]
        where = f"{_short(frame.filename)}:{frame.lineno}"
        source = linecache.getline(frame.filename, frame.lineno).strip()
        lines.append((where, stat.size_diff, stat.count_diff, source))
    shown = sum(line[1] for line in lines)
    rest = sum(1 for stat in diff if stat.size_diff) - len(lines)
    lines.append((f"({rest} other lines)", total - shown, 0, ""))
    items = list(cache.items())
    breakdown = entry_breakdown(items[0], items[1])
    loop.close()
    return TraceResult(entries, len(verifier._seen), total, lines, breakdown)


def _short(filename: str) -> str:
    for marker in ("site-packages/", "src/", "lib/python"):
        if marker in filename:
            return filename.split(marker, 1)[1]
    return os.path.basename(filename)


@dataclass
class Sample:
    tokens: int
    rss: int
    cache: int
    seen: int


@dataclass
class MemoryResult:
    tokens: int
    cache_max: int
    seen_limit: int
    rss_before: int
    samples: list[Sample]
    seconds: float
    rejected: int


def memory_run(pool: LocalUserPool, tokens: int, workers: int) -> MemoryResult:
    """Verify `tokens` distinct tokens twice each through one default verifier; sample RSS."""
    loop = asyncio.new_event_loop()
    verifier = pool.verifier()
    cache = verifier._cache
    rejected = 0

    async def verify_twice(chunk: Iterable[str]) -> int:
        failures = 0
        for token in chunk:
            for _ in range(2):  # the second verification admits the token to the cache
                try:
                    await verifier.verify(token, token_use="access")
                except Exception:
                    failures += 1
        return failures

    loop.run_until_complete(verifier.jwks.refresh())
    # Warm up with tokens outside the run (numbered after it), then the baseline.
    loop.run_until_complete(verify_twice(mint(pool, 100, workers=1, start=tokens)))
    gc.collect()
    rss_before = _rss()
    samples = []
    done = 0
    start = time.monotonic()
    for chunk in mint_stream(pool, tokens, workers=workers):
        rejected += loop.run_until_complete(verify_twice(chunk))
        done += len(chunk)
        if done % SAMPLE_EVERY == 0 or done == tokens:
            samples.append(Sample(done, _rss(), len(cache), len(verifier._seen)))
    seconds = time.monotonic() - start
    loop.close()
    return MemoryResult(
        tokens=tokens,
        cache_max=verifier._cache_size,
        seen_limit=verifier._seen_limit,
        rss_before=rss_before,
        samples=samples,
        seconds=seconds,
        rejected=rejected,
    )


def report_memory(trace: TraceResult | None, run: MemoryResult | None, limit_mb: float) -> bool:
    print("(c) memory")
    met = True
    if trace is not None:
        per_entry = trace.total / trace.entries
        print(
            f"  tracemalloc, a cache filled to {trace.entries} entries (and {trace.seen} "
            f"fingerprints in _seen): {trace.total / MB:.2f} MB, {per_entry:.0f} bytes an entry"
        )
        print(f"    {'allocated at':36} {'bytes/entry':>11} {'blocks':>6}  source")
        for where, size, blocks, source in trace.lines:
            print(
                f"    {where:36} {size / trace.entries:11.0f} {blocks / trace.entries:6.2f}  "
                f"{source[:60]}"
            )
        print("  one entry's objects (sys.getsizeof; objects shared with another entry excluded):")
        total = 0
        for role, count, size in trace.breakdown:
            total += size
            print(f"    {role:44} {size:6d} bytes in {count} objects")
        print(f"    {'total':44} {total:6d} bytes (the rest of tracemalloc's figure: cache")
        print("      bookkeeping, the _seen set, allocator rounding)")
    if run is not None:
        last = run.samples[-1]
        full_at = next((s for s in run.samples if s.tokens >= 2 * run.cache_max), run.samples[-1])
        fill = next((s for s in run.samples if s.cache >= run.cache_max), None)
        growth = (last.rss - run.rss_before) / MB
        print(
            f"  {run.tokens} distinct tokens, each verified twice, in {run.seconds:.0f} s "
            f"({2 * run.tokens / run.seconds:.0f} verifications/s, minting included); "
            f"{run.rejected} rejected"
        )
        print(
            f"    RSS before {run.rss_before / MB:.1f} MB; cache bound {run.cache_max}, "
            f"_seen bound {run.seen_limit}"
        )
        step = max(SAMPLE_EVERY, (run.tokens // 20) // SAMPLE_EVERY * SAMPLE_EVERY)
        shown = [s for s in run.samples if s.tokens <= 2 * SAMPLE_EVERY or s.tokens % step == 0]
        if shown[-1] is not last:
            shown.append(last)
        print(f"    {'tokens':>9} {'RSS MB':>8} {'growth MB':>9} {'cache':>7} {'_seen':>7}")
        for s in shown:
            print(
                f"    {s.tokens:9d} {s.rss / MB:8.1f} {(s.rss - run.rss_before) / MB:9.1f} "
                f"{s.cache:7d} {s.seen:7d}"
            )
        if fill is not None:
            print(
                f"    RSS per cache entry while filling: "
                f"{(fill.rss - run.rss_before) / fill.cache:.0f} bytes "
                f"(at {fill.tokens} tokens; the _seen set included)"
            )
        peak = max(s.rss for s in run.samples)
        print(
            f"    growth: {growth:.1f} MB at the end, peak {(peak - run.rss_before) / MB:.1f} MB; "
            f"after the first {full_at.tokens} tokens (cache full, _seen cycling): "
            f"{(last.rss - full_at.rss) / MB:+.1f} MB"
        )
        within = all(s.cache <= run.cache_max and s.seen <= run.seen_limit for s in run.samples)
        met = within and (peak - run.rss_before) / MB <= limit_mb
        print(
            f"  target: cache within its bound ({'yes' if within else 'NO'}) and growth under "
            f"{limit_mb:g} MB: {'met' if met else 'NOT met'}"
        )
    return met


# -- (d) profiles ------------------------------------------------------------------------------


def _profile(run: Callable[[], object], calls: int, title: str, top: int) -> float:
    profiler = cProfile.Profile()
    start = time.perf_counter()
    profiler.enable()
    run()
    profiler.disable()
    elapsed = time.perf_counter() - start
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.strip_dirs().sort_stats("tottime").print_stats(top)
    text = out.getvalue()
    body = text[text.index("   ncalls") :] if "   ncalls" in text else text
    print(f"  {title}: {calls} calls, {elapsed / calls * 1e6:.1f} us each under the profiler")
    for line in body.rstrip().splitlines():
        print(f"    {line}")
    return elapsed


def profiles(pool: LocalUserPool, args: argparse.Namespace) -> None:
    print("(d) CPU profiles (cProfile; top entries by own time)")
    distinct = mint(pool, args.profile_distinct, workers=args.workers)
    loop = asyncio.new_event_loop()
    verifier = pool.verifier()
    loop.run_until_complete(verifier.jwks.refresh())
    repeated = pool.access_token(username="repeated", groups=["users"])

    async def verify_all(tokens: Iterable[str]) -> None:
        for token in tokens:
            await verifier.verify(token, token_use="access")

    loop.run_until_complete(verify_all(mint(pool, 50, workers=1, start=args.profile_distinct)))
    loop.run_until_complete(verify_all([repeated, repeated]))  # admitted to the cache
    gc.collect()
    _profile(
        lambda: loop.run_until_complete(verify_all(distinct)),
        len(distinct),
        "verify, distinct tokens (each seen once)",
        args.top,
    )
    _profile(
        lambda: loop.run_until_complete(verify_all([repeated] * args.profile_repeated)),
        args.profile_repeated,
        "verify, one repeated token (cached)",
        args.top,
    )

    bearer = CognitoBearer(token_use="access", verifier=verifier)
    app = create_app(bearer)
    headers = {"Authorization": f"Bearer {repeated}"}

    async def requests(path: str, count: int) -> None:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://profile") as client:
            for _ in range(count):
                response = await client.get(path, headers=headers)
                assert response.status_code == 200, response.text

    loop.run_until_complete(requests("/protected", 100))
    loop.run_until_complete(requests("/open", 100))
    # Alternating chunks, each profiler resumed in turn, so that drift (frequency, neighbours)
    # falls on both alike; the garbage collector paused, or its passes would be charged to
    # whichever function happened to allocate.
    count = args.profile_http
    chunks = 10
    protected, opened = cProfile.Profile(), cProfile.Profile()
    elapsed = {"/protected": 0.0, "/open": 0.0}
    for _ in range(chunks):
        for path, profiler in (("/protected", protected), ("/open", opened)):
            gc.collect()
            gc.disable()
            start = time.perf_counter()
            profiler.enable()
            loop.run_until_complete(requests(path, count // chunks))
            profiler.disable()
            elapsed[path] += time.perf_counter() - start
            gc.enable()
    loop.close()
    _report_difference(
        (_own_times(protected), elapsed["/protected"]),
        (_own_times(opened), elapsed["/open"]),
        count // chunks * chunks,
        args.top,
    )


# What a profile says of each function (own seconds, calls); and the run's wall seconds.
_OwnTimes = tuple[dict[str, tuple[float, int]], float]


def _own_times(profiler: cProfile.Profile) -> dict[str, tuple[float, int]]:
    times: dict[str, tuple[float, int]] = {}
    raw: dict[tuple[str, int, str], tuple[int, int, float, float, object]]
    raw = pstats.Stats(profiler).stats  # type: ignore[attr-defined]
    for (filename, line, name), (_cc, calls, own, _cumulative, _callers) in raw.items():
        label = name if filename == "~" else f"{os.path.basename(filename)}:{line}({name})"
        previous = times.get(label, (0.0, 0))
        times[label] = (previous[0] + own, previous[1] + calls)
    return times


def _report_difference(protected: _OwnTimes, opened: _OwnTimes, count: int, top: int) -> None:
    """What GET /protected costs more than GET /open, function by function, per request."""
    print(
        f"  in-process GET /protected minus GET /open, one repeated token, {count} requests "
        f"each (httpx.ASGITransport): {protected[1] / count * 1e6:.0f} vs "
        f"{opened[1] / count * 1e6:.0f} us a request under the profiler"
    )
    rows = []
    for label in protected[0].keys() | opened[0].keys():
        own_p, calls_p = protected[0].get(label, (0.0, 0))
        own_o, calls_o = opened[0].get(label, (0.0, 0))
        rows.append(((own_p - own_o) / count * 1e6, calls_p / count, calls_o / count, label))
    rows.sort(reverse=True)
    added = sum(row[0] for row in rows)
    print(f"    own time added: {added:.1f} us a request; the largest additions:")
    print(f"    {'us/request':>10} {'calls/rq':>8} {'(open)':>6}  function")
    for extra, per_protected, per_open, label in rows[:top]:
        print(f"    {extra:10.2f} {per_protected:8.1f} {per_open:6.1f}  {label[:110]}")


def _load() -> str:
    """The 1-minute load average: above the CPU count, the figures are noisy."""
    return f"{os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs"


# -- main -------------------------------------------------------------------------------------


SECTIONS = ("cold", "flood", "memory", "profile")


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--only", choices=SECTIONS, action="append", help="run only these")
    parser.add_argument(
        "--workers", type=int, default=os.cpu_count() or 1, help="minting processes"
    )
    parser.add_argument("--cold-requests", type=int, default=1000)
    parser.add_argument("--fetch-delay", type=float, default=0.5, help="JWKS answer delay (s)")
    parser.add_argument("--flood-minutes", type=float, default=10.0, help="simulated minutes")
    parser.add_argument("--flood-rate", type=float, default=200.0, help="requests a simulated s")
    parser.add_argument("--flood-burst", type=int, default=50, help="concurrent requests a burst")
    parser.add_argument("--flood-real-seconds", type=float, default=5.0)
    parser.add_argument("--tokens", type=int, default=100_000, help="distinct tokens (memory)")
    parser.add_argument("--trace-entries", type=int, default=5000, help="cache size traced")
    parser.add_argument("--max-growth-mb", type=float, default=DEFAULT_MAX_GROWTH_MB)
    parser.add_argument("--profile-distinct", type=int, default=20_000)
    parser.add_argument("--profile-repeated", type=int, default=200_000)
    parser.add_argument(
        "--profile-http", type=int, default=5000, help="requests to /protected and to /open"
    )
    parser.add_argument("--top", type=int, default=15, help="profile entries shown")
    args = parser.parse_args()
    if args.tokens < 2 * SAMPLE_EVERY or args.tokens % CHUNK:
        parser.error(f"--tokens must be a multiple of {CHUNK} and at least {2 * SAMPLE_EVERY}")
    if min(args.cold_requests, args.flood_burst, args.trace_entries, args.workers) < 2:
        parser.error("--cold-requests, --flood-burst, --trace-entries and --workers must be >= 2")
    sections = args.only or SECTIONS
    # The library's warnings (the failing JWKS endpoint) in line with the report.
    logging.basicConfig(stream=sys.stdout, format="  log: %(levelname)s %(message)s")

    started = time.monotonic()
    print(
        f"Python {sys.version.split()[0]}, {os.cpu_count()} CPUs, "
        f"default token_cache_size {CognitoSettings.model_fields['token_cache_size'].default}"
    )
    pool = LocalUserPool()
    met = True
    # Memory first: see the module docstring.
    if "memory" in sections:
        run = memory_run(pool, args.tokens, args.workers)
        gc.collect()
        trace = trace_entries(pool, args.trace_entries, args.workers)
        met &= report_memory(trace, run, args.max_growth_mb)
    if "cold" in sections:
        tokens = mint(pool, args.cold_requests, workers=args.workers)
        print(
            "(a) cold start: concurrent requests on a cold JWKS cache; "
            f"the JWKS answers in {args.fetch_delay} s"
        )
        met &= report_cold(asyncio.run(cold_start(pool, tokens, args.fetch_delay)))
    if "flood" in sections:
        met &= report_flood(asyncio.run(flood(pool, args)), args)
    if "profile" in sections:
        profiles(pool, args)
    print(
        f"total {time.monotonic() - started:.0f} s, load average {_load()}; "
        + ("targets met" if met else "targets NOT met")
    )
    return 0 if met else 1


if __name__ == "__main__":
    raise SystemExit(main())
