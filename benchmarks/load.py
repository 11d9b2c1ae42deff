"""Load test: the protected-API example under uvicorn, driven by async httpx; no 5xx, flat memory.

The server is `examples.protected_api.create_app` with a `LocalUserPool` bearer, served by
uvicorn on 127.0.0.1 in a process of its own (forked, so it shares the pool's signing key with
the load generator; the pool serves its JWKS in-process, no network). Its resident memory is
sampled every second with psutil, apart from the generator's.

The generator keeps `--concurrency` requests in flight for `--seconds` over six routes,
mixing six kinds of request:

- valid_distinct: `--distinct` pre-minted access tokens, walked in order, each sent twice (the
  verifier admits a token to its cache on the second sighting), so the verified-token cache
  fills to its bound and then keeps evicting;
- valid_hot: a few tokens sent again and again (cache hits);
- expired: genuine tokens past their `exp`;
- forged: tokens signed by another key, under the pool's kid or an unknown one;
- garbage: random strings, random segments, truncated or tampered tokens, `alg: none`;
- missing: no Authorization header, another scheme, an empty bearer, two headers.

Every answer is checked against the one the route owes that request (200, 400, 401 or 403).
Before the timed run, a priming pass sends the first `--cache-size` distinct tokens twice, so
the cache is full when the run starts; the RSS at `--warmup` (a fraction of the run) is the
baseline, and the RSS at the end must not exceed it by more than `--max-growth-mb`.

Exit status 1 when any answer is a 5xx, any answer is not the one owed, any request fails at
the transport level, the server dies, or memory grows past the threshold; 0 otherwise.
Run: `make load`, or `python benchmarks/load.py [--seconds S] [--concurrency C]
[--distinct N] [--cache-size N] [--json]`. POSIX only (the server is forked).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import multiprocessing
import random
import ssl
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import httpx2
import psutil
from fastapi import FastAPI

from fastapi_cognito_jwt import CognitoSettings
from fastapi_cognito_jwt.testing import LocalUserPool

# `python benchmarks/load.py` puts benchmarks/ on the path, not the repository root.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks import forked_server
from examples.protected_api import create_app

KINDS = ("valid_distinct", "valid_hot", "expired", "forged", "garbage", "missing")
# Share of each kind in the timed run: half valid traffic, half of everything else.
KIND_WEIGHTS = (35, 15, 12, 12, 14, 12)
# The protected routes, and now and then the public one (last; it ignores the header).
ROUTES = ("/me", "/hello", "/admin", "/reports", "/private/groups", "/public")
ROUTE_WEIGHTS = (4, 4, 4, 4, 4, 1)
HOT_TOKENS = 64
EXPIRED_TOKENS = 256
FORGED_TOKENS = 128
STATS_PATH = "/_load/stats"
MB = 1024 * 1024
# A cache entry costs about 5 KB of RSS (measured while priming), so in the default 60 s run an
# unbounded cache would grow some 35-40 MB after warm-up (the report prints its estimate),
# while the bounded one stays within about 1 MB (the `seen` set filling up to its own bound,
# and allocator noise). 16 MB (about 15% of the server's RSS with a full default cache) sits
# well clear of both.
DEFAULT_MAX_GROWTH_MB = 16.0


@dataclass(frozen=True)
class Token:
    """A pre-minted access token and what it grants."""

    value: str
    admin: bool
    reader: bool


@dataclass(frozen=True)
class Call:
    """One request to make, and the status the app owes it."""

    kind: str
    path: str
    headers: list[tuple[str, str]]
    expected: int


@dataclass
class Tally:
    """What the generator saw."""

    requests: int = 0
    by_kind: Counter[str] = field(default_factory=Counter)
    statuses: Counter[int] = field(default_factory=Counter)
    kind_statuses: Counter[tuple[str, int]] = field(default_factory=Counter)
    unexpected: Counter[tuple[str, str, int, int]] = field(default_factory=Counter)
    transport_errors: Counter[str] = field(default_factory=Counter)

    @property
    def server_errors(self) -> int:
        return sum(count for status, count in self.statuses.items() if status >= 500)


# -- the server (its own process) -------------------------------------------------------------


def _build_app(pool: LocalUserPool, cache_size: int) -> FastAPI:
    """The example app, plus a test-only route that reports what the verifier holds."""
    auth = pool.bearer(token_use="access", token_cache_size=cache_size)
    app = create_app(auth)
    verifier = auth.verifier

    # Test-only: what the verifier holds, read from its private attributes.
    @app.get(STATS_PATH, include_in_schema=False)
    async def stats() -> dict[str, int]:
        cache = verifier._cache
        return {
            "cache": len(cache),
            "cache_max": cache.size,
            "seen": len(cache._seen),
            "headers_memo": len(verifier._known_headers),
            "jwks_kids": len(verifier.jwks.kids),
            "jwks_requests": pool.jwks_requests,
        }

    return app


def start_server(
    pool: LocalUserPool, cache_size: int
) -> tuple[multiprocessing.process.BaseProcess, Connection, str]:
    """Fork the server; return it, its lifeline and its URL."""
    return forked_server.start(lambda: _build_app(pool, cache_size), name="load-server")


def stop_server(process: multiprocessing.process.BaseProcess, lifeline: Connection) -> None:
    forked_server.stop(process, lifeline)


# -- the tokens (minted before the run) -------------------------------------------------------


@dataclass
class Tokens:
    distinct: list[Token]
    hot: list[Token]
    expired: list[str]
    forged: list[str]


def mint(pool: LocalUserPool, distinct: int, rng: random.Random) -> Tokens:
    def user(name: str, index: int, **kwargs: Any) -> Token:
        admin, reader = index % 4 == 0, index % 3 == 0
        groups = ["users", "admin"] if admin else ["users"]
        scopes = ["openid", "api/read"] if reader else ["openid"]
        value = pool.access_token(username=name, groups=groups, scopes=scopes, **kwargs)
        return Token(value, admin, reader)

    tokens = Tokens(
        distinct=[user(f"user{i}", i) for i in range(distinct)],
        hot=[user(f"hot{i}", i) for i in range(HOT_TOKENS)],
        expired=[
            user(f"gone{i}", i, claims={"exp": int(time.time()) - rng.randint(60, 10**6)}).value
            for i in range(EXPIRED_TOKENS)
        ],
        forged=[],
    )
    # Another key under the pool's own kid (a bad signature), and under a kid nobody knows.
    impostor = LocalUserPool(user_pool_id=pool.user_pool_id, client_id=pool.client_id)
    for i in range(FORGED_TOKENS):
        kid = pool.signing_kid if i % 2 else "impostor-key"
        claims = pool.access_claims(f"mallory{i}", groups=["admin"], scopes=["api/read"])
        tokens.forged.append(impostor.sign(claims, header={"kid": kid, "alg": "RS256"}))
    return tokens


# -- the requests -----------------------------------------------------------------------------


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


class Plan:
    """Draws the requests: kind, route, headers, and the status owed."""

    def __init__(self, tokens: Tokens, rng: random.Random) -> None:
        self.tokens = tokens
        self.rng = rng
        # Each distinct token twice in a row: the second sighting admits it to the cache.
        self._walk: Iterator[Token] = (
            token for _ in iter(int, 1) for token in tokens.distinct for _ in range(2)
        )
        self.distinct_sent = 0
        self._garbage: Sequence[Callable[[], str]] = (
            self._random_string,
            self._random_segments,
            self._truncated,
            self._tampered_signature,
            self._swapped_payload,
            self._alg_none,
        )

    def next(self, kind: str | None = None) -> Call:
        rng = self.rng
        kind = kind or rng.choices(KINDS, KIND_WEIGHTS)[0]
        path = rng.choices(ROUTES, ROUTE_WEIGHTS)[0]
        if kind in ("valid_distinct", "valid_hot"):
            if kind == "valid_distinct":
                # Both sightings must reach the verifier, which the public route skips.
                path = rng.choice(ROUTES[:-1])
                token = next(self._walk)
                self.distinct_sent += 1
            else:
                token = rng.choice(self.tokens.hot)
            denied = (path == "/admin" and not token.admin) or (
                path == "/reports" and not token.reader
            )
            return Call(kind, path, _bearer(token.value), 403 if denied else 200)
        public = path == "/public"
        if kind == "missing":
            headers, status = rng.choice(
                [
                    ([], 401),
                    ([("Authorization", "Basic dXNlcjpwYXNz")], 401),
                    ([("Authorization", "Bearer")], 401),
                    (_bearer(rng.choice(self.tokens.hot).value) * 2, 400),  # two headers
                ]
            )
            return Call(kind, path, headers, 200 if public else status)
        if kind == "expired":
            token_value = rng.choice(self.tokens.expired)
        elif kind == "forged":
            token_value = rng.choice(self.tokens.forged)
        else:
            token_value = rng.choice(self._garbage)()
        return Call(kind, path, _bearer(token_value), 200 if public else 401)

    def _valid(self) -> str:
        return self.rng.choice(self.tokens.hot).value

    def _random_string(self) -> str:
        return _b64(self.rng.randbytes(self.rng.randint(1, 3000)))

    def _random_segments(self) -> str:
        return ".".join(_b64(self.rng.randbytes(self.rng.randint(1, 400))) for _ in range(3))

    def _truncated(self) -> str:
        token = self._valid()
        return token[: self.rng.randrange(1, len(token))]

    def _tampered_signature(self) -> str:
        token = self._valid()
        position = self.rng.randrange(token.rindex(".") + 1, len(token) - 1)
        replacement = "A" if token[position] != "A" else "B"
        return token[:position] + replacement + token[position + 1 :]

    def _swapped_payload(self) -> str:
        header, _payload, signature = self._valid().split(".")
        payload = json.dumps({"sub": "x", "username": "root", "cognito:groups": ["admin"]})
        return f"{header}.{_b64(payload.encode())}.{signature}"

    def _alg_none(self) -> str:
        header = _b64(b'{"alg":"none","kid":"local-key-1"}')
        _header, payload, _signature = self._valid().split(".")
        return f"{header}.{payload}."


def _bearer(token: str) -> list[tuple[str, str]]:
    return [("Authorization", f"Bearer {token}")]


# -- the run ----------------------------------------------------------------------------------


@dataclass
class Sample:
    at: float
    rss: int


async def _drive(
    clients: Sequence[httpx2.AsyncClient],
    plan: Plan,
    tally: Tally,
    *,
    until: float | None = None,
    count: int | None = None,
    kind: str | None = None,
) -> None:
    """Keep one request in flight per client until the clock says `until` or `count` are sent."""
    budget = [count if count is not None else -1]

    async def worker(client: httpx2.AsyncClient) -> None:
        while True:
            if until is not None and time.monotonic() >= until:
                return
            if budget[0] == 0:
                return
            budget[0] -= 1
            call = plan.next(kind)
            tally.requests += 1
            tally.by_kind[call.kind] += 1
            try:
                response = await client.get(call.path, headers=call.headers)
            except httpx2.TransportError as exc:
                tally.transport_errors[type(exc).__name__] += 1
                continue
            status = response.status_code
            tally.statuses[status] += 1
            tally.kind_statuses[call.kind, status] += 1
            if status != call.expected:
                tally.unexpected[call.kind, call.path, call.expected, status] += 1

    await asyncio.gather(*(worker(client) for client in clients))


async def _sample(server: Any, samples: list[Sample], stop: asyncio.Event) -> None:
    start = time.monotonic()
    while not stop.is_set():
        samples.append(Sample(time.monotonic() - start, int(server.memory_info().rss)))
        try:
            await asyncio.wait_for(stop.wait(), timeout=1.0)
        except TimeoutError:
            pass


async def _stats(client: httpx2.AsyncClient) -> dict[str, int]:
    response = await client.get(STATS_PATH)
    response.raise_for_status()
    stats: dict[str, int] = response.json()
    return stats


async def run(args: argparse.Namespace) -> dict[str, Any]:
    rng = random.Random(args.seed)
    started = time.monotonic()
    pool = LocalUserPool()
    process, lifeline, base_url = start_server(pool, args.cache_size)
    try:
        # Minting happens here, while the server starts, and never in the timed loop.
        tokens = mint(pool, args.distinct, rng)
        minted = time.monotonic()
        plan = Plan(tokens, rng)
        tls = ssl.create_default_context()
        async with AsyncExitStack() as stack:
            client, *clients = [
                await stack.enter_async_context(_client(base_url, tls))
                for _ in range(args.concurrency + 1)
            ]
            await forked_server.wait_ready(client, process, "/public")
            # One verified request first, so that the JWKS is fetched before the crowd comes.
            probe = await client.get("/me", headers=_bearer(tokens.hot[0].value))
            if probe.status_code != 200:
                raise SystemExit(f"a valid token got {probe.status_code}: {probe.text}")
            server = psutil.Process(process.pid)
            rss_ready = int(server.memory_info().rss)

            # Priming: fill the verified-token cache to its bound before the timed run.
            primer = Tally()
            prime_count = 2 * min(args.cache_size, args.distinct)
            await _drive(clients, plan, primer, count=prime_count, kind="valid_distinct")
            primed = time.monotonic()
            stats_primed = {**await _stats(client), "distinct_sent": plan.distinct_sent}
            rss_primed = int(server.memory_info().rss)

            tally = Tally()
            samples: list[Sample] = []
            stop_sampling = asyncio.Event()
            cpu_before = server.cpu_times()
            sampler = asyncio.create_task(_sample(server, samples, stop_sampling))
            run_start = time.monotonic()
            warmup_at = run_start + args.warmup * args.seconds
            warmup_task = asyncio.create_task(_stats_at(client, plan, warmup_at))
            await _drive(clients, plan, tally, until=run_start + args.seconds)
            elapsed = time.monotonic() - run_start
            cpu_after = server.cpu_times()
            stop_sampling.set()
            await sampler
            samples.append(Sample(elapsed, int(server.memory_info().rss)))
            stats_warmup = await warmup_task
            stats_end = {**await _stats(client), "distinct_sent": plan.distinct_sent}
        server_alive = process.is_alive()
    finally:
        stop_server(process, lifeline)

    return _summary(
        args,
        tally=tally,
        primer=primer,
        samples=samples,
        elapsed=elapsed,
        server_cpu=(cpu_after.user + cpu_after.system) - (cpu_before.user + cpu_before.system),
        rss_ready=rss_ready,
        rss_primed=rss_primed,
        stats={"primed": stats_primed, "warmup": stats_warmup, "end": stats_end},
        timings={
            "mint": minted - started,
            "prime": primed - minted,
            "total": time.monotonic() - started,
        },
        distinct_sent=plan.distinct_sent,
        server_alive=server_alive,
    )


def _client(base_url: str, tls: ssl.SSLContext) -> httpx2.AsyncClient:
    # A client, hence a connection pool, per worker: httpx's pool gets slow with many
    # connections in one pool, and the generator must not be the bottleneck. (Plain HTTP: the
    # TLS context is never used, but one shared context saves making one per client.)
    limits = httpx2.Limits(max_connections=1, max_keepalive_connections=1)
    return httpx2.AsyncClient(
        base_url=base_url, limits=limits, timeout=30.0, trust_env=False, verify=tls
    )


async def _stats_at(client: httpx2.AsyncClient, plan: Plan, at: float) -> dict[str, int]:
    await asyncio.sleep(max(0.0, at - time.monotonic()))
    sent = plan.distinct_sent
    return {**await _stats(client), "distinct_sent": sent}


def _summary(
    args: argparse.Namespace,
    *,
    tally: Tally,
    primer: Tally,
    samples: list[Sample],
    elapsed: float,
    server_cpu: float,
    rss_ready: int,
    rss_primed: int,
    stats: dict[str, dict[str, int]],
    timings: dict[str, float],
    distinct_sent: int,
    server_alive: bool,
) -> dict[str, Any]:
    warmup_time = args.warmup * args.seconds
    after = [s for s in samples if s.at >= warmup_time] or samples[-1:]
    rss_warmup = after[0].rss
    rss_end = samples[-1].rss
    growth_mb = (rss_end - rss_warmup) / MB
    # What the check is up against: the tokens admitted to the cache after warm-up, times what
    # an entry cost while priming filled the cache; an unbounded cache would keep all of them.
    entry_bytes = (rss_primed - rss_ready) / max(1, stats["primed"]["cache"])
    admitted = (stats["end"]["distinct_sent"] - stats["warmup"]["distinct_sent"]) // 2
    unbounded_mb = admitted * entry_bytes / MB
    failures = []
    if tally.server_errors or primer.server_errors:
        failures.append(f"{tally.server_errors + primer.server_errors} answers with a 5xx")
    if tally.unexpected or primer.unexpected:
        unexpected = sum((tally.unexpected + primer.unexpected).values())
        failures.append(f"{unexpected} unexpected answers")
    if tally.transport_errors or primer.transport_errors:
        errors = sum((tally.transport_errors + primer.transport_errors).values())
        failures.append(f"{errors} transport errors")
    if not server_alive:
        failures.append("the server died")
    if growth_mb > args.max_growth_mb:
        failures.append(f"RSS grew {growth_mb:.1f} MB after warm-up (limit {args.max_growth_mb})")
    return {
        "ok": not failures,
        "failures": failures,
        "seconds": args.seconds,
        "elapsed": round(elapsed, 2),
        "concurrency": args.concurrency,
        "distinct": args.distinct,
        "cache_size": args.cache_size,
        "requests": tally.requests,
        "rps": round(tally.requests / elapsed, 1) if elapsed else 0.0,
        "statuses": {str(k): v for k, v in sorted(tally.statuses.items())},
        "server_errors": tally.server_errors,
        "unexpected": sum(tally.unexpected.values()),
        "unexpected_detail": [
            {"kind": k, "path": p, "expected": e, "status": s, "count": n}
            for (k, p, e, s), n in tally.unexpected.most_common(20)
        ],
        "transport_errors": sum(tally.transport_errors.values()),
        "transport_error_types": dict(tally.transport_errors),
        "kinds": {
            kind: {
                "requests": tally.by_kind[kind],
                "statuses": {
                    str(status): count
                    for (k, status), count in sorted(tally.kind_statuses.items())
                    if k == kind
                },
            }
            for kind in KINDS
        },
        "distinct_tokens_sent": distinct_sent,
        "prime": {
            "requests": primer.requests,
            "server_errors": primer.server_errors,
            "unexpected": sum(primer.unexpected.values()),
            "transport_errors": sum(primer.transport_errors.values()),
            "seconds": round(timings["prime"], 2),
        },
        "rss_mb": {
            "ready": round(rss_ready / MB, 1),
            "primed": round(rss_primed / MB, 1),
            "warmup": round(rss_warmup / MB, 1),
            "end": round(rss_end / MB, 1),
            "peak_after_warmup": round(max(s.rss for s in after) / MB, 1),
            "median_after_warmup": round(statistics.median(s.rss for s in after) / MB, 1),
            "growth": round(growth_mb, 2),
            "max_growth": args.max_growth_mb,
            "entry_bytes": round(entry_bytes),
            "unbounded_estimate": round(unbounded_mb, 1),
        },
        "rss_samples": len(samples),
        "server_cpu_percent": round(100 * server_cpu / elapsed, 1) if elapsed else 0.0,
        "cache": stats,
        "timings": {name: round(value, 2) for name, value in timings.items()},
    }


def _report(summary: dict[str, Any]) -> None:
    rss = summary["rss_mb"]
    prime = summary["prime"]
    cache = summary["cache"]
    print(
        f"load: {summary['requests']} requests in {summary['elapsed']} s "
        f"({summary['rps']} req/s), concurrency {summary['concurrency']}, "
        f"server CPU {summary['server_cpu_percent']}%"
    )
    print(
        f"  priming: {prime['requests']} requests in {prime['seconds']} s; "
        f"minting {summary['distinct']} distinct tokens took {summary['timings']['mint']} s"
    )
    print(f"  statuses: {summary['statuses']}")
    for kind, seen in summary["kinds"].items():
        print(f"    {kind:15} {seen['requests']:7}  {seen['statuses']}")
    print(
        f"  5xx: {summary['server_errors']}  unexpected: {summary['unexpected']}  "
        f"transport errors: {summary['transport_errors']} {summary['transport_error_types']}"
    )
    for detail in summary["unexpected_detail"]:
        print(f"    unexpected: {detail}")
    print(
        f"  server RSS (MB): ready {rss['ready']}, primed {rss['primed']}, "
        f"warm-up {rss['warmup']}, end {rss['end']}, peak {rss['peak_after_warmup']}; "
        f"growth after warm-up {rss['growth']} MB (limit {rss['max_growth']})"
    )
    print(
        f"  an unbounded cache would have grown about {rss['unbounded_estimate']} MB after "
        f"warm-up (~{rss['entry_bytes']} bytes an entry, while priming)"
    )
    if rss["unbounded_estimate"] <= rss["max_growth"]:
        print("  note: too little was admitted after warm-up for the memory check to tell")
    for moment in ("primed", "warmup", "end"):
        print(f"  verifier at {moment:6}: {cache[moment]}")
    print(f"  distinct tokens sent (each twice): {summary['distinct_tokens_sent'] // 2}")
    print("  OK" if summary["ok"] else f"  FAILED: {'; '.join(summary['failures'])}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="length of the timed run")
    parser.add_argument("--concurrency", type=int, default=48, help="requests in flight")
    parser.add_argument(
        "--distinct", type=int, default=20_000, help="distinct valid tokens (more than the cache)"
    )
    parser.add_argument(
        "--cache-size",
        type=int,
        default=CognitoSettings.model_fields["token_cache_size"].default,
        help="the server's token_cache_size (default: the library's)",
    )
    parser.add_argument(
        "--warmup", type=float, default=0.2, help="fraction of the run before the RSS baseline"
    )
    parser.add_argument(
        "--max-growth-mb",
        type=float,
        default=DEFAULT_MAX_GROWTH_MB,
        help="largest RSS growth after warm-up that passes",
    )
    parser.add_argument("--seed", type=int, default=2026, help="random seed for the mix")
    parser.add_argument("--json", action="store_true", help="end with a JSON summary line")
    args = parser.parse_args(argv)
    if args.seconds <= 0 or args.concurrency < 1 or args.distinct < 1 or args.cache_size < 0:
        parser.error("--seconds, --concurrency and --distinct must be positive, --cache-size >= 0")
    if not 0 <= args.warmup < 1:
        parser.error("--warmup must be a fraction in [0, 1)")
    summary = asyncio.run(run(args))
    _report(summary)
    if args.json:
        print(json.dumps(summary, separators=(",", ":")))
    return 0 if summary["ok"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
