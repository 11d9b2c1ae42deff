"""`make bench-flows`: our `CognitoAuthClient` against boto3 and aioboto3, side by side in one run.

Every client calls `InitiateAuth` (`USER_PASSWORD_AUTH`) on a stub of Cognito's JSON API: a
raw asyncio HTTP/1.1 server in a process of its own on 127.0.0.1 that answers every call with
one fixed JSON reply (tokens of realistic size) and keeps connections alive. It is not moto:
moto spends milliseconds per call and would be what is measured. The stub's own CPU share is
printed, so it can be seen not to be the bottleneck.

Clients, each in a fresh process per measurement (so one's pool or garbage cannot slow another):
- `ours`: `CognitoAuthClient.sign_in`, tokens parsed into `AuthTokens`;
- `httpx2`: a bare `httpx2.AsyncClient.post` and `json.loads`, the floor our client is built on;
- `boto3`: `client.initiate_auth` called directly, one thread (one call at a time only);
- `boto3-thread`: the same through `anyio.to_thread.run_sync`, as an async app calls boto3;
- `aioboto3`: `await client.initiate_auth(...)`.

Each is measured one call at a time and with 50 calls in flight (asyncio tasks; boto3-thread
uses anyio's default 40 worker threads). The boto3 clients get `max_pool_connections=50`, so
none waits for a pooled connection. Per measurement: calls/s (wall clock) and client CPU per
call (the whole process's CPU time, every thread, divided by the calls), after a warm-up that
fills the pools. The clients take turns within each repetition, in a rotated order; the table
shows medians and ranges over the repetitions, and each ratio is taken within a repetition.

Nothing is short-circuited: no `sys.modules` entry is faked, so every dependency look-up the
libraries do is paid. The run also counts the module searches (`sys.meta_path` look-ups) that
happen during our client's measured calls; there must be none.

Targets (exit 1 if one is missed): ours at least boto3-thread at both concurrencies, and at
least 0.9x aioboto3 with 50 in flight.

boto3, aioboto3 and a botocore they share are installed, with `pip install -e .` of this
repository, into `.bench-flows-venv/` (pins in `benchmarks/flows-requirements.txt`), made on
first use as `benchmarks/compare.py` makes its own. Run: `make bench-flows`, or
`python benchmarks/bench_flows.py [--rebuild] [--reps N] [--calls N]`.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.abc
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

# `python benchmarks/<this>.py` puts benchmarks/ on the path, not the repository root.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks.side_venv import ensure_venv

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

VENV = ROOT / ".bench-flows-venv"
REQUIREMENTS = HERE / "flows-requirements.txt"

CLIENTS = ("ours", "httpx2", "boto3", "boto3-thread", "aioboto3")
CONCURRENCIES = (1, 50)
THREAD_TARGET = 1.0  # ours / boto3-thread, at both concurrencies
AIOBOTO3_TARGET = 0.9  # ours / aioboto3, 50 in flight

REGION = "us-east-1"
POOL_ID = "us-east-1_BenchPool"
CLIENT_ID = "4bench0client0id0abcdefghij"
USERNAME = "alice@example.com"
PASSWORD = "correct horse battery staple"


# The stub of Cognito's JSON API


def _reply_body() -> bytes:
    # Sizes of real Cognito tokens: ~1 kB access and ID tokens, a ~1.8 kB opaque refresh token.
    def jwt(size: int) -> str:
        return "eyJraWQiOiJiZW5jaCIsImFsZyI6IlJTMjU2In0." + "x" * (size - 80) + ".sig"

    return json.dumps(
        {
            "AuthenticationResult": {
                "AccessToken": jwt(1050),
                "ExpiresIn": 3600,
                "IdToken": jwt(1250),
                "RefreshToken": "eyJjdHkiOiJKV1QiLCJlbmMiOiJBMjU2R0NNIn0." + "r" * 1750,
                "TokenType": "Bearer",
            },
            "ChallengeParameters": {},
        },
        separators=(",", ":"),
    ).encode()


class _Stub(asyncio.Protocol):
    """HTTP/1.1 with keep-alive; answers POST InitiateAuth, and GET /cpu with its CPU time."""

    ok: bytes = b""
    refused: bytes = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.buffer = b""

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = self.buffer[:end].lower()
            length = 0
            start = head.find(b"\r\ncontent-length:")
            if start >= 0:
                line_end = head.find(b"\r\n", start + 2)
                length = int(head[start + 17 : line_end if line_end >= 0 else None])
            if len(self.buffer) < end + 4 + length:
                return
            self.buffer = self.buffer[end + 4 + length :]
            if head.startswith(b"get /cpu"):
                text = repr(time.process_time()).encode()
                self.transport.write(
                    b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(text), text)
                )
            elif b"x-amz-target: awscognitoidentityproviderservice.initiateauth" in head:
                self.transport.write(self.ok)
            else:
                self.transport.write(self.refused)


def _answer(status: str, body: bytes) -> bytes:
    return (
        f"HTTP/1.1 {status}\r\n"
        "Content-Type: application/x-amz-json-1.1\r\n"
        "x-amzn-RequestId: 8a4c3b1e-0000-4000-8000-00000000bench\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode() + body


def serve_stub() -> None:
    """Run the stub on a free port of 127.0.0.1 and print the port."""
    _Stub.ok = _answer("200 OK", _reply_body())
    _Stub.refused = _answer(
        "400 Bad Request", b'{"__type":"InvalidParameterException","message":"not InitiateAuth"}'
    )

    async def main() -> None:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(_Stub, "127.0.0.1", 0, backlog=1024)
        print(server.sockets[0].getsockname()[1], flush=True)
        await server.serve_forever()

    asyncio.run(main())


# The clients (run inside .bench-flows-venv, one process per measurement)


class _SearchCounter(importlib.abc.MetaPathFinder):
    """Counts module searches: imports of anything not already in sys.modules."""

    searches = 0

    def find_spec(self, fullname: str, path: Any, target: Any = None) -> None:
        type(self).searches += 1
        return None


async def _drive(one: Callable[[], Awaitable[object]], concurrency: int, calls: int) -> float:
    """Run `calls` calls, `concurrency` at a time; the wall-clock seconds they took."""
    import anyio

    per_task = calls // concurrency

    async def worker() -> None:
        for _ in range(per_task):
            await one()

    start = time.perf_counter()
    async with anyio.create_task_group() as group:
        for _ in range(concurrency):
            group.start_soon(worker)
    return time.perf_counter() - start


def _boto3_client(name: str, port: int, concurrency: int) -> Any:
    from botocore.config import Config

    if name == "aioboto3":
        import aioboto3

        session: Any = aioboto3.Session()
    else:
        import boto3

        session = boto3.session.Session()
    # InitiateAuth is unsigned; the dummy keys only keep botocore from searching for real ones.
    return session.client(
        "cognito-idp",
        region_name=REGION,
        endpoint_url=f"http://127.0.0.1:{port}",
        aws_access_key_id="AKIDBENCH",
        aws_secret_access_key="bench",
        config=Config(max_pool_connections=max(concurrency, 10), retries={"max_attempts": 1}),
    )


class _Meter:
    """Process CPU time and module searches over the measured calls."""

    def __init__(self, calls: int) -> None:
        self.calls = calls
        self.counter = _SearchCounter()

    def __enter__(self) -> _Meter:
        self.cpu = time.process_time()
        _SearchCounter.searches = 0
        sys.meta_path.insert(0, self.counter)
        return self

    def __exit__(self, *exc: object) -> None:
        sys.meta_path.remove(self.counter)
        self.cpu = time.process_time() - self.cpu
        self.searches = _SearchCounter.searches

    def result(self, wall: float) -> dict[str, Any]:
        return {"wall": wall, "cpu": self.cpu, "calls": self.calls, "searches": self.searches}


def serve_rounds(name: str, port: int, concurrency: int) -> None:
    """Set client `name` up, then for each line `N` on stdin time N calls; print a JSON line.

    Each round starts with a short unmeasured warm-up, so that connections another client's
    round left idle long enough to expire are reopened outside the measurement.
    """
    import anyio

    warm = 2 * concurrency
    rounds = (int(line) for line in sys.stdin)

    def report(meter: _Meter, wall: float) -> None:
        print(json.dumps(meter.result(wall)), flush=True)

    if name == "boto3":
        client = _boto3_client(name, port, concurrency)

        def loop(count: int) -> float:
            start = time.perf_counter()
            for _ in range(count):
                client.initiate_auth(
                    ClientId=CLIENT_ID,
                    AuthFlow="USER_PASSWORD_AUTH",
                    AuthParameters={"USERNAME": USERNAME, "PASSWORD": PASSWORD},
                )
            return time.perf_counter() - start

        loop(200)
        print("ready", flush=True)
        for calls in rounds:
            loop(warm)
            with _Meter(calls) as meter:
                wall = loop(calls)
            report(meter, wall)
        return

    async def run() -> None:
        one, close = await _async_client(name, port, concurrency)
        try:
            await _drive(one, concurrency, max(200, 4 * concurrency))
            print("ready", flush=True)
            while line := await anyio.to_thread.run_sync(sys.stdin.readline):
                calls = int(line) - int(line) % concurrency
                await _drive(one, concurrency, warm)
                with _Meter(calls) as meter:
                    wall = await _drive(one, concurrency, calls)
                report(meter, wall)
        finally:
            await close()

    anyio.run(run)


async def _async_client(
    name: str, port: int, concurrency: int
) -> tuple[Callable[[], Awaitable[object]], Callable[[], Awaitable[None]]]:
    """One call of client `name`, and how to close it."""
    if name == "ours":
        from fastapi_cognito_jwt import AuthTokens, CognitoAuthClient, CognitoSettings

        settings = CognitoSettings(
            user_pool_id=POOL_ID,
            client_ids=[CLIENT_ID],
            idp_endpoint=f"http://127.0.0.1:{port}/",
            # The same InitiateAuth as the boto3 clients send (SRP would be two calls).
            sign_in_flow="USER_PASSWORD_AUTH",
        )
        ours = CognitoAuthClient(settings)
        if not isinstance(await ours.sign_in(USERNAME, PASSWORD), AuthTokens):
            raise SystemExit("the stub's reply did not give tokens")
        return (lambda: ours.sign_in(USERNAME, PASSWORD)), ours.aclose
    if name == "httpx2":
        import httpx2

        bare = httpx2.AsyncClient()
        url = f"http://127.0.0.1:{port}/"
        headers = {
            "Content-Type": "application/x-amz-json-1.1",
            "X-Amz-Target": "AWSCognitoIdentityProviderService.InitiateAuth",
        }
        body = {
            "ClientId": CLIENT_ID,
            "AuthFlow": "USER_PASSWORD_AUTH",
            "AuthParameters": {"USERNAME": USERNAME, "PASSWORD": PASSWORD},
        }

        async def bare_call() -> object:
            reply = await bare.post(url, content=json.dumps(body).encode(), headers=headers)
            return json.loads(reply.content)

        return bare_call, bare.aclose
    if name == "boto3-thread":
        import functools

        import anyio.to_thread

        client = _boto3_client(name, port, concurrency)
        call = functools.partial(
            client.initiate_auth,
            ClientId=CLIENT_ID,
            AuthFlow="USER_PASSWORD_AUTH",
            AuthParameters={"USERNAME": USERNAME, "PASSWORD": PASSWORD},
        )

        async def nothing() -> None:
            client.close()

        return (lambda: anyio.to_thread.run_sync(call)), nothing
    if name == "aioboto3":
        context = _boto3_client(name, port, concurrency)
        client = await context.__aenter__()

        async def aio_call() -> object:
            return await client.initiate_auth(
                ClientId=CLIENT_ID,
                AuthFlow="USER_PASSWORD_AUTH",
                AuthParameters={"USERNAME": USERNAME, "PASSWORD": PASSWORD},
            )

        async def aio_close() -> None:
            await context.__aexit__(None, None, None)

        return aio_call, aio_close
    raise SystemExit(f"unknown client {name}")


# The run


def _stub_cpu(port: int) -> float:
    import http.client

    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("GET", "/cpu")
        return float(connection.getresponse().read())
    finally:
        connection.close()


class _Worker:
    """One client in a process of its own, timing a round of calls when asked."""

    def __init__(self, name: str, port: int, concurrency: int) -> None:
        self.name, self.port, self.concurrency = name, port, concurrency
        command = [sys.executable, str(Path(__file__).resolve()), "--inside", "--worker", name]
        command += ["--port", str(port), "--concurrency", str(concurrency)]
        # Only this script, with arguments written here.
        self.process = subprocess.Popen(  # noqa: S603
            command, cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        if self._line() != "ready":
            raise SystemExit(f"{name} at {concurrency} in flight did not start")

    def _line(self) -> str:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            raise SystemExit(f"{self.name} at {self.concurrency} in flight failed")
        return line.strip()

    def round(self, calls: int) -> dict[str, Any]:
        assert self.process.stdin is not None
        before = _stub_cpu(self.port)
        self.process.stdin.write(f"{calls}\n")
        self.process.stdin.flush()
        result: dict[str, Any] = json.loads(self._line())
        result["stub_cpu"] = _stub_cpu(self.port) - before
        return result

    def close(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        if self.process.wait(timeout=30) != 0:
            raise SystemExit(f"{self.name} at {self.concurrency} in flight failed")


def _spread(values: Sequence[float], digits: int = 0) -> str:
    return (
        f"{statistics.median(values):.{digits}f} "
        f"({min(values):.{digits}f}-{max(values):.{digits}f})"
    )


def run(reps: int, calls: int, clients: Sequence[str]) -> int:
    stub = subprocess.Popen(  # noqa: S603
        [sys.executable, str(Path(__file__).resolve()), "--inside", "--stub"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert stub.stdout is not None
        port = int(stub.stdout.readline())
        return _report(reps, calls, clients, port)
    finally:
        stub.terminate()
        stub.wait()


def _report(reps: int, calls: int, clients: Sequence[str], port: int) -> int:
    results: dict[tuple[str, int], list[dict[str, Any]]] = {}
    for concurrency in CONCURRENCIES:
        names = [n for n in clients if not (n == "boto3" and concurrency > 1)]
        workers = [_Worker(name, port, concurrency) for name in names]
        try:
            for rep in range(reps):
                shift = rep % len(workers)
                for worker in workers[shift:] + workers[:shift]:
                    result = worker.round(calls)
                    results.setdefault((worker.name, concurrency), []).append(result)
                print(
                    f"  {concurrency} in flight, round {rep + 1}/{reps}: "
                    + ", ".join(
                        f"{name} {runs[-1]['calls'] / runs[-1]['wall']:.0f}/s"
                        for (name, c), runs in results.items()
                        if c == concurrency
                    ),
                    flush=True,
                )
        finally:
            for worker in workers:
                worker.close()

    load = ", ".join(f"{value:.2f}" for value in os.getloadavg())
    print(f"\nInitiateAuth against a local stub, {reps} paired rounds of {calls} calls each")
    print(f"Python {sys.version.split()[0]}, {os.cpu_count()} CPUs, load average {load}")
    print(
        f"{'client':>13} {'in flight':>9} {'calls/s median (range)':>26} "
        f"{'CPU us/call median (range)':>28} {'stub CPU':>9}"
    )
    for (name, concurrency), runs in results.items():
        rates = [r["calls"] / r["wall"] for r in runs]
        cpus = [1e6 * r["cpu"] / r["calls"] for r in runs]
        stub_share = [r["stub_cpu"] / r["wall"] for r in runs]
        print(
            f"{name:>13} {concurrency:>9} {_spread(rates):>26} {_spread(cpus):>28} "
            f"{100 * statistics.median(stub_share):8.0f}%"
        )

    failures = []

    def ratio(peer: str, concurrency: int, target: float) -> None:
        if (peer, concurrency) not in results or ("ours", concurrency) not in results:
            return
        ours, theirs = results["ours", concurrency], results[peer, concurrency]
        ratios = [
            (a["calls"] / a["wall"]) / (b["calls"] / b["wall"])
            for a, b in zip(ours, theirs, strict=True)
        ]
        cpu = [
            (b["cpu"] / b["calls"]) / (a["cpu"] / a["calls"])
            for a, b in zip(ours, theirs, strict=True)
        ]
        median = statistics.median(ratios)
        verdict = "met" if median >= target else "MISSED"
        print(
            f"ours / {peer:<12} x{concurrency:<2}: calls/s {_spread(ratios, 2)}, "
            f"CPU per call {_spread(cpu, 2)}x less; target >= {target}: {verdict}"
        )
        if median < target:
            failures.append(f"{peer} x{concurrency}")

    print()
    for concurrency in CONCURRENCIES:
        ratio("boto3-thread", concurrency, THREAD_TARGET)
    ratio("aioboto3", 50, AIOBOTO3_TARGET)
    for concurrency in CONCURRENCIES:
        ratio("httpx2", concurrency, 0.0)
    searches = {name: 0 for name, _ in results}
    for (name, _), runs in results.items():
        searches[name] = max(searches[name], *(r["searches"] for r in runs))
    print(
        "module searches during the measured calls: "
        + ", ".join(f"{name} {count}" for name, count in searches.items())
    )
    if searches.get("ours"):
        failures.append("module searches per call")
    if failures:
        print("targets missed: " + ", ".join(failures))
        return 1
    print("all targets met")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rebuild", action="store_true", help="make the virtualenv afresh")
    parser.add_argument("--reps", type=int, default=15, help="paired rounds")
    parser.add_argument("--calls", type=int, default=600, help="measured calls per round")
    parser.add_argument("--clients", default=",".join(CLIENTS))
    parser.add_argument("--inside", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--stub", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--concurrency", type=int, default=1, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if not args.inside:
        python = ensure_venv(VENV, REQUIREMENTS, ".[auth-flows]", rebuild=args.rebuild)
        forwarded = [a for a in (argv if argv is not None else sys.argv[1:]) if a != "--rebuild"]
        # Only this script again, inside the virtualenv it just made.
        return subprocess.call(  # noqa: S603
            [str(python), str(Path(__file__).resolve()), "--inside", *forwarded], cwd=ROOT
        )
    if args.stub:
        serve_stub()
        return 0
    if args.worker:
        serve_rounds(args.worker, args.port, args.concurrency)
        return 0
    clients = [name for name in args.clients.split(",") if name]
    return run(args.reps, args.calls, clients)


if __name__ == "__main__":
    raise SystemExit(main())
