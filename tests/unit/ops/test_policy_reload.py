"""SIGHUP reloads the approval policy in a running `mysafe-bot worker`: a good file takes effect,
a bad one keeps the rules in force and is one error line, and the process goes on."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

GOOD = "rules:\n  - name: production\n    match: {tags: [prod]}\n    approvals: 2\n"


def lines_of(process: subprocess.Popen[str]) -> queue.Queue[dict]:
    """Each JSON log line the process writes to stderr, as it comes."""
    found: queue.Queue[dict] = queue.Queue()

    def read() -> None:
        assert process.stderr is not None
        for line in process.stderr:
            try:
                found.put(json.loads(line))
            except ValueError:
                found.put({"msg": line.strip()[:200]})  # not ours: shown if a wait fails

    threading.Thread(target=read, daemon=True).start()
    return found


def wait_event(found: queue.Queue[dict], event: str, timeout: float = 60.0) -> dict:
    """The next log line with this event (the process writes it; nothing else to await)."""
    deadline = time.monotonic() + timeout
    seen = []
    while (left := deadline - time.monotonic()) > 0:
        try:
            record = found.get(timeout=left)
        except queue.Empty:
            break
        if record.get("event") == event:
            return record
        seen.append(record.get("event") or record.get("msg"))
    raise AssertionError(f"no {event} line within {timeout} s; saw {seen}")


def test_sighup_reloads_a_good_file_and_keeps_the_rules_on_a_bad_one(
    env: dict[str, str], tmp_path: Path
) -> None:
    policy = tmp_path / "policy.yml"
    policy.write_text(GOOD)
    process = subprocess.Popen(
        [sys.executable, "-m", "app.ops.cli", "worker", "--interval", "0.2"],
        env={"PATH": os.environ["PATH"], **env, "MYSAFE_BOT_POLICY": str(policy)},
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
        cwd=tmp_path,
    )
    try:
        found = lines_of(process)
        wait_event(found, "worker.start")

        policy.write_text(GOOD + "  - name: unshare\n    match: {verbs: [unshare]}\n    approvals: 0\n")
        process.send_signal(signal.SIGHUP)
        assert wait_event(found, "policy.reloaded")["rules"] == ["production", "unshare", "settings"]

        policy.write_text(GOOD.replace("approvals: 2", "approvals: two"))
        process.send_signal(signal.SIGHUP)
        error = wait_event(found, "policy.reload_error")
        assert error["level"] == "error" and "rule 1 “production”: approvals" in error["problem"]
        assert process.poll() is None  # still working, on the rules it had
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
    assert process.returncode == 0


@dataclass
class Serving:
    process: subprocess.Popen[str]
    url: str
    #: Each JSON log line serve and its processes write, as it comes (`wait_event`).
    found: queue.Queue[dict]


@contextmanager
def serving(env: dict[str, str], policy: Path, *, workers: int) -> Iterator[Serving]:
    """`mysafe-bot serve` on `policy` (written GOOD first), ready, then stopped."""
    from tests.support.processes import free_port, wait_until_ready

    policy.write_text(GOOD)
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "app.ops.cli", "serve", "--port", str(port), "--workers", str(workers)],
        env={"PATH": os.environ["PATH"], **env, "MYSAFE_BOT_POLICY": str(policy)},
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
        cwd=policy.parent,
    )
    try:
        found = lines_of(process)
        url = f"http://127.0.0.1:{port}"
        wait_until_ready(f"{url}/readyz", process, time.monotonic() + 60)
        yield Serving(process, url, found)
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)


@pytest.mark.slow
def test_sighup_to_serve_reloads_every_worker_without_restarting_them(
    env: dict[str, str], tmp_path: Path
) -> None:
    """gunicorn's master forwards SIGHUP to its workers: each reloads the file in place, and a
    bad file can no longer stop a worker from starting, because none is restarted."""
    from tests.support.processes import children, wait_until_ready, web_workers

    policy = tmp_path / "policy.yml"
    with serving(env, policy, workers=2) as bot:
        workers = children(bot.process.pid)  # the web workers and serve's job workers
        assert len(web_workers(bot.process.pid)) == 2 and len(workers) == 4

        policy.write_text(GOOD.replace("approvals: 2", "approvals: two"))
        bot.process.send_signal(signal.SIGHUP)
        errors = [wait_event(bot.found, "policy.reload_error") for _ in workers]
        assert {e["pid"] for e in errors} == workers
        assert all("approvals: Not a valid integer" in e["problem"] for e in errors)
        policy.write_text(GOOD.replace("approvals: 2", "approvals: 3"))
        bot.process.send_signal(signal.SIGHUP)
        reloaded = [wait_event(bot.found, "policy.reloaded") for _ in workers]
        assert {r["pid"] for r in reloaded} == workers
        assert children(bot.process.pid) == workers  # the same workers, never restarted
        wait_until_ready(f"{bot.url}/readyz", bot.process, time.monotonic() + 10)


@pytest.mark.slow
def test_a_worker_started_after_a_bad_edit_keeps_the_rules_its_master_read(
    env: dict[str, str], tmp_path: Path
) -> None:
    """A gunicorn worker that (re)starts while the file is bad keeps the rules its master read
    (one error line) instead of failing to boot, which would stop the whole server."""
    from tests.support.processes import wait_until_ready, web_workers

    policy = tmp_path / "policy.yml"
    with serving(env, policy, workers=1) as bot:
        (worker,) = web_workers(bot.process.pid)
        policy.write_text(GOOD.replace("approvals: 2", "approvals: two"))
        os.kill(worker, signal.SIGTERM)  # gunicorn starts another, which reads the bad file
        kept = wait_event(bot.found, "policy.kept")
        assert "approvals: Not a valid integer" in kept["problem"] and kept["pid"] != worker
        wait_until_ready(f"{bot.url}/readyz", bot.process, time.monotonic() + 60)
        assert bot.process.poll() is None


@pytest.mark.slow
def test_a_job_worker_serve_restarts_after_a_bad_edit_keeps_the_rules_in_force(
    env: dict[str, str], tmp_path: Path
) -> None:
    """serve's `mysafe-bot worker`s are started afresh, not forked, so they cannot inherit the
    rules their master read: one killed and started again while the file is bad works with
    the rules the bot last read good (one error line) instead of failing on every restart,
    which would leave every acked command unanswered."""
    from tests.support.processes import job_workers

    policy = tmp_path / "policy.yml"
    with serving(env, policy, workers=1) as bot:
        wait_event(bot.found, "worker.start")
        (worker,) = job_workers(bot.process.pid)
        policy.write_text(GOOD.replace("approvals: 2", "approvals: two"))
        os.kill(worker, signal.SIGKILL)  # serve starts another, which reads the bad file
        kept = wait_event(bot.found, "policy.kept")
        assert "approvals: Not a valid integer" in kept["problem"] and kept["pid"] != worker
        started = int(wait_event(bot.found, "worker.start")["worker"].rsplit(":", 1)[1])
        assert started != worker and started in job_workers(bot.process.pid)  # not looping
