"""50 share requests approved at once, on one entry and then on 50 entries: every one applied
and verified, and the MySafe calls each took."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

from benchmarks.context import Context, Options
from benchmarks.flows import applied_update, final_state, share_and_wait
from benchmarks.harness import SIGNING_SECRET, Bench
from benchmarks.loadgen import ConnectionClient
from benchmarks.report import log
from benchmarks.table import Row, verdict

NAME = "races"
HELP = "50 approvals at once on one entry, then on 50 entries"
COUNT = 50


def run(bench: Bench, context: Context, options: Options) -> list[Row]:
    log(f"races: {COUNT} approvals at once on one entry, then on {COUNT} entries")
    return [
        concurrent_applies(bench, context, COUNT, one_entry=True),
        concurrent_applies(bench, context, COUNT, one_entry=False),
    ]


def concurrent_applies(bench: Bench, context: Context, count: int, *, one_entry: bool) -> Row:
    """`count` share requests approved at once, on one entry or on `count` entries: seconds
    until every one is applied and verified, and MySafe calls per request (GET, PUT, GET)."""
    fixture = context.fixture
    username = fixture.usernames[fixture.users[1]]
    entries = [
        bench.emulator.add_password(
            username, name=f"Race {k}", username="ops", password="Race-Passw0rd"
        )
        for k in range(1 if one_entry else count)
    ]
    made = _requests(bench, context, entries, count)
    calls_before = len(bench.emulator.calls)
    t0 = time.monotonic()
    statuses = _click_all(bench, context, made)
    updates = [bench.slack.wait_until(lambda r=r: applied_update(bench, r), timeout=120) for r in made]
    took = max(u.at for u in updates) - t0
    applied = sum(1 for u in updates if final_state(u.args["text"]) == "applied")
    calls = len(bench.emulator.calls) - calls_before
    granted = {u["username"] for e in entries for u in bench.emulator.get_password(e)["users_allowed"]}
    landed = len(granted & set(fixture.peers[:count]))
    where = "1 entry" if one_entry else f"{count} entries"
    log(
        f"  {count} approvals on {where}: {took:.2f} s, applied={applied}, on entries={landed}, "
        f"MySafe calls/request={calls / count:.1f}, statuses={sorted(set(statuses))}"
    )
    return Row(
        f"{count} approvals at once, {where}",
        str(count),
        str(count),
        "",
        "",
        "",
        "",
        f"all applied+verified in {took:.2f} s; {calls / count:.1f} MySafe calls/request",
        f"{landed}/{count} granted: {verdict(landed == count)}",
    )


def _requests(bench: Bench, context: Context, entries: list[int], count: int) -> list[str]:
    """`count` share requests by one owner, on the one entry or each on its own."""
    fixture = context.fixture
    client = ConnectionClient(context.url, SIGNING_SECRET, bench.slack.response_url)
    made = []
    for k in range(count):
        entry = entries[k % len(entries)]
        request_id, _ = share_and_wait(bench, client, fixture.users[1], entry, fixture.peers[k])
        made.append(request_id)
    client.close()
    return made


def _click_all(bench: Bench, context: Context, made: list[str]) -> list[int]:
    """One approver per request, each on its own connection, released together."""
    barrier = threading.Barrier(len(made))

    def click(k: int) -> int:
        clicker = ConnectionClient(context.url, SIGNING_SECRET, bench.slack.response_url)
        barrier.wait()
        try:
            return clicker.click(context.fixture.approvers[k], "approve", made[k]).status_code
        finally:
            clicker.close()

    with ThreadPoolExecutor(len(made)) as pool:
        return list(pool.map(click, range(len(made))))
