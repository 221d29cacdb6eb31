"""Runs the jobs of `app.jobs`, a bounded number at a time, fairly between people.

One loop thread reads new jobs, takes over those of dead consumers and renews what it holds; a
pool of `threads` runs them (this process's bound), no more than `COMPUTING` of them while
they are young. A job starts only with its two slots (`app.jobs.slots`): one of `per_person`
for its person and one of `mysafe_concurrency` for MySafe as a whole, both counted across
every consumer of the deployment. A person with forty commands on a stalled MySafe holds
`per_person` slots wherever their jobs landed; the others' jobs pass them by. Jobs waiting
here (for a thread or a slot) stay pending in Redis, renewed, so they are neither lost if this
process dies nor claimed while it lives; one waiting for a slot held elsewhere is tried again
every `RETRY` seconds, one freed here at once. While `paused()` says so (the process may not
decide: its rules are out of date), it takes no new job and takes none over, and goes on
renewing what it holds: other consumers run the rest. While `flood_hold()` says so (a flood of acks
beside it: `app.jobs.spare_cpu.AcksFirst`), it starts no job and begins no read, for as many
seconds as it says (a read already waiting takes what comes, and holds it), and renews what it
holds; the jobs running go on.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as all_of
from contextvars import ContextVar
from typing import Any, NamedTuple

import redis

from app.jobs.queue import Job, JobQueue, Renewed
from app.jobs.reader import Reader
from app.jobs.slots import Lease, Slots
from app.jobs.stall import StallDump

log = logging.getLogger(__name__)

Handler = Callable[[dict[str, Any]], None]

#: Seconds between tries of jobs that wait for a slot another consumer holds: prompt enough
#: for a person, a round trip a few times a second per consumer at most.
RETRY = 0.25
#: Seconds without a turn of the loop after which the consumer is not working (a pass blocks
#: at most about a second on Redis, or waits one after an error).
LOOP_STALE = 30.0
#: Jobs a process runs at once while they are young (in their first `SETTLE` seconds): a
#: process runs Python on one core at a time, so jobs past a few only wait for its
#: interpreter lock, and each hand-off of it costs system calls and a longer tail to every
#: job (benchmarks/README.md, issue #33, thirteenth step). A job older than `SETTLE` is
#: taken to wait on MySafe or Slack and no longer counts, so slow calls still fill `threads`.
COMPUTING = 4
SETTLE = 0.1
#: Seconds after its read within which a job's last word goes out unclaimed: no consumer
#: takes a job over sooner than a second after its read (the least `MYSAFE_BOT_JOB_VISIBILITY`),
#: so it is surely still this one's, and its claim would be a round trip that only says yes.
FRESH = 0.5
#: Seconds between two looks at a hold (`flood_hold`): how late at most a hold's end starts the jobs.
HOLD_LOOK = 0.05


class _Running:
    """The job this thread runs, and the messages it has sent a person so far, counted to
    claim each one."""

    def __init__(self, queue: JobQueue, job: Job, consumer: str) -> None:
        self.queue = queue
        self.job = job
        self.consumer = consumer
        self.count = 0
        #: The next message is the job's last word (`last_word`).
        self.last = False
        #: A last word sent and not confirmed: `done` confirms it, or the next claim if the
        #: job speaks again after all.
        self.owed = 0
        #: The owed last word went out unclaimed (`FRESH`): no record of it exists yet.
        self.unclaimed = False
        #: Until when (monotonic) no other consumer can have taken the job over.
        self.ours_until = 0.0 if job.again else job.read_at + FRESH

    def claim_next(self) -> bool:
        if self.owed:
            if self.unclaimed:  # its record made now, so that the confirmation sticks
                self._claim(self.owed)
            self._confirm(self.owed)
            self.owed, self.unclaimed = 0, False
        self.count += 1
        if self.last and time.monotonic() < self.ours_until:
            self.unclaimed = True  # a fresh job's first run: nothing sent it, no one else holds it
            return True
        return self._claim(self.count)

    def _claim(self, nth: int) -> bool:
        try:
            return self.queue.may_send(self.job.id, nth, self.consumer)
        except redis.RedisError:
            return True  # the answer rather than silence; Redis down, the job stays pending

    def confirm(self) -> None:
        if self.last:
            self.last, self.owed = False, self.count
            return
        self._confirm(self.count)

    def _confirm(self, nth: int) -> None:
        with contextlib.suppress(redis.RedisError):  # unconfirmed: a take-over resends it
            self.queue.sent(self.job.id, nth)


_RUNNING: ContextVar[_Running | None] = ContextVar("job_running", default=None)


class _Started(NamedTuple):
    """A job handed to the pool: the slots it runs with, and when (monotonic)."""

    lease: Lease
    at: float


def may_send() -> bool:
    """Call before the running job sends a person a message, and `message_sent` after: False
    when that message was sent already by an earlier run of this job, or when another
    consumer has taken the job over (it answers), so a job taken over after its answer went
    out does not say it twice. True outside a job."""
    running = _RUNNING.get()
    if running is None or running.claim_next():
        return True
    log.info("message already sent by an earlier run", extra={"event": "jobs.not_resent"})
    return False


def message_sent() -> None:
    """The message `may_send` allowed has reached Slack: no take-over sends it again."""
    running = _RUNNING.get()
    if running is not None:
        running.confirm()


def last_word() -> None:
    """The running job's next message is its last (a command's answer): no round trip of its
    own confirms it, the job's `done` right after does, since a job that is done cannot be
    taken over. A run that dies between the two sends it again, as one that dies between a
    message and its confirmation does (an answer replaces the "Working on" line: the person
    reads it once). Should the job speak again after all, its next claim confirms it."""
    running = _RUNNING.get()
    if running is not None:
        running.last = True


def stored_at() -> float | None:
    """When the running job was stored, just before its ack was sent (epoch seconds); None
    outside a job."""
    running = _RUNNING.get()
    return None if running is None else running.job.at


def taken_over() -> bool:
    """Whether the running job was taken over from a consumer that died: its effect may be
    done already, so a handler says nothing that would read as a second answer."""
    running = _RUNNING.get()
    return running is not None and running.job.again


def consumer_name() -> str:
    """Unique per process: a restarted process is a new consumer, its old jobs are claimable."""
    return f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident() % 10000}"


class Consumer:
    def __init__(
        self,
        queue: JobQueue,
        handlers: Mapping[str, Handler],
        *,
        threads: int,
        per_person: int,
        mysafe_concurrency: int,
        visibility: float,
        paused: Callable[[], bool] = lambda: False,
        flood_hold: Callable[[], float] = lambda: 0.0,
        on_thread: Callable[[], None] | None = None,
        stall_dump: StallDump | None = None,
    ) -> None:
        self.queue = queue
        self.paused = paused
        self.flood_hold = flood_hold
        self.handlers = dict(handlers)
        self.threads = threads
        self.per_person = per_person
        self.visibility = visibility
        self.name = consumer_name()
        # A lease lasts as long as a silent consumer keeps its jobs: the two free together.
        self.slots = Slots(
            queue.redis,
            base=f"{queue.tag}:busy",
            per_person=per_person,
            overall=mysafe_concurrency,
            lease=visibility,
        )
        self._lock = threading.RLock()  # a future's callback may run in the thread holding it
        self._waiting: dict[str, deque[Job]] = {}
        self._running: dict[str, int] = {}  # started or being given their slots, per person
        self._started: dict[str, _Started] = {}  # job id -> its slots, since when
        self._held: set[str] = set()
        #: Jobs whose `done` is being written: gone from Redis by this consumer's own hand.
        self._finishing: set[str] = set()
        self._stop = threading.Event()
        self._freed = threading.Event()  # a thread has finished its job
        # `on_thread` runs first in each of the pool's threads (app.jobs.spare_cpu), never in
        # the reader's, which keeps the leases alive.
        self._pool = ThreadPoolExecutor(
            max_workers=threads, thread_name_prefix="job", initializer=on_thread
        )
        self._reader = Reader(queue)
        self._futures: set[Future[None]] = set()  # jobs handed to the pool, until they end
        self._loop: threading.Thread | None = None
        self._last_pass = time.monotonic()  # when the loop last went round
        #: Every thread's stack, should the loop be silent as long as its jobs are its own.
        self._stall_dump = stall_dump or StallDump(after=visibility)

    # --- lifecycle ---------------------------------------------------------------------

    def start(self) -> Consumer:
        with contextlib.suppress(redis.RedisError):  # else the loop makes it once Redis answers
            self.queue.ensure_group()
        self._loop = threading.Thread(target=self._run, name="job-reader", daemon=True)
        self._loop.start()
        return self

    def stop(self, *, wait: float = 10.0) -> None:
        """Read nothing more; give running jobs `wait` seconds to finish (and be marked done).
        Unfinished ones stay pending and another consumer takes them over."""
        self._stop.set()
        self._freed.set()
        deadline = time.monotonic() + wait
        while self._loop is not None and self._loop.is_alive() and time.monotonic() < deadline:
            self._reader.wake()  # again if the read began after the last wake
            self._loop.join(timeout=0.05)
        with self._lock:  # no job submitted to a pool shut down under it
            self._pool.shutdown(wait=False, cancel_futures=True)
            running = list(self._futures)
        all_of(running, timeout=max(0.0, deadline - time.monotonic()))

    # --- the loop ------------------------------------------------------------------------

    def _run(self) -> None:
        try:
            self._read_until_stopped()
        finally:
            self._stall_dump.stop()
            self._reader.close()

    def _read_until_stopped(self) -> None:
        renew_every = max(self.visibility / 3, 0.2)
        last_renew = last_claim = last_try = last_asked = 0.0
        paused = was_holding = False
        while not self._stop.is_set():
            self._stall_dump.turned()
            try:
                now = time.monotonic()
                if now - last_renew >= renew_every:
                    held = self._holding()
                    self._let_go(held, self.queue.renew(self.name, held))
                    self.slots.renew(self._leased())
                    last_renew = now
                if now - last_asked >= RETRY:  # a Redis call: not on every pass of a burst
                    paused = self.paused()  # nothing new: what it holds still runs
                    last_asked = now
                if not paused and now - last_claim >= renew_every:
                    self._take_over(
                        self.queue.claim_abandoned(self.name, idle_ms=int(self.visibility * 1000))
                    )
                    last_claim = now
                hold = self.flood_hold()
                if now - last_try >= RETRY or (was_holding and not hold):
                    self._dispatch()  # slots freed elsewhere, or the hold over
                    last_try = now
                was_holding = bool(hold)
                room = 0 if paused or hold else self._room()
                if hold:
                    self._stop.wait(min(hold, HOLD_LOOK))
                elif room:
                    block = RETRY if self._waiting else min(renew_every, 1.0)
                    self._take(self._reader.read(self.name, count=room, block_ms=int(block * 1000)))
                elif paused:
                    self._stop.wait(RETRY if self._waiting else min(renew_every, 1.0))
                else:
                    # Every thread busy, or the young jobs enough: read again once one frees
                    # or settles.
                    self._freed.wait(self._until_settled(time.monotonic()))
                    self._freed.clear()
            except redis.RedisError as error:
                if self._stop.is_set():
                    return  # the stop ended the read (CLIENT UNBLOCK)
                log.warning(
                    "job queue unavailable",
                    extra={"event": "jobs.redis_error", "error": type(error).__name__},
                )
                self._stop.wait(1.0)
            except Exception:
                # A bug, not an outage: logged with its traceback, and the loop goes on, since
                # every job of the deployment that reaches this consumer depends on it.
                log.exception("job loop failed; going on", extra={"event": "jobs.loop_error"})
                self._stop.wait(1.0)
            self._last_pass = time.monotonic()

    def alive(self, *, within: float | None = None) -> bool:
        """The loop runs and went round within `within` seconds (`LOOP_STALE` by default):
        what the worker's heartbeat reports, so a reader that stopped or hangs shows as a
        stale heartbeat."""
        return self.not_ready(within=within) is None

    def not_ready(self, *, within: float | None = None) -> str | None:
        """Why this consumer's loop is not going (stopped, or stuck for `within` seconds), or
        None: a web process that runs jobs says it in `/readyz`, as a worker's heartbeat does."""
        within = LOOP_STALE if within is None else within
        loop = self._loop
        if loop is None or not loop.is_alive() or self._stop.is_set():
            return "job consumer: its loop is not running"
        stuck = time.monotonic() - self._last_pass
        if stuck > within:
            return f"job consumer: its loop has not gone round for {stuck:.0f} s"
        return None

    def _room(self) -> int:
        """How many more jobs to read: no more than this process has idle threads for, nor
        than `COMPUTING` less its young jobs, so the other consumers take the rest (one that
        read up to its backlog in a burst held jobs its busy threads could not start while
        another's were idle); within a backlog that lets other people's jobs pass one
        person's waiting here."""
        with self._lock:
            busy = sum(self._running.values())
            young = busy - self._settled(time.monotonic())
            idle = min(self.threads - busy, COMPUTING - young)
            return max(0, min(idle, self.threads * 4 - len(self._held)))

    def _settled(self, now: float) -> int:
        """Running jobs past their first `SETTLE` seconds. Holds the lock."""
        return sum(1 for started in self._started.values() if now - started.at >= SETTLE)

    def _until_settled(self, now: float) -> float:
        """Seconds until the next running job settles (`RETRY` when none is young)."""
        with self._lock:
            ages = [now - started.at for started in self._started.values()]
        return min([RETRY, *(SETTLE - age for age in ages if age < SETTLE)])

    def _holding(self) -> list[str]:
        with self._lock:
            return list(self._held)

    def _leased(self) -> list[Lease]:
        with self._lock:
            return [started.lease for started in self._started.values()]

    def _let_go(self, held: list[str], renewed: Renewed) -> None:
        """Jobs another consumer took over while this one was silent (frozen, starved) are
        its now: those still waiting here are dropped; one already running finishes, and
        `may_send` keeps the two runs from answering twice (it stays held here while the
        other holds it, so that if it is claimed back it is not started again). A job no
        longer pending at all was done: most often here, between the look at what was held
        and the renewal (`_finishing`, or no longer held), which is no take-over; else by the
        consumer that took it over, and then it is let go of here."""
        gone = set(held) - set(renewed.kept)
        if not gone:
            return
        elsewhere = set(renewed.elsewhere)
        with self._lock:
            # Gone, held elsewhere by no one, and not being marked done here: done by the
            # consumer that took it over, waiting here or running.
            done_elsewhere = (gone - elsewhere) & (self._held - self._finishing)
            for who in list(self._waiting):
                queue = self._waiting[who]
                for job in [job for job in queue if job.id in gone]:
                    queue.remove(job)
                    self._held.discard(job.id)
                if not queue:
                    del self._waiting[who]
            self._held -= done_elsewhere
        lost = len(elsewhere) + len(done_elsewhere)
        if lost:
            log.warning(
                "jobs taken over by another consumer",
                extra={"event": "jobs.lost_to_take_over", "count": lost},
            )

    # --- scheduling ----------------------------------------------------------------------

    def _take_over(self, jobs: list[Job]) -> None:
        fresh = [job for job in jobs if job.id not in self._holding()]
        if fresh:
            log.warning(
                "jobs taken over from a silent consumer",
                extra={"event": "jobs.taken_over", "count": len(fresh)},
            )
        self._take(jobs)

    def _take(self, jobs: list[Job]) -> None:
        with self._lock:
            for job in jobs:
                if job.id in self._held:
                    continue  # ours already (claimed back while it waited here)
                self._held.add(job.id)
                self._waiting.setdefault(job.who, deque()).append(job)
        self._dispatch()

    def _dispatch(self) -> None:
        """Start what the bounds allow, oldest person's queue first: this process's own
        bounds pick the candidates (no round trip while they are full), the deployment's
        slots decide, in one round trip. Raises `redis.RedisError`: nothing started, the
        candidates wait again."""
        with self._lock:
            picked = self._pick()
        if not picked:
            return
        granted: set[str] = set()
        try:
            granted = self.slots.acquire([self._lease(job) for job in picked])
        finally:
            unused = self._start(picked, granted)
            for lease in unused:
                self._release(lease)

    def _pick(self) -> list[Job]:
        """Take the candidates out of the waiting queues, counted as running. Holds the lock."""
        if self._stop.is_set():
            return []  # what waits stays pending in Redis for another consumer
        if self.flood_hold():
            return []  # the loop starts it once the hold is over
        busy = sum(self._running.values())
        picked = []
        for who in list(self._waiting):
            queue = self._waiting[who]
            while queue and busy < self.threads and self._running.get(who, 0) < self.per_person:
                picked.append(queue.popleft())
                self._running[who] = self._running.get(who, 0) + 1
                busy += 1
            if not queue:
                del self._waiting[who]
        return picked

    def _start(self, picked: list[Job], granted: set[str]) -> list[Lease]:
        """Run the jobs given their slots; the others wait again at the head of their
        person's queue, in order. Returns slots granted too late to use (stopping)."""
        unused, refused = [], []
        with self._lock:
            for job in picked:
                lease = self._lease(job)
                if lease.holder in granted and not self._stop.is_set():
                    self._started[job.id] = _Started(lease, time.monotonic())
                    future = self._pool.submit(self._work, job)
                    self._futures.add(future)
                    future.add_done_callback(functools.partial(self._ended, job))
                    continue
                if lease.holder in granted:
                    unused.append(lease)
                refused.append(job)
            for job in reversed(refused):
                self._not_running(job.who)
                self._waiting.setdefault(job.who, deque()).appendleft(job)
        return unused

    def _lease(self, job: Job) -> Lease:
        return Lease(holder=f"{self.name}/{job.id}", person=job.who)

    def _not_running(self, who: str) -> None:
        """Holds the lock."""
        self._running[who] -= 1
        if not self._running[who]:
            del self._running[who]

    def _ended(self, job: Job, future: Future[None]) -> None:
        """A job done, or cancelled before it started (the pool shut down): then its slots
        free now."""
        with self._lock:
            self._futures.discard(future)
            if not future.cancelled():
                return
            started = self._started.pop(job.id, None)
        if started is not None:
            self._release(started.lease)

    def _release(self, lease: Lease) -> None:
        with contextlib.suppress(redis.RedisError):  # else it frees itself when its lease ends
            self.slots.release(lease)

    def _work(self, job: Job) -> None:
        try:
            self._handle(job)
        finally:
            with self._lock:
                self._started.pop(job.id, None)  # released with `done`, or left to expire
                self._not_running(job.who)
            self._freed.set()
            with contextlib.suppress(redis.RedisError):  # the loop says Redis is down
                self._dispatch()

    def _handle(self, job: Job) -> None:
        handler = self.handlers.get(job.kind)
        try:
            if handler is None:
                log.error(
                    "job of an unknown kind dropped", extra={"event": "jobs.unknown", "kind": job.kind}
                )
            else:
                running = _RUNNING.set(_Running(self.queue, job, self.name))
                try:
                    handler(job.body)
                finally:
                    _RUNNING.reset(running)
        except Exception:
            # Handlers answer the person themselves (app.error_messages); what escapes is a bug: logged,
            # and the job is not run again (it would fail again the same way).
            log.exception("job failed", extra={"event": "jobs.failed", "kind": job.kind})
        self._finish(job)

    def _finish(self, job: Job) -> None:
        with self._lock:
            started = self._started.get(job.id)
            lease = None if started is None else started.lease
            self._finishing.add(job.id)
        release = None if lease is None else (lambda pipe: self.slots.release(lease, pipe=pipe))
        try:
            while True:
                try:
                    self.queue.done(job.id, also=release)
                    break
                except redis.RedisError:
                    if self._stop.wait(1.0):
                        return  # still pending: whoever takes it over runs it again, idempotently
            with self._lock:
                self._held.discard(job.id)
        finally:
            with self._lock:
                self._finishing.discard(job.id)
        log.info(
            "job done",
            extra={"event": "jobs.done", "kind": job.kind, "waited": round(time.time() - job.at, 3)},
        )
