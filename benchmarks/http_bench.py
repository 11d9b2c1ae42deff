"""HTTP-level cost of `CognitoBearer` and its helpers: one endpoint, paired rounds.

The app has four routes returning the same small body: `/open` (no auth), `/noop` (a
security dependency of the bearer's shape that does nothing: what one FastAPI `Depends` costs
by itself), `/protected` (`Depends(auth)`, a `CognitoBearer` for access tokens of a
`LocalUserPool`) and `/username` (`Depends(current_username(auth))`, the helper on top of the
bearer). All are sent the same `Authorization` header. Five kinds of batch are timed:

- open: `/open`;
- noop: `/noop`;
- repeated: `/protected` with one token sent again and again (the verified-token cache);
- username: `/username` with that same repeated token;
- distinct: `/protected` with a pre-minted token per request, none seen before (the full path:
  signature, claims, model).

Two set-ups:

- in-process: `httpx2.AsyncClient(transport=httpx2.ASGITransport(app))`, no sockets;
- loopback: the app under uvicorn in a forked process on 127.0.0.1, with `--concurrency`
  requests in flight from each generator in turn: async httpx2 clients (one connection each),
  then a minimal asyncio HTTP/1.1 client. On a small machine the httpx2 generator, not the
  server, sets the pace (its ratios then say little); the raw one saturates the server. The
  server's CPU time per request is read with psutil either way.

Shared machines are noisy, so the comparison is paired: each round times one batch of each
kind back to back (in rotating order), and the figures are the medians of the per-round ratios
of throughput to `/open` ("x /open") and to `/noop` ("x /noop": the cost beyond one no-op
dependency; higher is better, 1.0 means no cost). Before each round the verifier is replaced
by a fresh one sharing the warm JWKS, so the distinct tokens are new to it, and the repeated
token is sent twice so that it is cached.

Target: in-process, `/username` throughput >= 0.95 of `/noop`'s. Exit status 1 when missed.
Run: `make bench-http`, or `python benchmarks/http_bench.py [--rounds R] [--requests N]
[--loopback-rounds R] [--loopback-requests N] [--concurrency C] [--mode M] [--generators G]`.
POSIX only (the server is forked).
"""

# No `from __future__ import annotations`: FastAPI reads the route signatures at runtime.

import argparse
import asyncio
import gc
import multiprocessing
import multiprocessing.process
import os
import statistics
import sys
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Annotated

import httpx2
import psutil
from fastapi import Depends, FastAPI
from fastapi.security import HTTPBearer
from starlette.requests import HTTPConnection

from fastapi_cognito_jwt import (
    CognitoBearer,
    CognitoCredentials,
    CognitoVerifier,
    current_username,
)
from fastapi_cognito_jwt.testing import LocalUserPool

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks import forked_server

KINDS = ("open", "noop", "repeated", "username", "distinct")
LABELS = {
    "open": "/open",
    "noop": "/noop (no-op bearer)",
    "repeated": "/protected repeated",
    "username": "/username repeated",
    "distinct": "/protected distinct",
}
USERNAME_TARGET = 0.95
RESET_PATH = "/_bench/reset"


# -- the app ----------------------------------------------------------------------------------


class NoopBearer(HTTPBearer):
    """A security dependency of the bearer's shape that does nothing: what FastAPI's `Depends`
    costs by itself, apart from any verification."""

    async def __call__(self, request: HTTPConnection) -> None:
        return None


def create_app(bearer: CognitoBearer) -> FastAPI:
    """`/open`, `/noop`, `/protected` and `/username`: one route but for the dependency."""
    app = FastAPI(openapi_url=None)
    noop = NoopBearer(bearerFormat="JWT")
    username = current_username(bearer)

    @app.get("/open")
    async def open_route() -> dict[str, bool]:
        return {"ok": True}

    @app.get("/noop")
    async def noop_route(credentials: Annotated[None, Depends(noop)]) -> dict[str, bool]:
        return {"ok": True}

    @app.get("/username")
    async def username_route(name: Annotated[str, Depends(username)]) -> dict[str, bool]:
        return {"ok": True}

    @app.get("/protected")
    async def protected_route(
        credentials: Annotated[CognitoCredentials | None, Depends(bearer)],
    ) -> dict[str, bool]:
        return {"ok": True}

    return app


def fresh_verifier(bearer: CognitoBearer) -> None:
    """Give `bearer` a new verifier (empty token cache) that shares the warm JWKS."""
    old = bearer.verifier
    bearer.verifier = CognitoVerifier(old.settings, jwks=old.jwks)


# -- driving ----------------------------------------------------------------------------------


@dataclass
class Batch:
    """One timed batch: requests per second, and the server's CPU per request if known."""

    rps: float
    server_cpu_us: float | None = None


@dataclass
class Results:
    """Per-kind batches of every round, in round order."""

    batches: dict[str, list[Batch]] = field(default_factory=lambda: {k: [] for k in KINDS})

    def ratios(self, kind: str, base: str = "open") -> list[float]:
        pairs = zip(self.batches[kind], self.batches[base], strict=True)
        return [b.rps / o.rps for b, o in pairs]

    def cpu_ratios(self, kind: str) -> list[float]:
        pairs = zip(self.batches[kind], self.batches["open"], strict=True)
        return [
            b.server_cpu_us / o.server_cpu_us
            for b, o in pairs
            if b.server_cpu_us is not None and o.server_cpu_us
        ]


def _bearer_header(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# A way to send GET `path` with `headers` over one connection; returns the status and body.
Fetch = Callable[[str, Mapping[str, str]], Awaitable[tuple[int, str]]]


def httpx_fetch(client: httpx2.AsyncClient) -> Fetch:
    async def fetch(path: str, headers: Mapping[str, str]) -> tuple[int, str]:
        response = await client.get(path, headers=headers)
        return response.status_code, response.text

    return fetch


class RawClient:
    """A minimal HTTP/1.1 keep-alive GET client on asyncio streams (Content-Length bodies).

    Some twenty times cheaper per request than httpx2, so that on a small machine the server,
    not the generator, sets the pace.
    """

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self._streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None

    async def fetch(self, path: str, headers: Mapping[str, str]) -> tuple[int, str]:
        if self._streams is None:
            self._streams = await asyncio.open_connection(self.host, self.port)  # TCP_NODELAY
        reader, writer = self._streams
        lines = [f"GET {path} HTTP/1.1", f"Host: {self.host}:{self.port}"]
        lines += [f"{name}: {value}" for name, value in headers.items()]
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        head = await reader.readuntil(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        body = await reader.readexactly(length)
        return int(head[9:12]), body.decode("utf-8", "replace")

    async def aclose(self) -> None:
        if self._streams is not None:
            writer = self._streams[1]
            writer.close()
            await writer.wait_closed()
            self._streams = None


async def _send(fetchers: Sequence[Fetch], path: str, headers: Sequence[dict[str, str]]) -> float:
    """Send one request per entry of `headers`, one in flight per fetcher; return seconds."""
    pending = iter(headers)

    async def worker(fetch: Fetch) -> None:
        for header in pending:  # shared: each request goes to whichever worker is free
            status, text = await fetch(path, header)
            if status != 200:
                raise SystemExit(f"{path} answered {status}: {text}")

    start = time.perf_counter()
    await asyncio.gather(*(worker(fetch) for fetch in fetchers))
    return time.perf_counter() - start


def _cpu_seconds(process: psutil.Process | None) -> float:
    if process is None:
        return 0.0
    times = process.cpu_times()
    return float(times.user + times.system)


async def _rounds(
    fetchers: Sequence[Fetch],
    *,
    rounds: int,
    requests: int,
    repeated: str,
    distinct: Sequence[str],
    reset: "Reset",
    server: psutil.Process | None,
) -> Results:
    """Warm up, then `rounds` rounds of one batch per kind, in rotating order."""
    repeated_headers = [_bearer_header(repeated)] * requests
    distinct_headers = [_bearer_header(token) for token in distinct[:requests]]
    plan = {
        "open": ("/open", repeated_headers),
        "noop": ("/noop", repeated_headers),
        "repeated": ("/protected", repeated_headers),
        "username": ("/username", repeated_headers),
        "distinct": ("/protected", distinct_headers),
    }
    results = Results()
    for round_number in range(-1, rounds):  # round -1 warms up and is not kept
        await reset()
        await _send(fetchers[:1], "/protected", repeated_headers[:2])  # admits it to the cache
        shift = round_number % len(KINDS)
        for kind in KINDS[shift:] + KINDS[:shift]:
            path, headers = plan[kind]
            if round_number < 0:
                headers = headers[: max(1, len(headers) // 10)]
            gc.collect()  # the previous batch's garbage is not this one's to collect
            cpu_before = _cpu_seconds(server)
            elapsed = await _send(fetchers, path, headers)
            cpu = _cpu_seconds(server) - cpu_before
            if round_number >= 0:
                results.batches[kind].append(
                    Batch(
                        rps=len(headers) / elapsed,
                        server_cpu_us=cpu / len(headers) * 1e6 if server else None,
                    )
                )
    return results


class Reset:
    """Replaces the bearer's verifier with a fresh one: directly, or through the server."""

    def __init__(
        self, bearer: CognitoBearer | None = None, client: httpx2.AsyncClient | None = None
    ) -> None:
        self.bearer = bearer
        self.client = client

    async def __call__(self) -> None:
        if self.bearer is not None:
            fresh_verifier(self.bearer)
        if self.client is not None:
            (await self.client.post(RESET_PATH)).raise_for_status()


# -- in-process -------------------------------------------------------------------------------


async def in_process(
    pool: LocalUserPool, distinct: Sequence[str], args: argparse.Namespace
) -> Results:
    bearer = pool.bearer(token_use="access")
    await bearer.verifier.jwks.refresh()
    app = create_app(bearer)
    transport = httpx2.ASGITransport(app=app)
    async with httpx2.AsyncClient(transport=transport, base_url="http://bench") as client:
        return await _rounds(
            [httpx_fetch(client)] * args.inprocess_concurrency,
            rounds=args.rounds,
            requests=args.requests,
            repeated=distinct[-1],
            distinct=distinct,
            reset=Reset(bearer=bearer),
            server=None,
        )


# -- loopback (the server in its own process) -------------------------------------------------


def _build_server_app(pool: LocalUserPool) -> FastAPI:
    """The measured app, plus a test-only route that starts a fresh verifier."""
    bearer = pool.bearer(token_use="access")
    app = create_app(bearer)

    # Test-only, and after the measured routes so that it does not slow their routing.
    @app.post(RESET_PATH)
    async def reset() -> dict[str, int]:
        fresh_verifier(bearer)
        return {"jwks_requests": pool.jwks_requests}

    return app


def start_server(
    pool: LocalUserPool,
) -> tuple[multiprocessing.process.BaseProcess, Connection, str]:
    """Fork the server; return it, its lifeline and its URL."""
    return forked_server.start(lambda: _build_server_app(pool), name="bench-server", keep_alive=60)


def stop_server(process: multiprocessing.process.BaseProcess, lifeline: Connection) -> None:
    forked_server.stop(process, lifeline)


def _client(base_url: str) -> httpx2.AsyncClient:
    # A client (so a connection pool) per worker, as in load.py: one pool with many
    # connections gets slow, and the generator should not be the bottleneck.
    limits = httpx2.Limits(max_connections=1, max_keepalive_connections=1)
    return httpx2.AsyncClient(base_url=base_url, limits=limits, timeout=30.0, trust_env=False)


async def loopback(
    pool: LocalUserPool, distinct: Sequence[str], args: argparse.Namespace
) -> dict[str, Results]:
    """The rounds against one server, with each generator in turn."""
    process, lifeline, base_url = start_server(pool)
    results: dict[str, Results] = {}
    try:
        async with AsyncExitStack() as stack:
            control, *clients = [
                await stack.enter_async_context(_client(base_url))
                for _ in range(args.concurrency + 1)
            ]
            await forked_server.wait_ready(control, process, "/open")
            assert process.pid is not None
            server = psutil.Process(process.pid)
            host, port = base_url.removeprefix("http://").split(":")
            raw = [RawClient(host, int(port)) for _ in range(args.concurrency)]
            for client in raw:
                stack.push_async_callback(client.aclose)
            generators: dict[str, list[Fetch]] = {
                "httpx": [httpx_fetch(client) for client in clients],
                "raw": [client.fetch for client in raw],
            }
            for name in args.generators:
                results[name] = await _rounds(
                    generators[name],
                    rounds=args.loopback_rounds,
                    requests=args.loopback_requests,
                    repeated=distinct[-1],
                    distinct=distinct,
                    reset=Reset(client=control),
                    server=server,
                )
    finally:
        stop_server(process, lifeline)
    return results


# -- the report -------------------------------------------------------------------------------


def _quartiles(values: Sequence[float]) -> tuple[float, float]:
    if len(values) < 2:
        return values[0], values[0]
    q1, _q2, q3 = statistics.quantiles(values, n=4)
    return q1, q3


def _report(title: str, results: Results) -> None:
    with_cpu = bool(results.cpu_ratios("repeated"))
    print(title)
    header = f"  {'batch':22} {'req/s':>7} {'x /open':>7} {'IQR':>11} {'x /noop':>7}"
    if with_cpu:
        header += f"  {'server CPU':>12} {'x /open':>7}"
    print(header)
    for kind in KINDS:
        batches = results.batches[kind]
        rps = statistics.median(b.rps for b in batches)
        line = f"  {LABELS[kind]:22} {rps:7.0f}"
        if kind == "open":
            line += f" {'':7} {'':11} {'':7}"
        else:
            ratios = results.ratios(kind)
            q1, q3 = _quartiles(ratios)
            line += f" {statistics.median(ratios):7.3f} {q1:5.3f}-{q3:5.3f}"
            if kind == "noop":
                line += f" {'':7}"
            else:
                line += f" {statistics.median(results.ratios(kind, 'noop')):7.3f}"
        if with_cpu:
            cpu = statistics.median(b.server_cpu_us or 0.0 for b in batches)
            line += f"  {cpu:6.0f} us/rq"
            if kind != "open":
                line += f" {statistics.median(results.cpu_ratios(kind)):7.3f}"
        print(line)
    print(
        "  (x /open, x /noop: median per-round throughput ratios; IQR: their quartiles; "
        "server CPU: psutil, per request)"
        if with_cpu
        else "  (x /open, x /noop: median per-round throughput ratios; IQR: their quartiles)"
    )


def _load() -> str:
    """The 1-minute load average: above the CPU count, the figures are noisy."""
    return f"{os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs"


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--mode", choices=("both", "inprocess", "loopback"), default="both")
    parser.add_argument("--rounds", type=int, default=60, help="in-process rounds")
    parser.add_argument("--requests", type=int, default=500, help="in-process requests per batch")
    parser.add_argument(
        "--inprocess-concurrency", type=int, default=1, help="in-process requests in flight"
    )
    parser.add_argument("--loopback-rounds", type=int, default=8, help="loopback rounds")
    parser.add_argument(
        "--loopback-requests", type=int, default=1500, help="loopback requests per batch"
    )
    parser.add_argument("--concurrency", type=int, default=32, help="loopback requests in flight")
    parser.add_argument(
        "--generators",
        type=lambda text: [name.strip() for name in text.split(",") if name.strip()],
        default=["httpx", "raw"],
        help="loopback load generators, comma-separated: httpx (async httpx2 clients) and raw "
        "(a minimal asyncio HTTP/1.1 client, so that the server is the bottleneck)",
    )
    args = parser.parse_args()
    if not args.generators or not set(args.generators) <= {"httpx", "raw"}:
        parser.error("--generators takes httpx, raw or both")
    for name in ("rounds", "requests", "inprocess_concurrency", "loopback_rounds"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be positive")
    if args.loopback_requests < 1 or args.concurrency < 1:
        parser.error("--loopback-requests and --concurrency must be positive")

    started = time.monotonic()
    pool = LocalUserPool()
    needed = max(args.requests, args.loopback_requests) + 1  # the last one is the repeated one
    distinct = [pool.access_token(username=f"user{i}", groups=["users"]) for i in range(needed)]
    print(
        f"{needed} tokens minted in {time.monotonic() - started:.1f} s; "
        f"Python {sys.version.split()[0]}, {os.cpu_count()} CPUs; medians of paired rounds"
    )
    inprocess_results: Results | None = None
    if args.mode in ("both", "inprocess"):
        inprocess_results = asyncio.run(in_process(pool, distinct, args))
        _report(
            f"in-process (httpx2.ASGITransport), {args.rounds} rounds of {args.requests} "
            f"requests, {args.inprocess_concurrency} in flight",
            inprocess_results,
        )
    if args.mode in ("both", "loopback"):
        for name, results in asyncio.run(loopback(pool, distinct, args)).items():
            generator = {"httpx": "async httpx2 clients", "raw": "raw asyncio client"}[name]
            _report(
                f"loopback (uvicorn on 127.0.0.1, forked; {generator}), {args.loopback_rounds} "
                f"rounds of {args.loopback_requests} requests, {args.concurrency} in flight",
                results,
            )
    print(f"total {time.monotonic() - started:.0f} s, load average {_load()}")
    if inprocess_results is None:
        return 0
    ratio = statistics.median(inprocess_results.ratios("username", "noop"))
    met = ratio >= USERNAME_TARGET
    print(
        f"in-process /username ÷ /noop {ratio:.3f} (target >= {USERNAME_TARGET}): "
        + ("met" if met else "NOT met")
    )
    return 0 if met else 1


if __name__ == "__main__":
    raise SystemExit(main())
