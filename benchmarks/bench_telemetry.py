"""What the metrics cost `CognitoVerifier.verify`, with and without instrument calls, in one run.

Two verifiers side by side on the same tokens and the same warm JWKS: the library's, which
counts every verification and cache lookup (`_telemetry`), and `Uncounted`, the same verifier
with `verify` and `_cached` as they were before the metrics (no counting at all). Two paths:

- repeated: one token sent again and again (a verified-token cache hit, the hot path);
- distinct: every call a token this verifier has not seen (the full path).

Batches are timed back to back in alternating order; the figure is the median per-batch ratio
counted/uncounted, with the quartiles and the extremes over all batches, the median
difference in nanoseconds per verification, and the ratio of the fastest batches (a busy
machine only ever slows a batch down, so the fastest is the least disturbed). By default no
OpenTelemetry SDK is installed (the API's proxies, as in an app that does not use
OpenTelemetry); `--sdk` installs the SDK's `MeterProvider` with an in-memory reader first,
which the hot path must not notice either.

Run: `make bench-telemetry`, or `python benchmarks/bench_telemetry.py [--sdk] [--rounds R]`.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from collections.abc import Callable, Sequence

from fastapi_cognito_jwt import (
    CognitoClaims,
    CognitoVerifier,
    ConfigurationError,
    MalformedTokenError,
    TokenUse,
)
from fastapi_cognito_jwt._verification.claims import build_claims, check_claims
from fastapi_cognito_jwt._verification.parsed_token import parse_token, remember_header
from fastapi_cognito_jwt._verification.signing_keys import check_signature
from fastapi_cognito_jwt._verification.token_cache import CachedToken
from fastapi_cognito_jwt.testing import LocalUserPool


class Uncounted(CognitoVerifier):
    """`CognitoVerifier` with the same steps in `verify` and `_cached`, none of them counted."""

    async def verify(  # type: ignore[override]
        self,
        token: str,
        *,
        token_use: TokenUse,
        claims_model: type[CognitoClaims] = CognitoClaims,
    ) -> CognitoClaims:
        cached = self._cached(token, token_use, claims_model)
        if cached is not None:
            return cached
        parsed = parse_token(token, self._max_bytes, self._known_headers)
        pool = self._pool(parsed)
        key = pool.jwks.lookup(parsed.kid)
        if key is None:
            key = await pool.jwks.get_key(parsed.kid)
        check_signature(key, parsed.signing_input, parsed.signature)
        check_claims(
            parsed.payload,
            token_use,
            pool.issuers,
            pool.client_ids,
            self._resource_ids,
            self._leeway,
            self._clock(),
        )
        claims = build_claims(claims_model, parsed.payload)
        self.revocations.check(claims)
        remember_header(self._known_headers, parsed, 32)
        if self._cache.admits(token):
            expires = claims.exp + self._leeway
            entry = CachedToken(token, expires, parsed.kid, key, pool.jwks, pool.counts, claims)
            self._cache.put(token_use, claims_model, entry)
        return claims

    def _cached(
        self, token: str, token_use: TokenUse, claims_model: type[CognitoClaims]
    ) -> CognitoClaims | None:
        if token_use not in ("access", "id"):
            raise ConfigurationError("token_use must be 'access' or 'id'")
        if not isinstance(token, str):
            raise MalformedTokenError("token is not a string")
        entry = self._cache.get(token, token_use, claims_model)
        if entry is None:
            return None
        if self._clock() < entry.expires and entry.jwks.lookup(entry.kid) is entry.key:
            return entry.claims
        self._cache.discard(token, token_use, claims_model)
        return None


def timed(run: Callable[[], object], calls: int) -> float:
    start = time.perf_counter()
    run()
    return (time.perf_counter() - start) / calls * 1e9


def summary(name: str, ratios: list[float], counted: list[float], uncounted: list[float]) -> str:
    quartiles = statistics.quantiles(ratios, n=4)
    difference = statistics.median(c - u for c, u in zip(counted, uncounted, strict=True))
    return (
        f"{name:9} counted {statistics.median(counted):8.0f} ns  uncounted "
        f"{statistics.median(uncounted):8.0f} ns  ratio median {statistics.median(ratios):.3f} "
        f"(quartiles {quartiles[0]:.3f}-{quartiles[2]:.3f}, range {min(ratios):.3f}-"
        f"{max(ratios):.3f}), median difference {difference:+.0f} ns; fastest batches "
        f"{min(counted):.0f} / {min(uncounted):.0f} ns = {min(counted) / min(uncounted):.3f}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--tokens", type=int, default=600, help="distinct tokens minted")
    parser.add_argument("--batch", type=int, default=100, help="tokens per paired batch")
    parser.add_argument("--repeats", type=int, default=5000, help="repeated calls per batch")
    parser.add_argument("--rounds", type=int, default=8, help="passes over all tokens")
    parser.add_argument("--sdk", action="store_true", help="install the OpenTelemetry SDK")
    args = parser.parse_args()

    if args.sdk:
        from opentelemetry import metrics
        from opentelemetry.sdk.metrics import MeterProvider
        from opentelemetry.sdk.metrics.export import InMemoryMetricReader

        reader = InMemoryMetricReader()
        metrics.set_meter_provider(MeterProvider(metric_readers=[reader]))

    pool = LocalUserPool()
    tokens = [pool.access_token(username=f"user{i}") for i in range(args.tokens)]
    batches = [tokens[i : i + args.batch] for i in range(0, len(tokens), args.batch)]
    loop = asyncio.new_event_loop()
    counted_shared = pool.verifier()
    loop.run_until_complete(counted_shared.jwks.refresh())
    uncounted_shared = Uncounted(counted_shared.settings, jwks=counted_shared.jwks)

    def verify_all(verifier: CognitoVerifier, batch: Sequence[str]) -> Callable[[], None]:
        async def go() -> None:
            for token in batch:
                await verifier.verify(token, token_use="access")

        return lambda: loop.run_until_complete(go())

    repeated = [tokens[0]] * args.repeats
    for verifier in (counted_shared, uncounted_shared):
        for _ in range(2):  # the second verification admits the token to the cache
            loop.run_until_complete(verifier.verify(tokens[0], token_use="access"))

    results: dict[str, tuple[list[float], list[float], list[float]]] = {
        "repeated": ([], [], []),
        "distinct": ([], [], []),
    }
    for round_number in range(args.rounds):
        fresh = {
            True: CognitoVerifier(counted_shared.settings, jwks=counted_shared.jwks),
            False: Uncounted(counted_shared.settings, jwks=counted_shared.jwks),
        }
        for index, batch in enumerate(batches):
            order = (True, False) if (round_number + index) % 2 == 0 else (False, True)
            for path, runs, calls in (
                ("repeated", {True: counted_shared, False: uncounted_shared}, repeated),
                ("distinct", fresh, batch),
            ):
                times = {c: timed(verify_all(runs[c], calls), len(calls)) for c in order}
                ratios, counted, uncounted = results[path]
                ratios.append(times[True] / times[False])
                counted.append(times[True])
                uncounted.append(times[False])
    loop.close()

    print(
        f"{args.rounds * len(batches)} paired batches, Python {sys.version.split()[0]}, "
        f"OpenTelemetry SDK {'installed' if args.sdk else 'absent (API proxies only)'}; "
        f"time per verification, counted / uncounted"
    )
    for path, (ratios, counted, uncounted) in results.items():
        print(summary(path, ratios, counted, uncounted))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
