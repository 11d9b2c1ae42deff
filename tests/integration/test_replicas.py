"""Two replicas of the example app (two uvicorn processes) sharing one real Redis, on moto.

A sign-out on replica A must make replica B refuse the signed-out token within 1 s; measured
over 200 sign-outs (the distribution is printed: run with `-s` to see it). Replica B restarted
afterwards still refuses the tokens, from what it loads out of Redis.
"""

import os
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest

from examples.fastcognito.emulator import LocalPool, create_user_pool, free_port, idp_client
from tests.integration.conftest import PASSWORD, RedisServer

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
SIGN_OUTS = 200
HELLO = "/api/v1/users/hello"


class Replica:
    """`uvicorn --factory examples.fastcognito.main:create_app` in a process of its own."""

    def __init__(self, pool: LocalPool, redis_url: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        settings = pool.settings()
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("COGNITO_", "AWS_"))},
            "AWS_REGION_NAME": settings.AWS_REGION_NAME,
            "AWS_COGNITO_APP_CLIENT_ID": settings.AWS_COGNITO_APP_CLIENT_ID,
            "AWS_COGNITO_USER_POOL_ID": settings.AWS_COGNITO_USER_POOL_ID,
            "AWS_COGNITO_ENDPOINT_URL": settings.AWS_COGNITO_ENDPOINT_URL or "",
            "AWS_COGNITO_JWKS_URL": settings.AWS_COGNITO_JWKS_URL or "",
            "REDIS_URL": redis_url,
        }
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        command = [sys.executable, "-m", "uvicorn", "--factory", "--log-level", "warning"]
        command += ["--host", "127.0.0.1", "--port", str(self.port)]
        command += ["examples.fastcognito.main:create_app"]
        self.process = subprocess.Popen(command, cwd=ROOT, env=self.env)  # noqa: S603
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx2.get(f"{self.url}/", timeout=1).status_code == 200:
                    return
            except httpx2.TransportError:
                time.sleep(0.05)
        raise RuntimeError("the replica did not start")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=15)
            self.process = None


@pytest.fixture
def replicas(moto_server: str, redis_server: RedisServer) -> Iterator[tuple[Replica, Replica]]:
    pool = create_user_pool(moto_server)
    a, b = Replica(pool, redis_server.url), Replica(pool, redis_server.url)
    try:
        a.start()
        b.start()
        yield a, b
    finally:
        a.stop()
        b.stop()


def test_sign_out_on_a_is_refused_by_b_within_a_second(
    moto_server: str, replicas: tuple[Replica, Replica]
) -> None:
    a, b = replicas
    idp = idp_client(moto_server)
    email = "ada@example.com"
    with httpx2.Client(timeout=10) as http:
        signup = {"email": email, "password": PASSWORD, "full_name": "Ada"}
        signup |= {"phone_number": "+15555550100"}
        assert http.post(f"{a.url}/api/v1/auth/signup", json=signup).status_code == 201
        confirm = {"username": email, "code": "123456"}
        assert http.post(f"{a.url}/api/v1/auth/verify", json=confirm).status_code == 200
        client_id = a.env["AWS_COGNITO_APP_CLIENT_ID"]
        delays: list[float] = []
        signed_out: list[str] = []
        for _ in range(SIGN_OUTS):
            token = idp.initiate_auth(
                ClientId=client_id,
                AuthFlow="USER_PASSWORD_AUTH",
                AuthParameters={"USERNAME": email, "PASSWORD": PASSWORD},
            )["AuthenticationResult"]["AccessToken"]
            headers = {"Authorization": f"Bearer {token}"}
            assert http.get(f"{b.url}{HELLO}", headers=headers).status_code == 200
            assert http.post(f"{a.url}/api/v1/auth/logout", headers=headers).status_code == 204
            answered = time.perf_counter()
            while (status := http.get(f"{b.url}{HELLO}", headers=headers).status_code) == 200:
                assert time.perf_counter() - answered < 5, "replica B still accepts the token"
            delays.append(time.perf_counter() - answered)
            assert status == 401
            signed_out.append(token)
        cuts = statistics.quantiles(delays, n=100)
        print(
            f"\nB refuses after A's 204, over {len(delays)} sign-outs (ms): "
            f"min {min(delays) * 1e3:.1f}, median {statistics.median(delays) * 1e3:.1f}, "
            f"p90 {cuts[89] * 1e3:.1f}, p99 {cuts[98] * 1e3:.1f}, max {max(delays) * 1e3:.1f}"
        )
        assert max(delays) < 1.0
        b.stop()
        b.start()
        for token in signed_out[:: SIGN_OUTS // 20]:
            headers = {"Authorization": f"Bearer {token}"}
            assert http.get(f"{b.url}{HELLO}", headers=headers).status_code == 401
