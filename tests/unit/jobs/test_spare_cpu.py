"""Job threads behind the acks (`app.jobs.spare_cpu`): with it, every job runs at a niceness
`JOB_NICENESS` above the process's, while the reader, which keeps the jobs' leases alive, keeps
its priority, and no thread is put where any busy process on the host could stop it; without
it, nothing changes. And the core left to the acks while they outrun the work (`CoreForAcks`).
Checked on the threads themselves, as the kernel schedules them."""

from __future__ import annotations

import itertools
import logging
import os
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis

from app.foundations.crypto import Keyring
from app.jobs.consumer import Consumer
from app.jobs.queue import JobQueue
from app.jobs.spare_cpu import JOB_NICENESS, CoreForAcks, behind_the_acks, move_threads

pytestmark = pytest.mark.skipif(not hasattr(os, "SCHED_IDLE"), reason="Linux scheduling policies")


def priority(thread: int = 0) -> tuple[int, int]:
    """(policy, niceness) of a thread of this process (0: the calling one)."""
    thread = thread or threading.get_native_id()
    return os.sched_getscheduler(thread), os.getpriority(os.PRIO_PROCESS, thread)


@pytest.fixture
def queue(redis, encryption_key: str, key_prefix: str) -> JobQueue:
    return JobQueue(redis, Keyring([encryption_key]), prefix=key_prefix)


def priorities_seen(
    queue: JobQueue, on_thread: Callable[[], None] | None, *, threads: int = 2, per_person: int = 4
) -> tuple[set[tuple[int, int]], tuple[int, int]]:
    """The priority each of three jobs ran at, and the reader thread's."""
    seen: list[tuple[int, int]] = []
    done = threading.Event()

    def job(body: dict[str, Any]) -> None:
        seen.append(priority())
        if len(seen) == 3:
            done.set()

    consumer = Consumer(
        queue,
        {"command": job},
        threads=threads,
        per_person=per_person,
        mysafe_concurrency=4,
        visibility=30,
        on_thread=on_thread,
    ).start()
    try:
        for n in range(3):
            queue.put("command", {"user_id": "UALICE", "text": f"whoami {n}"}, who="UALICE")
        assert done.wait(10), "the jobs ran"
        assert consumer._loop is not None and consumer._loop.native_id is not None
        return set(seen), priority(consumer._loop.native_id)
    finally:
        consumer.stop()


def test_jobs_run_behind_the_acks_while_the_reader_keeps_the_leases_at_its_priority(
    queue: JobQueue,
) -> None:
    ours = priority()
    jobs, reader = priorities_seen(queue, behind_the_acks)
    # Lower, and still in the fair class: an idle thread stops while anything else runs.
    assert jobs == {(os.SCHED_OTHER, min(ours[1] + JOB_NICENESS, 19))}
    assert reader == ours
    assert priority() == ours, "only the pool's threads changed"


def test_a_job_thread_started_by_a_job_thread_is_lowered_once(queue: JobQueue) -> None:
    """One person's jobs, one at a time: each ends by starting the next, so the pool starts
    its new thread from a job thread, which is lowered already. The new one is lowered from
    the process's niceness, not from its parent's (it ran at 19 when it was)."""
    ours = priority()
    jobs, _ = priorities_seen(queue, behind_the_acks, threads=4, per_person=1)
    assert jobs == {(os.SCHED_OTHER, min(ours[1] + JOB_NICENESS, 19))}


def test_without_it_jobs_run_as_the_process_does(queue: JobQueue) -> None:
    jobs, reader = priorities_seen(queue, None)
    assert jobs == {priority()}
    assert reader == priority()


def test_a_platform_that_refuses_runs_the_job_as_it_was(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A refusal (a sandbox that forbids the call) is one log line, never a broken pool: a
    ThreadPoolExecutor whose initializer raises refuses every job after."""

    def refused(*args: object) -> None:
        raise PermissionError(1, "Operation not permitted")

    caplog.set_level(logging.INFO, logger="app.jobs.spare_cpu")
    before = priority()
    monkeypatch.setattr(os, "setpriority", refused)
    behind_the_acks()
    assert priority() == before
    assert [r.__dict__.get("event") for r in caplog.records] == ["jobs.priority_kept"]


# --- a core left to the acks while they outrun the work ----------------------------------

two_cpus = pytest.mark.skipif(
    len(os.sched_getaffinity(0)) < 2, reason="a core to leave needs two to choose from"
)


class Backlog:
    """The job stream's length as the test sets it, or Redis down."""

    def __init__(self) -> None:
        self.length = 0
        self.down = False

    def __call__(self) -> int:
        if self.down:
            raise redis.ConnectionError("Redis is down")
        return self.length


@pytest.fixture
def cpus() -> Iterator[frozenset[int]]:
    """The CPUs this process may use, given back to every thread after the test."""
    before = frozenset(os.sched_getaffinity(0))
    yield before
    move_threads(before)


@pytest.fixture
def bystander() -> Iterator[threading.Thread]:
    """A thread of this process other than the one that looks: it moves too."""
    done = threading.Event()
    thread = threading.Thread(target=done.wait, name="bystander")
    thread.start()
    yield thread
    done.set()
    thread.join()


def where(thread: threading.Thread) -> frozenset[int]:
    assert thread.native_id is not None
    return frozenset(os.sched_getaffinity(thread.native_id))


@two_cpus
def test_the_work_keeps_off_the_lowest_core_while_the_stream_grows_and_takes_it_back_after(
    cpus: frozenset[int], bystander: threading.Thread
) -> None:
    backlog = Backlog()
    core = CoreForAcks(backlog, cpus=cpus, outrun=16)
    core.look()  # the first look only counts

    backlog.length = 15  # people waiting for their answers: not outrun
    core.look()
    assert where(bystander) == cpus

    backlog.length = 40  # acks 25 jobs ahead of the work in one look
    core.look()
    assert where(bystander) == cpus - {min(cpus)}
    assert frozenset(os.sched_getaffinity(0)) == cpus - {min(cpus)}, "this thread too"

    backlog.length = 60  # still outrunning it
    core.look()
    assert where(bystander) == cpus - {min(cpus)}

    backlog.length = 55  # the acks stopped: the work has every core again
    core.look()
    assert where(bystander) == cpus


@two_cpus
def test_a_thread_started_while_the_core_is_left_is_born_off_it(cpus: frozenset[int]) -> None:
    """The job pool starts its threads when jobs come, which is while the acks outrun it."""
    backlog = Backlog()
    core = CoreForAcks(backlog, cpus=cpus, outrun=16)
    core.look()
    backlog.length = 100
    core.look()
    born: list[frozenset[int]] = []
    thread = threading.Thread(target=lambda: born.append(frozenset(os.sched_getaffinity(0))))
    thread.start()
    thread.join()
    assert born == [cpus - {min(cpus)}]


@two_cpus
def test_redis_down_gives_the_work_every_core(
    cpus: frozenset[int], bystander: threading.Thread
) -> None:
    """With no length to read, nothing says the acks outrun the work, and the next length
    read only counts: it is not compared with one from before the outage."""
    backlog = Backlog()
    core = CoreForAcks(backlog, cpus=cpus, outrun=16)
    core.look()
    backlog.length = 100
    core.look()
    backlog.down = True
    core.look()
    assert where(bystander) == cpus
    backlog.down, backlog.length = False, 500
    core.look()
    assert where(bystander) == cpus


@two_cpus
def test_stopping_gives_the_core_back(cpus: frozenset[int], bystander: threading.Thread) -> None:
    looks = itertools.count()
    kept_off = threading.Event()

    def growing() -> int:
        """64 more jobs at every look; by the third, the second has moved the threads."""
        n = next(looks)
        if n == 2:
            kept_off.set()
        return n * 64

    core = CoreForAcks(growing, cpus=cpus, outrun=16, every=0.001)
    stop = threading.Event()
    looking = threading.Thread(target=core.run, args=(stop,))
    looking.start()
    try:
        assert kept_off.wait(10)
        assert where(bystander) == cpus - {min(cpus)}
    finally:
        stop.set()
        looking.join()
    assert where(bystander) == cpus


def test_one_cpu_leaves_nothing_to_keep() -> None:
    assert not CoreForAcks(Backlog(), cpus={3}).useful()
    assert CoreForAcks(Backlog(), cpus={0, 1}).useful()


def test_a_platform_that_cannot_say_its_cpus_leaves_nothing_to_keep(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """macOS has no `sched_getaffinity`: the worker runs as before instead of failing to start."""
    monkeypatch.delattr(os, "sched_getaffinity")
    assert not CoreForAcks(Backlog()).useful()
