"""`benchmarks/load.py` for 5 seconds: a real uvicorn serving mixed tokens concurrently.

The one test where the library runs under a real server, over sockets, with many requests in
flight: no 5xx, every answer the one the route owes, and the caches bounded while they fill
and evict. The token pool and the cache are small so that priming takes about a second.
Throughput is not asserted: CI machines are shared and noisy.
"""

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.security

ROOT = Path(__file__).resolve().parents[2]
CACHE_SIZE = 500
ARGS = f"--seconds 5 --distinct 2000 --cache-size {CACHE_SIZE} --json"
# The statuses each kind of request may get (/public answers 200 whatever the header), and
# those it must get at least once.
ANSWERS = {
    "valid_distinct": ({"200", "403"}, {"200"}),
    "valid_hot": ({"200", "403"}, {"200"}),
    "expired": ({"200", "401"}, {"401"}),
    "forged": ({"200", "401"}, {"401"}),
    "garbage": ({"200", "401"}, {"401"}),
    "missing": ({"200", "400", "401"}, {"400", "401"}),  # 400: two Authorization headers
}


def test_mixed_load_under_uvicorn() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("COGNITO_")}
    result = subprocess.run(  # noqa: S603 - fixed arguments
        [sys.executable, "-W", "error", "benchmarks/load.py", *ARGS.split()],
        cwd=ROOT,
        env={**env, "PYTHONUNBUFFERED": "1"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, f"{result.stdout}\n{result.stderr}"
    summary: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    assert (summary["ok"], summary["failures"]) == (True, [])
    for count in ("server_errors", "unexpected", "transport_errors"):
        assert summary[count] == summary["prime"][count] == 0, count
    assert summary["prime"]["requests"] == 2 * CACHE_SIZE
    assert sum(summary["statuses"].values()) == summary["requests"]
    assert set(summary["kinds"]) == set(ANSWERS)
    for kind, seen in summary["kinds"].items():
        allowed, required = ANSWERS[kind]
        assert allowed >= set(seen["statuses"]) >= required, kind
        assert sum(seen["statuses"].values()) == seen["requests"], kind
    # Primed full, then more distinct tokens than the cache holds: it kept evicting.
    cache = summary["cache"]
    assert cache["primed"]["cache"] == cache["end"]["cache"] == CACHE_SIZE
    assert summary["distinct_tokens_sent"] // 2 > CACHE_SIZE
    for moment in ("primed", "warmup", "end"):
        assert cache[moment]["cache_max"] == CACHE_SIZE
        assert cache[moment]["cache"] <= CACHE_SIZE
        assert cache[moment]["seen"] <= max(2 * CACHE_SIZE, 1024)
        assert cache[moment]["headers_memo"] <= 32
    assert summary["rss_mb"]["growth"] <= summary["rss_mb"]["max_growth"]
    assert summary["rss_samples"] >= 3  # about one a second
