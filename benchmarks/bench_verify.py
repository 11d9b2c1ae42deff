"""Cost of `CognitoVerifier.verify` relative to the raw RS256 floor, measured in one run.

The floor is what any correct verifier must do per token: base64url-decode the signature and
the payload, cryptography's RS256 signature check, and a JSON parse of the payload. Two
figures are compared with it:

- distinct: every call verifies a token this verifier has not seen (the full path: syntax,
  header, key lookup, signature, claims, model); target at most 1.2x the floor;
- repeated: one token sent again and again (the verified-token cache); target at most 0.1x.

Shared machines are noisy, so the comparison is paired: the token set is cut into small
batches, and each batch is timed for the floor and for `verify` back to back (in alternating
order). The targets are judged on the median of the per-batch ratios. A busy machine inflates
the ratio (the Python part of the work slows more than the RSA arithmetic), so the lower
quartile of the per-batch ratios is printed too, as the figure for a quiet machine.

With `--redis-server` (as `make bench-verify` runs it) the same batches are also verified with
the revocation list on its Redis backend (`RedisRevocationList`, Debian's `redis-server` started
on a free loopback port) holding 10 000 revoked sessions and 1 000 signed-out users; those two
rows are judged against the same targets. (The default rows run with the default, empty
in-memory list.) The floor decodes with the standard library; `verify` with pybase64 when the
`speedups` extra is installed (as in the dev install), which the output names.
Run: `make bench`, or `python benchmarks/bench_verify.py [--tokens N] [--batch B] [--rounds R]
[--redis-server]`.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import shutil
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from fastapi_cognito_jwt import CognitoVerifier, RedisRevocationList, Revocation
from fastapi_cognito_jwt._verification.base64url import DECODER
from fastapi_cognito_jwt.testing import LocalUserPool

DISTINCT_TARGET = 1.2
REPEATED_TARGET = 0.1


def _b64decode(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def floor(public_keys: Sequence[rsa.RSAPublicKey], tokens: Sequence[str]) -> Callable[[], None]:
    """The floor for `tokens`, the i-th signed by `public_keys[i]` (known up front: free)."""

    def run() -> None:
        for token, public_key in zip(tokens, public_keys, strict=True):
            header, payload, signature = token.split(".")
            public_key.verify(
                _b64decode(signature),
                f"{header}.{payload}".encode(),
                padding.PKCS1v15(),
                hashes.SHA256(),
            )
            json.loads(_b64decode(payload))

    return run


def timed(run: Callable[[], object], calls: int) -> float:
    start = time.perf_counter()
    run()
    return (time.perf_counter() - start) / calls * 1e6


@contextlib.contextmanager
def redis_server() -> Iterator[str]:
    """Debian's redis-server on a free loopback port, without persistence; yields its URL."""
    executable = shutil.which("redis-server")
    if executable is None:
        raise SystemExit("redis-server is not installed: apt-get install redis-server")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    command = [executable, "--bind", "127.0.0.1", "--port", str(port), "--save", ""]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL)  # noqa: S603
    try:
        for _ in range(500):
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.01)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.kill()
        process.wait()


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--tokens", type=int, default=1000, help="distinct tokens minted")
    parser.add_argument("--batch", type=int, default=100, help="tokens per paired batch")
    parser.add_argument("--rounds", type=int, default=15, help="passes over all tokens")
    parser.add_argument(
        "--redis-server",
        action="store_true",
        help="also verify with the revocation list on Redis (starts redis-server)",
    )
    args = parser.parse_args()
    if not args.redis_server:
        return run(args, None)
    with redis_server() as url:
        return run(args, url)


def run(args: argparse.Namespace, redis_url: str | None) -> int:
    """Measure and print; with `redis_url`, the Redis-backed revocation list too."""
    # Two user pools configured, in two regions; the tokens alternate between them.
    pools = [LocalUserPool(), LocalUserPool(user_pool_id="us-east-1_SecondPool", kid="k2")]
    pool = pools[0]
    tokens = [
        pools[i % 2].access_token(username=f"user{i}", groups=["users"]) for i in range(args.tokens)
    ]
    keys = [pools[i % 2].public_key() for i in range(args.tokens)]
    batches = [
        (tokens[i : i + args.batch], keys[i : i + args.batch])
        for i in range(0, len(tokens), args.batch)
    ]
    loop = asyncio.new_event_loop()
    shared = pool.verifier(also=pools[1:])
    for cache in shared.jwks_caches.values():
        loop.run_until_complete(cache.refresh())
    caches = list(shared.jwks_caches.values())

    def verify_all(verifier: CognitoVerifier, batch: Sequence[str]) -> Callable[[], None]:
        async def go() -> None:
            for token in batch:
                await verifier.verify(token, token_use="access")

        return lambda: loop.run_until_complete(go())

    revocations: RedisRevocationList | None = None
    if redis_url is not None:
        from redis.asyncio import Redis

        revocations = RedisRevocationList(shared.settings, redis=Redis.from_url(redis_url))
        loop.run_until_complete(revocations.start())
        now = time.time()
        entries = [Revocation("session", f"s{i}", "", 0.0, now + 3600) for i in range(10_000)]
        entries += [Revocation("user", f"u{i}", pool.issuer, now, now + 3600) for i in range(1000)]
        loop.run_until_complete(revocations.record(entries))
        shared_redis = CognitoVerifier(shared.settings, jwks=caches, revocations=revocations)

    repeated_token = tokens[0]
    for _ in range(2):  # the second verification admits a token to the cache
        loop.run_until_complete(shared.verify(repeated_token, token_use="access"))
        if revocations is not None:
            loop.run_until_complete(shared_redis.verify(repeated_token, token_use="access"))

    floors: list[float] = []
    distinct_ratios: list[float] = []
    repeated_ratios: list[float] = []
    distincts: list[float] = []
    repeats: list[float] = []
    redis_ratios: dict[str, list[float]] = {"distinct": [], "repeated": []}
    redis_times: dict[str, list[float]] = {"distinct": [], "repeated": []}
    for round_number in range(args.rounds):
        # A verifier per round, sharing the warm JWKS: none of its tokens is in its cache.
        fresh = CognitoVerifier(shared.settings, jwks=caches)
        fresh_redis = CognitoVerifier(shared.settings, jwks=caches, revocations=revocations)
        for index, (batch, batch_keys) in enumerate(batches):
            floor_first = (round_number + index) % 2 == 0
            if floor_first:
                floor_us = timed(floor(batch_keys, batch), len(batch))
            distinct_us = timed(verify_all(fresh, batch), len(batch))
            if not floor_first:
                floor_us = timed(floor(batch_keys, batch), len(batch))
            repeated_us = timed(verify_all(shared, [repeated_token] * len(batch)), len(batch))
            floors.append(floor_us)
            distincts.append(distinct_us)
            repeats.append(repeated_us)
            distinct_ratios.append(distinct_us / floor_us)
            repeated_ratios.append(repeated_us / floor_us)
            if revocations is not None:
                for kind, verifier, sent in (
                    ("distinct", fresh_redis, batch),
                    ("repeated", shared_redis, [repeated_token] * len(batch)),
                ):
                    us = timed(verify_all(verifier, sent), len(sent))
                    redis_times[kind].append(us)
                    redis_ratios[kind].append(us / floor_us)
    if revocations is not None:
        assert revocations.in_touch, "the Redis list fell out of touch during the run"
        loop.run_until_complete(revocations.aclose())
        loop.run_until_complete(revocations.redis.aclose())
    loop.close()

    def quiet(ratios: list[float]) -> float:
        # The lower quartile of the paired ratios: a busy machine only ever inflates them.
        return statistics.quantiles(ratios, n=4)[0]

    distinct_ratio = statistics.median(distinct_ratios)
    repeated_ratio = statistics.median(repeated_ratios)
    print(
        f"{len(distinct_ratios)} paired batches of {args.batch} tokens from two user pools, "
        f"Python {sys.version.split()[0]}; median per-batch time and ratio to the floor"
    )
    print(f"verify decodes base64url with {DECODER}; the floor with the standard library")
    print(f"floor (decode, RS256 verify, JSON): {statistics.median(floors):8.2f} us/token")
    print(
        f"verify, distinct tokens:            {statistics.median(distincts):8.2f} us/token  "
        f"{distinct_ratio:.2f}x floor (target <= {DISTINCT_TARGET}x; "
        f"quietest quarter {quiet(distinct_ratios):.2f}x)"
    )
    print(
        f"verify, one repeated token:         {statistics.median(repeats):8.2f} us/token  "
        f"{repeated_ratio:.2f}x floor (target <= {REPEATED_TARGET}x; "
        f"quietest quarter {quiet(repeated_ratios):.2f}x)"
    )
    met = distinct_ratio <= DISTINCT_TARGET and repeated_ratio <= REPEATED_TARGET
    verdicts = [f"default list: targets {'met' if met else 'NOT met'}"]
    if revocations is not None:
        redis_met = True
        print(f"with the revocation list on Redis ({len(revocations)} entries):")
        for kind, target in (("distinct", DISTINCT_TARGET), ("repeated", REPEATED_TARGET)):
            ratio = statistics.median(redis_ratios[kind])
            label = "distinct tokens:" if kind == "distinct" else "one repeated token:"
            print(
                f"verify, {label:<28}{statistics.median(redis_times[kind]):8.2f} us/token  "
                f"{ratio:.2f}x floor "
                f"(target <= {target}x; quietest quarter {quiet(redis_ratios[kind]):.2f}x)"
            )
            redis_met = redis_met and ratio <= target
        verdicts.append(f"revocation list on Redis: targets {'met' if redis_met else 'NOT met'}")
        met = met and redis_met
    # Each group is judged on its own; the exit status needs both.
    print("; ".join(verdicts))
    return 0 if met else 1


if __name__ == "__main__":
    raise SystemExit(main())
