"""Metrics and spans through OpenTelemetry's SDK with in-memory readers; every `reason`.

The SDK's providers are set once for the session, after the library (and its instruments)
was imported: what arrives here arrives through the API's proxies binding late, as in an app
that configures OpenTelemetry after importing the library.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx2
import pytest
from opentelemetry import metrics, trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader, NumberDataPoint
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

import fastapi_cognito_jwt as fcj
from fastapi_cognito_jwt import _exceptions, _telemetry
from fastapi_cognito_jwt._auth_flows import cognito_api
from fastapi_cognito_jwt.testing import LocalUserPool
from tests.helpers import b64u, compact

pytestmark = pytest.mark.anyio

NOW = 1_700_000_000
TIMES = {"iat": NOW - 10, "auth_time": NOW - 10, "exp": NOW + 3600}
REVOKED = "a-revoked-session"
POOL = "eu-west-1_LocalPool1"  # LocalUserPool's default id: the `pool` attribute

Points = dict[frozenset[tuple[str, Any]], int]


@dataclass
class Telemetry:
    reader: InMemoryMetricReader
    spans: InMemorySpanExporter

    def points(self, name: str) -> Points:
        """The current totals of metric `name`, by attribute set."""
        data = self.reader.get_metrics_data()
        found: Points = {}
        for resource in data.resource_metrics if data else ():
            for scope in resource.scope_metrics:
                for metric in scope.metrics:
                    if metric.name == name:
                        for point in metric.data.data_points:
                            assert isinstance(point, NumberDataPoint)
                            found[frozenset((point.attributes or {}).items())] = int(point.value)
        return found

    def counting(self, name: str) -> Callable[[], Points]:
        """Start counting `name`; the returned function gives what changed since, by attributes."""
        before = self.points(name)

        def changes() -> Points:
            after = self.points(name)
            return {k: v - before.get(k, 0) for k, v in after.items() if v != before.get(k, 0)}

        return changes


@pytest.fixture(scope="session")
def _providers() -> Telemetry:
    # The instruments exist already (the library is imported by conftest): the SDK binds late.
    assert "fastapi_cognito_jwt._telemetry" in sys.modules
    reader, spans = InMemoryMetricReader(), InMemorySpanExporter()
    meter_provider = MeterProvider(metric_readers=[reader])
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
    metrics.set_meter_provider(meter_provider)
    trace.set_tracer_provider(tracer_provider)
    if metrics.get_meter_provider() is not meter_provider:
        pytest.fail("another test set OpenTelemetry's global providers first")
    return Telemetry(reader, spans)


@pytest.fixture
def otel(_providers: Telemetry) -> Iterator[Telemetry]:
    _providers.spans.clear()
    yield _providers


def attrs(**values: str) -> frozenset[tuple[str, Any]]:
    return frozenset(values.items())


def verifier_for(
    pool: LocalUserPool, transport: httpx2.AsyncBaseTransport | None = None
) -> fcj.CognitoVerifier:
    return fcj.CognitoVerifier(
        pool.settings(), transport=transport or pool.transport(), clock=lambda: NOW
    )


# -- every reason, through cognito_jwt.verifications ------------------------------------------


class Department(fcj.CognitoClaims):
    department: str


def signed(**changes: Any) -> Callable[[LocalUserPool], str]:
    return lambda pool: pool.sign({**pool.access_claims(claims=TIMES), **changes})


def unsigned(pool: LocalUserPool) -> str:
    """A valid token's header and signature around another payload."""
    header, _, signature = signed()(pool).split(".")
    payload = b64u(compact({**pool.access_claims(claims=TIMES), "username": "mallory"}))
    return f"{header}.{payload}.{signature}"


def unknown_kid(pool: LocalUserPool) -> str:
    return pool.sign(pool.access_claims(claims=TIMES), header={"kid": "gone", "alg": "RS256"})


def unavailable() -> httpx2.MockTransport:
    return httpx2.MockTransport(lambda request: httpx2.Response(500))


# reason: (token, token_use, claims_model, JWKS transport or None for the pool's, outcome)
CORPUS: dict[str, tuple[Any, fcj.TokenUse, type[fcj.CognitoClaims], Any, str]] = {
    "malformed": (lambda pool: "not.a-token", "access", fcj.CognitoClaims, None, "rejected"),
    "malformed-not-a-string": (lambda pool: 42, "access", fcj.CognitoClaims, None, "rejected"),
    "unknown_kid": (unknown_kid, "access", fcj.CognitoClaims, None, "rejected"),
    "bad_signature": (unsigned, "access", fcj.CognitoClaims, None, "rejected"),
    "expired": (signed(exp=NOW - 1), "access", fcj.CognitoClaims, None, "rejected"),
    "not_yet_valid": (signed(nbf=NOW + 600), "access", fcj.CognitoClaims, None, "rejected"),
    "not_yet_valid-iat": (
        signed(iat=NOW + 600, exp=NOW + 1200),
        "access",
        fcj.CognitoClaims,
        None,
        "rejected",
    ),
    "invalid_claim": (signed(exp="soon"), "access", fcj.CognitoClaims, None, "rejected"),
    "lifetime_too_long": (signed(exp=NOW + 86_400), "access", fcj.CognitoClaims, None, "rejected"),
    "claims_model": (signed(), "access", Department, None, "rejected"),
    "wrong_issuer": (
        signed(iss="https://example.com/x"),
        "access",
        fcj.CognitoClaims,
        None,
        "rejected",
    ),
    "wrong_token_use": (signed(), "id", fcj.CognitoClaims, None, "rejected"),
    "wrong_client": (signed(client_id="other"), "access", fcj.CognitoClaims, None, "rejected"),
    "wrong_audience": (
        signed(aud="https://other.test"),
        "access",
        fcj.CognitoClaims,
        None,
        "rejected",
    ),
    "revoked": (signed(origin_jti=REVOKED), "access", fcj.CognitoClaims, None, "rejected"),
    "jwks_unavailable": (signed(), "access", fcj.CognitoClaims, unavailable, "unavailable"),
}


@pytest.mark.parametrize("case", list(CORPUS))
async def test_each_refusal_is_counted_under_its_reason(
    pool: LocalUserPool, otel: Telemetry, case: str
) -> None:
    make, token_use, model, transport, outcome = CORPUS[case]
    reason = case.partition("-")[0]
    verifier = verifier_for(pool, transport() if transport else None)
    token = make(pool)
    if reason == "revoked":
        await verifier.revocations.revoke_session(REVOKED)
    changes = otel.counting(_telemetry.VERIFICATIONS)
    for _ in range(2):  # the second time through the verifier's own table of tallies
        with pytest.raises(fcj.CognitoJWTError) as info:
            await verifier.verify(token, token_use=token_use, claims_model=model)
        assert info.value.reason == reason
    # Refused before the issuer chose a pool: counted with no pool.
    pool_id = "" if reason in ("malformed", "wrong_issuer") else POOL
    expected = attrs(outcome=outcome, reason=reason, token_use=token_use, pool=pool_id)
    assert changes() == {expected: 2}


def test_the_corpus_reaches_every_reason_a_verification_can_fail_with() -> None:
    raised = {
        cls.reason
        for cls in vars(_exceptions).values()
        if isinstance(cls, type) and issubclass(cls, fcj.TokenError) and cls is not fcj.TokenError
    }
    per_instance = {"lifetime_too_long", "claims_model"}  # InvalidClaimError(reason=...)
    reachable = raised | per_instance | {fcj.JWKSUnavailableError.reason}
    assert {case.partition("-")[0] for case in CORPUS} == reachable


def test_every_exception_has_its_own_snake_case_reason() -> None:
    classes = [getattr(_exceptions, name) for name in _exceptions.__all__]
    reasons = [cls.__dict__.get("reason") for cls in classes]
    assert all(isinstance(r, str) and re.fullmatch(r"[a-z]+(_[a-z]+)*", r) for r in reasons)
    assert len(set(reasons)) == len(classes)
    documented = re.findall(r"^\| (\w+Error) +\| `(\w+)`", _exceptions.__doc__ or "", re.M)
    assert sorted(documented) == sorted((cls.__name__, cls.reason) for cls in classes)


# -- accepted tokens and the verified-token cache ---------------------------------------------


async def test_accepted_tokens_count_once_each_and_cache_hits_as_lookups(
    pool: LocalUserPool, otel: Telemetry
) -> None:
    verifier = verifier_for(pool)
    token = pool.sign(pool.id_claims(claims=TIMES))
    verifications = otel.counting(_telemetry.VERIFICATIONS)
    lookups = otel.counting(_telemetry.TOKEN_CACHE_LOOKUPS)
    for _ in range(3):  # admitted to the cache on its second use, served from it on the third
        await verifier.verify(token, token_use="id")
    assert verifications() == {attrs(outcome="accepted", token_use="id", pool=POOL): 3}
    assert lookups() == {  # a miss is before the token is read: no pool known yet
        attrs(result="miss", token_use="id", pool=""): 2,
        attrs(result="hit", token_use="id", pool=POOL): 1,
    }


async def test_each_pool_is_counted_apart(pool: LocalUserPool, otel: Telemetry) -> None:
    other = LocalUserPool(user_pool_id="us-east-1_Other", client_id="otherclient", kid="o1")
    verifier = pool.verifier(also=[other])
    verifications = otel.counting(_telemetry.VERIFICATIONS)
    fetches = otel.counting(_telemetry.JWKS_FETCHES)
    await verifier.verify(other.access_token(), token_use="access")
    with pytest.raises(fcj.InvalidClientError):
        await verifier.verify(other.access_token(claims={"client_id": "x"}), token_use="access")
    assert verifications() == {
        attrs(outcome="accepted", token_use="access", pool=other.user_pool_id): 1,
        attrs(outcome="rejected", reason="wrong_client", token_use="access",
              pool=other.user_pool_id): 1,
    }  # fmt: skip
    assert fetches() == {attrs(outcome="success", pool=other.user_pool_id): 1}


async def test_an_expired_cache_entry_is_a_miss_and_then_a_rejection(
    pool: LocalUserPool, otel: Telemetry
) -> None:
    now = [NOW]
    verifier = fcj.CognitoVerifier(
        pool.settings(), transport=pool.transport(), clock=lambda: now[0]
    )
    token = signed()(pool)
    for _ in range(2):
        await verifier.verify(token, token_use="access")
    verifications = otel.counting(_telemetry.VERIFICATIONS)
    lookups = otel.counting(_telemetry.TOKEN_CACHE_LOOKUPS)
    now[0] = NOW + 3600
    with pytest.raises(fcj.TokenExpiredError):
        await verifier.verify(token, token_use="access")
    assert lookups() == {attrs(result="miss", token_use="access", pool=""): 1}
    expired = attrs(outcome="rejected", reason="expired", token_use="access", pool=POOL)
    assert verifications() == {expired: 1}


# -- JWKS fetches: counter, span and log ------------------------------------------------------


def only_span(otel: Telemetry) -> ReadableSpan:
    (span,) = otel.spans.get_finished_spans()
    return span


async def test_a_jwks_fetch_is_counted_and_spanned_by_outcome(
    pool: LocalUserPool, otel: Telemetry
) -> None:
    fetches = otel.counting(_telemetry.JWKS_FETCHES)
    await fcj.JWKSCache(pool.settings(), transport=pool.transport()).refresh()
    span = only_span(otel)
    assert (span.name, dict(span.attributes or {})) == (
        "cognito_jwt.jwks.fetch",
        {"cognito_jwt.outcome": "success"},
    )
    assert span.status.status_code is StatusCode.UNSET
    otel.spans.clear()
    with pytest.raises(fcj.JWKSUnavailableError):
        await fcj.JWKSCache(pool.settings(), transport=unavailable()).refresh()
    span = only_span(otel)
    assert dict(span.attributes or {}) == {"cognito_jwt.outcome": "failure"}
    assert span.status.status_code is StatusCode.ERROR
    assert fetches() == {
        attrs(outcome="success", pool=POOL): 1,
        attrs(outcome="failure", pool=POOL): 1,
    }


# -- Cognito API calls: a span named for the operation, nothing of the request ----------------

ENDPOINT = "https://cognito-idp.eu-west-1.amazonaws.com/"
SECRET_BODY = {"AuthParameters": {"USERNAME": "alice-the-user", "PASSWORD": "hunter2-secret"}}


@pytest.mark.parametrize(
    ("reply", "error_type"),
    [
        (httpx2.Response(200, json={"Session": "s3ss10n-value"}), None),
        (
            httpx2.Response(
                400, json={"__type": "NotAuthorizedException", "message": "alice-the-user"}
            ),
            "not_authorized",
        ),
        (httpx2.Response(502, text="<html>bad gateway</html>"), "cognito_bad_reply"),
    ],
    ids=["ok", "refused", "no-answer"],
)
async def test_a_cognito_call_is_spanned_by_operation_only(
    otel: Telemetry, reply: httpx2.Response, error_type: str | None
) -> None:
    transport = httpx2.MockTransport(lambda request: reply)
    async with httpx2.AsyncClient(transport=transport) as client:
        try:
            await cognito_api.call(client, ENDPOINT, "InitiateAuth", SECRET_BODY, 5.0)
        except fcj.CognitoJWTError as exc:
            assert exc.reason == error_type
    span = only_span(otel)
    expected = {
        "rpc.system": "aws-api",
        "rpc.service": "CognitoIdentityProvider",
        "rpc.method": "InitiateAuth",
        **({"error.type": error_type} if error_type else {}),
    }
    assert (span.name, dict(span.attributes or {})) == (
        "CognitoIdentityProvider/InitiateAuth",
        expected,
    )
    assert span.status.status_code is (StatusCode.ERROR if error_type else StatusCode.UNSET)
    assert not span.events and not span.status.description  # no exception text recorded


@pytest.mark.parametrize(
    "provider", [trace.ProxyTracerProvider(), trace.NoOpTracerProvider()], ids=["none", "no-op"]
)
async def test_without_a_tracer_provider_a_cognito_call_makes_no_span(
    otel: Telemetry, monkeypatch: pytest.MonkeyPatch, provider: trace.TracerProvider
) -> None:
    transport = httpx2.MockTransport(lambda request: httpx2.Response(200, json={"a": 1}))
    monkeypatch.setattr(trace, "get_tracer_provider", lambda: provider)
    async with httpx2.AsyncClient(transport=transport) as client:
        assert await cognito_api.call(client, ENDPOINT, "InitiateAuth", {}, 5.0) == {"a": 1}
        assert otel.spans.get_finished_spans() == ()
        monkeypatch.undo()  # the app installs its provider later: the next call is spanned
        await cognito_api.call(client, ENDPOINT, "InitiateAuth", {}, 5.0)
    assert only_span(otel).name == "CognitoIdentityProvider/InitiateAuth"


# -- revocations: the functions the revocation list calls ------------------------------------


async def test_revocations_recorded_and_enforced_are_counted_by_kind(
    pool: LocalUserPool, otel: Telemetry
) -> None:
    """Recorded through the list's public API (the list serves every pool: no `pool`);
    enforced under the pool of the token refused."""
    recorded = otel.counting(_telemetry.REVOCATIONS_RECORDED)
    enforced = otel.counting(_telemetry.REVOCATIONS_ENFORCED)
    verifier = pool.verifier()
    session = pool.access_token(claims={"origin_jti": REVOKED})
    signed_out = pool.access_token(username="bob", claims={"auth_time": 1000})
    await verifier.revocations.revoke_session(REVOKED)
    bob = (await verifier.verify(pool.access_token(username="bob"), token_use="access")).sub
    await verifier.revocations.revoke_user(pool.issuer, bob)
    await verifier.revocations.revoke_user(pool.issuer, "someone-else")
    for token in (session, session, signed_out):
        with pytest.raises(fcj.TokenRevokedError):
            await verifier.verify(token, token_use="access")
    assert recorded() == {attrs(kind="session", pool=""): 1, attrs(kind="user", pool=""): 2}
    assert enforced() == {attrs(kind="session", pool=POOL): 2, attrs(kind="user", pool=POOL): 1}


async def test_cached_refusals_and_sync_overrides_count_once_under_their_pool(
    pool: LocalUserPool, otel: Telemetry
) -> None:
    """A remembered token refused as revoked counts under its pool; `verify_sync` through an
    override of `verify` counts once; a revocation list out of touch counts as unavailable."""

    class Audited(fcj.CognitoVerifier):
        async def verify(self, token: str, **kwargs: Any) -> Any:
            return await super().verify(token, **kwargs)

    verifier = Audited(pool.settings(), transport=pool.transport())
    token = pool.access_token(claims={"origin_jti": REVOKED})
    verifications = otel.counting(_telemetry.VERIFICATIONS)
    enforced = otel.counting(_telemetry.REVOCATIONS_ENFORCED)
    for _ in range(2):  # remembered from the second verification
        verifier.verify_sync(token, token_use="access")
    await verifier.revocations.revoke_session(REVOKED)
    with pytest.raises(fcj.TokenRevokedError):
        await verifier.verify(token, token_use="access")
    assert verifications() == {
        attrs(outcome="accepted", token_use="access", pool=POOL): 2,
        attrs(outcome="rejected", reason="revoked", token_use="access", pool=POOL): 1,
    }
    assert enforced() == {attrs(kind="session", pool=POOL): 1}

    class Unreachable(fcj.InMemoryRevocationList):
        def check(self, claims: fcj.CognitoClaims) -> None:
            raise fcj.RevocationUnavailableError("out of touch", retry_after=5)

    down = fcj.CognitoVerifier(
        pool.settings(), transport=pool.transport(), revocations=Unreachable(pool.settings())
    )
    verifications = otel.counting(_telemetry.VERIFICATIONS)
    with pytest.raises(fcj.RevocationUnavailableError):
        await down.verify(pool.access_token(), token_use="access")
    assert verifications() == {
        attrs(outcome="unavailable", reason="revocation_unavailable", token_use="access",
              pool=POOL): 1,
    }  # fmt: skip
