"""A redis-server of a test's (or a benchmark's) own, to restart: the AOF fsynced on every
write, as a deployment that promises no lost write runs it."""

from __future__ import annotations

import contextlib
import subprocess
from pathlib import Path

import redis as redis_py

from app.foundations.storage import never_retrying
from tests.support.redis_cluster import BIN
from tests.support.waiting import eventually


class OwnRedis:
    """A redis-server of the test's own, on disk with every write fsynced, to restart."""

    def __init__(self, directory: Path, port: int) -> None:
        self.directory, self.port = directory, port
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                str(BIN / "redis-server"),
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--dir",
                str(self.directory),
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
                "--save",
                "",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        eventually(lambda: _pings(self.port), 20, "redis-server up")

    def restart(self) -> None:
        """SHUTDOWN (the AOF is fsynced on every write), then start it again on its files."""
        with contextlib.suppress(redis_py.ConnectionError):
            never_retrying(port=self.port).shutdown(nosave=False)
        self.process.wait(timeout=20)
        self.start()

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=20)


def _pings(port: int) -> bool:
    try:
        return bool(never_retrying(port=port).ping())
    except redis_py.ConnectionError:
        return False
