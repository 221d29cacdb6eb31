"""Benchmark rows for durable work: command → answer end to end, kill -9 under load, and the
Redis bytes one queued command costs. Used by `benchmarks/scenarios/answers.py`,
`kill.py` and `job_bytes.py`.

Every command here carries its own `response_url` (`…/response/<hook>`), and the Slack fake
notes when each hook is answered (`TimedSlackFake.hooks`), so each answer is matched to its
command exactly: that is how "answered once" and "duplicated" are counted.
"""

from __future__ import annotations

import http.client
import os
import signal
import threading
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from app.jobs.queue import JobQueue
from app.services import Services
from benchmarks.harness import SIGNING_SECRET, TimedSlackFake
from benchmarks.loadgen import ConnectionClient
from tests.support.processes import children
from tests.support.slack_requests import command_form


def _command(client: ConnectionClient, slack: TimedSlackFake, user: str, text: str) -> tuple[str, bool]:
    """One signed command with its own hook: (hook, acked as taken)."""
    from urllib.parse import urlencode

    hook = uuid.uuid4().hex
    form = command_form(user, text, f"{slack.url}/response/{hook}")
    try:
        answer = client.post(urlencode(form), "application/x-www-form-urlencoded")
    except (OSError, http.client.HTTPException):
        return hook, False
    return hook, answer.status_code == 200 and "Working on" in answer.text


def kill_under_load(
    url: str,
    slack: TimedSlackFake,
    users: list[str],
    master_pid: int,
    *,
    total: int,
    concurrency: int = 10,
    every: float = 0.5,
    settle: float = 90.0,
) -> dict[str, Any]:
    """`total` commands at `concurrency`, while every process of the bot but serve's master
    (the gunicorn workers and serve's `mysafe-bot worker`) is SIGKILLed each `every` seconds;
    then wait for every acked command's answer. Counts acked, answered, lost and duplicated
    (a hook answered more than once)."""
    stop = threading.Event()
    kills = Counter[str]()

    def killer() -> None:
        while not stop.wait(every):
            for pid in children(master_pid):  # its gunicorn workers and its job workers
                try:
                    os.kill(pid, signal.SIGKILL)
                    kills["workers"] += 1
                except ProcessLookupError:
                    pass

    acked: list[str] = []
    lock = threading.Lock()
    counter = iter(range(total))

    def user_loop(index: int) -> None:
        client = ConnectionClient(url, SIGNING_SECRET, slack.response_url)
        try:
            for _ in counter:
                hook, taken = _command(client, slack, users[index % len(users)], "whoami")
                if taken:
                    with lock:
                        acked.append(hook)
        finally:
            client.close()

    killing = threading.Thread(target=killer, daemon=True)
    killing.start()
    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(user_loop, range(concurrency)))
    stop.set()
    killing.join()
    deadline = time.monotonic() + settle
    while time.monotonic() < deadline and not all(slack.hooks.get(h) for h in acked):
        time.sleep(0.2)  # answers of taken-over jobs come after the visibility timeout
    answered = [h for h in acked if slack.hooks.get(h)]
    return {
        "sent": total,
        "acked": len(acked),
        "answered": len(answered),
        "lost": len(acked) - len(answered),
        "duplicated": sum(1 for h in acked if len(slack.hooks.get(h, ())) > 1),
        "kills": kills["workers"],
    }


def bytes_per_job(services: Services, *, count: int = 2000) -> dict[str, float]:
    """Redis memory one queued (not yet run) command costs: the stream entry (its body
    encrypted) and its delivery key, under a fresh prefix nobody consumes."""
    prefix = f"bench-jobs-{uuid.uuid4().hex[:6]}"
    queue = JobQueue(services.redis, services.keyring, prefix=prefix)
    redis = services.redis
    for n in range(count):
        body = command_form(
            "UBENCH00",
            'share password 312 with user:alices reason "on call"',
            "https://hooks.slack.com/commands/T1/1234567890/abcdefghij",
        )
        body["trigger_id"] = f"{n}.{int(time.time())}.0123456789abcdef0123456789abcdef"
        queue.put("command", body, who="UBENCH00")
    stream = _usage(redis, queue.stream)
    seen = sum(_usage(redis, key) for key in redis.scan_iter(match=f"{prefix}:*seen:*", count=1000))
    for key in [queue.stream, *redis.scan_iter(match=f"{prefix}:*", count=1000)]:
        redis.delete(key)
    return {"stream": stream / count, "seen": seen / count}


def _usage(redis: Any, key: str) -> int:
    return int(redis.execute_command("MEMORY", "USAGE", key, "SAMPLES", "0") or 0)
