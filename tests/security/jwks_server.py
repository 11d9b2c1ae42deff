"""A scriptable HTTP/1.1 server on 127.0.0.1 for the faults only a real socket shows; each
connection is served on a thread of its own, whatever the event loop under test does."""

import functools
import http
import select
import socket
import ssl
import threading
import time
from dataclasses import dataclass, field

JWKS_PATH = "/eu-west-1_LocalPool1/.well-known/jwks.json"
AUTO = "auto"  # Reply.content_length: the true length of the body


@dataclass(frozen=True)
class Reply:
    """What the server answers on a path. `content_length`: verbatim, `AUTO` or `None` (the
    body ends when the connection closes). `delay` holds the reply back; `trickle` sends a byte
    per that many seconds (of the body only, with `trickle_body`); `hang` then waits for the
    client to hang up; `drop` closes without a word; `endless` is sent over and over instead."""

    status: int = 200
    body: bytes = b""
    drop: bool = False
    headers: tuple[tuple[str, str], ...] = (("Content-Type", "application/json"),)
    content_length: str | None = AUTO
    delay: float = 0.0
    trickle: float = 0.0
    trickle_body: bool = False
    hang: bool = False
    endless: bytes = b""

    @functools.cached_property
    def head(self) -> bytes:
        lines = [f"HTTP/1.1 {self.status} {http.HTTPStatus(self.status).phrase}"]
        lines += [f"{name}: {value}" for name, value in self.headers]
        if self.content_length is not None:
            length = str(len(self.body)) if self.content_length == AUTO else self.content_length
            lines.append(f"Content-Length: {length}")
        return "\r\n".join([*lines, "Connection: close", "", ""]).encode("latin-1")


@dataclass
class Connection:  # a TCP connection the server accepted
    opened_at: float = field(default_factory=time.monotonic)
    hung_up_at: float | None = None  # when the client was seen closing the connection


class JWKSServer:
    """Serves scripted `Reply`s (over TLS with a context); a context manager. It records each
    TCP connection (before any TLS handshake) and the path and headers of each request read.
    The port is kept: `down()` stops listening (connecting is refused), `up()` listens again.
    """

    def __init__(self, *, tls: ssl.SSLContext | None = None) -> None:
        self.routes: dict[str, Reply] = {}
        self.connections: list[Connection] = []
        self.requests: list[tuple[str, dict[str, str]]] = []
        self._tls = tls
        self._socket = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._socket.getsockname()[1]
        self._listen()

    def __enter__(self) -> "JWKSServer":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.down()  # a connection still open ends when its client hangs up
        self._socket.close()

    def url(self, path: str = JWKS_PATH, *, scheme: str = "http") -> str:
        return f"{scheme}://127.0.0.1:{self.port}{path}"

    def serve(self, reply: Reply, path: str = JWKS_PATH) -> None:
        reply.head  # noqa: B018 - built now, not while a test measures memory
        self.routes[path] = reply

    def hits(self, path: str | None = JWKS_PATH) -> int:  # on any path with None
        return sum(1 for seen, _ in self.requests if path is None or seen == path)

    def down(self) -> None:
        if not self._stop.is_set():
            self._stop.set()
            self._acceptor.join()
            self._socket.close()
            self._socket = socket.socket()  # bound but not listening: connecting is refused
            self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            self._socket.bind(("127.0.0.1", self.port))

    def up(self) -> None:
        self._socket.close()
        self._socket = socket.create_server(("127.0.0.1", self.port))
        self._listen()

    def _listen(self) -> None:
        self._stop = threading.Event()
        self._socket.settimeout(0.05)
        self._acceptor = threading.Thread(target=self._accept, args=(self._socket, self._stop))
        self._acceptor.start()

    def _accept(self, listener: socket.socket, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            conn.settimeout(30)
            self.connections.append(record := Connection())
            threading.Thread(target=self._converse, args=(conn, record), daemon=True).start()

    def _converse(self, conn: socket.socket, record: Connection) -> None:
        try:
            if self._tls is not None:
                conn = self._tls.wrap_socket(conn, server_side=True)
            data = conn.recv(65536)
            if not data[:1].isalpha():  # e.g. a TLS handshake sent to plain HTTP
                conn.sendall(b"HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n")
                return
            while b"\r\n\r\n" not in data:
                data += _received(conn)
            head, _, rest = data.partition(b"\r\n\r\n")
            request_line, *lines = head.decode("latin-1").split("\r\n")
            headers = {
                k.strip().lower(): v.strip() for k, _, v in (x.partition(":") for x in lines)
            }
            while len(rest) < int(headers.get("content-length", "0")):  # a request body
                rest += _received(conn)
            path = request_line.split(" ")[1]
            self.requests.append((path, headers))
            self._reply(conn, record, self.routes.get(path, Reply(404)))
        except OSError:
            record.hung_up_at = record.hung_up_at or time.monotonic()
        finally:
            conn.close()

    def _reply(self, conn: socket.socket, record: Connection, reply: Reply) -> None:
        _idle(conn, record, reply.delay)
        if reply.drop:
            return
        while reply.endless:
            conn.sendall(reply.endless)
        for part, slowly in ((reply.head, not reply.trickle_body), (reply.body, True)):
            step = 1 if reply.trickle and slowly else 65536
            for offset in range(0, len(part), step):
                conn.sendall(memoryview(part)[offset : offset + step])
                _idle(conn, record, reply.trickle if step == 1 else 0)
        if reply.hang:
            _idle(conn, record, 60)


def _received(conn: socket.socket) -> bytes:
    data = conn.recv(65536)
    if not data:
        raise ConnectionAbortedError
    return data


def _idle(conn: socket.socket, record: Connection, seconds: float) -> None:
    """Wait `seconds`; raise `ConnectionAbortedError` when the client closes the connection."""
    until = time.monotonic() + seconds
    while (left := until - time.monotonic()) > 0:
        if select.select([conn], [], [], left)[0] and not conn.recv(1):
            record.hung_up_at = time.monotonic()
            raise ConnectionAbortedError
