"""RSS of 1 000 000 revocations held in memory by one replica (target: under 150 MB).

Each kind is measured in a fresh process: the RSS after importing the library and building an
empty `InMemoryRevocationList` (the baseline), then after 1 000 000 entries were applied in
batches of 10 000 (the batches themselves are freed), as a replica holds them after loading
the list from Redis. Sessions are keyed by uuid4 strings, as Cognito's `origin_jti` is; users
by a uuid4 `sub` and one issuer. Both the growth and the whole process are printed; the target
is judged on the growth, the list's own cost ("mixed" is 900 000 sessions and 100 000 users).
Run: `make bench-revocations`, or `python benchmarks/revocation_memory.py [--entries N]`.
"""

from __future__ import annotations

import argparse
import gc
import subprocess
import sys
import time
import uuid

import psutil

TARGET_MB = 150.0
KINDS = ("sessions", "users", "mixed")


def measure(kind: str, entries: int) -> tuple[float, float, int]:
    """(growth MB, total RSS MB, entries held) for `entries` entries of `kind`."""
    from fastapi_cognito_jwt import CognitoSettings, InMemoryRevocationList, Revocation

    settings = CognitoSettings(user_pool_id="eu-west-1_Bench", client_ids=["bench"])
    revocations = InMemoryRevocationList(settings)
    issuer = settings.accepted_issuers[0]
    gc.collect()
    process = psutil.Process()
    before = process.memory_info().rss
    now = time.time()
    users_from = {"sessions": entries, "users": 0, "mixed": entries * 9 // 10}[kind]
    for start in range(0, entries, 10_000):
        batch = []
        for index in range(start, min(start + 10_000, entries)):
            # Spread over an hour of sign-outs, as real ones are.
            at = now - (index % 3600)
            if index < users_from:
                batch.append(Revocation("session", str(uuid.uuid4()), "", 0.0, at + 86_400))
            else:
                batch.append(Revocation("user", str(uuid.uuid4()), issuer, at, at + 86_400))
        revocations.apply(batch)
    del batch
    gc.collect()
    after = process.memory_info().rss
    return (after - before) / 2**20, after / 2**20, len(revocations)


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--kind", choices=KINDS, help="measure one kind, in this process")
    args = parser.parse_args()
    if args.kind:
        growth, total, held = measure(args.kind, args.entries)
        print(f"{args.kind:<8} {held:>9} entries: +{growth:6.1f} MB RSS (process {total:.1f} MB)")
        return 0 if growth < TARGET_MB else 1
    print(f"Python {sys.version.split()[0]}; target: under {TARGET_MB:.0f} MB for the entries")
    failed = 0
    for kind in KINDS:
        command = [sys.executable, __file__, "--kind", kind, "--entries", str(args.entries)]
        failed |= subprocess.run(command, check=False).returncode  # noqa: S603
    print("target met" if not failed else "target NOT met")
    return failed


if __name__ == "__main__":
    raise SystemExit(main())
