"""Time `Revoker.sweep(now=far_future, limit=…)` until no revoke is due, in its own process.

Run by `benchmarks/scenarios/revokes.py` with one JSON job on stdin: the bot's environment (with the
key prefix the revokes were scheduled under) and `limit`. `Engine(services).new_revoker()`, the
revokes and the audit trail without Slack (the Slack notices are one post per revoke, measured
elsewhere). A separate process, like `mysafe-bot worker`, so it does not share an interpreter lock
with the emulator it calls. Writes one JSON result on stdout.
"""

from __future__ import annotations

import json
import sys
import time

from app.approvals.engine import Engine
from app.foundations.settings import Settings
from app.services import Services


def main() -> None:
    job = json.loads(sys.stdin.read())
    services = Services.build(Settings.from_env(job["env"], dotenv=None))
    revoker = Engine(services).new_revoker()
    far_future = time.time() + 400 * 86400
    passes = handled = 0
    cpu0, t0 = time.process_time(), time.perf_counter()
    while revoker.store.due(far_future, limit=1):
        passes += 1
        done = revoker.sweep(now=far_future, limit=job["limit"])
        handled += done
        if done == 0 and passes > 3:  # nothing moves: report rather than spin
            break
    took = time.perf_counter() - t0
    states: dict[str, int] = {}
    for request_id in job["ids"]:
        revoke = revoker.store.get(request_id)
        state = revoke.state if revoke else "missing"
        states[state] = states.get(state, 0) + 1
    json.dump(
        {
            "seconds": took,
            "cpu_seconds": time.process_time() - cpu0,
            "handled": handled,
            "passes": passes,
            "states": states,
        },
        sys.stdout,
    )
    services.close()


if __name__ == "__main__":
    main()
