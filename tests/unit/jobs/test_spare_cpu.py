"""Job threads behind the acks (`app.jobs.spare_cpu`): with it, every job runs at a niceness
`JOB_NICENESS` above the process's, while the reader, which keeps the jobs' leases alive, keeps
its priority, and no thread is put where any busy process on the host could stop it; without
it, nothing changes. And the core left to the acks while they outrun the work, and the jobs held
back during a flood of them (`AcksFirst`). Checked on the threads themselves, as the kernel
schedules them, and on a consumer's jobs."""

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
from app.jobs.queue import GROUP, JobQueue
from app.jobs.spare_cpu import JOB_NICENESS, AcksFirst, behind_the_acks, move_threads
from tests.support.waiting import eventually

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
    core = AcksFirst(backlog, cpus=cpus, outrun=16)
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
    core = AcksFirst(backlog, cpus=cpus, outrun=16)
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
    core = AcksFirst(backlog, cpus=cpus, outrun=16)
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

    core = AcksFirst(growing, cpus=cpus, outrun=16, every=0.001)
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


def test_one_cpu_leaves_nothing_to_keep_and_still_holds_a_flood(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    moved: list[object] = []
    monkeypatch.setattr("app.jobs.spare_cpu.move_threads", moved.append)
    first, backlog, clock = flooded(cpus={3})
    flood_for(first, backlog, clock, seconds=1.0)
    assert moved == [] and not first.kept_off
    assert first.hold_left() > 0


def test_a_platform_that_cannot_say_its_cpus_leaves_nothing_to_keep(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """macOS has no `sched_getaffinity`: the worker runs as before instead of failing to start."""
    monkeypatch.delattr(os, "sched_getaffinity")
    backlog = Backlog()
    first = AcksFirst(backlog)
    first.look()
    backlog.length = 500
    first.look()
    assert not first.kept_off


# --- new jobs held back during a flood of acks ---------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def flooded(
    *, cpus: set[int] | None = None, hold_at_most: float = 5.0
) -> tuple[AcksFirst, Backlog, Clock]:
    """An `AcksFirst` looking every 0.1 s with the product's `FLOOD` (on one CPU unless told:
    nothing moves), its backlog and its clock, its first look made."""
    backlog, clock = Backlog(), Clock()
    first = AcksFirst(
        backlog,
        cpus={0} if cpus is None else cpus,
        every=0.1,
        outrun=16,
        hold_at_most=hold_at_most,
        clock=clock,
    )
    first.look()
    return first, backlog, clock


def step(first: AcksFirst, backlog: Backlog, clock: Clock, *, to: int) -> None:
    clock.now += 0.1
    backlog.length = to
    first.look()


def flood_for(first: AcksFirst, backlog: Backlog, clock: Clock, *, seconds: float) -> None:
    """300 more jobs at every look (3,000 acks a second), for `seconds`."""
    for _ in range(round(seconds / 0.1)):
        step(first, backlog, clock, to=backlog.length + 300)


def test_people_waiting_for_their_answers_are_never_held() -> None:
    """50 people who each wait for their answer leave at most 50 jobs behind, however fast
    the stream turns over: their work runs as it comes."""
    first, backlog, clock = flooded()
    for length in [0, 30, 50, 10, 45, 50, 5, 50] * 5:
        step(first, backlog, clock, to=length)
        assert first.hold_left() == 0


def test_one_connection_s_commands_back_to_back_are_held_within_a_third_of_a_second() -> None:
    """wrk's one connection: 1,100 acks a second against 800 jobs done grow the stream by 30
    a look. Held from the look past `FLOOD`, its jobs no longer run beside its acks."""
    first, backlog, clock = flooded()
    for _ in range(4):  # four looks: 0.4 s
        step(first, backlog, clock, to=backlog.length + 30)
        if first.hold_left():
            break
    assert first.hold_left() > 0, "not held within 0.4 s"
    step(first, backlog, clock, to=backlog.length + 5)  # the acks stopped: the work starts
    assert first.hold_left() == 0


def test_a_burst_waits_for_its_last_acks_only() -> None:
    first, backlog, clock = flooded()
    step(first, backlog, clock, to=150)
    step(first, backlog, clock, to=300)  # a burst of 300 sent at once, still arriving: held
    assert first.hold_left() > 0
    step(first, backlog, clock, to=300)  # acked: its work starts at this look
    assert first.hold_left() == 0
    flood_for(first, backlog, clock, seconds=0.1)  # growing again: a flood
    assert first.hold_left() == pytest.approx(0.2)
    flood_for(first, backlog, clock, seconds=1.0)
    assert first.hold_left() > 0


def test_a_flood_holds_new_jobs_for_a_bounded_time_then_the_work_goes_on() -> None:
    first, backlog, clock = flooded(hold_at_most=5.0)
    held_for = 0.0
    for _ in range(120):  # twelve seconds of flood
        flood_for(first, backlog, clock, seconds=0.1)
        if first.hold_left():
            held_for += 0.1
    assert held_for == pytest.approx(5.0, abs=0.11)
    assert first.hold_left() == 0, "the flood still going on holds nothing now"
    step(first, backlog, clock, to=backlog.length)  # over; the next one is held again
    flood_for(first, backlog, clock, seconds=0.6)
    assert first.hold_left() > 0


def test_a_hold_lapses_when_the_looks_stop() -> None:
    """The hold is renewed by each look: a look thread gone never holds the work for good."""
    first, backlog, clock = flooded()
    flood_for(first, backlog, clock, seconds=1.0)
    assert first.hold_left() > 0
    clock.now += 0.21
    assert first.hold_left() == 0


def test_redis_down_holds_nothing() -> None:
    first, backlog, clock = flooded()
    flood_for(first, backlog, clock, seconds=1.0)
    assert first.hold_left() > 0
    backlog.down = True
    step(first, backlog, clock, to=backlog.length)
    assert first.hold_left() == 0
    backlog.down = False
    flood_for(first, backlog, clock, seconds=0.1)  # the length before the outage counts not
    assert first.hold_left() == 0
    flood_for(first, backlog, clock, seconds=0.1)  # grown since the look after it: a flood
    assert first.hold_left() > 0


def test_stopping_the_looks_ends_the_hold() -> None:
    looks = itertools.count()
    first = AcksFirst(lambda: next(looks) * 300, cpus={0}, outrun=16, flood=400, every=0.01)
    stop = threading.Event()
    looking = threading.Thread(target=first.run, args=(stop,))
    looking.start()
    try:
        eventually(lambda: first.hold_left() > 0, 10, "a flood held")
    finally:
        stop.set()
        looking.join()
    assert first.hold_left() == 0


class Hold:
    """A consumer's `flood_hold`, switched by the test; `asked(n)` waits until the consumer
    has asked `n` more times (its loop goes round, or a job's end looks for the next)."""

    def __init__(self) -> None:
        self.on = False
        self._asked = 0
        self._cond = threading.Condition()

    def __call__(self) -> float:
        with self._cond:
            self._asked += 1
            self._cond.notify_all()
        return 0.05 if self.on else 0.0

    def asked(self, more: int) -> None:
        with self._cond:
            target = self._asked + more
            assert self._cond.wait_for(lambda: self._asked >= target, timeout=10)


def test_a_consumer_starts_no_job_while_held_and_starts_them_all_once_the_hold_ends(
    queue: JobQueue,
) -> None:
    """What the worker does with the hold: jobs stored during it wait in Redis, none is lost,
    and they start as soon as it ends. One person's jobs run one at a time, so the second and
    third wait here, read already, when the hold begins: the first one's end starts neither."""
    hold = Hold()
    first_runs, go_on = threading.Event(), threading.Event()
    ran: list[str] = []
    all_ran = threading.Event()

    def job(body: dict[str, Any]) -> None:
        ran.append(body["text"])
        if body["text"] == "whoami 0":
            first_runs.set()
            assert go_on.wait(10)
        if len(ran) == 5:
            all_ran.set()

    consumer = Consumer(
        queue,
        {"command": job},
        threads=4,
        per_person=1,
        mysafe_concurrency=4,
        visibility=30,
        flood_hold=hold,
    ).start()
    try:
        for n in range(3):
            queue.put("command", {"user_id": "UALICE", "text": f"whoami {n}"}, who="UALICE")
        assert first_runs.wait(10)
        hold.on = True
        hold.asked(2)  # a read already waiting when the hold began takes what comes: not these
        flood = [  # stored during the flood
            queue.put("command", {"user_id": f"U{n}", "text": f"whoami {n}"}, who=f"U{n}")
            for n in range(3, 5)
        ]
        go_on.set()
        hold.asked(20)  # the first job's end, and the loop going round ten times and more
        assert ran == ["whoami 0"], "nothing started during the hold"
        assert queue.pending() == 4
        read = queue.redis.xpending_range(queue.stream, GROUP, min="-", max="+", count=100)
        assert not {job["message_id"] for job in read} & set(flood), (
            "the flood's jobs left unread, for consumers not beside the acks"
        )
        hold.on = False
        assert all_ran.wait(10), "every job ran once the hold ended"
        assert sorted(ran) == [f"whoami {n}" for n in range(5)]
    finally:
        go_on.set()
        consumer.stop()
