"""`mysafe-bot worker`: the loop that expires due requests and recovers stuck applies, and a
consumer of the deployment's jobs (the work after each ack), so operators can scale that
work apart from the web processes that ack. It builds no Bolt app: the job handlers come from
the runtime's job registry (`worker_runtime`).

Ticket callbacks run in a thread of their own, and so does each audit sink
(app.audit.sinks). Each pass writes a heartbeat in Redis, which
`mysafe-bot worker --check` (the liveness probe in deploy/) and `doctor` read. It stops
cleanly on SIGTERM/SIGINT: the current pass finishes (callbacks get `CALLBACK_GRACE`), then
the process exits 0, well inside the orchestrators' grace periods.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable
from typing import NoReturn

import redis

from app.foundations.clock import timestamp
from app.foundations.logs import configure_logging
from app.foundations.settings import Settings
from app.foundations.storage import RedisClient
from app.jobs.spare_cpu import AcksFirst
from app.ops import reposting
from app.ops.heap import settle
from app.ops.reload import reload_on_hup
from app.ops.runtime import Runtime, build_runtime, load_settings

log = logging.getLogger(__name__)


def run_worker(*, interval: float = 1.0, once: bool = False, spare_cpu: bool = False) -> int:
    # Before the settings: reading them may already log (a policy file kept from before).
    configure_logging("text" if os.environ.get("LOG_FORMAT", "").strip().lower() == "text" else "json")
    settings = load_settings()
    configure_logging(settings.log_format)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    runtime = worker_runtime(settings)
    reload_on_hup(runtime.engine.policy)
    settle()  # the runtime is built: the collector leaves it alone from here
    # Started by `serve`, SIGHUP came blocked (a reload while this process started would have
    # killed it); one that came meanwhile is delivered now, to the handler.
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGHUP})
    log.info("worker started", extra={"event": "worker.start", "worker": worker_id()})
    heartbeat = Heartbeat(runtime.services.redis, prefix=settings.key_prefix)
    delivering = threading.Thread(
        target=deliver_callbacks, args=(runtime, stop, interval), name="callbacks", daemon=True
    )
    delivering.start()
    sinks = start_sinks(runtime, stop, interval)
    if runtime.jobs is not None and not once:
        if spare_cpu:
            first = acks_first(runtime.jobs.pending, stop)
            runtime.jobs.start_consumer(spare_cpu=True, flood_hold=first.hold_left)
        else:
            runtime.jobs.start_consumer()
    client, repost_key = runtime.services.redis, f"{settings.key_prefix}:worker:repost"
    turn = reposting.Turn(client, repost_key, reposting.TURN, holder=worker_id())
    rounds = reposting.Rounds(client, f"{repost_key}:at", runtime.engine.store)
    try:
        while True:
            sweep(runtime, stop)
            repair(runtime)
            checkpoint(runtime)
            if turn.mine():
                reposting.take_turn(runtime, rounds)
            if consuming(runtime):
                heartbeat.beat()
            if once or stop.wait(interval):
                break
    finally:
        stop.set()
        if runtime.jobs is not None:
            runtime.jobs.stop_consumer()
        delivering.join(timeout=CALLBACK_GRACE)
        until = time.monotonic() + CALLBACK_GRACE  # one grace for all the sinks together
        for thread in sinks:
            thread.join(timeout=max(0.0, until - time.monotonic()))
        runtime.close()
        log.info("worker stopped", extra={"event": "worker.stop"})
    return 0


def acks_first(backlog: Callable[[], int], stop: threading.Event) -> AcksFirst:
    """serve's workers keep off one core while the acks beside them outrun the work, and start
    no job during a flood of them (`app.jobs.spare_cpu.AcksFirst`), looking until `stop`."""
    first = AcksFirst(backlog)
    threading.Thread(target=first.run, args=(stop,), name="acks-first", daemon=True).start()
    return first


def leave(code: int) -> NoReturn:
    """Exit a stopped worker now, its log flushed, without the interpreter's teardown.

    `serve` runs its workers at the lowest CPU priority and Ctrl-C waits for them: on a busy
    machine the teardown (every module and object freed) took seconds there.
    By now `run_worker` has closed Redis and given jobs and callbacks their grace; a job still
    running after it stays pending for another worker, as after a crash."""
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def worker_runtime(settings: Settings) -> Runtime:
    """The worker's parts: the job registry with every producer's handlers, no Bolt app (this
    process answers no Slack request)."""
    return build_runtime(settings, front=False, jobs=True)


#: Seconds the callback thread is given to finish its pass at shutdown (posts time out at 10).
CALLBACK_GRACE = 15.0


def deliver_callbacks(runtime: Runtime, stop: threading.Event, interval: float) -> None:
    """Ticket callbacks in their own loop: a slow ticket host never holds up expiry."""
    callbacks = runtime.callbacks
    while callbacks is not None and not stop.is_set():
        try:
            callbacks.deliver_due()
        except redis.RedisError as error:
            log.warning(
                "callback pass failed",
                extra={"event": "worker.callback_error", "error": type(error).__name__},
            )
        stop.wait(interval)


def start_sinks(runtime: Runtime, stop: threading.Event, interval: float) -> list[threading.Thread]:
    """A thread per audit sink: each delivers under its own lease, so a sink that is down or
    slow holds up neither the loop (approvals, expiries) nor another sink."""
    threads = [
        threading.Thread(
            target=runner.run,
            args=(stop,),
            kwargs={"interval": interval},
            name=f"sink-{runner.sink.name}",
            daemon=True,
        )
        for runner in runtime.sinks
    ]
    for thread in threads:
        thread.start()
    return threads


def worker_id() -> str:
    """This worker's name in heartbeats: the host (a pod's name) and the process."""
    return f"{socket.gethostname()}:{os.getpid()}"


class Heartbeat:
    """`P:worker:heartbeat` hash: worker id -> last pass time. `mysafe-bot worker --check`
    (a liveness probe) and `doctor` read it: a worker whose loop stalled stops beating."""

    def __init__(self, client: RedisClient, *, prefix: str) -> None:
        self.redis = client
        self.key = f"{prefix}:worker:heartbeat"

    def beat(self) -> None:
        try:
            self.redis.hset(self.key, worker_id(), repr(timestamp()))
            self.redis.expire(self.key, HEARTBEAT_TTL)
        except redis.RedisError:
            pass  # the next pass tries again; a long outage shows as a stale heartbeat

    def latest(self, *, host: str | None = None) -> float | None:
        """The newest beat (of workers on `host`, when given)."""
        beats = [
            float(t)
            for w, t in self.redis.hgetall(self.key).items()
            if host is None or w.split(":", 1)[0] == host
        ]
        return max(beats, default=None)


def consuming(runtime: Runtime) -> bool:
    """This worker's job consumer, when it runs one, is going round its loop: otherwise the
    heartbeat is withheld (and the withholding logged), so a worker whose consumer stopped
    shows as not alive rather than green with every job waiting."""
    consumer = runtime.jobs.consumer if runtime.jobs is not None else None
    if consumer is None or consumer.alive():
        return True
    log.error(
        "job consumer not running: heartbeat withheld", extra={"event": "worker.consumer_stalled"}
    )
    return False


#: A heartbeat older than this means the worker is not working (seconds).
HEARTBEAT_STALE = 60.0
HEARTBEAT_TTL = 3600


def check_alive() -> int:
    """`mysafe-bot worker --check`: 0 if a worker on this host beat within HEARTBEAT_STALE."""
    runtime = build_runtime(load_settings(), front=False)
    try:
        beat = Heartbeat(runtime.services.redis, prefix=runtime.settings.key_prefix).latest(
            host=socket.gethostname()
        )
    except redis.RedisError as error:
        print(f"worker: cannot read the heartbeat ({type(error).__name__})")
        return 1
    finally:
        runtime.close()
    if beat is None or timestamp() - beat > HEARTBEAT_STALE:
        age = "never" if beat is None else f"{timestamp() - beat:.0f} s ago"
        print(f"worker: not alive (last heartbeat {age})")
        return 1
    print(f"worker: alive (last heartbeat {timestamp() - beat:.0f} s ago)")
    return 0


def repair(runtime: Runtime) -> int:
    """Bring up to date the messages Slack did not take (a failed `chat.update`)."""
    if runtime.notifier is None:
        return 0
    try:
        notifier = runtime.notifier
        return notifier.repair(notifier.sent.repairs_due(timestamp(), limit=100))
    except redis.RedisError:
        return 0


def checkpoint(runtime: Runtime) -> None:
    """Sign the audit log's new records when due (one worker at a time, under its lease); a
    Redis hiccup or an unreadable key is logged and the next pass tries again."""
    if runtime.checkpointer is None:
        return
    try:
        runtime.checkpointer.tick()
    except (redis.RedisError, OSError, ValueError) as error:
        log.warning(
            "audit checkpoint failed",
            extra={"event": "worker.checkpoint_error", "error": type(error).__name__},
        )


def sweep(runtime: Runtime, stop: threading.Event | None = None) -> int:
    """One pass over what is due; a Redis hiccup is logged and the next pass tries again."""
    stopping = stop.is_set if stop is not None else lambda: False
    try:
        handled = runtime.engine.sweep(stopping=stopping)
        if runtime.revoker is not None:
            handled += runtime.revoker.sweep(stopping=stopping)
        if runtime.reviewer is not None:
            handled += runtime.reviewer.sweep(stopping=stopping)
        if runtime.review_sweeper is not None:
            handled += runtime.review_sweeper.sweep(stopping=stopping)
        return handled
    except redis.RedisError as error:
        log.warning(
            "sweep failed", extra={"event": "worker.sweep_error", "error": type(error).__name__}
        )
        return 0
