"""`make demo` (python -m examples.demo): the walkthrough, and serving until Ctrl-C."""

import os
import signal
import subprocess
import sys
from pathlib import Path

import anyio
import httpx2
import pytest

from examples import demo
from examples.fastcognito.emulator import free_port

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


def _start(**env: str) -> "subprocess.Popen[str]":
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("COGNITO_", "DEMO_"))}
    return subprocess.Popen(
        [sys.executable, "-m", "examples.demo"],
        cwd=ROOT,
        env={**clean, "PYTHONUNBUFFERED": "1", **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def test_walkthrough_then_exit() -> None:
    with _start(DEMO_EXIT="1", DEMO_PORT=str(free_port())) as run:
        out, _ = run.communicate(timeout=120)
    assert run.returncode == 0, out
    answers = [line.split()[1] for line in out.splitlines() if line.startswith("  -> ")]
    # sign up, a chosen role refused, duplicate, sign in unverified, verify, wrong password,
    # unknown user, sign in, no token, protected route, me, admin route before the admin's call,
    # refresh, admin route after it, change password, logout, me after logout, the protected
    # route after logout, sign in again, protected route, revoke, the protected route with the
    # revoked session's token, refresh with the revoked refresh token
    assert answers == [
        "201", "422", "409", "403", "200", "401", "401", "200", "401", "200", "200", "403",
        "200", "200", "200", "204", "401", "401", "200", "200", "204", "401", "401",
    ]  # fmt: skip
    assert f"Answers: {' '.join(answers)}" in out
    assert '"message": "User created successfully"' in out
    assert "custom:role" not in out and '"message": "Hello, administrator"' in out
    assert "keeps running" not in out
    for password in (demo.PASSWORD, demo.NEW_PASSWORD, "Wr0ng-password!"):
        assert password not in out


@pytest.mark.parametrize(
    ("argv", "env", "exits", "port"),
    [
        ([], {}, False, 8000),
        ([], {"DEMO_EXIT": "0", "DEMO_PORT": "8001"}, False, 8001),
        ([], {"DEMO_EXIT": "1"}, True, 8000),
        (["--exit-after-walkthrough", "--port", "9000"], {}, True, 9000),
    ],
)
def test_options(
    monkeypatch: pytest.MonkeyPatch, argv: list[str], env: dict[str, str], exits: bool, port: int
) -> None:
    for name in ("DEMO_EXIT", "DEMO_PORT"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    args = demo.parse_args(argv)
    assert (args.exit_after_walkthrough, args.port) == (exits, port)


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT stands for Ctrl-C on POSIX")
def test_keeps_serving_the_docs_until_ctrl_c() -> None:
    port = free_port()
    with _start(DEMO_PORT=str(port)) as run:
        try:
            assert run.stdout is not None
            line = next((line for line in run.stdout if "keeps running" in line), "")
            assert f"http://127.0.0.1:{port}/docs" in line, "the demo ended without serving"
            for path in ("/docs", "/openapi.json"):
                assert httpx2.get(f"http://127.0.0.1:{port}{path}", timeout=10).status_code == 200
            run.send_signal(signal.SIGINT)
            assert run.wait(timeout=30) == 0
        finally:
            if run.poll() is None:
                run.kill()


@pytest.mark.anyio
async def test_a_failed_walkthrough_stops_the_server(monkeypatch: pytest.MonkeyPatch) -> None:
    async def broken_walk(base_url: str, promote: object = None) -> list[int]:
        raise RuntimeError("the walkthrough broke")

    monkeypatch.setattr(demo, "walk", broken_walk)
    monkeypatch.setattr(demo, "use_dummy_aws_env", lambda: None)  # keep this process's env
    with anyio.fail_after(60), pytest.raises(RuntimeError, match="walkthrough broke"):
        # Without the flag the demo would serve until Ctrl-C; a failure must end it anyway.
        await demo.main(exit_after_walkthrough=False, port=free_port())
