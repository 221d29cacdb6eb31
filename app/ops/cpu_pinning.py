"""Each web worker kept on a CPU of its own, when there are as many CPUs as workers.

A web worker is one interpreter with a thread per request in flight (gunicorn's gthread), and
every ack waits once on Redis with the interpreter lock let go. The kernel wakes the thread whose
answer came back on whichever CPU is free, so under load the interpreter hops between CPUs at
every ack, in a virtual machine with an interrupt between them each time, and runs with cold
caches after each hop. Kept on one CPU, a worker's threads hand the lock over where they all run:
less CPU per ack and a lower p99 (benchmarks/README.md, "One CPU per web worker").

gunicorn's master picks the CPU before it forks (`pre_fork`): the lowest one this process may
use that no live worker holds, so a worker started in place of one that died takes that one's
CPU. The worker keeps it from its first instruction (`post_fork`), before its threads exist,
and they inherit it. With fewer CPUs than workers (or `MYSAFE_BOT_WEB_CPU_PINNING=off`), nothing
is pinned and the kernel places every worker as before. Only web workers are pinned: serve's job
workers, its MCP server and Redis go wherever the kernel sends them (the job workers' threads
still leave a CPU to the acks when they outrun the work: `app.jobs.spare_cpu`).
"""

from __future__ import annotations

import os
from collections.abc import Collection, Iterable
from typing import Any

from app.foundations.settings import read_one


def chosen(allowed: Collection[int], held: Iterable[int | None], *, workers: int) -> int | None:
    """The CPU for a new worker: the lowest of `allowed` that no live worker `held`; None when
    there are fewer CPUs than `workers` (two on one CPU would take turns on it while another
    idles) or every allowed CPU is held already (more workers than configured, added live)."""
    if len(allowed) < workers:
        return None
    taken = set(held)
    return next((cpu for cpu in sorted(allowed) if cpu not in taken), None)


def pre_fork(server: Any, worker: Any) -> None:
    """gunicorn's hook, in the master: the CPU the worker about to start will keep. None on a
    system that cannot pin (macOS has no `sched_getaffinity`): it runs as before."""
    if not hasattr(os, "sched_getaffinity") or not read_one("web_cpu_pinning"):
        return
    held = (getattr(sibling, "cpu", None) for sibling in server.WORKERS.values())
    worker.cpu = chosen(os.sched_getaffinity(0), held, workers=server.num_workers)


def post_fork(server: Any, worker: Any) -> None:
    """gunicorn's hook, in the new worker: keep the CPU the master chose, if it chose one."""
    cpu = getattr(worker, "cpu", None)
    if cpu is not None:
        os.sched_setaffinity(0, {cpu})
