"""The bounds on running jobs hold across consumers (app/jobs/slots.py, app/jobs/consumer.py):
several `Consumer`s on one queue, as several processes of a deployment would be, on a real
Redis server and on a 3-node Redis Cluster; a consumer killed holding slots is a real process."""

from __future__ import annotations

import os
import queue as queues
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

import pytest

from app.foundations.crypto import Keyring
from app.jobs import consumer as consumer_module
from app.jobs.consumer import Consumer
from app.jobs.queue import GROUP, JobQueue
from app.jobs.slots import Slots

pytestmark = pytest.mark.server_and_cluster


@pytest.fixture
def queue(redis, encryption_key: str, key_prefix: str) -> JobQueue:
    return JobQueue(redis, Keyring([encryption_key]), prefix=key_prefix)


def put(queue: JobQueue, who: str, count: int) -> None:
    for _ in range(count):
        body = {"user_id": who, "text": "show password 1", "trigger_id": os.urandom(8).hex()}
        queue.put("command", body, who=who)


class MySafe:
    """What runs at once, per person and overall, as MySafe sees it; a person's calls can be
    stalled until `release`, the others take `work` seconds."""

    def __init__(self, *, stalled: frozenset[str] = frozenset(), work: float = 0.0) -> None:
        self.stalled = set(stalled)
        self.work = work
        self.running: Counter[str] = Counter()
        self.most: Counter[str] = Counter()
        self.most_overall = 0
        self.done: Counter[str] = Counter()
        self.first_start: dict[str, float] = {}
        self.ran_in: dict[str, set[int]] = {}
        self.changed = threading.Condition()
        self._gate = threading.Event()
        self._busy = threading.Event()  # never set: a call that takes `work` seconds

    def handler(self, consumer: int) -> Callable[[dict[str, Any]], None]:
        def call(body: dict[str, Any]) -> None:
            who = body["user_id"]
            with self.changed:
                self.running[who] += 1
                self.most[who] = max(self.most[who], self.running[who])
                self.most_overall = max(self.most_overall, self.running.total())
                self.first_start.setdefault(who, time.time())
                self.ran_in.setdefault(who, set()).add(consumer)
                self.changed.notify_all()
            if who in self.stalled and not self._gate.is_set():
                self._gate.wait(30)
            self._busy.wait(self.work)
            with self.changed:
                self.running[who] -= 1
                self.done[who] += 1
                self.changed.notify_all()

        return call

    def release(self) -> None:
        self._gate.set()

    def until(self, predicate: Callable[[], bool], timeout: float) -> bool:
        with self.changed:
            return self.changed.wait_for(predicate, timeout)


@contextmanager
def consumers(
    queue: JobQueue,
    mysafe: MySafe,
    count: int,
    *,
    threads: int = 8,
    per_person: int = 2,
    mysafe_concurrency: int = 32,
    visibility: float = 5,
) -> Iterator[list[Consumer]]:
    """`count` consumers on the queue, each with its own threads, as separate processes have."""
    started = [
        Consumer(
            queue,
            {"command": mysafe.handler(n)},
            threads=threads,
            per_person=per_person,
            mysafe_concurrency=mysafe_concurrency,
            visibility=visibility,
        ).start()
        for n in range(count)
    ]
    try:
        yield started
    finally:
        mysafe.release()
        with ThreadPoolExecutor(count) as stopping:  # each waits out its read's block
            list(stopping.map(lambda consumer: consumer.stop(wait=5), started))


@pytest.mark.parametrize("round_", range(3))
def test_forty_jobs_of_one_person_run_at_most_per_person_at_once_across_consumers(
    queue: JobQueue, round_: int
) -> None:
    """Forty jobs of one person on a stalled MySafe, three consumers: two run, in whichever
    consumers; another person's job runs at once. Once MySafe answers, the forty pass two at
    a time while the consumers race for the slots, and never three."""
    mysafe = MySafe(stalled=frozenset({"UALICE"}), work=0.01)
    put(queue, "UALICE", 40)
    with consumers(queue, mysafe, 3, threads=4) as running:  # each reads 16 at most
        assert mysafe.until(lambda: mysafe.running["UALICE"] == 2, 10)
        started = time.monotonic()
        put(queue, "UBOB", 1)
        assert mysafe.until(lambda: mysafe.done["UBOB"] == 1, 5)
        waited = time.monotonic() - started
        assert waited < 1.0, f"another person's job waited {waited:.2f} s"
        assert mysafe.most["UALICE"] == 2
        assert running[0].slots.running("UALICE") == 2
        mysafe.release()
        assert mysafe.until(lambda: mysafe.done["UALICE"] == 40, 30)
    assert mysafe.most["UALICE"] == 2
    assert len(mysafe.ran_in["UALICE"]) >= 2  # the bound held across consumers, not in one
    assert queue.pending() == 0


@pytest.mark.parametrize("round_", range(3))
def test_no_more_jobs_run_against_mysafe_at_once_than_the_deployment_allows(
    queue: JobQueue, round_: int
) -> None:
    """Eight people with five jobs each, three consumers of eight threads each: never more
    than `mysafe_concurrency` (4) at once in all, nor two for one person, and all 40 done."""
    mysafe = MySafe(work=0.02)
    people = [f"UPERSON{n}" for n in range(8)]
    for who in people:
        put(queue, who, 5)
    with consumers(queue, mysafe, 3, mysafe_concurrency=4):
        assert mysafe.until(lambda: mysafe.done.total() == 40, 30)
    assert mysafe.most_overall == 4
    assert max(mysafe.most.values()) <= 2
    assert queue.pending() == 0


# A consumer whose every job stalls, in its own process, telling the test each job it runs.
STALLED = """
import os, sys, threading
from app.foundations.crypto import Keyring
from app.jobs import consumer as consumer_module
from app.jobs.consumer import Consumer
from app.jobs.queue import GROUP, JobQueue
from app.foundations.storage import connect

def stall(body):
    print(body["trigger_id"], flush=True)
    threading.Event().wait()

queue = JobQueue(connect(sys.argv[1]), Keyring([os.environ["MYSAFE_BOT_ENCRYPTION_KEY"]]),
                 prefix=sys.argv[2])
Consumer(queue, {"command": stall}, threads=4, per_person=2, mysafe_concurrency=32,
         visibility=1).start()
threading.Event().wait()
"""


def lines(process: subprocess.Popen[str]) -> queues.Queue[str]:
    """The process's output lines, as they come."""
    out: queues.Queue[str] = queues.Queue()

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            out.put(line.strip())

    threading.Thread(target=read, daemon=True).start()
    return out


@pytest.mark.slow
def test_a_consumer_killed_holding_slots_frees_them_when_their_lease_runs_out(
    queue: JobQueue, redis, redis_url: str, key_prefix: str, encryption_key: str
) -> None:
    """A consumer process runs a person's two jobs and is SIGKILLed: that person's next job
    waits while the dead one's slots are leased, and runs once the lease (the visibility
    timeout, 1 s here) runs out, as the two dead jobs are taken over. Others are not held up."""
    put(queue, "UALICE", 2)
    env = {"PATH": os.environ["PATH"], "MYSAFE_BOT_ENCRYPTION_KEY": encryption_key}
    dead = subprocess.Popen(
        [sys.executable, "-c", STALLED, redis_url, key_prefix],
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        out = lines(dead)
        out.get(timeout=20), out.get(timeout=20)  # both of alice's jobs stall in it
    finally:
        dead.kill()
        dead.wait(timeout=10)
    killed_at = time.time()
    slots = Slots(redis, base=f"{queue.tag}:busy", per_person=2, overall=32, lease=1)
    leases = [
        expiry / 1000 for _, expiry in redis.zrange(slots.person_key("UALICE"), 0, -1, withscores=True)
    ]
    assert len(leases) == 2 and max(leases) <= killed_at + 1.0  # no longer than visibility
    mysafe = MySafe()
    put(queue, "UALICE", 1)
    put(queue, "UBOB", 1)
    with consumers(queue, mysafe, 1, visibility=1):
        assert mysafe.until(lambda: mysafe.done["UALICE"] == 3 and mysafe.done["UBOB"] == 1, 10)
    assert mysafe.first_start["UBOB"] < mysafe.first_start["UALICE"]  # he passed her
    assert mysafe.first_start["UALICE"] >= min(leases)  # nothing of hers ran on a held slot
    assert mysafe.first_start["UALICE"] <= max(leases) + 1.5  # ... nor waited much longer
    assert queue.pending() == 0 and slots.running() == 0


def eight_stalled(queue: JobQueue) -> MySafe:
    """Eight people's jobs in the stream, one each, all stalled on MySafe until released."""
    people = frozenset(f"UPERSON{n}" for n in range(8))
    for who in sorted(people):
        put(queue, who, 1)
    return MySafe(stalled=people)


def test_a_burst_is_shared_between_consumers_not_held_by_the_first_to_read(queue: JobQueue) -> None:
    """Eight people's jobs wait in the stream and stall. The first consumer reads only what
    its idle threads can start (four); the second, started after, runs the other four at
    once, instead of finding them held, unstarted, by a consumer whose threads are all busy."""
    mysafe = eight_stalled(queue)
    with consumers(queue, mysafe, 1, threads=4):
        assert mysafe.until(lambda: mysafe.running.total() == 4, 10)
        with consumers(queue, mysafe, 1, threads=4):
            assert mysafe.until(lambda: mysafe.running.total() == 8, 10)
            mysafe.release()
            assert mysafe.until(lambda: mysafe.done.total() == 8, 10)


def delivered(redis: Any, queue: JobQueue) -> int:
    """Jobs read from the stream by some consumer and not yet done."""
    return int(redis.xpending(queue.stream, GROUP)["pending"])


def test_a_consumer_starts_no_more_young_jobs_than_a_process_can_compute(
    queue: JobQueue, redis: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Eight people's jobs wait and stall young (here, for the test's whole length): a
    consumer of eight threads reads and starts four (`COMPUTING`), since a process computes on
    one core and more would only wait for its interpreter lock; the other four stay in the
    stream for other consumers."""
    monkeypatch.setattr(consumer_module, "SETTLE", 30.0)
    mysafe = eight_stalled(queue)
    with consumers(queue, mysafe, 1, threads=8):
        assert mysafe.until(lambda: mysafe.running.total() == consumer_module.COMPUTING, 10)
        assert delivered(redis, queue) == consumer_module.COMPUTING
        mysafe.release()
        assert mysafe.until(lambda: mysafe.done.total() == 8, 10)


def test_jobs_waiting_on_a_stalled_mysafe_still_run_every_thread_at_once(queue: JobQueue) -> None:
    """A job running past `SETTLE` is taken to wait on MySafe, not to compute: a stalled
    MySafe still gets a call from each of the consumer's eight threads."""
    mysafe = eight_stalled(queue)
    with consumers(queue, mysafe, 1, threads=8):
        assert mysafe.until(lambda: mysafe.running.total() == 8, 10)
        mysafe.release()
        assert mysafe.until(lambda: mysafe.done.total() == 8, 10)
