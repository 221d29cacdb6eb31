"""`/mysafe whoami` end to end: each simulated user waits for its answer at its own
`response_url` before sending the next (the client: benchmarks/answer_loop.py)."""

from __future__ import annotations

from typing import Any

from benchmarks import harness
from benchmarks.context import LEVELS, Context, Options
from benchmarks.flows import settle
from benchmarks.harness import SIGNING_SECRET, Bench
from benchmarks.report import log
from benchmarks.table import Row, latency_row, pct, verdict

NAME = "answers"
HELP = "command -> answer at response_url, whoami, closed loop per user"


def run(bench: Bench, context: Context, options: Options) -> list[Row]:
    log(
        "answers: /mysafe whoami, each user waiting for its answer at its own "
        "response_url before the next"
    )
    total = options.answers
    results = {}
    for users in LEVELS:
        results[users] = harness.run_json(
            "answer_loop.py",
            {
                "url": context.url,
                "secret": SIGNING_SECRET,
                "users": context.fixture.users,
                "text": "whoami",
                "concurrency": users,
                "total": total,
                "warmup": min(total, 10 * users),
            },
        )
        settle(bench, bench.bot_proc.pid)
    for users, result in results.items():
        lat = result["latencies_ms"]
        log(
            f"  users={users:<3} p50={pct(lat, 50):.1f} p99={pct(lat, 99):.1f} ms "
            f"{len(lat) / result['wall_s']:.0f} answered/s; client {result['client_share']:.0%} "
            f"of a core; {result['failed']} not taken {result['failures']}"
        )
    return [_row(users, result) for users, result in results.items()]


def _row(users: int, result: dict[str, Any]) -> Row:
    lat = result["latencies_ms"]
    return latency_row(
        "command -> answer at response_url",
        users,
        len(lat),
        lat,
        f"{len(lat) / result['wall_s']:.0f}",
        "whoami, closed loop per user; "
        f"rate = answered/s; client {result['client_share']:.0%} of a core",
        f"p99<=150ms: {verdict(pct(lat, 99) <= 150)}" if users == 50 else "",
    )
