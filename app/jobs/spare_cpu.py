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
"""

from __future__ import annotations

import logging
import os

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
