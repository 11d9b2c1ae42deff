"""Cost of `CognitoVerifier.verify` relative to the raw RS256 floor, measured in one run.

The floor is what any correct verifier must do per token: base64url-decode the signature and
the payload, cryptography's RS256 signature check, and a JSON parse of the payload. Two figures are compared with it:

- distinct: every call verifies a token not seen before (full path: parse, key lookup,
  signature, claims, model); target at most 1.2x the floor;
- repeated: one token sent again and again (the verified-token cache); target at most 0.1x.

Rounds of the three measurements are interleaved and the median of each is reported, so a
shared, noisy machine slows all three alike. Run: `make bench` or
`python benchmarks/bench_verify.py [--tokens N] [--rounds R]`.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import statistics
import sys
import time
from collections.abc import Callable

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding

from fastapi_cognito_jwt import CognitoVerifier
from fastapi_cognito_jwt.testing import LocalUserPool

DISTINCT_TARGET = 1.2
REPEATED_TARGET = 0.1


def _b64decode(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def _per_call(run: Callable[[], None], calls: int) -> float:
    start = time.perf_counter()
    run()
    return (time.perf_counter() - start) / calls * 1e6


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=2000, help="tokens per round")
    parser.add_argument("--rounds", type=int, default=7, help="interleaved rounds")
    args = parser.parse_args()

    pool = LocalUserPool()
    public_key = pool._keys[pool.signing_kid].public_key()
    loop = asyncio.new_event_loop()

    def fresh_tokens() -> list[str]:
        return [
            pool.access_token(username=f"user{i}", groups=["users"]) for i in range(args.tokens)
        ]

    def floor(tokens: list[str]) -> Callable[[], None]:
        parts = [token.split(".") for token in tokens]

        def run() -> None:
            for header, payload, signature in parts:
                public_key.verify(
                    _b64decode(signature),
                    f"{header}.{payload}".encode(),
                    padding.PKCS1v15(),
                    hashes.SHA256(),
                )
                json.loads(_b64decode(payload))

        return run

    def verify_all(verifier: CognitoVerifier, tokens: list[str]) -> Callable[[], None]:
        async def go() -> None:
            for token in tokens:
                await verifier.verify(token, token_use="access")

        return lambda: loop.run_until_complete(go())

    verifier = pool.verifier()
    loop.run_until_complete(verifier.jwks.refresh())
    repeated_token = pool.access_token()
    loop.run_until_complete(verifier.verify(repeated_token, token_use="access"))

    floors, distincts, repeats = [], [], []
    for _ in range(args.rounds):
        tokens = fresh_tokens()  # new tokens every round: never cache hits
        floors.append(_per_call(floor(tokens), len(tokens)))
        distincts.append(_per_call(verify_all(verifier, tokens), len(tokens)))
        repeats.append(_per_call(verify_all(verifier, [repeated_token] * len(tokens)), len(tokens)))
    loop.close()

    floor_us = statistics.median(floors)
    distinct_us = statistics.median(distincts)
    repeated_us = statistics.median(repeats)
    distinct_ratio = distinct_us / floor_us
    repeated_ratio = repeated_us / floor_us
    print(f"{args.rounds} rounds x {args.tokens} tokens, medians, Python {sys.version.split()[0]}")
    print(f"floor (RS256 verify + JSON parse): {floor_us:8.2f} us/token")
    print(
        f"verify, distinct tokens:           {distinct_us:8.2f} us/token  "
        f"{distinct_ratio:5.2f}x floor (target <= {DISTINCT_TARGET}x)"
    )
    print(
        f"verify, one repeated token:        {repeated_us:8.2f} us/token  "
        f"{repeated_ratio:5.2f}x floor (target <= {REPEATED_TARGET}x)"
    )
    met = distinct_ratio <= DISTINCT_TARGET and repeated_ratio <= REPEATED_TARGET
    print("targets met" if met else "targets NOT met")
    return 0 if met else 1


if __name__ == "__main__":
    raise SystemExit(main())
