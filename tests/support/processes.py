"""Starting the bot's own processes from tests, as an administrator would, and waiting for them."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import pytest
import requests


def run(env: dict[str, str], *args: str, stdin: str = "", cwd=None) -> subprocess.CompletedProcess:
    full_env = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/tmp"), **env}
    return subprocess.run([sys.executable, "-m", "app.cli", *args], input=stdin, text=True,
                          capture_output=True, env=full_env, timeout=60, cwd=cwd)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until_ready(url: str, process: subprocess.Popen, deadline: float) -> requests.Response:
    while time.monotonic() < deadline:
        assert process.poll() is None, process.stderr.read()
        try:
            return requests.get(url, timeout=2)
        except requests.RequestException:
            time.sleep(0.1)  # polling a port that is not open yet: nothing to await instead
    pytest.fail("server did not start")
