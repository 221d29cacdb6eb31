"""The MCP server beside gunicorn, supervised: restarted with backoff whenever it dies.

`mysafe-bot serve` runs the MCP server as a sibling process (its transport is ASGI, the web
app WSGI). Before, if it died (its port taken, a crash) nobody noticed: `/healthz` and
`/readyz` stayed 200. Now a thread in the master restarts it with backoff and logs each
death, and `/readyz` (and `doctor`) report when it does not answer on its port.
"""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import threading
from collections.abc import Sequence

log = logging.getLogger(__name__)

#: Set by `serve` for its gunicorn workers: where the supervised MCP server should answer.
ENV = "MYSAFE_BOT_MCP_SUPERVISED"
BACKOFF_CAP = 30.0


class Sibling:
    def __init__(self, argv: Sequence[str]) -> None:
        self.argv = list(argv)
        self.process: subprocess.Popen[bytes] | None = None
        self.restarts = 0
        self._stopping = threading.Event()

    def start(self) -> Sibling:
        self.process = self._spawn()
        threading.Thread(target=self._watch, name="mcp-supervisor", daemon=True).start()
        return self

    def pid(self) -> int | None:
        """The running server's process id (it changes when the server is restarted)."""
        return self.process.pid if self.process is not None else None

    def stop(self) -> None:
        self._stopping.set()
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=30)

    def _spawn(self) -> subprocess.Popen[bytes]:
        return subprocess.Popen(self.argv)  # noqa: S603 - our own argv

    def _watch(self) -> None:
        delay = 1.0
        while self.process is not None:
            code = self.process.wait()
            if self._stopping.is_set():
                return
            log.error("mcp server exited; restarting", extra={
                "event": "mcp.died", "code": code, "restart_in": delay})
            if self._stopping.wait(delay):
                return
            self.restarts += 1
            self.process = self._spawn()
            delay = min(delay * 2, BACKOFF_CAP)


def answers(address: str, *, timeout: float = 0.5) -> bool:
    """Does something accept connections at `host:port`?"""
    host, _, port = address.rpartition(":")
    try:
        with socket.create_connection((host, int(port)), timeout=timeout):
            return True
    except (OSError, ValueError):
        return False


def not_ready() -> str | None:
    """Why readiness fails for the MCP sibling, or None (also when serve runs none)."""
    address = os.environ.get(ENV)
    if address and not answers(address):
        return f"mcp: the MCP server does not answer on {address} (restarting)"
    return None
