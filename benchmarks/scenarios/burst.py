"""200 approvers click Approve on one request at once: one PUT, and every other clicker told
their click changed nothing."""

from __future__ import annotations

import contextlib

from benchmarks import harness
from benchmarks.context import Context, Options
from benchmarks.flows import applied_update, puts_to, share_and_wait
from benchmarks.harness import SIGNING_SECRET, Bench
from benchmarks.loadgen import ConnectionClient
from benchmarks.report import log
from benchmarks.table import Row, latency_row, verdict

NAME = "burst"
HELP = "200 concurrent approve clicks on one request"
CLICKS = 200


def run(bench: Bench, context: Context, options: Options) -> list[Row]:
    log(f"burst: {CLICKS} concurrent approve clicks on one request")
    fixture, url = context.fixture, context.url
    client = ConnectionClient(url, SIGNING_SECRET, bench.slack.response_url)
    user = fixture.users[0]
    entry = fixture.entries[user]
    request_id, _ = share_and_wait(bench, client, user, entry, fixture.peers[-1])
    client.close()
    puts_before = puts_to(bench, entry)
    responses_before = bench.slack.response_count
    job = {
        "mode": "burst",
        "kind": "click",
        "action": "approve",
        "value": request_id,
        "url": url,
        "secret": SIGNING_SECRET,
        "response_url": bench.slack.response_url,
        "users": fixture.approvers[:CLICKS],
        "concurrency": CLICKS,
        "client": options.client,
    }
    result = harness.run_loadgen(job)
    update = bench.slack.wait_until(lambda: applied_update(bench, request_id), timeout=60)
    # The losing clicks are each told "changed nothing" through response_url: wait for them all,
    # so no late apply could still be on its way when the PUTs are counted.
    with contextlib.suppress(AssertionError):
        bench.slack.wait_until(
            lambda: bench.slack.response_count >= responses_before + CLICKS - 1, timeout=60
        )
    told = bench.slack.response_count - responses_before
    puts = puts_to(bench, entry) - puts_before
    log(
        f"  burst of {CLICKS}: statuses={result['statuses']} PUTs={puts} told={told} "
        f"final={update.args['text']!r}"
    )
    ok200 = result["statuses"].get("200", 0)
    return [
        latency_row(
            f"burst: {CLICKS} approve clicks, 1 request",
            CLICKS,
            CLICKS,
            result["latencies_ms"],
            "",
            f"PUTs = {puts}; {ok200} x 200; {told} told 'no change'",
            f"PUTs = 1: {verdict(puts == 1)}",
        )
    ]
