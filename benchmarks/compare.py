"""`make bench`: µs per verification for the RS256 floor, this library and three peers, one run.

The peers (fastapi-cognito, fastapi-cloudauth, cognitojwt[async], at the versions pinned in
`benchmarks/compare-requirements.txt`) and matplotlib are installed, with
`pip install -e .[speedups]` of this repository, into a virtualenv of their own,
`.bench-venv/`, so they conflict with nothing in the project's `.venv`. It is made on first
use and reused while the requirements file, `pyproject.toml` and the Python version stay as
they were (a stamp in the virtualenv records them); otherwise, or with `--rebuild`, it is made
afresh.

The measuring is done by `benchmarks/compare_worker.py`, inside that virtualenv: distinct
tokens and one repeated token, for the floor, this library and each peer, fed the same tokens
and JWKS without network, in paired batches as `benchmarks/bench_verify.py` does. It prints a
table of medians and ratios to the floor (and which wrong tokens each peer lets through) and
writes `docs/img/verify-benchmark.png`. This script needs only the standard library.
Run: `make bench`, or `python benchmarks/compare.py [--rebuild] [worker options]`; the worker
options are `--tokens N --batch B --rounds R --chart PATH --no-chart`.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

# `python benchmarks/<this>.py` puts benchmarks/ on the path, not the repository root.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks.side_venv import ensure_venv

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

VENV = ROOT / ".bench-venv"
REQUIREMENTS = HERE / "compare-requirements.txt"
WORKER = HERE / "compare_worker.py"


def main() -> int:
    parser = argparse.ArgumentParser(
        description=(__doc__ or "").splitlines()[0],
        epilog="Other options go to benchmarks/compare_worker.py: "
        "--tokens N --batch B --rounds R --chart PATH --no-chart.",
    )
    parser.add_argument("--rebuild", action="store_true", help="remake .bench-venv")
    args, worker_args = parser.parse_known_args()
    started = time.perf_counter()
    python = ensure_venv(VENV, REQUIREMENTS, ".[speedups]", rebuild=args.rebuild)
    # The worker parses (and refuses) its own options; it runs as the user who runs this.
    code = subprocess.call([str(python), str(WORKER), *worker_args], cwd=ROOT)  # noqa: S603
    print(f"compare.py: {time.perf_counter() - started:.0f} s in all", file=sys.stderr)
    return code


if __name__ == "__main__":
    raise SystemExit(main())
