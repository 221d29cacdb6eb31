"""kill -9 under load: 2,000 `whoami` at 10 users while every gunicorn worker and serve's job
workers are SIGKILLed each 0.5 s; nothing lost, nothing answered twice (the mechanics:
benchmarks/durable.py). Last in a full run: it leaves the bot restarting."""

from __future__ import annotations

from typing import Any

from benchmarks import durable
from benchmarks.context import Context, Options
from benchmarks.harness import Bench
from benchmarks.report import log
from benchmarks.table import Row, verdict

NAME = "kill"
HELP = "kill -9 of the web and job workers under load: 0 lost, 0 answered twice"
TOTAL = 2000


def run(bench: Bench, context: Context, options: Options) -> list[Row]:
    log(
        "kill -9: 2,000 whoami at 10 users while every gunicorn worker and serve's "
        "workers are SIGKILLed each 0.5 s (last: it leaves the bot restarting)"
    )
    killed = durable.kill_under_load(
        context.url, bench.slack, context.fixture.users, bench.bot_proc.pid, total=TOTAL
    )
    log(f"  {killed}")
    return [kill_row(killed)]


def kill_row(result: dict[str, Any]) -> Row:
    ok = result["lost"] == 0 and result["duplicated"] == 0
    return Row(
        "kill -9 web + job workers under load",
        "10",
        str(result["sent"]),
        "",
        "",
        "",
        "",
        f"acked {result['acked']}, answered {result['answered']}, lost {result['lost']}, "
        f"answered twice {result['duplicated']} (replace_original) "
        f"({result['kills']} processes killed)",
        f"0 lost, 0 duplicated: {verdict(ok)}",
    )
