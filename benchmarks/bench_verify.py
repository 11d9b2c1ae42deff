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
Run: `make bench`, or `python benchmarks/bench_verify.py [--tokens N] [--batch B] [--rounds R]`.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import statistics
import sys
import time
from collections.abc import Callable, Sequence

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from fastapi_cognito_jwt import CognitoVerifier
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


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--tokens", type=int, default=1000, help="distinct tokens minted")
    parser.add_argument("--batch", type=int, default=100, help="tokens per paired batch")
    parser.add_argument("--rounds", type=int, default=15, help="passes over all tokens")
    args = parser.parse_args()

    # Two user pools configured, in two regions; the tokens alternate between them.
    pools = [LocalUserPool(), LocalUserPool(user_pool_id="us-east-1_SecondPool", kid="k2")]
    tokens = [
        pools[i % 2].access_token(username=f"user{i}", groups=["users"]) for i in range(args.tokens)
    ]
    keys = [pools[i % 2].public_key() for i in range(args.tokens)]
    batches = [
        (tokens[i : i + args.batch], keys[i : i + args.batch])
        for i in range(0, len(tokens), args.batch)
    ]
    loop = asyncio.new_event_loop()
    shared = pools[0].verifier(also=pools[1:])
    for cache in shared.jwks_caches.values():
        loop.run_until_complete(cache.refresh())

    def verify_all(verifier: CognitoVerifier, batch: Sequence[str]) -> Callable[[], None]:
        async def go() -> None:
            for token in batch:
                await verifier.verify(token, token_use="access")

        return lambda: loop.run_until_complete(go())

    repeated_token = tokens[0]
    for _ in range(2):  # the second verification admits a token to the cache
        loop.run_until_complete(shared.verify(repeated_token, token_use="access"))

    floors: list[float] = []
    distinct_ratios: list[float] = []
    repeated_ratios: list[float] = []
    distincts: list[float] = []
    repeats: list[float] = []
    for round_number in range(args.rounds):
        # A verifier per round, sharing the warm JWKS: none of its tokens is in its cache.
        fresh = CognitoVerifier(shared.settings, jwks=shared.jwks_caches.values())
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
    print("targets met" if met else "targets NOT met")
    return 0 if met else 1


if __name__ == "__main__":
    raise SystemExit(main())
