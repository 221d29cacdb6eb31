"""An access review campaign of 10,000 lines: its start, then every decision applied.

50 reviewers each own `lines / 1000` entries of 20 grantees each (500 entries for 10,000
lines), under a key prefix of their own (no other row's linked people review anything here)
and a policy that applies review removals at once. In a fresh process (`python -m
benchmarks.review_campaign`, one JSON job on stdin, like the sweeper's rows):

- **start**: `Reviews.begin` and the start job `ReviewSweeper.start` — every reviewer's
  entries listed with their own key, each entry read once, the lines filled in one step, one
  card per reviewer, entry and 20 lines posted to the Slack fake (two of them answered 429
  first: the client waits its Retry-After and sends again, so none is lost). Redis memory of
  the campaign's keys.
- **decisions**: every line decided by its reviewer, 8 at a time (`Reviews.decide`: the entry
  re-read with their key, the decision claimed; one line in five *Remove*, filed and applied
  through the engine and read back), until every removal's result is in.

`python -m benchmarks.review_campaign --lines N` runs it alone, with its own Redis, emulator
and Slack fake; `benchmarks/scenarios/review_campaign.py` runs it among the other rows.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import shutil
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from app.approvals.review_records import Choice, new_campaign
from app.foundations.settings import Settings
from app.ops.runtime import build_runtime
from app.slack.sent_cards import SentCards
from benchmarks import harness
from benchmarks.harness import Bench

PREFIX = "bench-reviews"
REVIEWERS = 50
PER_ENTRY = 20
POLICY = """
rules:
  - name: review-removals
    match: {verbs: [unshare], sources: [review]}
    approvals: 0
  - name: default
    approvals: 1
"""


def rows(bench: Bench, env: dict[str, str], *, lines: int) -> list[tuple[str, ...]]:
    """The two rows (as `Row` fields, in order) for a campaign of `lines` lines."""
    policy = bench.tmp / "review-policy.yml"
    policy.write_text(POLICY)
    job_env = {**env, "MYSAFE_BOT_KEY_PREFIX": PREFIX, "MYSAFE_BOT_POLICY": str(policy)}
    populate(bench, job_env, lines=lines)
    bench.slack.fail("chat.postMessage", error="ratelimited", status=429, times=2)
    before = {m: len(c) for m, c in bench.slack.by_method.items()}
    result = harness.run_json("review_campaign.py", {"env": job_env}, timeout=3600)
    calls = {m: len(c) - before.get(m, 0) for m, c in bench.slack.by_method.items()}
    calls = {m: n for m, n in calls.items() if n}
    said = ", ".join(f"{m} {n:,}" for m, n in sorted(calls.items()))
    return [
        (
            f"review start: {result['lines']:,} lines, {REVIEWERS} reviewers",
            "",
            str(result["lines"]),
            "",
            "",
            "",
            "",
            f"{result['start_seconds']:.1f} s; {result['cards']:,} cards, {result['refused']} "
            f"refused; Redis {result['redis_bytes'] / 1e6:.1f} MB; Slack calls: {said} "
            "(2 answered 429 first, sent again)",
            "every card sent",
        ),
        (
            f"review decisions: {result['lines']:,} lines, 8 at a time",
            "",
            str(result["decided"]),
            "",
            "",
            "",
            f"{result['decided'] / result['decide_seconds']:.0f}",
            f"{result['decide_seconds']:.1f} s until all applied; removed "
            f"{result['removed']:,}, drift {result['drift']}, undecided {result['undecided']}",
            "all decided, removals read back",
        ),
    ]


def populate(bench: Bench, env: dict[str, str], *, lines: int) -> None:
    """Reviewers linked under the campaign's prefix, and their entries in the emulator."""
    services = bench.build_services(env)
    grantees = [f"rv.g{i:03d}" for i in range(100)]
    for name in grantees:
        bench.emulator.add_user(name)
    entries = max(lines // PER_ENTRY, 1)
    for i in range(REVIEWERS):
        username = f"rv.rev{i:02d}"
        client_id, client_secret = bench.emulator.add_user(username)
        services.vault.link(
            f"UREV{i:03d}", client_id=client_id, client_secret=client_secret, mysafe_username=username
        )
    for e in range(entries):
        bench.emulator.add_password(
            f"rv.rev{e % REVIEWERS:02d}",
            name=f"Reviewed {e:04d}",
            username="svc",
            password=f"Bench-Rv-{e:04d}",
            users_allowed=[{"username": grantees[(e + j) % 100]} for j in range(PER_ENTRY)],
        )


def measure(env: dict[str, str]) -> dict[str, Any]:
    """The child's side: start, then decide every line (see the module docstring)."""
    runtime = build_runtime(Settings.from_env(env, dotenv=None), front=False)
    reviews, sweeper = runtime.reviews, runtime.review_sweeper
    assert reviews is not None and sweeper is not None
    began = time.perf_counter()
    assert reviews.begin(new_campaign(name="Bench", due=14 * 86400), claimed=True)
    started = sweeper.start("Bench")
    start_seconds = time.perf_counter() - began
    assert started is not None
    store = reviews.store
    keys = [store.campaign_key("Bench"), store.lines_key("Bench"), store.open_key("Bench")]
    keys.append(SentCards(store.redis, prefix=store.prefix).key("Bench"))  # the DM cards
    redis_bytes = sum(store.redis.memory_usage(k) or 0 for k in keys)

    def decide(index_line: tuple[int, Any]) -> None:
        index, line = index_line
        choice = Choice.REMOVE if index % 5 == 0 else Choice.KEEP
        reviews.decide("Bench", line.id, line.reviewers[0], choice)

    began = time.perf_counter()
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(decide, enumerate(started.lines)))
    totals = reviews.report("Bench", record=False).totals
    decide_seconds = time.perf_counter() - began
    runtime.close()
    return {
        "lines": len(started.lines),
        "cards": started.posted.cards,
        "refused": len(started.posted.failed),
        "start_seconds": start_seconds,
        "redis_bytes": redis_bytes,
        "decided": totals["lines"] - totals["undecided"],
        "decide_seconds": decide_seconds,
        "removed": totals["removed"],
        "drift": totals["drift"],
        "undecided": totals["undecided"],
    }


def standalone(lines: int) -> int:
    """This row alone: its own Redis, emulator and Slack fake."""
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # the fakes' access logs
    tmp = Path(tempfile.mkdtemp(prefix="mysafe-bench-reviews-"))
    try:
        with contextlib.ExitStack() as stack:
            bench = Bench(tmp, stack)
            bench.start_redis()
            bench.start_emulator()
            bench.start_slack()
            for row in rows(bench, bench.bot_env(["UAPPR000"]), lines=lines):
                print(" | ".join(part for part in row if part))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


def main() -> int:
    if sys.argv[1:]:
        parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
        parser.add_argument("--lines", type=int, default=10_000)
        return standalone(parser.parse_args().lines)
    job = json.loads(sys.stdin.read())
    json.dump(measure(job["env"]), sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
