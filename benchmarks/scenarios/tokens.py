"""MySafe token fetches from cold: 1,000 `list passwords` from 10 users, one thread each, and
the token requests the emulator received (one per user per token life)."""

from __future__ import annotations

from benchmarks import harness
from benchmarks.context import Context, Options
from benchmarks.harness import SIGNING_SECRET, Bench
from benchmarks.report import log
from benchmarks.table import Row, latency_row, verdict

NAME = "tokens"
HELP = "MySafe token fetches for 1,000 'list passwords' from 10 users, from cold"
COMMANDS = 1000


def run(bench: Bench, context: Context, options: Options) -> list[Row]:
    log(f"token fetches: {COMMANDS:,} 'list passwords' from {len(context.fixture.users)} users")
    services, fixture = context.services, context.fixture
    for user in fixture.users:  # start cold: every user's first command must fetch
        services.redis.delete(services.mysafe.tokens.key(user))
    token_path = services.settings.mysafe_token_path
    before = len(bench.emulator.calls_to("POST", token_path))
    responses_before = bench.slack.response_count
    job = {
        "mode": "closed",
        "kind": "command",
        "text": "list passwords",
        "url": context.url,
        "secret": SIGNING_SECRET,
        "response_url": bench.slack.response_url,
        "users": fixture.users,
        "user_per_thread": True,
        "concurrency": len(fixture.users),
        "total": COMMANDS,
        "warmup": 0,
        "client": options.client,
    }
    result = harness.run_loadgen(job)
    bench.slack.wait_until(
        lambda: bench.slack.response_count >= responses_before + COMMANDS, timeout=180
    )
    fetches = len(bench.emulator.calls_to("POST", token_path)) - before
    users = len(fixture.users)
    log(f"  token fetches: {fetches} for {COMMANDS} commands from {users} users")
    return [
        latency_row(
            f"token fetches per {COMMANDS:,} 'list passwords' (cold)",
            users,
            COMMANDS,
            result["latencies_ms"],
            f"{COMMANDS / result['wall_s']:.0f}",
            f"{fetches * 1000 / COMMANDS:.0f} fetches ({fetches / users:.1f}/user); latency = list ack",
            f"<= 1/user/token life: {verdict(fetches <= users)}",
        )
    ]
