"""The load test's CI smoke version: `benchmarks/load.py` for 5 seconds, no 5xx, bounded caches.

The full run (`make load`: 60 s, 20 000 distinct tokens, the library's default cache size)
judges memory; this one shrinks the token pool and the cache so that priming takes about a
second and the cache still fills and evicts, and checks the script's verdict and its summary.
Throughput is not asserted: CI machines are shared and noisy.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.security

ROOT = Path(__file__).resolve().parents[2]
# As passed to the script below (literals there, for the subprocess linter).
SECONDS = 5
DISTINCT = 2000
CACHE_SIZE = 500
KINDS = ("valid_distinct", "valid_hot", "expired", "forged", "garbage", "missing")
# /public answers 200 whatever the header; the protected routes answer these.
ALLOWED = {
    "valid_distinct": {"200", "403"},
    "valid_hot": {"200", "403"},
    "expired": {"200", "401"},
    "forged": {"200", "401"},
    "garbage": {"200", "401"},
    "missing": {"200", "400", "401"},
}


@pytest.fixture(scope="module")
def smoke() -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    # subprocess.run kills the script on timeout; its server process exits when it does.
    env = {k: v for k, v in os.environ.items() if not k.startswith("COGNITO_")}
    result = subprocess.run(
        [
            sys.executable,
            "-W",
            "error",
            "benchmarks/load.py",
            "--seconds",
            "5",
            "--distinct",
            "2000",
            "--cache-size",
            "500",
            "--json",
        ],
        cwd=ROOT,
        env={**env, "PYTHONUNBUFFERED": "1"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    lines = result.stdout.strip().splitlines()
    assert lines, f"no output; stderr:\n{result.stderr}"
    summary: dict[str, Any] = json.loads(lines[-1])
    return result, summary


def test_exits_zero_with_no_failures(
    smoke: tuple[subprocess.CompletedProcess[str], dict[str, Any]],
) -> None:
    result, summary = smoke
    assert result.returncode == 0, f"{result.stdout}\n{result.stderr}"
    assert summary["ok"] is True
    assert summary["failures"] == []
    assert "OK" in result.stdout


def test_no_5xx_and_every_answer_as_owed(
    smoke: tuple[subprocess.CompletedProcess[str], dict[str, Any]],
) -> None:
    _result, summary = smoke
    assert summary["server_errors"] == 0
    assert summary["unexpected"] == 0
    assert summary["unexpected_detail"] == []
    assert summary["transport_errors"] == 0
    assert summary["prime"] == {
        "requests": 2 * CACHE_SIZE,
        "server_errors": 0,
        "unexpected": 0,
        "transport_errors": 0,
        "seconds": summary["prime"]["seconds"],
    }
    assert set(summary["statuses"]) <= {"200", "400", "401", "403"}
    assert sum(summary["statuses"].values()) == summary["requests"]


def test_every_kind_of_request_was_sent(
    smoke: tuple[subprocess.CompletedProcess[str], dict[str, Any]],
) -> None:
    _result, summary = smoke
    assert summary["seconds"] == SECONDS
    assert summary["elapsed"] >= SECONDS
    assert summary["requests"] > 0
    assert summary["rps"] > 0
    assert set(summary["kinds"]) == set(KINDS)
    for kind, seen in summary["kinds"].items():
        assert seen["requests"] > 0, kind
        assert set(seen["statuses"]) <= ALLOWED[kind], kind
        assert sum(seen["statuses"].values()) == seen["requests"], kind
    assert summary["kinds"]["valid_distinct"]["statuses"]["200"] > 0
    assert summary["kinds"]["valid_hot"]["statuses"]["200"] > 0
    for kind in ("expired", "forged", "garbage", "missing"):
        assert summary["kinds"][kind]["statuses"]["401"] > 0, kind
    assert summary["kinds"]["missing"]["statuses"]["400"] > 0  # two Authorization headers


def test_caches_stay_bounded_and_memory_is_reported(
    smoke: tuple[subprocess.CompletedProcess[str], dict[str, Any]],
) -> None:
    _result, summary = smoke
    cache = summary["cache"]
    # Primed full, then more distinct tokens than the cache holds: it kept evicting.
    assert cache["primed"]["cache"] == CACHE_SIZE
    assert summary["distinct_tokens_sent"] // 2 > CACHE_SIZE
    for moment in ("primed", "warmup", "end"):
        assert cache[moment]["cache_max"] == CACHE_SIZE
        assert cache[moment]["cache"] <= CACHE_SIZE
        assert cache[moment]["seen"] <= max(2 * CACHE_SIZE, 1024)
        assert cache[moment]["headers_memo"] <= 32
    assert cache["end"]["cache"] == CACHE_SIZE
    rss = summary["rss_mb"]
    assert set(rss) >= {"ready", "primed", "warmup", "end", "growth", "max_growth"}
    assert rss["ready"] > 0
    assert rss["growth"] <= rss["max_growth"]
    assert summary["rss_samples"] >= 3  # about one a second
