"""The MCP server over HTTP as `mysafe-bot mcp --http` and `serve` start it: a URL assistants can
use, and nothing advertised that the bot does not run (no OAuth authorization server)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
import requests

from app.foundations.errors import ConfigError
from app.foundations.settings import Settings
from tests.support.processes import free_port, wait_until_ready

PUBLIC = "MYSAFE_BOT_MCP_PUBLIC_URL"


def _run(argv: list[str], env: dict[str, str], cwd) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "app.ops.cli", *argv],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={"PATH": os.environ["PATH"], **env},
        timeout=30,
    )


@pytest.mark.slow
@pytest.mark.parametrize(
    "argv",
    [
        ["mcp", "--http", "--host", "0.0.0.0"],
        ["serve", "--host", "0.0.0.0"],  # serve starts the MCP sibling on its own host
    ],
)
def test_an_mcp_server_on_a_public_address_needs_its_public_url(
    env: dict[str, str], tmp_path, argv: list[str]
) -> None:
    env = {**env, "MYSAFE_BOT_MCP_PORT": str(free_port())}
    result = _run(argv, env, tmp_path)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith(f"mysafe-bot: configuration error: {PUBLIC}: is required")
    assert "0.0.0.0" in line


@pytest.mark.parametrize(
    ("host", "url"),
    [
        ("127.0.0.1", "http://127.0.0.1:3001"),
        ("localhost", "http://localhost:3001"),
        ("::1", "http://[::1]:3001"),
    ],
)
def test_a_loopback_mcp_server_is_reached_where_it_listens(
    env: dict[str, str], host: str, url: str
) -> None:
    assert Settings.from_env(env, dotenv=None).mcp_url(host=host, port=3001) == url


def test_a_public_url_is_used_as_given(env: dict[str, str]) -> None:
    settings = Settings.from_env({**env, PUBLIC: "https://mysafe-bot.example.com"}, dotenv=None)
    assert settings.mcp_url(host="0.0.0.0", port=3001) == "https://mysafe-bot.example.com"
    with pytest.raises(ConfigError) as caught:
        Settings.from_env(env, dotenv=None).mcp_url(host="10.1.2.3", port=3001)
    assert caught.value.variable == PUBLIC


@pytest.mark.slow
def test_mcp_http_advertises_no_authorization_server(env: dict[str, str], tmp_path) -> None:
    """A 401 says `Bearer` and nothing more; no OAuth metadata names a server that is not there."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "app.ops.cli",
            "mcp",
            "--http",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        env={"PATH": os.environ["PATH"], **env},
        cwd=tmp_path,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        refused = wait_until_ready(f"{base}/mcp", process, time.monotonic() + 30)
        assert refused.status_code == 401
        challenge = refused.headers["WWW-Authenticate"]
        assert challenge.startswith("Bearer") and "resource_metadata" not in challenge
        for path in (
            "/.well-known/oauth-protected-resource",
            "/.well-known/oauth-protected-resource/mcp",
            "/.well-known/oauth-authorization-server",
        ):
            assert requests.get(f"{base}{path}", timeout=5).status_code == 404, path
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
