"""300 distinct shares from 50 people at once, carried out until every approval message is
posted (the mechanics: benchmarks/share_burst.py)."""

from __future__ import annotations

from benchmarks import share_burst
from benchmarks.context import Context, Options
from benchmarks.flows import settle
from benchmarks.harness import Bench
from benchmarks.report import log
from benchmarks.table import Row, latency_row, verdict

NAME = "share-burst"
HELP = "300 distinct shares from 50 people at once, until every approval message is posted"
COUNT, PEOPLE = 300, 50


def run(bench: Bench, context: Context, options: Options) -> list[Row]:
    log(f"share burst: {COUNT} distinct shares from {PEOPLE} people at once, until posted")
    result = share_burst.share_burst(bench, context.url, context.services, count=COUNT, people=PEOPLE)
    log(f"  { ({k: v for k, v in result.items() if k != 'acks_ms'}) }")
    settle(bench, bench.bot_proc.pid)
    ok = result["lost"] == 0 and result["taken"] == COUNT and result["posted_s"] <= 2.0
    return [
        latency_row(
            f"share burst: {COUNT} distinct, until posted",
            PEOPLE,
            COUNT,
            result["acks_ms"],
            f"{result['posted'] / result['posted_s']:.0f}" if result["posted_s"] else "",
            f"all posted in {result['posted_s']:.2f} s (acked in {result['acked_s']:.2f} s); "
            f"taken {result['taken']}, posted {result['posted']}, lost {result['lost']}; "
            f"CPU: bot {result['bot_cpu_s']:.1f} s, fakes+senders {result['fakes_cpu_s']:.1f} s; "
            "latency = the acks",
            f"<=2 s, 0 lost: {verdict(ok)}",
        )
    ]
