"""Job threads on spare CPU only: serve's job workers share their host with the acks.

serve starts its job workers at niceness 19 so that acks never wait for work, even for CPU.
Under Linux's EEVDF scheduler that is not enough: a running task is not preempted on a wakeup
until it has used its slice or its fair share (the `RUN_TO_PARITY` feature), whatever its
niceness, so a web thread woken by Redis's answer could wait behind a job, and the job workers
took 26 to 164 µs of CPU per ack in every saturating `share` run. A `SCHED_IDLE` thread is
preempted by the wakeup of any other thread: it runs on CPU nothing else wants
(benchmarks/README.md, issue #33, seventh step).

Only the threads that run jobs take it. The reader renews the jobs' leases and the worker's loop
ends access on time; neither may wait behind a flood of acks, so they keep their niceness. An
unprivileged thread cannot leave `SCHED_IDLE` again, which is why it is the job pool's threads,
and only them, that enter it.

Priority is not place: while the acks outrun the work, the whole worker also keeps off one core
(`CoreForAcks`), and takes it back when they stop.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from collections.abc import Callable, Collection

import redis

log = logging.getLogger(__name__)


def spare_cpu_only() -> None:
    """Put the calling thread under `SCHED_IDLE`: it runs only when no other thread wants its
    core. Where the platform has no such policy, or forbids it, the thread runs as it was,
    with a log line: the work is the same, only less polite to the acks beside it. Never
    raises: a pool whose initializer raised would refuse every job after."""
    try:
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))  # 0: the calling thread
    except (AttributeError, OSError) as error:
        log.info(
            "job threads keep their CPU priority",
            extra={"event": "jobs.priority_kept", "error": type(error).__name__},
        )


#: Seconds between two looks at the job stream's length: the acks get their core within this
#: long of outrunning the work, and the work gets it back as soon.
LOOK_EVERY = 0.1
#: Jobs the stream may grow by between two looks (160 a second) before the acks are said to
#: outrun the work. People who wait for each answer before their next command grow it by no
#: more than their own number, and only while the work stalls.
OUTRUN = 16


class CoreForAcks:
    """While the acks outrun the work, this process keeps off one core and leaves it to them.

    `SCHED_IDLE` gives way to a web thread at once, yet on a two-core virtual machine a job
    running on the core the acks were using still cost them a large share of their rate
    (benchmarks/README.md, issue #33, tenth and eleventh steps), and with the work held to the
    other core `share` met its goal at one and ten users. Held there for good, the work after
    a burst would finish on one core instead of two. So the core is taken only while the job
    stream grows by `outrun` jobs or more between two looks, and given back at the first look
    that finds it has not: a burst keeps it while its acks arrive, and people who wait for
    their answers seldom take it.

    `backlog` reads the stream's length (`JobQueue.pending`); every thread of this process
    moves at once, and threads it starts later are born where their parent is."""

    def __init__(
        self,
        backlog: Callable[[], int],
        *,
        cpus: Collection[int] | None = None,
        every: float = LOOK_EVERY,
        outrun: int = OUTRUN,
    ) -> None:
        self.backlog = backlog
        self.cpus = frozenset(usable_cpus() if cpus is None else cpus)
        #: What the work keeps to while the acks outrun it: every CPU but the lowest.
        self.rest = self.cpus - {min(self.cpus, default=0)}
        self.every = every
        self.outrun = outrun
        self.kept_off = False
        self._last: int | None = None

    def useful(self) -> bool:
        """There is a core to leave and one to keep."""
        return bool(self.rest)

    def run(self, stop: threading.Event) -> None:
        """Look every `every` seconds until `stop`; the core is given back on the way out."""
        try:
            while not stop.wait(self.every):
                self.look()
        finally:
            self._keep(off=False)

    def look(self) -> None:
        try:
            now = self.backlog()
        except redis.RedisError:
            self._last = None  # nothing known: the work has every core
            self._keep(off=False)
            return
        grew = self._last is not None and now - self._last >= self.outrun
        self._last = now
        self._keep(off=grew)

    def _keep(self, *, off: bool) -> None:
        if off == self.kept_off:
            return
        self.kept_off = off
        move_threads(self.rest if off else self.cpus)
        log.debug(
            "work keeps off a core for the acks" if off else "work on every core again",
            extra={"event": "jobs.core_for_acks", "kept_off": off},
        )


def usable_cpus() -> frozenset[int]:
    """The CPUs this process may run on; none where the platform does not say (macOS), and
    then no core is left to anyone."""
    try:
        return frozenset(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return frozenset()


def move_threads(cpus: Collection[int]) -> None:
    """Every thread of this process onto `cpus`. A thread that ended meanwhile is passed
    over; where the platform cannot move threads, nothing moves."""
    try:
        threads = os.listdir("/proc/self/task")
    except OSError:
        return
    for thread in threads:
        with contextlib.suppress(OSError, AttributeError):
            os.sched_setaffinity(int(thread), cpus)
