"""The MCP server beside gunicorn, supervised: restarted with backoff whenever it dies.

`mysafe-bot serve` runs the MCP server as a sibling process (its transport is ASGI, the web
app WSGI). Before, if it died (its port taken, a crash) nobody noticed: `/healthz` and
`/readyz` stayed 200. Now a thread in the master restarts it with backoff and logs each
death, and `/readyz` (and `doctor`) report when it does not answer on its port.

Each sibling runs in a process group of its own: a terminal's Ctrl-C (SIGINT to the foreground
group) reaches the master alone, which stops its siblings itself (`stop_all`). Before, the
siblings died of the same Ctrl-C while the master still ran, and their supervisors logged each
as a crash and started them again during the shutdown.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterable, Sequence

from app.ops import cpu_pinning

log = logging.getLogger(__name__)

#: Set by `serve` for its gunicorn workers: where the supervised MCP server should answer.
ENV = "MYSAFE_BOT_MCP_SUPERVISED"
BACKOFF_CAP = 30.0


class Sibling:
    def __init__(
        self,
        argv: Sequence[str],
        *,
        name: str = "mcp",
        hold_hup: bool = False,
        cpu: int | None = None,
    ) -> None:
        self.argv = list(argv)
        self.name = name
        #: Start with SIGHUP blocked (a signal mask survives exec), for a program that unblocks
        #: it once its handler is in place: a reload forwarded while it starts must not kill it.
        self.hold_hup = hold_hup
        #: The one CPU it runs on (an affinity survives exec, and its threads inherit it), each
        #: time it is started; None: wherever the kernel puts it.
        self.cpu = cpu
        self.process: subprocess.Popen[bytes] | None = None
        self.restarts = 0
        self._stopping = threading.Event()

    def start(self) -> Sibling:
        self.process = self._spawn()
        threading.Thread(target=self._watch, name=f"{self.name}-supervisor", daemon=True).start()
        return self

    def pid(self) -> int | None:
        """The running server's process id (it changes when the server is restarted)."""
        return self.process.pid if self.process is not None else None

    def stop(self) -> None:
        stop_all([self])

    def _ask_to_stop(self) -> None:
        """No restart from now on, and SIGTERM to the running process (once: a second one
        would make some programs, uvicorn among them, cut their own shutdown short)."""
        if self._stopping.is_set():
            return
        self._stopping.set()
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()

    def _wait_stopped(self, timeout: float) -> None:
        if self.process is not None:
            self.process.wait(timeout=timeout)

    def _spawn(self) -> subprocess.Popen[bytes]:
        def prepare() -> None:  # in the child, before exec
            _die_with_parent()
            if self.hold_hup:
                signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGHUP})
            cpu_pinning.keep(self.cpu)

        # process_group=0: a group of its own, out of reach of the terminal's Ctrl-C.
        return subprocess.Popen(self.argv, preexec_fn=prepare, process_group=0)  # noqa: S603

    def _watch(self) -> None:
        delay = 1.0
        while self.process is not None:
            started = time.monotonic()
            code = self.process.wait()
            if self._stopping.is_set():
                return
            if time.monotonic() - started > BACKOFF_CAP:
                delay = 1.0  # it had been running well: a death weeks later waits 1 s, not 30
            log.error(
                f"{self.name} exited; restarting",
                extra={"event": f"{self.name}.died", "code": code, "restart_in": delay},
            )
            if self._stopping.wait(delay):
                return
            self.restarts += 1
            self.process = self._spawn()
            delay = min(delay * 2, BACKOFF_CAP)


def ask_to_stop(siblings: Iterable[Sibling]) -> None:
    """Tell siblings to stop, without waiting for them (`stop_all` waits)."""
    for sibling in siblings:
        sibling._ask_to_stop()


def stop_all(siblings: Iterable[Sibling], *, timeout: float = 30.0) -> None:
    """Stop siblings together: each is told at once, then each is waited for, so the stop
    takes as long as the slowest, not the sum of them."""
    stopping = list(siblings)
    ask_to_stop(stopping)
    for sibling in stopping:
        sibling._wait_stopped(timeout)


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


def _die_with_parent() -> None:
    """In the child, before exec (Linux): SIGTERM it when the process that started it dies,
    even by SIGKILL, so a killed `serve` leaves no MCP server, sandbox or worker behind."""
    import ctypes
    import ctypes.util
    import sys

    if not sys.platform.startswith("linux"):
        return
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    pr_set_pdeathsig = 1
    libc.prctl(pr_set_pdeathsig, signal.SIGTERM)
