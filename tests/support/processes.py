"""Starting the bot's own processes from tests, as an administrator would, and waiting for them."""

from __future__ import annotations

import contextlib
import fcntl
import itertools
import json
import os
import signal
import socket
import subprocess
import sys
import termios
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests


def run(env: dict[str, str], *args: str, stdin: str = "", cwd=None) -> subprocess.CompletedProcess:
    full_env = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/tmp"), **env}
    return subprocess.run(
        [sys.executable, "-m", "app.ops.cli", *args],
        input=stdin,
        text=True,
        capture_output=True,
        env=full_env,
        timeout=60,
        cwd=cwd,
    )


#: Ports handed out per test process, in a block of its own below the kernel's ephemeral range.
PORTS_EACH = 200
_handed_out = itertools.count()


def free_port() -> int:
    """A port for a server a test starts, free now and not taken before the server binds it.

    A port the kernel picks (`bind` to port 0) is in its ephemeral range, where every other
    test's servers and every outgoing connection also take theirs: with several test
    processes, another test's server took the port between the pick and the bot's `bind`,
    and the test asked that server for `/readyz` (a 404). Ports here come from below the
    ephemeral range, a block for each xdist test process, so only this process hands them out.
    """
    low = _ephemeral_low()
    blocks = max(1, (low - 1024) // PORTS_EACH)
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw")
    first = low - (int(worker or 0) % blocks + 1) * PORTS_EACH
    for _ in range(PORTS_EACH):
        port = first + next(_handed_out) % PORTS_EACH
        if bindable(port):
            return port
    raise RuntimeError(f"no free port in {first}-{first + PORTS_EACH - 1}")


def bindable(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _ephemeral_low() -> int:
    """The lowest port the kernel hands out by itself (Linux's default when it cannot say)."""
    with contextlib.suppress(OSError, ValueError, IndexError):
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    return 32768


def fresh_interpreter(script: str, env: dict[str, str], home: Path) -> subprocess.CompletedProcess:
    """`script` run by a new Python with this checkout importable and `env` (nothing else of
    the test's environment), in `home`; fails the test with its stderr unless it exits 0."""
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run(
        [sys.executable, "-c", script],
        env={"PATH": os.environ["PATH"], "HOME": str(home), "PYTHONPATH": str(root), **env},
        cwd=home,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done


def wait_until_ready(url: str, process: subprocess.Popen, deadline: float) -> requests.Response:
    while time.monotonic() < deadline:
        assert process.poll() is None, process.stderr.read()
        try:
            return requests.get(url, timeout=2)
        except requests.RequestException:
            time.sleep(0.1)  # polling a port that is not open yet: nothing to await instead
    pytest.fail("server did not start")


def process_stats() -> Iterator[tuple[int, list[str]]]:
    """Each process's pid and the fields of its `/proc/<pid>/stat` after the command name
    (state first). A process can end between the listing of `/proc` and the read of its stat;
    the kernel then answers ENOENT or ESRCH, even to a `stat()` of the path, so the path is
    never checked first (`Path.glob` does, and let ESRCH through): a failed read means gone."""
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            fields = Path(f"/proc/{name}/stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        yield int(name), fields


def children(parent: int) -> set[int]:
    """The process's children, from every process's stat: /proc/<pid>/task/<tid>/children
    lists only what that one thread started, and serve restarts its workers from a thread."""
    return {pid for pid, fields in process_stats() if int(fields[1]) == parent}


def web_workers(serve: int) -> set[int]:
    """`mysafe-bot serve`'s gunicorn workers: its children that are forks of it (same command
    line), not the `mysafe-bot worker`s it starts beside them."""
    own = command_line(serve)
    return {pid for pid in children(serve) if command_line(pid) == own}


def job_workers(serve: int) -> set[int]:
    """The `mysafe-bot worker`s `serve` runs beside gunicorn (they run the jobs)."""
    return {pid for pid in children(serve) if b"worker" in command_line(pid)[-2:]}


def command_line(pid: int) -> list[bytes]:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[:-1]
    except OSError:
        return []


def state(pid: int) -> str:
    """The process's state letter as `/proc` shows it ("R", "S", "T" when stopped…); "" once gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return ""


#: States in which a process runs no more: stopped (also by a tracer), a zombie, dead, gone.
STOPPED = ("T", "t", "Z", "X", "")


def stop(pids: set[int], *, timeout: float = 10.0) -> None:
    """SIGSTOP to each, returning once none runs: the signal takes effect when the process
    next runs, not when it is sent, so a busy machine shows it running for a while. One that
    died meanwhile (a zombie until its parent reaps it) runs no more either."""
    for pid in pids:
        os.kill(pid, signal.SIGSTOP)
    deadline = time.monotonic() + timeout
    while any(state(pid) not in STOPPED for pid in pids):
        if time.monotonic() > deadline:
            raise TimeoutError(f"not stopped within {timeout:g} s: {sorted(pids)}")
        time.sleep(0.001)


def resume(pids: set[int]) -> None:
    """SIGCONT to each of `stop`'s processes; one that died meanwhile is skipped."""
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGCONT)


def kill_embedded_redis(data_dir: Path) -> None:
    """After a `serve` killed outright (a test that failed): its embedded Redis, which runs
    in a session of its own, dies with nothing else, and would be left running."""
    settings = data_dir / "redis.db.settings"
    with contextlib.suppress(OSError, ValueError, KeyError):
        pid = int(Path(json.loads(settings.read_text())["pidfile"]).read_text())
        os.kill(pid, signal.SIGKILL)


def busy_loop(core: int) -> subprocess.Popen:
    """A process that keeps `core` busy at its default priority until killed: the host's other
    work, for the tests that share a core with it."""
    return subprocess.Popen(  # noqa: S603 - our own interpreter
        [sys.executable, "-c", "while True: pass"],
        preexec_fn=lambda: os.sched_setaffinity(0, {core}),
    )


def take_terminal() -> None:
    """In a child after `setsid`, with fd 0 a pty's slave: make the pty its controlling
    terminal. A terminal's program starts with SIGHUP at its default, whatever the test run
    inherited (under `nohup` it is ignored, and no hang-up would reach the child)."""
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)
    signal.signal(signal.SIGHUP, signal.SIG_DFL)
