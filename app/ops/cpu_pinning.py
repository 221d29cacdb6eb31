"""Each of serve's workers kept on a CPU of its own, when there are as many CPUs as web workers.

A web worker is one interpreter with a thread per request in flight (gunicorn's gthread), and
every ack waits once on Redis with the interpreter lock let go. The kernel wakes the thread whose
answer came back on whichever CPU is free, so under load the interpreter hops between CPUs at
every ack, in a virtual machine with an interrupt between them each time, and runs with cold
caches after each hop. Kept on one CPU, a worker's threads hand the lock over where they all run:
less CPU per ack and a lower p99 (benchmarks/README.md, "One CPU per worker").

gunicorn's master picks the CPU before it forks (`pre_fork`): the lowest one this process may
use that no live worker holds, so a worker started in place of one that died takes that one's
CPU. The worker keeps it from its first instruction (`post_fork`), before its threads exist,
and they inherit it. serve's job workers are pinned the same way, one on each of those CPUs
(`planned`): a job worker's threads take turns on one interpreter too, around every call to
Redis, MySafe and Slack. Its job threads keep their lower priority, so on its CPU the acks still
come first; they no longer move off a CPU for the acks (`app.jobs.spare_cpu`), having one.
With fewer CPUs than workers (or `MYSAFE_BOT_CPU_PINNING=off`), nothing is pinned and the
kernel places every worker as before. serve's MCP server and Redis go wherever it sends them.
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


def wanted() -> bool:
    """Whether to pin at all: the setting says so and the system can (macOS cannot: its
    workers run as before)."""
    return hasattr(os, "sched_getaffinity") and bool(read_one("cpu_pinning"))


def planned(workers: int) -> list[int | None]:
    """The CPUs for `serve`'s `workers` job workers, one each: the same CPUs its web workers
    take, so that each CPU runs one web worker and one job worker, whose job threads give way
    to the acks (`app.jobs.spare_cpu`). All None where nothing is pinned."""
    if not wanted():
        return [None] * workers
    allowed = os.sched_getaffinity(0)
    cpus: list[int | None] = []
    for _ in range(workers):
        cpus.append(chosen(allowed, cpus, workers=workers))
    return cpus


def pre_fork(server: Any, worker: Any) -> None:
    """gunicorn's hook, in the master: the CPU the worker about to start will keep."""
    if not wanted():
        return
    held = (getattr(sibling, "cpu", None) for sibling in server.WORKERS.values())
    worker.cpu = chosen(os.sched_getaffinity(0), held, workers=server.num_workers)


def post_fork(server: Any, worker: Any) -> None:
    """gunicorn's hook, in the new worker: keep the CPU the master chose, if it chose one."""
    keep(getattr(worker, "cpu", None))


def keep(cpu: int | None) -> bool:
    """This process, and every thread it starts after, on `cpu`; False, leaving it where it
    was, for None or a CPU the system refuses (taken away since it was chosen, as a container's
    CPU set can be). A worker started then must still start: gunicorn stops the whole server
    when one fails to boot, and serve would never start a job worker again."""
    if cpu is None:
        return False
    try:
        os.sched_setaffinity(0, {cpu})
    except OSError:
        return False
    return True
