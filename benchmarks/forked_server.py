"""A FastAPI app under uvicorn in a forked process, for the benchmarks that go over loopback.

The server runs in a process of its own so that its CPU and memory can be measured apart from
the load generator's, and its event loop is not shared with the generator's. It is forked (not
spawned): the test kit's RSA keys cannot be pickled, and the app is built after the fork.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import multiprocessing.process
import os
import socket
import threading
import time
from collections.abc import Callable
from multiprocessing.connection import Connection

import httpx2
import uvicorn
from fastapi import FastAPI

__all__ = ["start", "stop", "wait_ready"]


def _run(
    build: Callable[[], FastAPI],
    sock: socket.socket,
    lifeline: Connection,
    parent_end: Connection,
    keep_alive: int,
) -> None:
    """Serve `build()` on `sock` until `lifeline` says stop or its other end goes away."""
    # The fork copied the parent's end of the pipe too: close it, or it would keep the
    # lifeline open after the parent is gone.
    parent_end.close()
    config = uvicorn.Config(
        build(),
        log_level="warning",
        access_log=False,
        lifespan="off",
        timeout_keep_alive=keep_alive,
    )
    server = uvicorn.Server(config)

    def watch() -> None:
        # The parent says "stop", or dies (EOF): either way, shut down; a killed parent (e.g. a
        # test timing out) must not leave the server behind.
        try:
            lifeline.recv()
        except (EOFError, OSError):
            pass
        server.should_exit = True
        time.sleep(10)
        os._exit(1)  # the graceful shutdown hung

    threading.Thread(target=watch, daemon=True).start()
    server.run(sockets=[sock])


def start(
    build: Callable[[], FastAPI], *, name: str, keep_alive: int = 30
) -> tuple[multiprocessing.process.BaseProcess, Connection, str]:
    """Fork a server for `build()` on a socket bound here; return it, its lifeline and URL.

    Binding before the fork leaves no race for the port.
    """
    # IPPROTO_TCP spelt out: asyncio sets TCP_NODELAY only on sockets whose proto says TCP, and
    # accepted sockets inherit the listener's 0. Without it, Nagle's algorithm and delayed ACKs
    # stall every keep-alive response about 40 ms.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server_end, our_end = multiprocessing.Pipe(duplex=False)
    context = multiprocessing.get_context("fork")
    process = context.Process(
        target=_run, args=(build, sock, server_end, our_end, keep_alive), name=name, daemon=True
    )
    process.start()
    sock.close()
    server_end.close()
    return process, our_end, f"http://127.0.0.1:{port}"


def stop(process: multiprocessing.process.BaseProcess, lifeline: Connection) -> None:
    """Ask the server to stop; kill it if it has not within 15 s."""
    try:
        lifeline.send("stop")
    except OSError:
        pass
    lifeline.close()
    process.join(15)
    if process.is_alive():
        process.kill()
        process.join(5)


async def wait_ready(
    client: httpx2.AsyncClient, process: multiprocessing.process.BaseProcess, path: str
) -> None:
    """Wait until the server answers 200 on `path`; exit if it dies or takes over 60 s."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if not process.is_alive():
            raise SystemExit(f"the server exited with status {process.exitcode} while starting")
        try:
            if (await client.get(path)).status_code == 200:
                return
        except httpx2.TransportError:
            pass
        await asyncio.sleep(0.05)
    raise SystemExit("the server did not answer within 60 s")
