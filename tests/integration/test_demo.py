"""`make demo` (python -m examples.demo): the walkthrough, and serving until Ctrl-C."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from examples.fastcognito.emulator import free_port

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
PASSWORDS = ("Corr3ct-horse-battery!", "An0ther-horse-battery!", "Wr0ng-password!")


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("COGNITO_", "DEMO_"))}
    return {**env, "PYTHONUNBUFFERED": "1", **extra}


def test_walkthrough_then_exit() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "examples.demo", "--exit-after-walkthrough"],
        cwd=ROOT,
        env=_env(DEMO_PORT=str(free_port())),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    answers = [line.split()[1] for line in out.splitlines() if line.startswith("  -> ")]
    # sign up, duplicate, sign in unverified, verify, wrong password, unknown user, sign in,
    # no token, protected route, me, refresh, change password, logout, me after logout
    assert answers == [
        "201", "409", "403", "200", "401", "401", "200", "401", "200", "200", "200", "200",
        "204", "401",
    ]  # fmt: skip
    assert '"message": "User created successfully"' in out
    assert '"custom:role": "engineer"' in out
    assert "keeps running" not in out
    for password in PASSWORDS:
        assert password not in out + result.stderr


def test_exit_flag_from_the_environment() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "examples.demo"],
        cwd=ROOT,
        env=_env(DEMO_EXIT="1", DEMO_PORT=str(free_port())),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "Answers: 201 409" in result.stdout


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT stands for Ctrl-C on POSIX")
def test_keeps_serving_the_docs_until_ctrl_c() -> None:
    port = free_port()
    with subprocess.Popen(
        [sys.executable, "-m", "examples.demo"],
        cwd=ROOT,
        env=_env(DEMO_PORT=str(port)),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    ) as demo:
        _serve_then_stop(demo, port)


def _serve_then_stop(demo: subprocess.Popen[str], port: int) -> None:
    try:
        assert demo.stdout is not None
        for line in demo.stdout:
            if "keeps running" in line:
                assert f"http://127.0.0.1:{port}/docs" in line
                break
        else:
            pytest.fail("the demo ended without serving")
        assert httpx.get(f"http://127.0.0.1:{port}/docs", timeout=10).status_code == 200
        assert httpx.get(f"http://127.0.0.1:{port}/openapi.json", timeout=10).status_code == 200
        demo.send_signal(signal.SIGINT)
        assert demo.wait(timeout=30) == 0
    finally:
        if demo.poll() is None:
            demo.kill()
            demo.wait()


@pytest.mark.anyio
async def test_a_failed_walkthrough_stops_the_server(monkeypatch: pytest.MonkeyPatch) -> None:
    import anyio

    from examples import demo

    async def broken_walk(base_url: str) -> list[int]:
        raise RuntimeError("the walkthrough broke")

    monkeypatch.setattr(demo, "walk", broken_walk)
    monkeypatch.setattr(demo, "use_dummy_aws_env", lambda: None)  # the fixture's env suffices
    with anyio.fail_after(60), pytest.raises(RuntimeError, match="walkthrough broke"):
        # Without the flag the demo would serve until Ctrl-C; a failure must end it anyway.
        await demo.main(exit_after_walkthrough=False, port=free_port())
