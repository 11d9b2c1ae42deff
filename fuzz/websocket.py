"""Fuzzing of `CognitoWebSocketBearer`: WebSocket handshakes, sent as raw ASGI calls.

`gen_handshake` makes a `Handshake`: `Authorization` headers, `Sec-WebSocket-Protocol` headers
(lists with empty items, duplicates, spaces, commas, non-token and non-ASCII bytes, huge
items and long lists) and query strings (repeated or empty parameters, bad percent-escapes,
raw bytes, huge values), carrying minted tokens, token-shaped strings or nothing; the server
advertises the WebSocket Denial Response extension or not. `run_handshake` sends it to an app
with three WebSocket routes on the fuzz target's verifier and judges what the app sent
(`tests/security/test_fuzz.py` at CI size; `python -m fuzz.websocket` for 100 000):

- no exception out of the app, and exactly one of: an accept, a denial, a close before accept;
- an accept only with a minted token the route accepts somewhere in the handshake, and with
  `cognito-jwt` or no subprotocol, never anything else the client offered;
- a denial only where the server advertised the extension (and the route wants one), with
  one of the bearer's fixed answers and no other header; otherwise a close with 1008 (1013
  for 503) and a fixed reason; nothing of what the client sent in either;
- for a well-formed handshake with one token in one place, the answer the token's minted
  outcome gives.
"""

# No `from __future__ import annotations`: this module defines FastAPI routes.

import argparse
import asyncio
import json
import random
import sys
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Final

from fastapi import Depends, FastAPI, WebSocket
from starlette.types import ASGIApp, Message

from fastapi_cognito_jwt import CognitoCredentials, CognitoVerifier, CognitoWebSocketBearer
from tests import helpers

from .generators import ALPHABETS, Context, gen_shape
from .harness import build_target
from .oracle import BAD_REQUEST, EXPIRED, FORBIDDEN, INVALID, NO_CREDENTIALS, OK

__all__ = [
    "WS_ROUTES",
    "Handshake",
    "WSVerdict",
    "build_ws_app",
    "fuzz_handshakes",
    "gen_handshake",
    "main",
    "run_handshake",
]

WS_ROUTES: Final = ("/ws", "/admin", "/close")
"""Access tokens (query enabled); the admin group (query enabled); access tokens, closing."""
# Which HTTP route of the minted tokens' answers each WebSocket route has.
_AS_HTTP: Final[Mapping[str, str]] = {"/ws": "/access", "/admin": "/admin", "/close": "/access"}
APP_PROTOCOL: Final = "cognito-jwt"
QUERY_PARAM: Final = "access_token"
UNAVAILABLE: Final = "unavailable"

Part = bytes | int
"""A byte string as it is, or minted token number `n` (modulo the number minted)."""


@dataclass(frozen=True)
class Handshake:
    """One handshake: raw headers and query string, made of parts; the server's extension."""

    route: str
    headers: tuple[tuple[bytes, tuple[Part, ...]], ...]
    query: tuple[Part, ...]
    extension: bool
    clean: int | None = None
    """The minted token's index when the handshake carries it once, well-formed, alone."""


def build_ws_app(verifier: CognitoVerifier) -> FastAPI:
    """The three WebSocket routes on one verifier; each accepts and sends its own path."""
    ws = CognitoWebSocketBearer(token_use="access", verifier=verifier, query_param=QUERY_PARAM)
    closing = CognitoWebSocketBearer(token_use="access", verifier=verifier, http_denial=False)
    guards = {"/ws": (ws, Depends(ws)), "/admin": (ws, Depends(ws.require_groups("admin")))}
    guards["/close"] = (closing, Depends(closing))
    app = FastAPI()
    for path, (auth, guard) in guards.items():
        app.add_api_websocket_route(path, _endpoint(auth, path, guard))
    return app


def _endpoint(auth: CognitoWebSocketBearer, path: str, guard: Any) -> Any:
    async def endpoint(
        websocket: WebSocket, credentials: Annotated[CognitoCredentials, guard]
    ) -> None:
        await auth.accept(websocket)
        await websocket.send_text(path)
        await websocket.close()

    return endpoint


# -- generating ---------------------------------------------------------------------------


def _chance(rng: random.Random, p: float) -> bool:
    return rng.random() < p


def _text(rng: random.Random, n: int) -> bytes:
    alphabet = ALPHABETS[rng.randrange(len(ALPHABETS))]
    text = "".join(alphabet[byte % len(alphabet)] for byte in rng.randbytes(n))
    return text.encode("utf-8", "surrogatepass")


def _token(rng: random.Random, ctx: Context) -> Part:
    """A minted token (most often), a token-shaped string, or random bytes."""
    kind = rng.randrange(6)
    if kind <= 2:
        return rng.randrange(len(ctx.known))
    if kind == 3:
        shape = gen_shape(rng, ctx).token
        return shape.encode("utf-8", "surrogatepass") if isinstance(shape, str) else b"x"
    if kind == 4:
        return b""
    return _text(rng, rng.randrange(1, 40))


_ITEMS: Final = (b"cognito-jwt", b"chat.v1", b"bearer.", b"", b" ", b"bearer", b"Bearer.x")
_SEPARATORS: Final = (b",", b", ", b" ,\t", b",,", b" ", b";")


def _protocol_value(rng: random.Random, ctx: Context) -> tuple[Part, ...]:
    parts: list[Part] = []
    count = rng.choice((0, 1, 2, 2, 2, 3, 4, 8, 17, 40))
    for index in range(count):
        if index:
            parts.append(rng.choice(_SEPARATORS) if _chance(rng, 0.3) else b", ")
        kind = rng.randrange(5)
        if kind == 0:
            parts += [b"bearer.", _token(rng, ctx)]
        elif kind in (1, 2):
            parts.append(rng.choice(_ITEMS))
        elif kind == 3:
            parts.append(_text(rng, rng.randrange(0, 20)))
        else:
            parts.append(b"p" * rng.choice((1, 100, 20_000)))
    return tuple(parts)


def _query(rng: random.Random, ctx: Context) -> tuple[Part, ...]:
    parts: list[Part] = []
    for index in range(rng.choice((0, 1, 1, 2, 3, 70))):
        if index:
            parts.append(rng.choice((b"&", b"&", b"&&", b";", b"")))
        kind = rng.randrange(6)
        if kind <= 1:
            parts += [QUERY_PARAM.encode(), b"=", _token(rng, ctx)]
        elif kind == 2:
            parts += [b"x=", _text(rng, rng.randrange(0, 10))]
        elif kind == 3:
            parts.append(
                rng.choice((b"%FF", b"%zz", b"%", b"=", b"+", b"access%5Ftoken=a", b"\xff"))
            )
        elif kind == 4:
            parts += [QUERY_PARAM.encode(), b"=", b"a" * rng.choice((0, 1, 60_000))]
        else:
            parts.append(_text(rng, rng.randrange(0, 30)))
    return tuple(parts)


def gen_handshake(rng: random.Random, ctx: Context) -> Handshake:
    """A handshake: a clean one (one minted token in one place) or a random mix."""
    route = WS_ROUTES[rng.randrange(len(WS_ROUTES))]
    extension = _chance(rng, 0.7)
    if _chance(rng, 0.25):
        index = rng.randrange(len(ctx.known))
        where = rng.randrange(3 if route != "/close" else 2)
        headers: tuple[tuple[bytes, tuple[Part, ...]], ...] = ()
        query: tuple[Part, ...] = ()
        if where == 0:
            headers = ((b"authorization", (b"Bearer ", index)),)
        elif where == 1:
            headers = ((b"sec-websocket-protocol", (b"cognito-jwt, bearer.", index)),)
        else:
            query = (b"x=1&access_token=", index)
        return Handshake(route, headers, query, extension, clean=index)
    built: list[tuple[bytes, tuple[Part, ...]]] = []
    for _ in range(rng.choice((0, 1, 1, 2))):
        scheme = rng.choice((b"Bearer ", b"bearer  ", b"Basic ", b"Bearer", b""))
        built.append((b"authorization", (scheme, _token(rng, ctx))))
    for _ in range(rng.choice((0, 1, 1, 1, 2))):
        built.append((b"sec-websocket-protocol", _protocol_value(rng, ctx)))
    rng.shuffle(built)
    return Handshake(route, tuple(built), _query(rng, ctx), extension)


# -- sending and judging ------------------------------------------------------------------


@dataclass(frozen=True)
class WSVerdict:
    """What a handshake got, and every problem with it."""

    seen: str
    problems: tuple[str, ...]


def _render(parts: tuple[Part, ...], ctx: Context) -> bytes:
    return b"".join(
        part if isinstance(part, bytes) else ctx.known[part % len(ctx.known)].token.encode()
        for part in parts
    )


_FIXED: Final[Mapping[str, helpers.Expected]] = {
    NO_CREDENTIALS: helpers.NO_CREDENTIALS,
    INVALID: helpers.INVALID,
    EXPIRED: helpers.EXPIRED,
    FORBIDDEN: helpers.FORBIDDEN,
    BAD_REQUEST: helpers.BAD_REQUEST,
}
_REASONS: Final = {
    body["detail"]: outcome for outcome, (_status, _challenge, body) in _FIXED.items()
}
_REASONS[helpers.EXPIRED[2]["detail"]] = EXPIRED
_FIXED_TEXT: Final = "\n".join(
    f"{challenge}\n{json.dumps(body)}\napplication/json\ncontent-length content-type"
    for _status, challenge, body in _FIXED.values()
)


async def run_handshake(app: ASGIApp, case: Handshake, ctx: Context) -> WSVerdict:
    """Send `case` to `app` as a server would, and judge what the app sent back."""
    headers = [(name, _render(parts, ctx)) for name, parts in case.headers]
    scope: dict[str, Any] = {
        "type": "websocket",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "scheme": "ws",
        "path": case.route,
        "raw_path": case.route.encode(),
        "query_string": _render(case.query, ctx),
        "root_path": "",
        "headers": [(b"host", b"fuzz"), *headers],
        "client": ("127.0.0.1", 40000),
        "server": ("fuzz", 80),
        "subprotocols": [],
        "extensions": {"websocket.http.response": {}} if case.extension else {},
    }
    incoming: list[Message] = [
        {"type": "websocket.connect"},
        {"type": "websocket.disconnect", "code": 1000},
    ]
    sent: list[Message] = []

    async def receive() -> Message:
        return incoming.pop(0) if len(incoming) > 1 else incoming[0]

    async def send(message: Message) -> None:
        sent.append(message)

    try:
        await app(scope, receive, send)
    except Exception as exc:  # the finding itself: a server would log it and drop the handshake
        return WSVerdict("crashed", (f"exception escaped: {exc!r}"[:300],))
    return _judge(case, ctx, headers, sent)


def _judge(
    case: Handshake, ctx: Context, headers: list[tuple[bytes, bytes]], sent: list[Message]
) -> WSVerdict:
    problems: list[str] = []
    sent_bytes = [value for _name, value in headers] + [_render(case.query, ctx)]
    first = sent[0]["type"] if sent else "nothing"
    denial = case.extension and case.route != "/close"
    if first == "websocket.accept":
        seen = OK if [m.get("text") for m in sent[1:2]] == [case.route] else "unrecognised accept"
        if sent[0].get("subprotocol") not in (None, APP_PROTOCOL):
            problems.append(f"accepted with {sent[0].get('subprotocol')!r}")
        if not any(
            known.token.encode() in value and known.expected[_AS_HTTP[case.route]] == OK
            for known in ctx.known
            for value in sent_bytes
        ):
            problems.append("accepted without a minted token the route accepts")
    elif first == "websocket.http.response.start":
        seen = _denial(sent)
        if not denial:
            problems.append("denial response where a close was due")
        names = {name.decode("latin-1") for name, _value in sent[0].get("headers", [])}
        if seen in _FIXED and names != {"content-length", "content-type", "www-authenticate"}:
            problems.append(f"denial headers {sorted(names)}")
        shown = b"".join(m.get("body", b"") for m in sent) + b"\n".join(
            value for _name, value in sent[0].get("headers", [])
        )
        problems += _echoes(shown.decode("latin-1"), sent_bytes)
    elif first == "websocket.close":
        reason, code = sent[0].get("reason") or "", sent[0].get("code")
        seen = _REASONS.get(str(reason), f"unrecognised close {str(reason)[:80]!r}")
        if reason == "Authentication is temporarily unavailable":
            seen = UNAVAILABLE
        if denial:
            problems.append("close where a denial response was due")
        if code != (1013 if seen == UNAVAILABLE else 1008):
            problems.append(f"close code {code}")
        problems += _echoes(reason, sent_bytes)
    else:
        seen = f"sent {first}"
        problems.append(f"the app sent {first} first")
    if seen.startswith(("unrecognised", "sent")):
        problems.append(f"unrecognised answer {seen}")
    if case.clean is not None:
        known = ctx.known[case.clean % len(ctx.known)]
        expected = known.expected[_AS_HTTP[case.route]]
        if seen != expected:
            problems.append(f"expected {expected}, got {seen}")
    return WSVerdict(seen, tuple(problems))


def _denial(sent: list[Message]) -> str:
    start = sent[0]
    body = b"".join(m.get("body", b"") for m in sent[1:])
    try:
        decoded = json.loads(body)
    except ValueError:
        decoded = None
    challenges = [v for n, v in start.get("headers", []) if n == b"www-authenticate"]
    for outcome, (status, challenge, expected_body) in _FIXED.items():
        if (
            start["status"] == status
            and challenges == [challenge.encode()]
            and decoded == expected_body
        ):
            return outcome
    if start["status"] == 503 and decoded == helpers.UNAVAILABLE:
        return UNAVAILABLE
    return f"unrecognised denial {start['status']}"


def _echoes(shown: str, sent_bytes: list[bytes]) -> list[str]:
    needles: set[str] = set()
    for value in sent_bytes:
        text = value.decode("latin-1")
        for piece in [text, *text.replace(",", " ").replace("&", " ").replace("=", " ").split()]:
            if len(piece) >= 8 and piece not in _FIXED_TEXT:
                needles.add(piece)
    return [f"answer echoes {needle[:40]!r}" for needle in needles if needle in shown]


async def fuzz_handshakes(inputs: int, stream: int) -> Counter[str]:
    """Send `inputs` handshakes from `random.Random(stream)`; count outcomes and problems."""
    target = build_target()
    app = build_ws_app(target.verifier)
    rng = random.Random(stream)  # noqa: S311 - reproducible inputs, not cryptography
    tally: Counter[str] = Counter()
    for _ in range(inputs):
        case = gen_handshake(rng, target.ctx)
        verdict = await run_handshake(app, case, target.ctx)
        tally[verdict.seen] += 1
        if verdict.problems:
            tally["PROBLEM"] += 1
            print(f"FAILED {case!r}\n  {verdict!r}")
    return tally


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m fuzz.websocket [--inputs N] [--stream S]`: 0 if no handshake had a problem."""
    parser = argparse.ArgumentParser(prog="python -m fuzz.websocket")
    parser.add_argument("--inputs", type=int, default=100_000)
    parser.add_argument("--stream", type=int, default=0)
    args = parser.parse_args(argv)
    tally = asyncio.run(fuzz_handshakes(args.inputs, args.stream))
    for outcome, count in sorted(tally.items()):
        print(f"  {outcome:<16} {count:>7}")
    print("FAIL" if tally["PROBLEM"] else "PASS")
    return 1 if tally["PROBLEM"] else 0


if __name__ == "__main__":
    sys.exit(main())
