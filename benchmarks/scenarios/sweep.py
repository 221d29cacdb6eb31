"""10,000 due requests swept: by `Engine(services)` alone, then as `mysafe-bot worker` runs it,
handing the Slack updates off as jobs that consumer processes carry out."""

from __future__ import annotations

from typing import Any

from benchmarks import harness
from benchmarks.context import Context, Options
from benchmarks.harness import Bench
from benchmarks.report import log
from benchmarks.scenarios import pending
from benchmarks.table import Row, verdict

NAME = "sweep"
HELP = "the sweep of 10,000 due requests, alone and as the worker runs it (+Slack)"
#: Consumer processes besides the worker's own that tell Slack in the "worker" sweep rows: none
#: (`mysafe-bot worker` alone), then two more (as `serve`'s two gunicorn workers consume too).
SWEEP_HELPERS = (0, 2)
LIMIT = 500


def run(bench: Bench, context: Context, options: Options) -> list[Row]:
    count, prefix = options.pending, pending.PREFIX
    template = pending.template(bench, context)
    if prefix not in context.filled:  # run without the pending rows: fill what they would have
        log(f"sweep: {count:,} requests via ApprovalStore.create first")
        pending.fill(context, template, count, prefix)
    log(f"sweep: {count:,} due requests, Engine.sweep(now=far future, limit={LIMIT})")
    return sweep_rows(context, template, count, prefix, limit=LIMIT)


def sweep(
    env: dict[str, str], prefix: str, engine: str, limit: int, consumers: int = 0
) -> dict[str, Any]:
    job = {
        "env": {**env, "MYSAFE_BOT_KEY_PREFIX": prefix},
        "engine": engine,
        "limit": limit,
        "consumers": consumers,
    }
    return harness.run_json("sweeper.py", job, timeout=400)


def sweep_rows(context: Context, template: dict, count: int, prefix: str, *, limit: int) -> list[Row]:
    """The sweep alone (`Engine(services)`), then as `mysafe-bot worker` runs it: it hands the
    Slack updates (message update + requester DM per expiry) to jobs and returns; consumers
    tell Slack. Two numbers for the latter: the sweep's own time, and the time from its start
    until every expiry was told (the consumers start once it returned: see sweeper.py)."""
    plain = sweep(context.env, prefix, "plain", limit)
    log(f"  sweep, Engine(services): {plain}")
    rows = [
        Row(
            f"sweep {count:,} due: Engine(services)",
            "",
            str(plain["handled"]),
            "",
            "",
            "",
            f"{plain['handled'] / plain['seconds']:.0f}",
            f"{plain['seconds']:.1f} s ({plain['cpu_seconds']:.1f} s CPU), "
            f"{plain['passes']} x limit={limit}{_left(plain)}",
            "(no target)",
        )
    ]
    for helpers in SWEEP_HELPERS:
        # A fresh batch for each, since the first one is final now.
        worker_prefix = f"{prefix}-w{helpers}"
        pending.fill(context, template, count, worker_prefix)
        worker = sweep(context.env, worker_prefix, "worker", limit, consumers=helpers)
        log(f"  sweep, worker (hand-off, then {worker['consumers']} consumer processes): {worker}")
        rows += worker_rows(worker, count, limit)
    return rows


def worker_rows(worker: dict[str, Any], count: int, limit: int) -> list[Row]:
    """The worker's sweep, and the time until every expiry was told."""
    target = count >= 10_000
    return [
        Row(
            f"sweep {count:,} due +Slack: the sweep",
            "",
            str(worker["handled"]),
            "",
            "",
            "",
            f"{worker['handled'] / worker['seconds']:.0f}",
            f"{worker['seconds']:.1f} s ({worker['cpu_seconds']:.1f} s CPU), "
            f"{worker['passes']} x limit={limit}, updates handed off as jobs",
            f"<=5s: {verdict(worker['seconds'] <= 5)}" if target else "(no target)",
        ),
        Row(
            f"  ... until all told, {worker['consumers']} consumer proc",
            "",
            str(worker["handled"]),
            "",
            "",
            "",
            f"{worker['handled'] / worker['told_seconds']:.0f}",
            f"{worker['told_seconds']:.1f} s from the sweep's start "
            f"({worker['told_cpu_seconds']:.1f} s CPU in the worker){_left(worker)}",
            "(no target)",
        ),
    ]


def _left(result: dict[str, Any]) -> str:
    return f"; {result['left']} STILL DUE" if result["left"] else ""
