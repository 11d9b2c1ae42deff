"""`make bench`: µs per verification for the RS256 floor, this library and three peers, one run.

The peers (fastapi-cognito, fastapi-cloudauth, cognitojwt[async], at the versions pinned in
`benchmarks/compare-requirements.txt`) and matplotlib are installed, with `pip install -e .`
of this repository, into a virtualenv of their own, `.bench-venv/`, so they conflict with
nothing in the project's `.venv`. It is made on first use and reused while the requirements
file, `pyproject.toml` and the Python version stay as they were (a stamp in the virtualenv
records them); otherwise, or with `--rebuild`, it is made afresh.

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
import hashlib
import os
import shutil
import subprocess
import sys
import time
import venv
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
VENV = ROOT / ".bench-venv"
REQUIREMENTS = HERE / "compare-requirements.txt"
WORKER = HERE / "compare_worker.py"
STAMP = VENV / ".compare-stamp"


def venv_python() -> Path:
    return VENV / ("Scripts" if os.name == "nt" else "bin") / "python"


def fingerprint() -> str:
    """What the virtualenv was made from: the pins, our own dependencies, the Python."""
    digest = hashlib.sha256()
    for path in (REQUIREMENTS, ROOT / "pyproject.toml"):
        digest.update(path.read_bytes())
    digest.update(f"{sys.version_info.major}.{sys.version_info.minor}".encode())
    return digest.hexdigest()


def ensure_venv(rebuild: bool) -> Path:
    """Return .bench-venv's interpreter, making the virtualenv first unless it is current."""
    python = venv_python()
    wanted = fingerprint()
    current = STAMP.read_text().strip() if STAMP.exists() else None
    if not rebuild and python.exists() and current == wanted:
        return python
    print(f"making {VENV.relative_to(ROOT)} ({REQUIREMENTS.relative_to(ROOT)})...", flush=True)
    if VENV.exists():
        shutil.rmtree(VENV)
    venv.create(VENV, with_pip=True)
    pip = [str(python), "-m", "pip", "--disable-pip-version-check", "--quiet"]
    _run([*pip, "install", "--upgrade", "pip"])
    _run([*pip, "install", "-r", str(REQUIREMENTS), "-e", str(ROOT)])
    _run([*pip, "check"])
    STAMP.write_text(wanted + "\n")  # last: an interrupted install is redone next time
    return python


def _run(command: list[str]) -> None:
    # Only ever .bench-venv's own pip, with arguments written here.
    result = subprocess.run(  # noqa: S603
        command, cwd=ROOT, capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        sys.stderr.write(result.stdout + result.stderr)
        raise SystemExit(f"failed ({result.returncode}): {' '.join(command)}")


def main() -> int:
    parser = argparse.ArgumentParser(
        description=(__doc__ or "").splitlines()[0],
        epilog="Other options go to benchmarks/compare_worker.py: "
        "--tokens N --batch B --rounds R --chart PATH --no-chart.",
    )
    parser.add_argument("--rebuild", action="store_true", help="remake .bench-venv")
    args, worker_args = parser.parse_known_args()
    started = time.perf_counter()
    python = ensure_venv(args.rebuild)
    # The worker parses (and refuses) its own options; it runs as the user who runs this.
    code = subprocess.call([str(python), str(WORKER), *worker_args], cwd=ROOT)  # noqa: S603
    print(f"compare.py: {time.perf_counter() - started:.0f} s in all", file=sys.stderr)
    return code


if __name__ == "__main__":
    raise SystemExit(main())
