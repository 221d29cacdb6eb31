"""Job threads behind the acks, never stopped by them: serve's job workers share a host with the
acks, and maybe with anything else.

The job threads run at a niceness `JOB_NICENESS` above the process's: Linux weighs them at 110
against a web thread's 1024, so under saturating acks they take a tenth of a core each, and a
flood of acks never waits long for them. The rest of a worker keeps the process's niceness: its
reader renews the jobs' leases and its loop ends access on time, and neither may wait behind a
flood of acks, or behind anything else on the host.

A niceness, not `SCHED_IDLE`: an idle thread gave way to a web thread at once, but it gives way
to every other process on the host too, so the work stopped for as long as anything else kept
the cores busy. Under four busy loops on two cores a demo's first share waited 16–19 s, until
the loops ended; at this niceness it took 1.7 s (benchmarks/README.md, issue #33, fourteenth
step). The worker itself ran at niceness 19 then, so its start and its loop starved as well.

Priority is not place, nor time: while the acks outrun the work, the whole worker also keeps
off one core, and during a flood of them starts no new job for a few seconds (`AcksFirst`). A
worker `serve` pinned to one CPU (`app.ops.cpu_pinning`) has no core to leave: there its niceness
alone gives the acks beside it their turn, and the flood's hold still applies.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections.abc import Callable, Collection

import redis

log = logging.getLogger(__name__)

#: Added to a job thread's niceness (19 at most). A floor, not a ban: 10 leaves a thread about
#: a tenth of a core against each busy process beside it, where 19 left a seventieth.
JOB_NICENESS = 10


def behind_the_acks() -> None:
    """Put the calling thread at `JOB_NICENESS` above the process's niceness (Linux keeps a
    niceness per thread). Where the platform refuses, the thread runs as it was, with a log
    line: the work is the same, only less polite to the acks beside it. Never raises: a pool
    whose initializer raised would refuse every job after."""
    try:
        # Above the process's niceness (its first thread's), not the caller's: a pool starts
        # a thread from the one that hands it a job, often a job thread already lowered.
        niceness = os.getpriority(os.PRIO_PROCESS, os.getpid())
        thread = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, thread, min(niceness + JOB_NICENESS, 19))
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


#: Jobs behind (the whole stream, read or not) above which a growing stream is a flood of acks.
#: People waiting for their answers leave one job each, never more than there are of them: 50
#: people at 700 commands a second leave 50, and are never held. One connection sending back to
#: back (1,100 acks a second against 800 jobs done) passes it in a third of a second; at 400 it
#: ran beside its work for over a second, and its acks lost a quarter of their rate
#: (benchmarks/README.md, issue #33, twenty-second step). A burst sent at once (300 shares from
#: 50 people, acked in a quarter of a second) passes it too, and its work waits for its last
#: acks, a tenth or two of a second: the two cores were the acks' then anyway, and it was
#: posted as soon. A flood at ten users passes it within a twentieth of a second.
FLOOD = 100
#: Seconds a flood may hold back the start of new jobs. Then they start again, flood or not:
#: the acks come first, the work is late, never stopped.
HOLD_AT_MOST = 5.0


class AcksFirst:
    """While the acks outrun the work, this process keeps off one core and leaves it to them;
    during a flood of them it also starts no new job, for `hold_at_most` seconds at most.

    A lower priority gives way to a web thread, yet on a two-core virtual machine a job
    running on the core the acks were using still cost them a large share of their rate
    (benchmarks/README.md, issue #33, tenth and eleventh steps), and with the work held to the
    other core `share` met its goal at one and ten users. Held there for good, the work after
    a burst would finish on one core instead of two. So the core is taken only while the job
    stream grows by `outrun` jobs or more between two looks, and given back at the first look
    that finds it has not: a burst keeps it while its acks arrive, and people who wait for
    their answers seldom take it.

    Even on the other core, and behind the acks' priority, jobs running beside a flood cost
    the acks 6–10 points of their rate at ten users (the eighteenth step): what they share is
    the host, not only its cores. A flood (the stream growing by `outrun` or more since the
    last look, with more than `flood` jobs behind) has Slack's 3-second deadline on every ack,
    and its work none: new jobs wait, stored, until the stream stops growing, and no longer
    than `hold_at_most` from the flood's first held look. The jobs already running go on. A
    burst past `flood` is held while its acks arrive and starts at the look after its last;
    people waiting for their answers stay under it, and their work runs as it comes. The hold
    is a lease each look renews, so a look that stops (its thread gone, Redis down) holds
    nothing.

    `backlog` reads the stream's length (`JobQueue.pending`); every thread of this process
    moves at once, and threads it starts later are born where their parent is."""

    def __init__(
        self,
        backlog: Callable[[], int],
        *,
        cpus: Collection[int] | None = None,
        every: float = LOOK_EVERY,
        outrun: int = OUTRUN,
        flood: int = FLOOD,
        hold_at_most: float = HOLD_AT_MOST,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.backlog = backlog
        self.cpus = frozenset(usable_cpus() if cpus is None else cpus)
        #: What the work keeps to while the acks outrun it: every CPU but the lowest.
        self.rest = self.cpus - {min(self.cpus, default=0)}
        self.every = every
        self.outrun = outrun
        self.flood = flood
        self.hold_at_most = hold_at_most
        self.clock = clock
        self.kept_off = False
        self._last: int | None = None
        self._flood_since: float | None = None
        self._hold_until = 0.0

    def hold_left(self) -> float:
        """Seconds for which new jobs still wait (0: they start now)."""
        return max(0.0, self._hold_until - self.clock())

    def run(self, stop: threading.Event) -> None:
        """Look every `every` seconds until `stop`; the core and the work are given back on the
        way out."""
        try:
            while not stop.wait(self.every):
                self.look()
        finally:
            self._keep(off=False)
            self._hold(False, 0)

    def look(self) -> None:
        try:
            now = self.backlog()
        except redis.RedisError:
            self._last = None  # nothing known: the work has every core, and may start
            self._keep(off=False)
            self._hold(False, 0)
            return
        grew = self._last is not None and now - self._last >= self.outrun
        self._last = now
        if self.rest:
            self._keep(off=grew)
        self._hold(grew and now > self.flood, now)

    def _keep(self, *, off: bool) -> None:
        if off == self.kept_off:
            return
        self.kept_off = off
        move_threads(self.rest if off else self.cpus)
        log.debug(
            "work keeps off a core for the acks" if off else "work on every core again",
            extra={"event": "jobs.core_for_acks", "kept_off": off},
        )

    def _hold(self, flood: bool, backlog: int) -> None:
        at = self.clock()
        if not flood:
            if self._flood_since is not None:
                log.info("new jobs start again", extra={"event": "jobs.flood_over"})
            self._flood_since, self._hold_until = None, 0.0
            return
        if self._flood_since is None:
            self._flood_since = at
            log.info(
                "a flood of acks: new jobs wait",
                extra={"event": "jobs.flood", "backlog": backlog, "at_most": self.hold_at_most},
            )
        # Renewed by each look, for two: a look that stops lets the work start again.
        until = min(self._flood_since + self.hold_at_most, at + 2 * self.every)
        if until <= at < self._hold_until:
            log.info(
                "the flood goes on: new jobs start again",
                extra={"event": "jobs.flood_outlasted", "backlog": backlog},
            )
        self._hold_until = until


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
