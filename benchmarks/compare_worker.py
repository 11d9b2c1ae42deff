"""The measuring half of `make bench`: `benchmarks/compare.py` runs it inside .bench-venv.

One RSA key, N Cognito access tokens of one shape (the test kit's `LocalUserPool`) and their
JWKS are fed, without network, to the floor (`bench_verify.floor`: base64url decoding,
cryptography's RS256 check, a JSON parse of the payload), to this library and to three peers.
Each is timed on (a) distinct tokens, each verified once per round, and (b) one token repeated.
The timing is paired as in `bench_verify.py`: the tokens are cut into batches, and for each
batch the floor and every contender, in both modes, are timed back to back in a rotating order
(so machine noise falls on all alike); each time is divided by the floor's for that batch, and
the medians of those per-batch ratios are reported, with a table of which wrong tokens each
contender lets through, and a chart (`--chart`).

The peers are imported with `importlib` (their modules are `Any` to mypy, and they are absent
from the project's .venv), and so is matplotlib. How each is fed and what each checks is said
where it is built, below.
Run: `python benchmarks/compare.py [--tokens N] [--batch B] [--rounds R] [--chart PATH]`.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from unittest import mock

from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi.security import HTTPAuthorizationCredentials

from fastapi_cognito_jwt import CognitoVerifier
from fastapi_cognito_jwt._verification.base64url import DECODER
from fastapi_cognito_jwt.testing import LocalUserPool

# `python benchmarks/compare_worker.py` puts benchmarks/ on the path, not the repository root.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks.bench_verify import DISTINCT_TARGET, REPEATED_TARGET, floor, timed

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CHART = ROOT / "docs" / "img" / "verify-benchmark.png"
FLOOR = "floor"
MODES = ("distinct", "repeated")

# A verification as the benchmark calls it: a token in, an awaitable of its claims out.
Verify = Callable[[str], Awaitable[object]]


@dataclass(frozen=True)
class Contender:
    """A verifier under test.

    `fresh()` gives a verify function that has seen none of the tokens (one per round of
    distinct tokens); `hot` is one that has already verified the repeated token twice.
    """

    name: str
    version: str
    fed: str
    checks: str
    fresh: Callable[[], Verify]
    hot: Verify


def this_library(pool: LocalUserPool, loop: asyncio.AbstractEventLoop, hot_token: str) -> Contender:
    # Fed through the test kit's httpx transport, which serves the pool's JWKS; the keys are
    # fetched once, before timing, and shared by a fresh verifier per round (as bench_verify).
    shared = pool.verifier()
    loop.run_until_complete(shared.jwks.refresh())
    for _ in range(2):  # the second verification admits the token to the cache
        loop.run_until_complete(shared.verify(hot_token, token_use="access"))

    def fresh() -> Verify:
        verifier = CognitoVerifier(shared.settings, jwks=shared.jwks)
        return lambda token: verifier.verify(token, token_use="access")

    return Contender(
        name="fastapi-cognito-jwt",
        version=version("fastapi-cognito-jwt"),
        fed="LocalUserPool's httpx transport serves the JWKS, fetched once before timing",
        checks=(
            "strict base64url and JSON, header (alg RS256, kid, no jku/x5u/crit...), signature, "
            "iss, token_use, client_id, exp/nbf/iat and lifetime, typed claims model; caches a "
            "token on its second verification"
        ),
        fresh=fresh,
        hot=lambda token: shared.verify(token, token_use="access"),
    )


def fastapi_cognito(pool: LocalUserPool, jwks_path: Path) -> Contender:
    # fastapi-cognito's `CognitoAuth.auth_required` dependency splits the Authorization header,
    # then awaits `_decode_token` (-> `cognito_jwt.decode.decode_cognito_jwt`) and builds its
    # `CognitoToken` model from the claims: timed here are those last two steps. It is fed
    # through its own `jwks_url` setting, which may name a local file (read with aiofile, then
    # kept by an `alru_cache`). Per token it parses the header, finds the kid in the cached
    # key list, imports the JWK anew (joserfc), checks the signature (joserfc's `jwt.decode`,
    # which validates no claims), `exp`, and `client_id` (access) or `aud` (ID) - whichever
    # the token's own `token_use` names. It checks no `iss`, `iat` or `nbf`, and never which
    # token_use was wanted: an ID token fails only because `CognitoToken` requires `scope`.
    module = importlib.import_module("fastapi_cognito")
    settings = module.CognitoSettings(
        check_expiration=True,
        jwt_header_name="Authorization",
        jwt_header_prefix="Bearer",
        userpools={
            "bench": {
                "region": _region(pool),
                "userpool_id": pool.user_pool_id,
                "app_client_id": pool.client_id,
                "jwks_url": str(jwks_path),
            }
        },
    )
    auth = module.CognitoAuth(settings=settings)

    async def verify(token: str) -> object:
        payload = await auth._decode_token(token=token)
        return auth._cognito_token_model(**payload)

    return Contender(
        name="fastapi-cognito",
        version=version("fastapi-cognito"),
        fed="its jwks_url setting names a local JWKS file (its file branch; alru_cache after)",
        checks=(
            "signature, exp, client_id (or aud, by the token's own token_use), CognitoToken "
            "model; NO iss, iat/nbf or wanted-token_use check; re-imports the JWK per token"
        ),
        fresh=lambda: verify,
        hot=verify,
    )


def fastapi_cloudauth(pool: LocalUserPool, tokens: Sequence[str]) -> Contender:
    # fastapi-cloudauth's `Cognito` is itself the dependency: `__call__(http_auth)` awaits
    # `verifier.verify_token` and then `call` (which returns the claims as a dict), given the
    # `HTTPAuthorizationCredentials` FastAPI's `HTTPBearer` would make; those are made before
    # timing. Its `JWKS` fetches the keys with `requests.get` in the constructor and never
    # refreshes them (Cognito's JWKS sets no expiry), so `requests.get` is patched for the
    # construction only, to answer with the pool's JWKS; its own code builds the python-jose
    # keys once. Per token it checks the signature with the key of the header's kid (the
    # algorithm is the key's, RS256), then `jwt.decode` without signature (exp, nbf, iat,
    # iss, and aud only if the token has one: Cognito access tokens have none, so the client
    # is never checked), iat not in the future, and token_use "access" when present.
    requests = importlib.import_module("requests")
    module = importlib.import_module("fastapi_cloudauth.cognito")
    response = mock.Mock()
    response.json.return_value = pool.jwks()
    with mock.patch.object(requests, "get", return_value=response) as get:
        auth = module.Cognito(
            region=_region(pool), userPoolId=pool.user_pool_id, client_id=pool.client_id
        )
    get.assert_called_once_with(pool.jwks_url)
    credentials = {token: _credentials(token) for token in tokens}

    def verify(token: str) -> Awaitable[object]:
        http_auth = credentials.get(token) or _credentials(token)  # probes are not prepared
        result: Awaitable[object] = auth(http_auth)
        return result

    return Contender(
        name="fastapi-cloudauth",
        version=version("fastapi-cloudauth"),
        fed="requests.get patched while Cognito() is built (its JWKS is fetched there, once)",
        checks=(
            "signature, exp, nbf, iat, iss, token_use; NO client_id check for access tokens "
            "(aud only, which they lack); returns a dict"
        ),
        fresh=lambda: verify,
        hot=verify,
    )


def cognitojwt(pool: LocalUserPool, jwks_path: Path) -> Contender:
    # cognitojwt's `decode_async(token, region, userpool_id, app_client_id)`. It is fed
    # through `AWS_COGNITO_JWKS_PATH`, which it reads on every call and which may name a local
    # file (read with aiofile, then kept by an `alru_cache` keyed on the path). Per token it
    # parses the header, finds the kid in the cached key list, constructs the python-jose key
    # anew, checks the signature (the algorithm is the key's), `exp`, and `client_id` or `aud`
    # by the token's own token_use. It checks no `iss`, `iat` or `nbf` and accepts an ID
    # token where an access token is wanted; the claims come back as a dict.
    os.environ["AWS_COGNITO_JWKS_PATH"] = str(jwks_path)
    module = importlib.import_module("cognitojwt")
    region, pool_id, client_id = _region(pool), pool.user_pool_id, pool.client_id

    def verify(token: str) -> Awaitable[object]:
        result: Awaitable[object] = module.decode_async(
            token, region, pool_id, app_client_id=client_id
        )
        return result

    return Contender(
        name="cognitojwt (async)",
        version=version("cognitojwt"),
        fed="AWS_COGNITO_JWKS_PATH names a local JWKS file (its file branch; alru_cache after)",
        checks=(
            "signature, exp, client_id (or aud, by the token's own token_use); NO iss, "
            "iat/nbf or wanted-token_use check; constructs the key per token; returns a dict"
        ),
        fresh=lambda: verify,
        hot=verify,
    )


def _region(pool: LocalUserPool) -> str:
    return pool.user_pool_id.split("_", 1)[0]


def _credentials(token: str) -> HTTPAuthorizationCredentials:
    return HTTPAuthorizationCredentials(scheme="Bearer", credentials=token)


def _username(claims: object) -> object:
    if isinstance(claims, dict):
        return claims.get("username")
    return getattr(claims, "username", None)


def _batch(
    loop: asyncio.AbstractEventLoop, verify: Verify, batch: Sequence[str]
) -> Callable[[], None]:
    async def go() -> None:
        for token in batch:
            await verify(token)

    return lambda: loop.run_until_complete(go())


# -- checks ---------------------------------------------------------------------------------


def probes(pool: LocalUserPool) -> dict[str, str]:
    """Tokens every contender should reject, each signed with the pool's key but one."""
    impostor = LocalUserPool(user_pool_id=pool.user_pool_id, client_id=pool.client_id)
    other_pool = pool.issuer.rsplit("_", 1)[0] + "_OtherPool9"
    return {
        "forged signature": impostor.access_token(username="user0"),
        "expired": pool.access_token(username="user0", expires_in=-600),
        "other issuer": pool.access_token(username="user0", claims={"iss": other_pool}),
        "other client": pool.access_token(username="user0", claims={"client_id": "intruder"}),
        "ID token": pool.id_token(username="user0"),
    }


def accepted(loop: asyncio.AbstractEventLoop, verify: Verify, token: str) -> bool:
    try:
        loop.run_until_complete(_awaited(verify, token))
    except Exception:
        return False
    return True


async def _awaited(verify: Verify, token: str) -> object:
    return await verify(token)


def check_acceptance(
    loop: asyncio.AbstractEventLoop, contender: Contender, tokens: Sequence[str]
) -> None:
    """Each contender must accept the benchmark's tokens, or we would time a rejection."""
    for verify, index in ((contender.hot, 0), (contender.fresh(), len(tokens) - 1)):
        claims = loop.run_until_complete(_awaited(verify, tokens[index]))
        if _username(claims) != f"user{index}":
            raise SystemExit(f"{contender.name} did not accept the benchmark token: {claims!r}")


# -- measurement ----------------------------------------------------------------------------


@dataclass
class Figures:
    """Per-batch times (µs/token) and ratios to the floor timed for the same batch."""

    times: list[float]
    ratios: list[float]

    def median_time(self) -> float:
        return statistics.median(self.times)

    def median_ratio(self) -> float:
        return statistics.median(self.ratios)


def measure(
    loop: asyncio.AbstractEventLoop,
    contenders: Sequence[Contender],
    public_key: rsa.RSAPublicKey,
    tokens: Sequence[str],
    batch_size: int,
    rounds: int,
) -> dict[tuple[str, str], Figures]:
    """Paired batches: for each batch, the floor and every contender in both modes."""
    batches = [tokens[i : i + batch_size] for i in range(0, len(tokens), batch_size)]
    figures: dict[tuple[str, str], Figures] = {
        (name, mode): Figures([], [])
        for name in (FLOOR, *(c.name for c in contenders))
        for mode in MODES
    }
    slot = 0
    for round_number in range(rounds):
        verifies = {c.name: c.fresh() for c in contenders}  # nothing cached from earlier rounds
        for batch in batches:
            hot_batch = [tokens[0]] * len(batch)
            jobs: list[tuple[tuple[str, str], Callable[[], None]]] = [
                ((FLOOR, "distinct"), floor([public_key] * len(batch), batch))
            ]
            for c in contenders:
                jobs.append(((c.name, "distinct"), _batch(loop, verifies[c.name], batch)))
                jobs.append(((c.name, "repeated"), _batch(loop, c.hot, hot_batch)))
            shift = slot % len(jobs)  # rotate the order, so no one always runs first
            slot += 1
            times = {key: timed(run, len(batch)) for key, run in jobs[shift:] + jobs[:shift]}
            # The floor has no cache: one timing per batch stands for both modes.
            times[(FLOOR, "repeated")] = floor_us = times[(FLOOR, "distinct")]
            for key, us in times.items():
                figures[key].times.append(us)
                figures[key].ratios.append(us / floor_us)
        print(f"  round {round_number + 1}/{rounds} done", file=sys.stderr, flush=True)
    return figures


# -- report ---------------------------------------------------------------------------------


def report(
    contenders: Sequence[Contender],
    figures: dict[tuple[str, str], Figures],
    verdicts: dict[str, dict[str, bool]],
    caption: str,
) -> None:
    print(caption)
    print()
    header = (
        f"{'contender':<28} {'version':<8} {'distinct µs/token':>18} {'x floor':>8}"
        f" {'repeated µs/token':>18} {'x floor':>8}"
    )
    print(header)
    print("-" * len(header))
    rows = [(FLOOR + " (b64 + RS256 + JSON)", "", FLOOR)] + [
        (c.name, c.version, c.name) for c in contenders
    ]
    for label, release, name in rows:
        distinct, repeated = figures[(name, "distinct")], figures[(name, "repeated")]
        print(
            f"{label:<28} {release:<8} {distinct.median_time():>18.1f}"
            f" {distinct.median_ratio():>8.2f} {repeated.median_time():>18.1f}"
            f" {repeated.median_ratio():>8.2f}"
        )
    print()
    ours = contenders[0].name
    for mode, target in (("distinct", DISTINCT_TARGET), ("repeated", REPEATED_TARGET)):
        ratios = figures[(ours, mode)].ratios
        ratio = statistics.median(ratios)
        print(
            f"{ours}, {mode} tokens: {ratio:.3f}x floor, target <= {target}x: "
            f"{'met' if ratio <= target else 'NOT met'} (quartiles "
            + "-".join(f"{q:.3f}" for q in statistics.quantiles(ratios, n=4)[::2])
            + ")"
        )
    print()
    kinds = list(next(iter(verdicts.values())))
    print(f"{'wrong token ->':<28} " + " ".join(f"{kind:>16}" for kind in kinds))
    for name, verdict in verdicts.items():
        cells = ("ACCEPTED" if verdict[kind] else "rejected" for kind in kinds)
        print(f"{name:<28} " + " ".join(f"{cell:>16}" for cell in cells))
    print()
    print("notes (how each is fed the JWKS, without network; what each checks per token):")
    print(f"- {FLOOR}: signature and a JSON parse only; every other check is extra work")
    for c in contenders:
        print(f"- {c.name} {c.version}\n    fed: {c.fed}\n    checks: {c.checks}")


def write_chart(
    path: Path,
    contenders: Sequence[Contender],
    figures: dict[tuple[str, str], Figures],
    verdicts: dict[str, dict[str, bool]],
    subtitle: str,
) -> None:
    """Grouped bars of the ratios, on a log scale, drawn from the floor (1x) up or down."""
    matplotlib = importlib.import_module("matplotlib")
    matplotlib.use("Agg")
    plt = importlib.import_module("matplotlib.pyplot")
    names = [c.name for c in contenders]
    labels = [f"{c.name}\n{c.version}" for c in contenders]
    labels[0] += " (this library)"
    for i, name in enumerate(names):  # what the probes found, under each name
        through = [kind for kind, ok in verdicts[name].items() if ok]
        labels[i] += "\nlets through:\n" + (
            ", ".join(through) if through else f"none of {len(verdicts[name])} wrong tokens"
        )
    width = 0.38
    fig, ax = plt.subplots(figsize=(10, 5.8))
    floor_us = figures[(FLOOR, "distinct")].median_time()
    ax.axhline(1.0, color="black", linewidth=1, linestyle="--", label=f"floor ({floor_us:.0f} µs)")
    for offset, mode, colour in (
        (-width / 2, "distinct", "#4878a8"),
        (width / 2, "repeated", "#e0a040"),
    ):
        for i, name in enumerate(names):
            ratio, us = figures[(name, mode)].median_ratio(), figures[(name, mode)].median_time()
            ax.bar(
                i + offset,
                ratio - 1,
                width,
                bottom=1,
                color=colour,
                label=f"{mode} tokens" if i == 0 else None,
            )
            ax.annotate(
                f"{ratio:.2f}x\n{us:.0f} µs" if us >= 10 else f"{ratio:.2f}x\n{us:.1f} µs",
                (i + offset, ratio),
                ha="center",
                va="bottom" if ratio >= 1 else "top",
                fontsize=8,
                xytext=(0, 2 if ratio >= 1 else -2),
                textcoords="offset points",
            )
    ratios = [figures[(name, mode)].median_ratio() for name in names for mode in MODES]
    ax.set_yscale("log")
    ax.set_ylim(min(ratios) / 2.5, max(ratios) * 2.5)
    ax.set_xticks(range(len(names)), labels)
    ax.set_ylabel("time per verification / floor time (log scale)")
    ax.set_title(
        "Cognito access-token verification, relative to the RS256 floor\n"
        f"ratios measured in one run on a {os.cpu_count()}-CPU machine; {subtitle}",
        fontsize=10,
    )
    ax.legend(loc="lower right", fontsize=9)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=150)
    plt.close(fig)


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--tokens", type=int, default=1000, help="distinct tokens minted")
    parser.add_argument("--batch", type=int, default=100, help="tokens per paired batch")
    parser.add_argument("--rounds", type=int, default=40, help="passes over all tokens")
    parser.add_argument("--chart", type=Path, default=DEFAULT_CHART, help="the PNG written")
    parser.add_argument("--no-chart", action="store_true", help="print the table only")
    args = parser.parse_args()
    if args.tokens < 2 or args.batch < 1 or args.rounds < 1:
        parser.error("need at least 2 tokens, a batch of 1 and 1 round")

    pool = LocalUserPool()
    tokens = [pool.access_token(username=f"user{i}", groups=["users"]) for i in range(args.tokens)]
    public_key = pool.public_key()
    loop = asyncio.new_event_loop()
    # The JWKS file two peers read stays in place all run long, though they cache it.
    with tempfile.TemporaryDirectory() as scratch:
        jwks_path = Path(scratch) / "jwks.json"
        jwks_path.write_text(json.dumps(pool.jwks()))
        contenders = [
            this_library(pool, loop, tokens[0]),
            fastapi_cognito(pool, jwks_path),
            fastapi_cloudauth(pool, tokens),
            cognitojwt(pool, jwks_path),
        ]
        for contender in contenders:  # also loads each file-fed JWKS into its cache
            check_acceptance(loop, contender, tokens)

        async def floor_verify(token: str) -> object:
            floor([public_key], [token])()  # raises when the signature is wrong
            return None

        wrong = probes(pool)
        verifiers = [(FLOOR, floor_verify), *((c.name, c.fresh()) for c in contenders)]
        verdicts = {
            name: {kind: accepted(loop, verify, token) for kind, token in wrong.items()}
            for name, verify in verifiers
        }

        print(
            f"{len(contenders)} contenders and the floor, {args.rounds} rounds over "
            f"{args.tokens} tokens in batches of {args.batch}...",
            file=sys.stderr,
            flush=True,
        )
        started = time.perf_counter()
        figures = measure(loop, contenders, public_key, tokens, args.batch, args.rounds)
        elapsed = time.perf_counter() - started
        for contender in contenders:  # still accepting at the end: no rejection was timed
            check_acceptance(loop, contender, tokens)
    loop.close()

    batches = len(figures[(FLOOR, "distinct")].times)
    subtitle = (
        f"median of {batches} paired batches of {args.batch} tokens\n"
        f"base64url decoded with {DECODER} by fastapi-cognito-jwt, with the standard library "
        f"by the floor"
    )
    report(
        contenders,
        figures,
        verdicts,
        caption=(
            f"{subtitle}, {os.cpu_count()} CPUs, Python {sys.version.split()[0]}, "
            f"measured in {elapsed:.0f} s; times are medians of per-batch µs/token, ratios "
            f"medians of per-batch time / floor time"
        ),
    )
    if not args.no_chart:
        write_chart(args.chart, contenders, figures, verdicts, subtitle)
        print(f"\nchart: {args.chart}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
