"""Property-based fuzzing of `CognitoBearer` and `CognitoVerifier` through a real FastAPI app.

The inputs come from `fuzz/generators.py`, driven by `st.randoms(use_true_random=False)` so
that Hypothesis makes and shrinks every choice; `fuzz/harness.py` sends them to an app with
four routes (`/access`, `/id`, `/admin` for the `admin` group, `/scoped` for `api/read`) as
raw ASGI calls, or to the verifier directly; `fuzz/oracle.py` says what each must get.
`python -m fuzz.run` runs the same generators for 100 000 inputs.

Every input must get:

(a) no 500, and no exception out of the app or the verifier;
(b) no verified answer (200, 403, "expired") unless the token the server read is byte for byte
    a minted token answered as minted, or a freshly signed token whose header and claims pass
    the rules (`fuzz.oracle.expected_signed`); in fact the answer must be exactly the expected
    one, so false rejections fail too;
(c) as a rejection, exactly one of the fixed answers (status, `WWW-Authenticate`, body, and no
    other header), echoing nothing of the token, its claims or the header sent.

The keys are fixed (`fuzz.harness.fuzz_key`), the verifier's clock pinned (`fuzz.harness.NOW`)
and the examples derandomised, so every run sends the same bytes and gets the same answers; a
failing case prints as a `Case(...)` that can be pinned with `@example`.
"""

import asyncio
import functools
import random
from collections.abc import Callable, Iterator

import httpx2
import pytest
from fastapi import FastAPI
from hypothesis import given, settings, strategies as st

from fastapi_cognito_jwt import CognitoVerifier, JWKSCache, KeyNotFoundError
from fuzz.generators import GENERATORS, Case, Context, Mutated, gen_unknown_kid
from fuzz.harness import Target, Verdict, asgi_sender, build_target, render, run_case
from fuzz.oracle import EXPIRED, FORBIDDEN, INVALID, OK
from fuzz.run import fuzz
from fuzz.websocket import Handshake, build_ws_app, gen_handshake, run_handshake
from tests.helpers import FakeClock

pytestmark = pytest.mark.security

# Derandomised: CI tests the same inputs on every run. No database: nothing to replay but those.
FUZZ = settings(max_examples=300, deadline=None, derandomize=True, database=None)
# Mutations of valid tokens are where a verifier slips most: they get more examples.
EXAMPLES = {"mutation": 500}


@functools.cache
def _target() -> Target:
    # Built on first use (key generation), and shared by the strategies and the tests.
    return build_target()


def cases(generator: Callable[[random.Random, Context], Case]) -> st.SearchStrategy[Case]:
    """The cases `generator` makes from a Hypothesis-controlled `random.Random`."""
    return st.randoms(use_true_random=False).map(lambda rng: generator(rng, _target().ctx))


@pytest.fixture(scope="module")
def runner() -> Iterator[asyncio.Runner]:
    """One event loop for the module: the verifier's JWKS cache outlives single examples."""
    with asyncio.Runner() as loop:
        yield loop


def check(verdict: Verdict) -> None:
    """Properties (a), (b) and (c) for one answered case."""
    assert not verdict.crashed, verdict
    assert not verdict.wrongful, verdict
    assert verdict.seen != OK or verdict.minted or verdict.category.startswith("signed"), verdict
    assert verdict.problems == (), verdict


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


def test_minted_tokens_are_answered_as_minted(runner: asyncio.Runner) -> None:
    """The oracle's answers for the minted tokens are the obvious ones, and the app's too."""
    target = _target()
    assert [tuple(known.expected.values()) for known in target.ctx.known] == MINTED_ANSWERS
    send = asgi_sender(target.app)
    for base, known in enumerate(target.ctx.known):
        for route in known.expected:
            check(runner.run(run_case(Case("minted", route, Mutated(base)), target, send)))


@pytest.mark.parametrize("category", list(GENERATORS))
def test_fuzzed_inputs_get_the_answer_the_rules_give(category: str, runner: asyncio.Runner) -> None:
    """Each generator's inputs (see its docstring in fuzz.generators), judged by the oracle."""
    target = _target()
    send = asgi_sender(target.app)

    @settings(FUZZ, max_examples=EXAMPLES.get(category, 300))
    @given(case=cases(GENERATORS[category]))
    def answered_as_the_rules_say(case: Case) -> None:
        check(runner.run(run_case(case, target, send)))

    answered_as_the_rules_say()


class KidProbe:
    """A verifier whose JWKS cache runs on a clock the test moves, and its fetch count."""

    def __init__(self, target: Target) -> None:
        self.fetches = 0
        self.clock = FakeClock(0.0)
        pool, config = target.pool, target.pool.settings(jwks_miss_cooldown=30)

        def handle(request: httpx2.Request) -> httpx2.Response:
            self.fetches += 1
            return httpx2.Response(200, json=pool.jwks())

        jwks = JWKSCache(config, transport=httpx2.MockTransport(handle), clock=self.clock)
        now = float(target.ctx.now)
        self.verifier = CognitoVerifier(config, jwks=jwks, clock=lambda: now)


@pytest.fixture(scope="module")
def kid_probe() -> KidProbe:
    return KidProbe(_target())


@settings(FUZZ, max_examples=150)
@given(case=cases(gen_unknown_kid), wait=st.sampled_from([0.0, 0.0, 0.0, 1.0, 29.0, 30.0, 31.0]))
def test_unknown_kids_respect_the_cooldown(
    case: Case, wait: float, runner: asyncio.Runner, kid_probe: KidProbe
) -> None:
    """Unknown kids refetch the JWKS at most once per cooldown; known kids never wait."""
    kid_probe.clock.advance(wait)
    token = render(case, _target()).token
    assert token is not None
    with pytest.raises(KeyNotFoundError):
        runner.run(kid_probe.verifier.verify(token, token_use="access"))
    minted = _target().ctx.known[0].token
    assert runner.run(kid_probe.verifier.verify(minted, token_use="access")).username == "alice"
    config, elapsed = kid_probe.verifier.settings, kid_probe.clock.now
    allowed = 2 + elapsed // config.jwks_miss_cooldown + elapsed // config.jwks_ttl
    assert kid_probe.fetches <= allowed


def test_generators_are_reproducible() -> None:
    """A stream number makes the same inputs on every run: the long run can be replayed."""
    ctx = _target().ctx

    def inputs(stream: int) -> list[Case]:
        rng = random.Random(stream)
        return [generate(rng, ctx) for generate in GENERATORS.values() for _ in range(20)]

    assert inputs(7) == inputs(7)
    assert inputs(7) != inputs(8)


def test_long_run_script(runner: asyncio.Runner) -> None:
    """`python -m fuzz.run`, small: it passes, and its inputs get accepted as well as refused."""
    report = runner.run(fuzz(1500, stream=3))
    tally = report.tally
    assert report.ok, "\n".join(report.lines())
    assert set(tally.inputs) == set(GENERATORS)
    assert tally.accepted_minted > 0 and tally.accepted_signed > 0
    assert {OK, FORBIDDEN, EXPIRED, INVALID} <= set(tally.outcomes)
    assert report.lines()[-1] == "PASS"


@functools.cache
def _ws_app() -> FastAPI:
    return build_ws_app(_target().verifier)


@settings(FUZZ, max_examples=500)
@given(case=st.randoms(use_true_random=False).map(lambda rng: gen_handshake(rng, _target().ctx)))
def test_websocket_handshakes_get_the_answer_the_rules_give(
    case: Handshake, runner: asyncio.Runner
) -> None:
    """Handshakes with odd headers, subprotocol lists and query strings (fuzz.websocket)."""
    verdict = runner.run(run_handshake(_ws_app(), case, _target().ctx))
    assert verdict.problems == (), verdict
