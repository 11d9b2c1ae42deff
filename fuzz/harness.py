"""The app under fuzz, how a case is sent to it, and the judge of its answers.

`build_target` makes a `LocalUserPool` with two published keys (fixed ones, derived from a
`random.Random` with a fixed argument), mints the known tokens at a fixed wall-clock time and
pins the verifier's clock to it, so that every case's bytes and every answer are reproducible;
then it builds a FastAPI app with four routes. `run_case` renders a case, sends it (raw ASGI,
as a server would call the app) or, for the "direct" category, hands the token to
`CognitoVerifier.verify`, and returns a `Verdict`: what was expected, what was seen, and every
problem with the answer.
"""

from __future__ import annotations

import functools
import json
import random
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi import Depends, FastAPI
from starlette.types import ASGIApp, Message

from fastapi_cognito_jwt import (
    CognitoBearer,
    CognitoVerifier,
    TokenError,
    TokenExpiredError,
    current_claims,
    require_groups,
    require_scopes,
)
from fastapi_cognito_jwt.testing import LocalUserPool
from tests import helpers

from .generators import (
    ADMIN_GROUP,
    READ_SCOPE,
    ROUTE_USE,
    ROUTES,
    SELF,
    Case,
    Context,
    Known,
    Mutated,
    Signed,
    apply_ops,
    dump,
)
from .oracle import (
    BAD_REQUEST,
    EXPIRED,
    FORBIDDEN,
    INVALID,
    NO_CREDENTIALS,
    OK,
    VERIFIED,
    expected_signed,
)

__all__ = [
    "NOW",
    "Answer",
    "Rendered",
    "Sender",
    "Tally",
    "Target",
    "Verdict",
    "asgi_sender",
    "build_target",
    "fuzz_key",
    "render",
    "run_case",
]

NOW: Final = 1_767_225_600
"""The verifier's wall clock (2026-01-01T00:00:00Z): tokens and answers do not age."""
SECOND_KID: Final = "local-key-2"

# The fixed answers (status, challenge, body), as the tests of the bearer expect them.
_FIXED: Final[Mapping[str, helpers.Expected]] = {
    NO_CREDENTIALS: helpers.NO_CREDENTIALS,
    INVALID: helpers.INVALID,
    EXPIRED: helpers.EXPIRED,
    FORBIDDEN: helpers.FORBIDDEN,
    BAD_REQUEST: helpers.BAD_REQUEST,
}
_REJECTION_HEADERS: Final = frozenset({"content-length", "content-type", "www-authenticate"})
# Text every rejection may contain whatever the token: a token that happens to spell part of
# it is not echoed.
_FIXED_TEXT: Final = "\n".join(
    f"{challenge}\n{json.dumps(body)}\napplication/json\n{' '.join(sorted(_REJECTION_HEADERS))}"
    for _status, challenge, body in _FIXED.values()
)


# -- the target ---------------------------------------------------------------------------


@dataclass(frozen=True, repr=False)
class Target:
    """The pool, the verifier the app uses, the app, and what the generators may know."""

    pool: LocalUserPool
    verifier: CognitoVerifier
    app: FastAPI
    ctx: Context

    @property
    def by_token(self) -> Mapping[str, Known]:
        return {known.token: known for known in self.ctx.known}


def build_app(verifier: CognitoVerifier) -> FastAPI:
    """Four routes on one verifier: access, ID, admin-group and api/read-scope."""
    access = CognitoBearer(token_use="access", verifier=verifier)
    ident = CognitoBearer(token_use="id", verifier=verifier)
    app = FastAPI()
    guards = {
        "/access": current_claims(access),
        "/id": current_claims(ident),
        "/admin": require_groups(access, ADMIN_GROUP),
        "/scoped": require_scopes(access, READ_SCOPE),
    }
    for path, guard in guards.items():
        app.add_api_route(path, _route_answer(path), methods=["GET"], dependencies=[Depends(guard)])
    return app


def _route_answer(path: str) -> Callable[[], Awaitable[dict[str, str]]]:
    async def answer() -> dict[str, str]:
        return {"route": path}  # fixed: what a route does with claims is not under test

    return answer


def _known_claims(pool: LocalUserPool, now: int) -> list[tuple[dict[str, Any], int]]:
    """Claim sets for the minted tokens, and the index of the key that signs each."""

    def fixed(name: str, **claims: Any) -> dict[str, Any]:
        ids = {key: f"{name}-{key}-0000-0000-000000000000" for key in ("jti", "origin_jti")}
        return {"iat": now, "exp": now + 3600, "auth_time": now, "event_id": name, **ids, **claims}

    m2m = pool.access_claims(scopes=[READ_SCOPE], claims=fixed("m2m"))
    for name in ("username", "origin_jti", "event_id", "auth_time"):
        del m2m[name]
    m2m["sub"] = pool.client_id
    admin_scopes = ["aws.cognito.signin.user.admin", READ_SCOPE]
    return [
        (pool.access_claims("alice", [ADMIN_GROUP, "staff"], admin_scopes, claims=fixed("a")), 0),
        (pool.access_claims("bob", [], [READ_SCOPE], claims=fixed("b")), 0),
        (pool.access_claims("carol", ["staff"], claims=fixed("c")), 0),
        (pool.id_claims("alice", [ADMIN_GROUP], claims=fixed("i", email="a@example.com")), 0),
        (m2m, 0),
        (pool.access_claims("dave", [ADMIN_GROUP], claims=fixed("d")), 1),
        (pool.id_claims("erin", claims=fixed("e")), 1),
        (pool.access_claims("frank", claims=fixed("f", iat=now - 3601, exp=now - 1)), 0),
    ]


_SMALL_PRIMES: Final = tuple(n for n in range(3, 2000) if all(n % d for d in range(2, n)))
_E: Final = 65537


def _probable_prime(n: int, rng: random.Random) -> bool:
    if any(n % small == 0 for small in _SMALL_PRIMES):
        return False
    d, s = n - 1, 0
    while d % 2 == 0:
        d, s = d // 2, s + 1
    for _ in range(24):  # Miller-Rabin
        x = pow(rng.randrange(2, n - 2), d, n)
        if x in (1, n - 1):
            continue
        for _ in range(s - 1):
            x = x * x % n
            if x == n - 1:
                break
        else:
            return False
    return True


def _prime(rng: random.Random, bits: int) -> int:
    while True:
        candidate = rng.getrandbits(bits) | 3 << (bits - 2) | 1
        if candidate % _E != 1 and _probable_prime(candidate, rng):
            return candidate


@functools.cache
def fuzz_key(index: int) -> rsa.RSAPrivateKey:
    """RSA-2048 key number `index`, the same in every run (test keys, from a fixed PRNG).

    Fixed keys make the minted tokens, and so every case's bytes and answer, reproducible.
    """
    rng = random.Random(f"fuzz-key-{index}")  # noqa: S311 - reproducible test keys
    p, q = _prime(rng, 1024), _prime(rng, 1024)
    d = pow(_E, -1, (p - 1) * (q - 1))
    public = rsa.RSAPublicNumbers(_E, p * q)
    numbers = rsa.RSAPrivateNumbers(p, q, d, d % (p - 1), d % (q - 1), pow(q, -1, p), public)
    return numbers.private_key()


def build_target(now: int = NOW) -> Target:
    """A pool with two published keys, the minted tokens, and the app on a pinned clock."""
    pool = LocalUserPool()
    kids = (pool.signing_kid, SECOND_KID)
    # The kit generates random keys and has no way to import one: swap in the fixed keys.
    pool._keys = {kid: fuzz_key(index) for index, kid in enumerate(kids)}
    moduli = tuple(pool.public_key(kid).public_numbers().n for kid in kids)
    known = []
    for claims, key in _known_claims(pool, now):
        header, payload = dump({"kid": kids[key], "alg": "RS256"}), dump(claims)
        token = pool.sign(payload, header=header, kid=kids[key])
        expected = {
            route: expected_signed(
                token,
                header,
                payload,
                kids[key],
                route,
                issuer=pool.issuer,
                client_id=pool.client_id,
                now=now,
            )
            for route in ROUTES
        }
        known.append(Known(token, claims, key, expected))
    ctx = Context(pool.issuer, pool.client_id, kids, moduli, now, tuple(known))
    verifier = CognitoVerifier(
        pool.settings(jwks_miss_cooldown=30), transport=pool.transport(), clock=lambda: float(now)
    )
    return Target(pool, verifier, build_app(verifier), ctx)


# -- rendering and sending ----------------------------------------------------------------


@dataclass(frozen=True)
class Rendered:
    """A case made concrete: its token, its request headers, and what was signed."""

    token: str | None
    headers: list[tuple[bytes, bytes]]
    signed: tuple[bytes, bytes, str] | None = None
    """For a signed token: header bytes, payload bytes, the signing key's kid."""


def render(case: Case, target: Target) -> Rendered:
    """The concrete token and headers of `case`; signed tokens are signed here."""
    ctx = target.ctx
    spec = case.token
    token: str | None = None
    signed = None
    if isinstance(spec, str):
        token = spec
    elif isinstance(spec, Mutated):
        token = apply_ops(ctx.known[spec.base].token, spec.ops, ctx)
    elif isinstance(spec, Signed):
        kid = ctx.kids[spec.key % len(ctx.kids)]
        header = spec.header if spec.header is not None else {"kid": kid, "alg": "RS256"}
        header_bytes = header if isinstance(header, bytes) else dump(header)
        payload = spec.payload if isinstance(spec.payload, bytes) else dump(spec.payload)
        token = target.pool.sign(payload, header=header_bytes, kid=kid)
        signed = (header_bytes, payload, kid)
    own = b"" if token is None else token.encode("utf-8", "surrogatepass")
    headers = [
        (
            name,
            b"".join(
                part if isinstance(part, bytes) else own if part == SELF else _known(ctx, part)
                for part in parts
            ),
        )
        for name, parts in case.headers
    ]
    return Rendered(token, headers, signed)


def _known(ctx: Context, index: int) -> bytes:
    return ctx.known[index % len(ctx.known)].token.encode()


@dataclass(frozen=True)
class Answer:
    """An HTTP answer: status, raw headers (lower-case names), body."""

    status: int
    headers: list[tuple[bytes, bytes]]
    body: bytes


Sender = Callable[[str, Sequence[tuple[bytes, bytes]]], Awaitable[Answer]]


def asgi_sender(app: ASGIApp) -> Sender:
    """Call the ASGI app directly, as a server would (header names lower-cased)."""

    async def send(path: str, headers: Sequence[tuple[bytes, bytes]]) -> Answer:
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "GET",
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "query_string": b"",
            "root_path": "",
            "headers": [(b"host", b"fuzz"), *((name.lower(), value) for name, value in headers)],
            "client": ("127.0.0.1", 40000),
            "server": ("fuzz", 80),
        }
        requested = False
        messages: list[Message] = []

        async def receive() -> Message:
            nonlocal requested
            if requested:
                return {"type": "http.disconnect"}
            requested = True
            return {"type": "http.request", "body": b"", "more_body": False}

        async def collect(message: Message) -> None:
            messages.append(message)

        await app(scope, receive, collect)
        start = next(message for message in messages if message["type"] == "http.response.start")
        body = b"".join(
            message.get("body", b"")
            for message in messages
            if message["type"] == "http.response.body"
        )
        return Answer(start["status"], list(start.get("headers", [])), body)

    return send


# -- judging ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Verdict:
    """What a case should have got, what it got, and what was wrong with it."""

    category: str
    route: str
    expected: str
    seen: str
    status: int
    problems: tuple[str, ...]
    presented: str | None
    """The token the server read from the request (None: no bearer token)."""
    minted: bool
    """The token read is, byte for byte, a minted token."""
    crashed: bool
    """A 5xx answer, or an exception out of the app or the verifier."""

    @property
    def wrongful(self) -> bool:
        """A verified answer (200, 403, expired) the rules do not allow."""
        return self.seen in VERIFIED and self.seen != self.expected


def server_view(headers: Sequence[tuple[bytes, bytes]]) -> tuple[str, str | None]:
    """What RFC 6750 makes of the headers: one Bearer token (after 1+ spaces), or why not."""
    values = [
        value.decode("latin-1") for name, value in headers if name.lower() == b"authorization"
    ]
    if len(values) > 1:
        return BAD_REQUEST, None
    scheme, _, token = (values[0] if values else "").partition(" ")
    token = token.lstrip(" ")
    if scheme.lower() != "bearer" or not token:
        return NO_CREDENTIALS, None
    return INVALID, token


def expected_outcome(
    case: Case, rendered: Rendered, target: Target, token: str | None, fallback: str
) -> str:
    """Minted tokens as minted, signed ones by the rules, anything else `fallback`."""
    if token is None:
        return fallback
    known = target.by_token.get(token)
    if known is not None:
        return known.expected[case.route]
    if rendered.signed is not None and token == rendered.token:
        header, payload, kid = rendered.signed
        ctx = target.ctx
        return expected_signed(
            token,
            header,
            payload,
            kid,
            case.route,
            issuer=ctx.issuer,
            client_id=ctx.client_id,
            now=ctx.now,
        )
    return INVALID


def _classify(answer: Answer, route: str) -> str:
    if answer.status == 200:
        return OK if _json(answer.body) == {"route": route} else "unrecognised 200"
    challenges = [value for name, value in answer.headers if name == b"www-authenticate"]
    for outcome, (status, challenge, body) in _FIXED.items():
        if (
            answer.status == status
            and challenges == [challenge.encode()]
            and _json(answer.body) == body
        ):
            return outcome
    return f"unrecognised {answer.status}"


def _json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except ValueError:
        return None


def _secrets(token: str) -> set[str]:
    needles = helpers.token_secrets(token)
    return {needle for needle in needles if needle not in _FIXED_TEXT}


def _answer_problems(answer: Answer, seen: str, needles: set[str]) -> list[str]:
    problems = []
    if answer.status >= 500:
        problems.append(f"server error {answer.status}")
    if seen == OK:
        return problems
    names = {name.decode("latin-1") for name, _value in answer.headers}
    if seen in _FIXED and names != _REJECTION_HEADERS:
        problems.append(f"rejection headers {sorted(names)}")
    exposed = (
        answer.body.decode("latin-1")
        + "\n"
        + "\n".join(
            f"{name.decode('latin-1')}: {value.decode('latin-1')}" for name, value in answer.headers
        )
    )
    problems.extend(f"echoes {needle[:40]!r}" for needle in needles if needle in exposed)
    return problems


async def _verify_directly(case: Case, token: str, target: Target) -> tuple[str, list[str]]:
    use = ROUTE_USE[case.route]
    try:
        await target.verifier.verify(token, token_use="access" if use == "access" else "id")
    except TokenExpiredError as exc:
        return EXPIRED, _message_problems(exc, token)
    except TokenError as exc:
        return INVALID, _message_problems(exc, token)
    except Exception as exc:  # the finding itself: anything else escapes the verifier
        return f"raised {type(exc).__name__}", [f"exception escaped: {exc!r}"[:300]]
    return OK, []


def _message_problems(exc: Exception, token: str) -> list[str]:
    # Messages are fixed texts; long needles only, so that a token cannot spell one by chance.
    message = str(exc)
    return [
        f"message echoes {needle[:40]!r}"
        for needle in _secrets(token)
        if len(needle) >= 12 and needle in message
    ]


async def run_case(case: Case, target: Target, send: Sender) -> Verdict:
    """Render, send (or verify directly) and judge one case; never raises for the app's sake."""
    rendered = render(case, target)
    problems: list[str] = []
    presented: str | None
    if case.category == "direct":
        presented = rendered.token or ""
        expected = expected_outcome(case, rendered, target, presented, INVALID)
        seen, problems = await _verify_directly(case, presented, target)
        status = 0  # no HTTP
    else:
        fallback, presented = server_view(rendered.headers)
        expected = expected_outcome(case, rendered, target, presented, fallback)
        try:
            answer = await send(case.route, rendered.headers)
        except Exception as exc:  # an exception out of the app is a 500 the server would send
            answer = Answer(500, [], b"")
            problems.append(f"exception escaped: {exc!r}"[:300])
        seen, status = _classify(answer, case.route), answer.status
        needles = _secrets(presented) if presented is not None else set()
        needles |= {
            value.decode("latin-1")
            for _name, value in rendered.headers
            if len(value) >= 5 and value.decode("latin-1") not in _FIXED_TEXT
        }
        problems += _answer_problems(answer, seen, needles)
    if seen != expected:
        problems.append(f"expected {expected}, got {seen}")
    minted = presented is not None and presented in target.by_token
    crashed = status >= 500 or any(problem.startswith("exception") for problem in problems)
    return Verdict(
        case.category,
        case.route,
        expected,
        seen,
        status,
        tuple(problems),
        presented,
        minted,
        crashed,
    )


# -- counting -----------------------------------------------------------------------------


@dataclass
class Tally:
    """Counts over a run, and the first few failing cases."""

    inputs: Counter[str] = field(default_factory=Counter)
    statuses: Counter[int] = field(default_factory=Counter)
    outcomes: Counter[str] = field(default_factory=Counter)
    server_errors: int = 0
    accepted: int = 0
    accepted_minted: int = 0
    accepted_signed: int = 0
    wrongful: int = 0
    failures: int = 0
    examples: list[tuple[Case, Verdict]] = field(default_factory=list)

    def add(self, case: Case, verdict: Verdict, *, keep: int = 10) -> None:
        self.inputs[verdict.category] += 1
        if verdict.status:
            self.statuses[verdict.status] += 1
        self.outcomes[verdict.seen] += 1
        self.server_errors += verdict.crashed
        if verdict.seen == OK:
            self.accepted += 1
            if verdict.minted:
                self.accepted_minted += 1
            elif isinstance(case.token, Signed):
                self.accepted_signed += 1
        self.wrongful += verdict.wrongful
        if verdict.problems:
            self.failures += 1
            if len(self.examples) < keep:
                self.examples.append((case, verdict))

    @property
    def accepted_changed(self) -> int:
        """Acceptances of a token that is neither minted nor freshly signed (must be 0)."""
        return self.accepted - self.accepted_minted - self.accepted_signed
