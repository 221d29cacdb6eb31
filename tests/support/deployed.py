"""The bot as the README runs it: `mysafe-bot serve` (gunicorn, 2 workers) beside
`mysafe-bot worker`, as subprocesses with only the environment an operator would set."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.support.processes import free_port, job_workers, wait_until_ready, web_workers

CLI = [sys.executable, "-m", "app.ops.cli"]


@dataclass
class Deployed:
    url: str
    serve: subprocess.Popen
    worker: subprocess.Popen | None

    def stop(self) -> list[int]:
        """SIGTERM both, as an orchestrator does; their exit codes."""
        processes = [p for p in (self.serve, self.worker) if p is not None]
        for process in processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        return [process.wait(timeout=60) for process in processes]

    def web_workers(self) -> set[int]:
        """The gunicorn workers' process ids (not the `mysafe-bot worker`s serve starts)."""
        return web_workers(self.serve.pid)

    def serve_workers(self) -> set[int]:
        """The process ids of the `mysafe-bot worker`s serve runs beside gunicorn."""
        return job_workers(self.serve.pid)


def start_worker(env: dict[str, str], cwd: Path) -> subprocess.Popen:
    """`mysafe-bot worker` with only the environment an operator would set."""
    full = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/tmp"), **env}
    return subprocess.Popen([*CLI, "worker"], env=full, stderr=subprocess.DEVNULL, cwd=cwd)


@contextmanager
def deployed(
    env: dict[str, str],
    cwd: Path,
    *,
    workers: int = 2,
    worker: bool = True,
    cpus: set[int] | None = None,
) -> Iterator[Deployed]:
    """`serve` (and a `worker` beside it unless `worker` is false), ready; `cpus`: the only
    CPUs serve and everything it starts may run on."""
    full = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/tmp"), **env}
    port = free_port()
    # Its log to a file, not a pipe no one reads: a pipe full of a busy test's log lines
    # blocked every process of serve's that wrote one.
    with (cwd / "serve.log").open("wb") as log:
        serve = subprocess.Popen(  # noqa: S603 - our own interpreter
            [*CLI, "serve", "--port", str(port), "--workers", str(workers)],
            env=full,
            stderr=log,
            cwd=cwd,
            preexec_fn=None if cpus is None else lambda: os.sched_setaffinity(0, cpus),
        )
    running = Deployed(f"http://127.0.0.1:{port}", serve, start_worker(env, cwd) if worker else None)
    try:
        wait_until_ready(f"{running.url}/readyz", serve, time.monotonic() + 60)
        yield running
    finally:
        running.stop()
