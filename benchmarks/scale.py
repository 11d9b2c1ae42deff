"""Scale: resident memory over many distinct tokens, and a CPU profile of `verify`.

- memory: `--tokens` distinct valid access tokens (100 000; `--tokens 1000000` for the figure
  in docs/performance.md), each verified twice in a row through one `CognitoVerifier` with the
  default `token_cache_size`. The cache admits a token on its second use, so it ends holding
  min(tokens, token_cache_size) entries. Minting is RSA signing, so forked workers mint while
  this process verifies, a few chunks ahead. Resident memory (psutil) is sampled every
  `--sample-every` tokens; the report gives the growth in MB and per cached token (growth
  divided by the entries held). Exit status 1 when the peak growth exceeds `--max-growth-mb`
  (64), or when a token is rejected (the figures would then be about something else).
- profile: cProfile of `--profile-distinct` distinct tokens and `--profile-repeated`
  verifications of one cached token, through `verify`; the top `--top` functions by own time.

Memory runs first, in a process that has done nothing else yet: memory freed by the profile
would be reused by the run and hide part of its growth. Run: `make bench-scale`, or `python
benchmarks/scale.py [--only memory|profile] [--tokens N] [--workers W]`. POSIX only (the
minting workers are forked: the pool's RSA keys cannot be pickled).
"""

import argparse
import asyncio
import cProfile
import gc
import multiprocessing
import os
import pstats
import sys
import time
from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor

import psutil

from fastapi_cognito_jwt import CognitoSettings, CognitoVerifier
from fastapi_cognito_jwt.testing import LocalUserPool

MB = 1024 * 1024
CHUNK = 1000  # tokens a worker mints at a time
SHOWN_ROWS = 20  # samples printed, at most (and the last)

# The pool the workers sign with: set before they are forked.
_MINT_POOL: LocalUserPool | None = None


def _mint_range(bounds: tuple[int, int]) -> list[str]:
    assert _MINT_POOL is not None
    return [_MINT_POOL.access_token(username=f"user{i}", groups=["users"]) for i in range(*bounds)]


def mint_stream(
    pool: LocalUserPool, count: int, *, workers: int, start: int = 0
) -> Iterator[list[str]]:
    """Yield `count` distinct access tokens in chunks, in order, minted `workers` at a time.

    At most two chunks per worker are ahead of the consumer, so that tokens do not pile up in
    this process (and in its resident memory) when it verifies more slowly than they are minted.
    """
    global _MINT_POOL
    _MINT_POOL = pool
    ranges = ((low, min(low + CHUNK, start + count)) for low in range(start, start + count, CHUNK))
    if workers <= 1:
        yield from map(_mint_range, ranges)
        return
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


async def verify_all(verifier: CognitoVerifier, tokens: Sequence[str], times: int = 1) -> int:
    """Verify each token `times` times in a row; return how many verifications failed."""
    failures = 0
    for token in tokens:
        for _ in range(times):
            try:
                await verifier.verify(token, token_use="access")
            except Exception:
                failures += 1
    return failures


def _rss() -> int:
    return int(psutil.Process().memory_info().rss)


# -- memory -----------------------------------------------------------------------------------


def memory(pool: LocalUserPool, args: argparse.Namespace) -> bool:
    tokens, every = args.tokens, args.sample_every
    runner = asyncio.Runner()
    # Warm up the code paths (first and second use, a cache hit) on a verifier thrown away.
    warm = mint(pool, 100, workers=1, start=tokens)
    runner.run(verify_all(pool.verifier(), warm, times=3))
    # The measured verifier: its JWKS fetched by a token verified once (so not cached).
    verifier = pool.verifier()
    size = verifier.settings.token_cache_size
    rejected = runner.run(verify_all(verifier, warm[:1]))
    gc.collect()
    before = _rss()
    samples: list[tuple[int, int]] = []  # (tokens done, RSS)
    done = 0
    start = time.monotonic()
    for chunk in mint_stream(pool, tokens, workers=args.workers):
        rejected += runner.run(verify_all(verifier, chunk, times=2))
        done += len(chunk)
        if done // every > (done - len(chunk)) // every or done == tokens:
            samples.append((done, _rss()))
    seconds = time.monotonic() - start
    runner.close()

    def held(count: int) -> int:
        return min(count, size)

    print(
        f"memory: {tokens} distinct tokens, each verified twice, in {seconds:.0f} s "
        f"({2 * tokens / seconds:.0f} verifications/s, minting included); {rejected} rejected"
    )
    print(f"  token_cache_size {size}; RSS before {before / MB:.1f} MB")
    step = max(1, len(samples) // SHOWN_ROWS)
    shown = samples[step - 1 :: step]
    if shown[-1] is not samples[-1]:
        shown.append(samples[-1])
    print(f"  {'tokens':>9} {'RSS MB':>8} {'growth MB':>9} {'cached':>7}")
    for count, rss in shown:
        print(f"  {count:9d} {rss / MB:8.1f} {(rss - before) / MB:9.1f} {held(count):7d}")
    end, last = samples[-1]
    growth = last - before
    peak = max(rss for _count, rss in samples) - before
    print(
        f"  growth {growth / MB:.1f} MB at the end (peak {peak / MB:.1f} MB): "
        f"{growth / held(end):.0f} bytes per cached token ({held(end)} held)"
    )
    full = next(((count, rss) for count, rss in samples if count >= 2 * size), None)
    if full is not None and full[0] < end:
        print(f"  after {full[0]} tokens (cache full): {(last - full[1]) / MB:+.1f} MB")
    met = peak / MB <= args.max_growth_mb and rejected == 0
    print(f"  target: growth under {args.max_growth_mb:g} MB: {'met' if met else 'NOT met'}")
    return met


# -- profile ----------------------------------------------------------------------------------


def _profile(
    runner: asyncio.Runner, verifier: CognitoVerifier, tokens: list[str], title: str, top: int
) -> None:
    gc.collect()
    profiler = cProfile.Profile()
    start = time.perf_counter()
    profiler.enable()
    runner.run(verify_all(verifier, tokens))
    profiler.disable()
    elapsed = time.perf_counter() - start
    profile = pstats.Stats(profiler).get_stats_profile()
    calls = len(tokens)
    print(
        f"  {title}: {calls} calls, {elapsed / calls * 1e6:.1f} us each under the profiler "
        f"(profiled time {profile.total_tt / calls * 1e6:.1f} us)"
    )
    print(f"    {'own us':>7} {'share':>6} {'calls':>6}  function")
    rows = sorted(profile.func_profiles.items(), key=lambda item: -item[1].tottime)
    for name, row in rows[:top]:
        # The file and its folder (cachetools/__init__.py, _verification/verifier.py).
        parts = row.file_name.split(os.sep)[-2:]
        where = "" if row.file_name == "~" else f"{'/'.join(parts)}:{row.line_number} "
        share = row.tottime / profile.total_tt
        ncalls = int(row.ncalls.split("/")[0]) / calls
        print(
            f"    {row.tottime / calls * 1e6:7.2f} {share:6.1%} {ncalls:6.2f}  {where}{name}"[:110]
        )


def profiles(pool: LocalUserPool, args: argparse.Namespace) -> None:
    print("profile: cProfile of verify, top functions by own time (per call of verify)")
    distinct = mint(pool, args.profile_distinct, workers=args.workers)
    warm = mint(pool, 50, workers=1, start=args.profile_distinct)
    repeated = pool.access_token(username="repeated", groups=["users"])
    verifier = pool.verifier()
    with asyncio.Runner() as runner:
        runner.run(verify_all(verifier, warm, times=2))
        runner.run(verify_all(verifier, [repeated], times=2))  # admitted to the cache
        _profile(runner, verifier, distinct, "distinct tokens (each seen once)", args.top)
        repeats = [repeated] * args.profile_repeated
        _profile(runner, verifier, repeats, "one repeated token (cached)", args.top)


# -- main -------------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--only", choices=("memory", "profile"), help="run only this section")
    parser.add_argument(
        "--workers", type=int, default=os.cpu_count() or 1, help="minting processes"
    )
    parser.add_argument("--tokens", type=int, default=100_000, help="distinct tokens (memory)")
    parser.add_argument("--sample-every", type=int, default=10_000, help="tokens between samples")
    parser.add_argument("--max-growth-mb", type=float, default=64.0)
    parser.add_argument("--profile-distinct", type=int, default=10_000)
    parser.add_argument("--profile-repeated", type=int, default=100_000)
    parser.add_argument("--top", type=int, default=10, help="profile entries shown")
    args = parser.parse_args()
    if min(args.tokens, args.sample_every, args.profile_distinct, args.profile_repeated) < 1:
        parser.error("counts must be positive")
    default_size = CognitoSettings.model_fields["token_cache_size"].default
    print(f"Python {sys.version.split()[0]}, default token_cache_size {default_size}")
    started = time.monotonic()
    pool = LocalUserPool()
    met = True
    if args.only in (None, "memory"):  # first: see the module docstring
        met = memory(pool, args)
    if args.only in (None, "profile"):
        profiles(pool, args)
    load = f"{os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs"
    print(f"total {time.monotonic() - started:.0f} s, load average {load}")
    return 0 if met else 1


if __name__ == "__main__":
    raise SystemExit(main())
