"""Property-based fuzzing of `CognitoBearer` and `CognitoVerifier` through a real FastAPI app.

The inputs come from `fuzz/generators.py`, driven by `st.randoms(use_true_random=False)` so
that Hypothesis makes and shrinks every choice; `fuzz/harness.py` sends them to an app with
four routes (`/access`, `/id`, `/admin` for the `admin` group, `/scoped` for `api/read`)
through `httpx.ASGITransport`, or to the verifier directly; `fuzz/oracle.py` says what each
must get. `python -m fuzz.run` runs the same generators for 100 000 inputs.

Every property checks, for each input:

(a) no 500, and no exception out of the app or the verifier;
(b) no verified answer (200, 403, "expired") unless the token the server read is byte for byte
    a minted token answered as minted, or a freshly signed token whose header and claims pass
    the rules (`fuzz.oracle.expected_signed`); in fact the answer must be exactly the expected
    one, so false rejections fail too;
(c) every rejection is exactly one of the fixed answers (status, `WWW-Authenticate`, body, and
    no other header) and echoes nothing of the token, its claims or the header sent.

The keys are fixed (`fuzz.harness.fuzz_key`), the verifier's clock pinned (`fuzz.harness.NOW`)
and the examples derandomised, so every run sends the same bytes and gets the same answers; a
failing case prints as a `Case(...)` that can be pinned with `@example`.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import random
from collections.abc import Callable, Coroutine, Iterator
from typing import Any, TypeVar

import httpx
import pytest
from hypothesis import given, settings, strategies as st

from fastapi_cognito_jwt import CognitoVerifier, JWKSCache, KeyNotFoundError
from fuzz.generators import (
    GENERATORS,
    Case,
    Context,
    Mutated,
    gen_direct,
    gen_header,
    gen_mutation,
    gen_shape,
    gen_signed_claims,
    gen_signed_json,
    gen_unknown_kid,
)
from fuzz.harness import (
    Sender,
    Target,
    Verdict,
    asgi_sender,
    build_target,
    httpx_sender,
    render,
    run_case,
)
from fuzz.oracle import EXPIRED, FORBIDDEN, INVALID, OK
from fuzz.run import fuzz

pytestmark = pytest.mark.security

T = TypeVar("T")

# Derandomised: CI tests the same inputs on every run. No database: nothing to replay but those.
FUZZ = settings(max_examples=300, deadline=None, derandomize=True, database=None)


@functools.cache
def _target() -> Target:
    # Built on first use (key generation), and shared by the strategies and the tests.
    return build_target()


def cases(generator: Callable[[random.Random, Context], Case]) -> st.SearchStrategy[Case]:
    """The cases `generator` makes from a Hypothesis-controlled `random.Random`."""
    return st.randoms(use_true_random=False).map(lambda rng: generator(rng, _target().ctx))


class Loop:
    """One event loop for the module: the verifier's JWKS cache outlives single examples."""

    def __init__(self) -> None:
        self._loop = asyncio.new_event_loop()

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return self._loop.run_until_complete(coroutine)

    def close(self) -> None:
        self._loop.close()


@pytest.fixture(scope="module")
def loop() -> Iterator[Loop]:
    runner = Loop()
    yield runner
    runner.close()


@pytest.fixture(scope="module")
def target() -> Target:
    return _target()


@pytest.fixture(scope="module")
def send(loop: Loop, target: Target) -> Iterator[Sender]:
    """Requests through `httpx.AsyncClient` on `httpx.ASGITransport`."""
    transport = httpx.ASGITransport(app=target.app, raise_app_exceptions=False)
    client = httpx.AsyncClient(transport=transport, base_url="http://fuzz")
    yield httpx_sender(client)
    loop.run(client.aclose())


def check(verdict: Verdict) -> None:
    """Properties (a), (b) and (c) for one answered case."""
    assert not verdict.crashed, verdict
    assert not verdict.wrongful, verdict
    assert verdict.seen != OK or verdict.minted or verdict.category.startswith("signed"), verdict
    assert verdict.problems == (), verdict


# -- the minted tokens --------------------------------------------------------------------

MINTED_ANSWERS = [
    # /access, /id, /admin, /scoped
    (OK, INVALID, OK, OK),  # alice: admin and staff, api/read
    (OK, INVALID, FORBIDDEN, OK),  # bob: no group, api/read
    (OK, INVALID, FORBIDDEN, FORBIDDEN),  # carol: staff, no api/read
    (INVALID, OK, INVALID, INVALID),  # alice's ID token
    (OK, INVALID, FORBIDDEN, OK),  # client credentials, api/read
    (OK, INVALID, OK, FORBIDDEN),  # dave: admin, signed with the second key
    (INVALID, OK, INVALID, INVALID),  # erin's ID token, second key
    (EXPIRED, INVALID, EXPIRED, EXPIRED),  # frank: expired a second ago
]


def test_minted_tokens_are_answered_as_minted(target: Target, loop: Loop, send: Sender) -> None:
    """The oracle's answers for the minted tokens are the obvious ones, and the app's too."""
    table = [tuple(known.expected.values()) for known in target.ctx.known]
    assert table == MINTED_ANSWERS
    for base, known in enumerate(target.ctx.known):
        for route in known.expected:
            check(loop.run(run_case(Case("minted", route, Mutated(base)), target, send)))


# -- the properties -------------------------------------------------------------------------


@FUZZ
@given(case=cases(gen_header))
def test_authorization_headers(case: Case, loop: Loop, target: Target, send: Sender) -> None:
    """Any Authorization headers: schemes, separators, raw latin-1 bytes, none or several."""
    check(loop.run(run_case(case, target, send)))


@FUZZ
@given(case=cases(gen_shape))
def test_token_shaped_strings(case: Case, loop: Loop, target: Target, send: Sender) -> None:
    """Segments of any alphabet and size; real headers with random signatures; 16 KiB."""
    check(loop.run(run_case(case, target, send)))


@settings(FUZZ, max_examples=500)
@given(case=cases(gen_mutation))
def test_mutated_tokens(case: Case, loop: Loop, target: Target, send: Sender) -> None:
    """Bit flips, segment swaps, re-encodings, truncation, case changes, alg/kid headers."""
    check(loop.run(run_case(case, target, send)))


@FUZZ
@given(case=cases(gen_signed_claims))
def test_signed_claims(case: Case, loop: Loop, target: Target, send: Sender) -> None:
    """Minted claims with up to three changes, signed with the real key: the rules decide."""
    check(loop.run(run_case(case, target, send)))


@FUZZ
@given(case=cases(gen_signed_json))
def test_signed_random_json(case: Case, loop: Loop, target: Target, send: Sender) -> None:
    """Random JSON headers and payloads, respelt or broken JSON, signed with the real key."""
    check(loop.run(run_case(case, target, send)))


@FUZZ
@given(case=cases(gen_direct))
def test_verifier_directly(case: Case, loop: Loop, target: Target) -> None:
    """Any `str`, lone surrogates included: only `TokenError`s come out of `verify`."""
    check(loop.run(run_case(case, target, asgi_sender(target.app))))


@settings(FUZZ, max_examples=150)
@given(case=st.one_of(cases(gen_header), cases(gen_mutation), cases(gen_shape)))
def test_raw_asgi_answers_as_httpx(case: Case, loop: Loop, target: Target, send: Sender) -> None:
    """The long run's raw ASGI calls get what httpx's ASGI transport gets."""
    through_httpx = loop.run(run_case(case, target, send))
    raw = loop.run(run_case(case, target, asgi_sender(target.app)))
    assert dataclasses.replace(raw, problems=()) == dataclasses.replace(through_httpx, problems=())
    check(raw)


# -- JWKS fetches -------------------------------------------------------------------------


@dataclasses.dataclass
class KidProbe:
    """A verifier whose JWKS cache runs on a clock the test moves, and its fetch count."""

    verifier: CognitoVerifier = dataclasses.field(init=False)
    fetches: int = 0
    clock: float = 0.0


@pytest.fixture(scope="module")
def probe(target: Target) -> KidProbe:
    pool, state = target.pool, KidProbe()

    def handle(request: httpx.Request) -> httpx.Response:
        state.fetches += 1
        return httpx.Response(200, json=pool.jwks())

    config = pool.settings()
    jwks = JWKSCache(config, transport=httpx.MockTransport(handle), clock=lambda: state.clock)
    now = float(target.ctx.now)
    state.verifier = CognitoVerifier(config, jwks=jwks, clock=lambda: now)
    return state


@settings(FUZZ, max_examples=150)
@given(case=cases(gen_unknown_kid), wait=st.sampled_from([0.0, 0.0, 0.0, 1.0, 29.0, 30.0, 31.0]))
def test_unknown_kids_respect_the_cooldown(
    case: Case, wait: float, loop: Loop, target: Target, probe: KidProbe
) -> None:
    """Unknown kids refetch the JWKS at most once per cooldown; known kids never wait."""
    probe.clock += wait
    token = render(case, target).token
    assert token is not None
    with pytest.raises(KeyNotFoundError):
        loop.run(probe.verifier.verify(token, token_use="access"))
    minted = target.ctx.known[0].token
    assert loop.run(probe.verifier.verify(minted, token_use="access")).username == "alice"
    config = probe.verifier.settings
    allowed = 2 + probe.clock // config.jwks_miss_cooldown + probe.clock // config.jwks_ttl
    assert probe.fetches <= allowed


# -- the long run -------------------------------------------------------------------------


def test_generators_are_reproducible(target: Target) -> None:
    """A seed makes the same inputs on every run: the long run's failures can be replayed."""

    def inputs(seed: int) -> list[Case]:
        rng = random.Random(seed)
        return [generate(rng, target.ctx) for generate in GENERATORS.values() for _ in range(20)]

    assert inputs(7) == inputs(7)
    assert inputs(7) != inputs(8)


def test_long_run_script(loop: Loop) -> None:
    """`python -m fuzz.run`, small: it passes, and its inputs get accepted as well as refused."""
    report = loop.run(fuzz(1500, seed=3))
    tally = report.tally
    assert report.ok, "\n".join(report.lines())
    assert set(tally.inputs) == set(GENERATORS)
    assert tally.accepted_minted > 0 and tally.accepted_signed > 0
    assert {OK, FORBIDDEN, EXPIRED, INVALID} <= set(tally.outcomes)
    assert report.lines()[-1] == "PASS"
