"""OpenTelemetry metrics and spans, shared by the verification and the auth-flow subpackages.

Like `_settings`, this module is shared by both subpackages; it needs only
`opentelemetry-api`. Without an OpenTelemetry SDK the API's instruments do nothing. The
instruments are made once, at import, from the API's global meter and tracer: these are
proxies that bind to the app's real providers whenever the app sets them, before or after
this import.

Metrics (names as in docs/metrics.md):

- `cognito_jwt.verifications`: every `CognitoVerifier.verify`, by `outcome`
  (`accepted`, `rejected`, `unavailable`), `reason` (the exception's `reason`; absent when
  accepted), `token_use` and `pool`;
- `cognito_jwt.token_cache.lookups`: the verified-token cache, by `result` (`hit`, `miss`),
  `token_use` and `pool`;
- `cognito_jwt.jwks.fetches`: JWKS downloads, by `outcome` (`success`, `failure`) and `pool`;
- `cognito_jwt.revocations.recorded` / `cognito_jwt.revocations.enforced`: by `kind`
  (`session`, `user`) and `pool`.

Verifications and cache lookups happen on every request, so they are not counted through an
instrument call (about 45 ns with the API alone, several microseconds with the SDK): each
is a plain integer in a `Tally`, incremented in place, and observable counters report the
totals when a reader collects. Increments are not locked: in an event loop none is lost;
from several threads at once one may very rarely be.

Spans: `cognito_jwt.jwks.fetch` around each JWKS download, and
`CognitoIdentityProvider/<Operation>` around each Cognito API call. They carry the operation
and the outcome only: never a token, a key, a username, a password or a code.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, Concatenate, Final, Literal, ParamSpec, TypeVar

from opentelemetry import metrics, trace
from opentelemetry.metrics import CallbackOptions, Observation
from opentelemetry.trace import Span, SpanKind, StatusCode

from ._exceptions import CognitoJWTError, JWKSUnavailableError, RevocationUnavailableError

__all__ = [
    "JWKS_FETCHES",
    "REVOCATIONS_ENFORCED",
    "REVOCATIONS_RECORDED",
    "TOKEN_CACHE_LOOKUPS",
    "VERIFICATIONS",
    "Tally",
    "VerificationCounts",
    "count_jwks_fetch",
    "count_revocation_enforced",
    "count_revocation_recorded",
    "jwks_fetch_span",
    "traced_cognito_call",
]

SCOPE: Final = "fastapi_cognito_jwt"
VERIFICATIONS: Final = "cognito_jwt.verifications"
TOKEN_CACHE_LOOKUPS: Final = "cognito_jwt.token_cache.lookups"
JWKS_FETCHES: Final = "cognito_jwt.jwks.fetches"
REVOCATIONS_RECORDED: Final = "cognito_jwt.revocations.recorded"
REVOCATIONS_ENFORCED: Final = "cognito_jwt.revocations.enforced"

RevocationKind = Literal["session", "user"]
_TOKEN_USES = ("access", "id")

_meter = metrics.get_meter(SCOPE)
_tracer = trace.get_tracer(SCOPE)


class Tally:
    """A count kept as a plain integer, with the attributes it is reported under.

    `also` is another tally whose count is reported as part of this one's: a token served
    from the cache counts once, as a hit, and is reported as an accepted verification too.
    """

    __slots__ = ("also", "attributes", "count")

    def __init__(self, attributes: Mapping[str, str]) -> None:
        self.attributes = attributes
        self.count = 0
        self.also: Tally | None = None

    @property
    def total(self) -> int:
        """The count reported: this tally's and that of `also`."""
        return self.count + (self.also.count if self.also is not None else 0)


# One tally per attribute set, shared by every verifier of a pool: an observable counter must
# report each attribute set once, with its total since the process started.
_verifications: dict[tuple[str, ...], Tally] = {}
_lookups: dict[tuple[str, ...], Tally] = {}


def _tally(table: dict[tuple[str, ...], Tally], **attributes: str) -> Tally:
    key = tuple(attributes.values())
    tally = table.get(key)
    if tally is None:
        tally = table.setdefault(key, Tally(attributes))
    return tally


def _observe(
    table: dict[tuple[str, ...], Tally],
) -> Callable[[CallbackOptions], Iterable[Observation]]:
    def observe(options: CallbackOptions) -> Iterable[Observation]:
        # A copy: a verifier made while a reader collects adds entries.
        return [Observation(tally.total, tally.attributes) for tally in list(table.values())]

    return observe


_meter.create_observable_counter(
    VERIFICATIONS,
    callbacks=[_observe(_verifications)],
    unit="{verification}",
    description="Token verifications by outcome and reason.",
)
_meter.create_observable_counter(
    TOKEN_CACHE_LOOKUPS,
    callbacks=[_observe(_lookups)],
    unit="{lookup}",
    description="Verified-token cache lookups by result.",
)
_jwks_fetches = _meter.create_counter(
    JWKS_FETCHES, unit="{fetch}", description="JWKS downloads by outcome."
)
_revocations_recorded = _meter.create_counter(
    REVOCATIONS_RECORDED, unit="{revocation}", description="Revocations recorded, by kind."
)
_revocations_enforced = _meter.create_counter(
    REVOCATIONS_ENFORCED,
    unit="{token}",
    description="Tokens refused because they were revoked, by kind.",
)


class VerificationCounts:
    """The tallies one verifier feeds, made once for its pool.

    The verifier increments them in place (`counts.accepted[token_use].count += 1`): an
    attribute increment, not a call, since a cache hit is the hot path.
    """

    def __init__(self, pool: str) -> None:
        self.pool = pool
        self.accepted = {
            use: _tally(_verifications, outcome="accepted", token_use=use, pool=pool)
            for use in _TOKEN_USES
        }
        self.hits = {
            use: _tally(_lookups, result="hit", token_use=use, pool=pool) for use in _TOKEN_USES
        }
        self.misses = {
            use: _tally(_lookups, result="miss", token_use=use, pool=pool) for use in _TOKEN_USES
        }
        for use in _TOKEN_USES:
            self.accepted[use].also = self.hits[use]
        # Found by (reason, token use): a flood of bad tokens builds no attributes per token.
        self._rejections: dict[tuple[str, str], Tally] = {}

    def rejected(self, error: CognitoJWTError, token_use: str) -> None:
        """Count a verification that raised `error` (a `TokenError` or JWKS unavailability)."""
        tally = self._rejections.get((error.reason, token_use))
        if tally is None:
            unavailable = isinstance(error, (JWKSUnavailableError, RevocationUnavailableError))
            outcome = "unavailable" if unavailable else "rejected"
            tally = _tally(
                _verifications,
                outcome=outcome,
                reason=error.reason,
                token_use=token_use,
                pool=self.pool,
            )
            self._rejections[(error.reason, token_use)] = tally
        tally.count += 1


# -- JWKS -------------------------------------------------------------------------------------

_JWKS_OUTCOMES: dict[tuple[bool, str], Mapping[str, str]] = {}


def count_jwks_fetch(pool: str, ok: bool, span: Span) -> None:
    """Count one JWKS download, and mark the span around it with the outcome."""
    attributes = _JWKS_OUTCOMES.get((ok, pool))
    if attributes is None:
        attributes = {"outcome": "success" if ok else "failure", "pool": pool}
        _JWKS_OUTCOMES[(ok, pool)] = attributes
    _jwks_fetches.add(1, attributes)
    span.set_attribute("cognito_jwt.outcome", attributes["outcome"])
    if not ok:
        span.set_status(StatusCode.ERROR)


@contextmanager
def jwks_fetch_span() -> Iterator[Span]:
    """A client span around one JWKS download; `count_jwks_fetch` adds its outcome, only."""
    with _tracer.start_as_current_span(
        "cognito_jwt.jwks.fetch", kind=SpanKind.CLIENT, record_exception=False
    ) as span:
        yield span


# -- Cognito API ------------------------------------------------------------------------------

_CallP = ParamSpec("_CallP")
_T = TypeVar("_T")
_Call = Callable[Concatenate[Any, Any, str, _CallP], Awaitable[_T]]


def _tracing() -> bool:
    """Whether the app installed a tracer provider: until it does, every span is a no-op.

    Making that no-op span (attributes, context switch) was about 2.5 % of the CPU of a call
    to Cognito, so a call skips it. Asked on each call: a provider may be installed later.
    """
    return not isinstance(
        trace.get_tracer_provider(), (trace.ProxyTracerProvider, trace.NoOpTracerProvider)
    )


def traced_cognito_call(call: _Call[_CallP, _T]) -> _Call[_CallP, _T]:
    """Wrap `call(client, endpoint, operation, ...)` in a client span named for the operation.

    The span holds the operation's name and, on failure, the error's `reason`: never the
    request body (passwords, codes, tokens) nor Cognito's message (it may quote them).
    """

    @functools.wraps(call)
    async def traced(
        client: Any, endpoint: Any, operation: str, /, *args: _CallP.args, **kwargs: _CallP.kwargs
    ) -> _T:
        if not _tracing():
            return await call(client, endpoint, operation, *args, **kwargs)
        with _tracer.start_as_current_span(
            f"CognitoIdentityProvider/{operation}",
            kind=SpanKind.CLIENT,
            attributes={
                "rpc.system": "aws-api",
                "rpc.service": "CognitoIdentityProvider",
                "rpc.method": operation,
            },
            record_exception=False,
            set_status_on_exception=False,
        ) as span:
            try:
                return await call(client, endpoint, operation, *args, **kwargs)
            except CognitoJWTError as exc:
                span.set_attribute("error.type", exc.reason)
                span.set_status(StatusCode.ERROR)
                raise

    return traced


# -- revocations ------------------------------------------------------------------------------

_REVOCATION_ATTRIBUTES: dict[tuple[str, str], Mapping[str, str]] = {}


def _revocation_attributes(kind: RevocationKind, pool: str) -> Mapping[str, str]:
    attributes = _REVOCATION_ATTRIBUTES.get((kind, pool))
    if attributes is None:
        attributes = _REVOCATION_ATTRIBUTES.setdefault((kind, pool), {"kind": kind, "pool": pool})
    return attributes


def count_revocation_recorded(kind: RevocationKind, pool: str = "") -> None:
    """Count one revocation added to the list: a session (`origin_jti`) or a user's sign-out."""
    _revocations_recorded.add(1, _revocation_attributes(kind, pool))


def count_revocation_enforced(kind: RevocationKind, pool: str = "") -> None:
    """Count one token refused because its session or its user was revoked."""
    _revocations_enforced.add(1, _revocation_attributes(kind, pool))
