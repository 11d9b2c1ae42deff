"""Long-run fuzzing: the CI properties' generators, for 100 000 inputs, without pytest.

Run from the repository root: `python -m fuzz.run [--inputs N] [--stream S]` (or
`python fuzz/run.py ...`). Inputs come from `fuzz.generators` driven by
`random.Random(stream)`, so a run is reproducible; each is sent in-process to the ASGI app
(or, for "direct", to `CognitoVerifier.verify`) and judged by `fuzz.harness`. The report
counts inputs by category, statuses, outcomes, 500s, acceptances (of minted tokens, of freshly
signed valid ones, of anything else), JWKS fetches, elapsed time and throughput. The exit
status is 1 if any input got a 500 or an escaped exception, any token was wrongly accepted,
any answer was not the one the oracle expects, or the JWKS was fetched more often than its
cooldown and TTL allow.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import random
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

if __package__ in (None, ""):  # `python fuzz/run.py`: make the repository root importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from fuzz.generators import GENERATORS
from fuzz.harness import Tally, asgi_sender, build_target, run_case

__all__ = ["WEIGHTS", "Report", "fuzz", "main"]

WEIGHTS = {
    "header": 20,
    "shape": 15,
    "mutation": 30,
    "signed-claims": 15,
    "signed-json": 10,
    "direct": 10,
}
"""How often each generator runs, in percent."""


@dataclass(frozen=True)
class Report:
    """A run's counts, and whether they pass."""

    stream: int
    tally: Tally
    elapsed: float
    jwks_fetches: int
    jwks_fetch_limit: int

    @property
    def ok(self) -> bool:
        tally = self.tally
        return (
            tally.server_errors == 0
            and tally.wrongful == 0
            and tally.accepted_changed == 0
            and tally.failures == 0
            and self.jwks_fetches <= self.jwks_fetch_limit
        )

    def lines(self) -> list[str]:
        tally = self.tally
        total = sum(tally.inputs.values())
        rate = total / self.elapsed if self.elapsed else math.inf
        lines = [f"inputs: {total} (stream {self.stream})"]
        lines += [f"  {name:<14} {count:>7}" for name, count in sorted(tally.inputs.items())]
        lines.append("HTTP statuses:")
        lines += [f"  {status:<14} {count:>7}" for status, count in sorted(tally.statuses.items())]
        lines.append("outcomes:")
        lines += [f"  {name:<14} {count:>7}" for name, count in sorted(tally.outcomes.items())]
        lines += [
            f"500s / escaped exceptions: {tally.server_errors}",
            f"acceptances (200, or claims from verify()): {tally.accepted}",
            f"  of minted tokens, byte for byte unchanged: {tally.accepted_minted}",
            f"  of freshly signed tokens the rules accept: {tally.accepted_signed}",
            f"  of changed tokens (must be 0): {tally.accepted_changed}",
            f"wrongful verified answers (200/403/expired the rules refuse): {tally.wrongful}",
            f"inputs with any problem: {tally.failures}",
            f"JWKS fetches: {self.jwks_fetches} (cooldown and TTL allow {self.jwks_fetch_limit})",
            f"elapsed: {self.elapsed:.1f} s, {rate:.0f} inputs/s",
        ]
        for case, verdict in tally.examples:
            lines += [f"FAILED {case!r}", f"  {verdict!r}"]
        lines.append("PASS" if self.ok else "FAIL")
        return lines


async def fuzz(
    inputs: int, stream: int, *, progress: Callable[[int, float], None] | None = None
) -> Report:
    """Generate, send and judge `inputs` cases from `random.Random(stream)`."""
    target = build_target()
    send = asgi_sender(target.app)
    rng = random.Random(stream)  # noqa: S311 - reproducible inputs, not cryptography
    categories, weights = list(WEIGHTS), list(WEIGHTS.values())
    tally = Tally()
    start = time.perf_counter()
    for done in range(1, inputs + 1):
        category = rng.choices(categories, weights)[0]
        case = GENERATORS[category](rng, target.ctx)
        tally.add(case, await run_case(case, target, send))
        if progress is not None and done % 10_000 == 0:
            progress(done, time.perf_counter() - start)
    elapsed = time.perf_counter() - start
    settings = target.verifier.settings
    # One first fetch, one unknown-kid refetch per cooldown, one refresh per TTL.
    limit = 2 + int(elapsed // settings.jwks_miss_cooldown) + int(elapsed // settings.jwks_ttl)
    return Report(stream, tally, elapsed, target.pool.jwks_requests, limit)


def _progress(done: int, elapsed: float) -> None:
    print(f"... {done} inputs, {elapsed:.0f} s", file=sys.stderr, flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the flags, run, print the report; 0 if it passes, 1 if not."""
    parser = argparse.ArgumentParser(
        prog="python -m fuzz.run", description="Long-run fuzzing of the bearer and the verifier."
    )
    parser.add_argument("--inputs", type=int, default=100_000, help="inputs to run (100000)")
    parser.add_argument("--stream", type=int, default=0, help="which input stream to replay (0)")
    parser.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    args = parser.parse_args(argv)
    report = asyncio.run(fuzz(args.inputs, args.stream, progress=None if args.quiet else _progress))
    print("\n".join(report.lines()))
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
