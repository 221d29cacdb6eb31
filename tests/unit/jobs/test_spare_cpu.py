"""Job threads on spare CPU (`app.jobs.spare_cpu`): with it, every job runs under SCHED_IDLE,
which gives the core up the moment a web thread wants it, while the reader, which keeps the
jobs' leases alive, keeps its priority; without it, nothing changes. Checked on the threads
themselves, as the kernel schedules them."""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from typing import Any

import pytest

from app.foundations.crypto import Keyring
from app.jobs.consumer import Consumer
from app.jobs.queue import JobQueue
from app.jobs.spare_cpu import spare_cpu_only

pytestmark = pytest.mark.skipif(not hasattr(os, "SCHED_IDLE"), reason="Linux scheduling policies")


@pytest.fixture
def queue(redis, encryption_key: str, key_prefix: str) -> JobQueue:
    return JobQueue(redis, Keyring([encryption_key]), prefix=key_prefix)


def policies_seen(queue: JobQueue, on_thread: Callable[[], None] | None) -> tuple[set[int], int]:
    """The scheduling policy each of three jobs ran under, and the reader thread's."""
    seen: list[int] = []
    done = threading.Event()

    def job(body: dict[str, Any]) -> None:
        seen.append(os.sched_getscheduler(0))
        if len(seen) == 3:
            done.set()

    consumer = Consumer(
        queue,
        {"command": job},
        threads=2,
        per_person=4,
        mysafe_concurrency=4,
        visibility=30,
        on_thread=on_thread,
    ).start()
    try:
        for n in range(3):
            queue.put("command", {"user_id": "UALICE", "text": f"whoami {n}"}, who="UALICE")
        assert done.wait(10), "the jobs ran"
        assert consumer._loop is not None and consumer._loop.native_id is not None
        return set(seen), os.sched_getscheduler(consumer._loop.native_id)
    finally:
        consumer.stop()


def test_jobs_run_on_spare_cpu_while_the_reader_keeps_the_leases_at_its_priority(
    queue: JobQueue,
) -> None:
    jobs, reader = policies_seen(queue, spare_cpu_only)
    assert jobs == {os.SCHED_IDLE}
    assert reader == os.SCHED_OTHER
    assert os.sched_getscheduler(0) == os.SCHED_OTHER, "only the pool's threads changed"


def test_without_it_jobs_run_as_the_process_does(queue: JobQueue) -> None:
    jobs, reader = policies_seen(queue, None)
    assert jobs == {os.SCHED_OTHER}
    assert reader == os.SCHED_OTHER


def test_a_platform_without_the_policy_runs_the_job_as_it_was(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A refusal (a sandbox that forbids the call) is one log line, never a broken pool: a
    ThreadPoolExecutor whose initializer raises refuses every job after."""

    def refused(*args: object) -> None:
        raise PermissionError(1, "Operation not permitted")

    caplog.set_level(logging.INFO, logger="app.jobs.spare_cpu")
    monkeypatch.setattr(os, "sched_setscheduler", refused)
    spare_cpu_only()
    assert os.sched_getscheduler(0) == os.SCHED_OTHER
    assert [r.__dict__.get("event") for r in caplog.records] == ["jobs.priority_kept"]
