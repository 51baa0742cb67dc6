"""The ``edustream`` command: help on every subcommand, and ``dev`` supervising its children."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from server.settings import Settings

EDUSTREAM = str(Path(sys.executable).parent / "edustream")

SUBCOMMAND_OPTIONS = {
    "dev": ["--api-port", "--frontend-port", "--no-seed", "--no-frontend", "--no-tasks", "--stop-embedded"],
    "api": ["--host", "--port", "--workers", "--reload", "--no-migrate"],
    "worker": ["--workers", "--max-async-tasks"],
    "scheduler": ["--update-interval"],
    "migrate": [],
    "seed": ["--demo"],
    "admin": ["create"],
}


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([EDUSTREAM, *args], capture_output=True, text=True, timeout=60, check=False)


def test_top_level_help_lists_every_subcommand() -> None:
    result = _run("--help")
    assert result.returncode == 0
    for name in SUBCOMMAND_OPTIONS:
        assert re.search(rf"^\s+{name}\b", result.stdout, re.MULTILINE), name


@pytest.mark.parametrize("command", sorted(SUBCOMMAND_OPTIONS))
def test_subcommand_help_exits_zero_and_lists_its_options(command: str) -> None:
    result = _run(command, "--help")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"usage: edustream {command}")
    for option in SUBCOMMAND_OPTIONS[command]:
        assert option in result.stdout


def test_seed_without_demo_is_a_usage_error() -> None:
    result = _run("seed")
    assert result.returncode == 2
    assert "pass --demo" in result.stderr


def test_invalid_production_configuration_is_refused_cleanly() -> None:
    env = {**os.environ, "ENVIRONMENT": "production", "SECRET_KEY": "short"}
    result = subprocess.run([EDUSTREAM, "migrate"], capture_output=True, text=True, timeout=60, env=env, check=False)
    assert result.returncode == 1
    assert "invalid configuration" in result.stderr and "SECRET_KEY" in result.stderr
    assert "Traceback" not in result.stderr


# --- edustream dev ------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _port_open(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


class Dev:
    """``edustream dev`` running in the background, its merged output collected."""

    def __init__(self, settings: Settings, port: int) -> None:
        env = {**os.environ, "DATABASE_URL": settings.database_url, "REDIS_URL": settings.redis_url,
               "ENVIRONMENT": "test", "PYTHONUNBUFFERED": "1"}
        self.port = port
        self.proc = subprocess.Popen(
            [EDUSTREAM, "dev", "--no-seed", "--no-frontend", "--no-tasks", "--api-port", str(port)],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.lines: list[str] = []

    def wait_for_line(self, pattern: str, timeout: float = 90) -> re.Match[str]:
        assert self.proc.stdout is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line and self.proc.poll() is not None:
                break
            self.lines.append(line)
            match = re.search(pattern, line)
            if match:
                return match
        raise AssertionError(f"{pattern!r} never appeared:\n{''.join(self.lines)}")

    def finish(self, timeout: float = 30) -> str:
        out, _ = self.proc.communicate(timeout=timeout)
        return "".join(self.lines) + out


@pytest.fixture
def dev(settings: Settings) -> Iterator[Dev]:
    running = Dev(settings, _free_port())
    yield running
    if running.proc.poll() is None:
        running.proc.kill()
        running.proc.wait()


def test_dev_prints_the_urls_and_stops_every_child_on_sigint(dev: Dev) -> None:
    api_pid = int(dev.wait_for_line(r"started api \(pid (\d+)\)").group(1))
    dev.wait_for_line("EduStream is running")
    dev.wait_for_line(r"API docs\s+http://localhost:\d+/api/v1/docs")
    assert _port_open(dev.port)

    dev.proc.send_signal(signal.SIGINT)
    output = dev.finish()

    assert dev.proc.returncode == 0, output
    assert re.search(r"^\[api\] .*Application startup complete", output, re.MULTILINE)
    assert "all processes stopped" in output
    assert not _port_open(dev.port)
    with pytest.raises(ProcessLookupError):
        os.kill(api_pid, 0)


def test_dev_stops_everything_with_an_error_when_a_child_dies(dev: Dev) -> None:
    api_pid = int(dev.wait_for_line(r"started api \(pid (\d+)\)").group(1))
    dev.wait_for_line("EduStream is running")

    os.kill(api_pid, signal.SIGKILL)
    output = dev.finish()

    assert dev.proc.returncode == 1, output
    assert "api exited with code -9" in output


def test_api_logs_are_timestamped_plain_lines_without_colour(settings: Settings) -> None:
    port = _free_port()
    env = {**os.environ, "DATABASE_URL": settings.database_url, "REDIS_URL": settings.redis_url,
           "ENVIRONMENT": "test", "LOG_JSON": "false"}
    proc = subprocess.Popen([EDUSTREAM, "api", "--port", str(port), "--no-migrate"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 60
        while not _port_open(port) and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.2)
        proc.send_signal(signal.SIGINT)
        output, _ = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, output
    assert "Application startup complete" in output
    assert "\x1b[" not in output and "color_message" not in output
    assert re.search(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} INFO ", output, re.MULTILINE)


def test_seed_demo_is_refused_in_production() -> None:
    # A valid production configuration pointing at nothing: the refusal comes before any connection.
    env = {**os.environ, "ENVIRONMENT": "production", "SECRET_KEY": "s" * 40,
           "DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none", "REDIS_URL": "redis://127.0.0.1:1/0",
           "STRIPE_SECRET_KEY": "sk_test_x", "STRIPE_WEBHOOK_SECRET": "whsec_x", "METRICS_TOKEN": "m" * 20}
    result = subprocess.run([EDUSTREAM, "seed", "--demo"], capture_output=True, text=True, timeout=60, env=env,
                            check=False)
    assert result.returncode == 2, result.stderr
    assert "refusing to load demo data with ENVIRONMENT=production" in result.stderr


async def test_admin_create_makes_an_admin_who_can_sign_in_and_use_the_admin_api(
        settings: Settings, app: Any, client: httpx.AsyncClient) -> None:
    email = f"ops-{uuid.uuid4().hex[:8]}@example.com"
    env = {**os.environ, "DATABASE_URL": settings.database_url, "REDIS_URL": settings.redis_url}
    result = await asyncio.to_thread(
        subprocess.run, [EDUSTREAM, "admin", "create", "--email", email, "--password-stdin"],
        input="a long admin passphrase\n", capture_output=True, text=True, timeout=120, env=env, check=False)
    assert result.returncode == 0, result.stderr
    assert f"created admin {email}" in result.stdout
    login = await client.post("/api/v1/auth/login", json={"email": email, "password": "a long admin passphrase"})
    assert login.status_code == 200, login.text
    assert login.json()["user"]["role"] == "admin"
    token = login.json()["access_token"]
    client.cookies.clear()
    r = await client.get("/api/v1/admin/users", headers={"Authorization": f"Bearer {token}"}, params={"q": email})
    assert r.status_code == 200 and [u["email"] for u in r.json()["items"]] == [email]


def test_admin_create_refuses_a_short_password() -> None:
    result = subprocess.run([EDUSTREAM, "admin", "create", "--email", "x@example.com", "--password-stdin"],
                            input="short\n", capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 2 and "8 to" in result.stderr


def test_api_refuses_permessage_deflate_and_oversized_frames(settings: Settings) -> None:
    """What `edustream api` passes to uvicorn (LIVE_UVICORN_OPTIONS): a browser's offer of
    permessage-deflate is declined (it would cost each live connection ~47 KB of zlib state),
    and a WebSocket frame over 64 KiB ends the connection (1009)."""
    from websockets.exceptions import ConnectionClosed
    from websockets.sync.client import connect

    port = _free_port()
    env = {**os.environ, "DATABASE_URL": settings.database_url, "REDIS_URL": settings.redis_url,
           "ENVIRONMENT": "test", "RATE_LIMIT_ENABLED": "false"}
    proc = subprocess.Popen([EDUSTREAM, "api", "--port", str(port), "--no-migrate"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while not _port_open(port) and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.2)
        url = f"ws://127.0.0.1:{port}/socket.io/?EIO=4&transport=websocket"
        with connect(url, compression="deflate", open_timeout=30) as ws:
            assert ws.response.headers.get("Sec-WebSocket-Extensions") is None
            assert ws.recv(timeout=30).startswith("0{")  # Engine.IO's open packet: the socket works
        with connect(url, compression=None, open_timeout=30, max_size=None) as ws:
            ws.recv(timeout=30)
            ws.send("4" + "x" * 70_000)
            with pytest.raises(ConnectionClosed) as closed:
                while True:
                    ws.recv(timeout=30)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
