"""The audit log's rows: an approval's cost with the audit log and without
(benchmarks/audit_cost.py), and the issue's chaos of 10,000 acts (benchmarks/audit_chaos.py)."""

from __future__ import annotations

from benchmarks import audit_chaos, audit_cost
from benchmarks.context import Context, Options
from benchmarks.harness import Bench
from benchmarks.report import log
from benchmarks.table import Row

NAME = "audit"
HELP = (
    "an approval's cost with the audit log and without; 10,000 acts through a sink outage, "
    "a killed worker and a Redis restart"
)


def run(bench: Bench, context: Context, options: Options) -> list[Row]:
    each = 50 if options.quick else 200
    log(f"audit cost: {each} approvals with the audit log and {each} without, alternating")
    made = audit_cost.rows(bench, context.services, each)
    chaos = {"acts": 2_000, "outage": 10.0} if options.quick else {}
    log("audit chaos: 10,000 acts (2,000 with --quick), HEC down, a worker killed, Redis restarted")
    made += audit_chaos.rows(bench, **chaos)
    return [Row(**row) for row in made]
