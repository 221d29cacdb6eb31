"""Time `Engine.sweep(now=far_future, limit=…)` until nothing is due, in its own process.

Run by `benchmarks/scenarios/sweep.py` with one JSON job on stdin: the bot's environment (with the
key prefix the pending requests were written under), `engine` and `limit`. Writes one JSON result on
stdout.

- "plain": `Engine(services)`, the store and the audit trail only (no listener to tell).
- "worker": what `mysafe-bot worker` runs, `app.ops.runtime.assemble(services)` and the front's job
  consumer in the same process. The sweep hands each batch's news (the message update, the
  requester's DM) to a job and returns; the consumer's threads tell Slack. Two times: the
  sweep's own (its Redis side and the hand-off) and, from the same start, until every expiry
  was told (none owed any more: the due index is empty). The consumer starts when the sweep
  returns, so the sweep's time is its own; with `overlap` it runs from the start, as in the
  worker, and the two share the interpreter lock and the cores. `consumers` more processes
  (`python -m benchmarks.sweeper consume`: a web process's or another worker's consumer) may
  take jobs too.

A separate process, like the real worker, so it does not share an interpreter lock with the
Slack fake it calls.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from typing import TYPE_CHECKING, Any

from app.approvals.engine import Engine
from app.foundations.settings import Settings
from app.ops.runtime import assemble
from app.services import Services

if TYPE_CHECKING:
    from app.jobs.work import Jobs

#: Seconds to wait for the last expiry to be told before giving up (reported as left).
TELL_TIMEOUT = 300.0


def main() -> None:
    job = json.loads(sys.stdin.read())
    if sys.argv[1:] == ["consume"]:
        consume(job)
        return
    services = Services.build(Settings.from_env(job["env"], dotenv=None))
    result = worker(services, job) if job["engine"] == "worker" else plain(services, job)
    json.dump(result, sys.stdout)
    services.close()


def plain(services: Services, job: dict[str, Any]) -> dict[str, Any]:
    engine = Engine(services)
    cpu0, t0 = time.process_time(), time.perf_counter()
    handled, passes = sweep_until_done(engine, job["limit"])
    return {
        "seconds": time.perf_counter() - t0,
        "cpu_seconds": time.process_time() - cpu0,
        "handled": handled,
        "passes": passes,
        "left": due(engine),
    }


def worker(services: Services, job: dict[str, Any]) -> dict[str, Any]:
    runtime = assemble(services, front=False, jobs=True)
    front, engine = runtime.jobs, runtime.engine
    assert front is not None, "the worker's engine needs Slack settings"
    overlap = job.get("overlap", False)
    helpers: list[subprocess.Popen[str]] = []
    if overlap:
        helpers = start_consumers(front, job)
    try:
        cpu0, t0 = time.process_time(), time.perf_counter()
        handled, passes = sweep_until_done(engine, job["limit"])
        swept, swept_cpu = time.perf_counter() - t0, time.process_time() - cpu0
        if not overlap:
            helpers = start_consumers(front, job)
        deadline = time.monotonic() + TELL_TIMEOUT
        while due(engine) and time.monotonic() < deadline:
            time.sleep(0.05)  # polled: the told expiries leave the due index (Engine.tell_expired)
        told = time.perf_counter() - t0
        return {
            "seconds": swept,
            "cpu_seconds": swept_cpu,
            "handled": handled,
            "passes": passes,
            "told_seconds": told,
            "told_cpu_seconds": time.process_time() - cpu0,
            "left": due(engine),
            "consumers": 1 + len(helpers),
            "overlap": overlap,
        }
    finally:
        front.stop_consumer()
        for helper in helpers:
            helper.terminate()
            helper.wait(timeout=30)


def start_consumers(front: Jobs, job: dict[str, Any]) -> list[subprocess.Popen[str]]:
    """This process's consumer, as in `mysafe-bot worker`, and `consumers` more processes."""
    helpers = [
        subprocess.Popen(
            [sys.executable, "-m", "benchmarks.sweeper", "consume"], stdin=subprocess.PIPE, text=True
        )
        for _ in range(job.get("consumers", 0))
    ]
    for helper in helpers:
        assert helper.stdin is not None
        helper.stdin.write(json.dumps(job))
        helper.stdin.close()
    front.start_consumer()
    return helpers


def consume(job: dict[str, Any]) -> None:
    """Another process's consumer of the same jobs, until terminated."""
    services = Services.build(Settings.from_env(job["env"], dotenv=None))
    runtime = assemble(services, front=False, jobs=True)
    assert runtime.jobs is not None
    runtime.jobs.start_consumer()
    try:
        while True:
            time.sleep(1)
    finally:
        runtime.jobs.stop_consumer()


def sweep_until_done(engine: Engine, limit: int) -> tuple[int, int]:
    far_future = time.time() + 400 * 86400
    passes = handled = 0
    while True:
        passes += 1
        done = engine.sweep(now=far_future, limit=limit)
        handled += done
        if not engine.store.due("due", far_future, limit=1):
            break
        if done == 0 and passes > 3:  # nothing moves: report rather than spin
            break
    return handled, passes


def due(engine: Engine) -> int:
    """Requests still due: not expired yet, or expired and not yet told."""
    return int(engine.services.redis.zcard(engine.store.index("due")))


if __name__ == "__main__":
    main()
