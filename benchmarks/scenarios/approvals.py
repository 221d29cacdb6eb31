"""Share requests made one at a time, then approved one by one: share command → approval
message posted, and approve click → PUT → the 'applied' update."""

from __future__ import annotations

import time

from benchmarks.context import Context, Options
from benchmarks.flows import PUT_PREFIX, applied_update, final_state, share_and_wait
from benchmarks.harness import SIGNING_SECRET, Bench
from benchmarks.loadgen import ConnectionClient
from benchmarks.report import log
from benchmarks.table import Row, latency_row, pct, verdict

NAME = "approvals"
HELP = "share command -> approval message, then approve -> PUT -> 'applied', one at a time"


def run(bench: Bench, context: Context, options: Options) -> list[Row]:
    count, fixture = options.approvals, context.fixture
    log(f"approvals: {count} share requests, approved one by one")
    client = ConnectionClient(context.url, SIGNING_SECRET, bench.slack.response_url)
    made, share_ms = [], []
    for k in range(count):
        user = fixture.users[k % len(fixture.users)]
        request_id, took = share_and_wait(bench, client, user, fixture.entries[user], fixture.peers[k])
        made.append(request_id)
        share_ms.append(took)
    puts_before = len(bench.emulator.calls_to("PUT", PUT_PREFIX))
    click_ms, failed = [], 0
    for k, request_id in enumerate(made):
        took, applied = approve(
            bench, client, fixture.approvers[k % len(fixture.approvers)], request_id
        )
        click_ms.append(took)
        failed += not applied
    client.close()
    puts = len(bench.emulator.calls_to("PUT", PUT_PREFIX)) - puts_before
    log(
        f"  share->message p50={pct(share_ms, 50):.1f} ms; approve->applied "
        f"p50={pct(click_ms, 50):.1f} p99={pct(click_ms, 99):.1f} ms; PUTs={puts}, failed={failed}"
    )
    return [
        latency_row(
            "share cmd -> approval msg posted",
            1,
            count,
            share_ms,
            "",
            "entry read as requester, stored, posted",
        ),
        latency_row(
            "approve -> PUT -> 'applied' update",
            1,
            count,
            click_ms,
            "",
            f"{puts} PUTs for {count} requests" + (f"; {failed} FAILED" if failed else ""),
            "1 PUT each: " + verdict(puts == count and not failed),
        ),
    ]


def approve(
    bench: Bench, client: ConnectionClient, approver: str, request_id: str
) -> tuple[float, bool]:
    """One Approve click: ms until the request's final update, and whether it says applied."""
    t0 = time.monotonic()
    response = client.click(approver, "approve", request_id)
    if response.status_code != 200:
        raise RuntimeError(f"click answered {response.status_code}: {response.text}")
    update = bench.slack.wait_until(lambda: applied_update(bench, request_id), timeout=30)
    return (update.at - t0) * 1000, final_state(update.args["text"]) == "applied"
