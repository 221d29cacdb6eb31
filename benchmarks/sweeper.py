"""Time `Engine.sweep(now=far_future, limit=…)` until nothing is due, in its own process.

Run by `benchmarks/run.py` with one JSON job on stdin: the bot's environment (with the key prefix
the pending requests were written under), `engine` ("plain": `Engine(services)`, the store and
the audit trail only; "worker": `app.runtime.assemble(services)`, what `mysafe-bot worker`
builds, which also updates each request's Slack message and DMs the requester) and `limit`.
A separate process, like the real worker, so it does not share an interpreter lock with the
Slack fake it calls. Writes one JSON result on stdout.
"""

from __future__ import annotations

import json
import sys
import time

from app.approvals.engine import Engine
from app.runtime import assemble
from app.services import Services
from app.settings import Settings


def main() -> None:
    job = json.loads(sys.stdin.read())
    services = Services.build(Settings.from_env(job["env"], dotenv=None))
    engine = assemble(services).engine if job["engine"] == "worker" else Engine(services)
    far_future = time.time() + 400 * 86400
    limit = job["limit"]
    passes = handled = 0
    cpu0, t0 = time.process_time(), time.perf_counter()
    while True:
        passes += 1
        done = engine.sweep(now=far_future, limit=limit)
        handled += done
        if not engine.store.due("due", far_future, limit=1):
            break
        if done == 0 and passes > 3:  # nothing moves: report rather than spin
            break
    took = time.perf_counter() - t0
    json.dump({"seconds": took, "cpu_seconds": time.process_time() - cpu0, "handled": handled,
               "passes": passes, "left": services.redis.zcard(engine.store.index("due"))},
              sys.stdout)
    services.close()


if __name__ == "__main__":
    main()
