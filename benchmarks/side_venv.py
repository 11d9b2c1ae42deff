"""A virtualenv of a benchmark's own (peers, boto3...), made once and remade when its pins,
our dependencies or the Python change; used by compare.py and bench_flows.py."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def ensure_venv(directory: Path, requirements: Path, editable: str, *, rebuild: bool) -> Path:
    """Return `directory`'s interpreter, making the virtualenv first unless it is current.

    `editable` is what to install from this repository (`"."` or `".[auth-flows]"`).
    """
    python = directory / ("Scripts" if os.name == "nt" else "bin") / "python"
    stamp = directory / ".stamp"
    wanted = _fingerprint(requirements, editable)
    current = stamp.read_text().strip() if stamp.exists() else None
    if not rebuild and python.exists() and current == wanted:
        return python
    print(f"making {directory.relative_to(ROOT)} ({requirements.relative_to(ROOT)})...", flush=True)
    if directory.exists():
        shutil.rmtree(directory)
    venv.create(directory, with_pip=True)
    pip = [str(python), "-m", "pip", "--disable-pip-version-check", "--quiet"]
    _run([*pip, "install", "--upgrade", "pip"])
    _run([*pip, "install", "-r", str(requirements), "-e", editable.replace(".", str(ROOT), 1)])
    _run([*pip, "check"])
    stamp.write_text(wanted + "\n")  # last: an interrupted install is redone next time
    return python


def _fingerprint(requirements: Path, editable: str) -> str:
    """What the virtualenv was made from: the pins, our own dependencies and extras, the Python."""
    digest = hashlib.sha256(editable.encode())
    for path in (requirements, ROOT / "pyproject.toml"):
        digest.update(path.read_bytes())
    digest.update(f"{sys.version_info.major}.{sys.version_info.minor}".encode())
    return digest.hexdigest()


def _run(command: list[str]) -> None:
    # Only ever the side virtualenv's own pip, with arguments written here.
    result = subprocess.run(  # noqa: S603
        command, cwd=ROOT, capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        sys.stderr.write(result.stdout + result.stderr)
        raise SystemExit(f"failed ({result.returncode}): {' '.join(command)}")
