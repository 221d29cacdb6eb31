"""Benchmark row: a burst of distinct `/mysafe share` commands, carried out to the approval
channel. Used by `benchmarks/scenarios/share_burst.py` (`--only share-burst` runs it alone).

`people` linked MySafe users, each with one entry of their own, send `count` shares between
them (each to its own grantee, so no two are the same request) from `people` threads released
together, one connection each. The clock runs from the release until the last approval
message reaches the Slack fake (`chat.postMessage` to the approval channel). A command whose
ack did not say "Working on" is not taken; one taken whose message never came is lost.
"""

from __future__ import annotations

import contextlib
import threading
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from app.services import Services
from benchmarks import harness
from benchmarks.harness import APPROVAL_CHANNEL, SIGNING_SECRET, Bench
from benchmarks.loadgen import ConnectionClient

#: How long the posts may take before the missing ones count as lost.
SETTLE = 120.0


def _approval_posts(bench: Bench) -> int:
    """Checked at every call the fake records: a count, not a walk over the run's posts,
    whose cost grew with everything the rows before the burst posted (on the bot's cores)."""
    return bench.slack.posts_to[APPROVAL_CHANNEL]


def _redis_calls(services: Services) -> Counter[str]:
    """Commands Redis has run since it started, by command (`INFO commandstats`, the ones a
    script runs included): counted across the burst, the bot's Redis work per share, a
    number the machine's load does not move."""
    stats = services.redis.info("commandstats")
    return Counter({k: int(v["calls"]) for k, v in stats.items() if isinstance(v, dict)})


def _people(bench: Bench, services: Services, count: int, tag: str) -> list[tuple[str, int]]:
    """`count` linked people, each owning one entry: (Slack ID, entry id)."""
    people = []
    for i in range(count):
        slack_id, username = f"UBURST{tag}{i:03d}".upper(), f"burst.{tag}.user{i:03d}"
        client_id, client_secret = bench.emulator.add_user(username)
        services.vault.link(
            slack_id, client_id=client_id, client_secret=client_secret, mysafe_username=username
        )
        entry = bench.emulator.add_password(
            username,
            name=f"Burst {tag} {i:03d}",
            url=f"https://burst{i:03d}.example.com",
            username=f"burst{i:03d}@example.com",
            password=f"Burst-Passw0rd-{i:03d}",
        )
        people.append((slack_id, entry))
    return people


def share_burst(
    bench: Bench, url: str, services: Services, *, count: int, people: int
) -> dict[str, Any]:
    """Send the burst and wait for its approval messages; the counts, the seconds taken, and
    the CPU seconds of the bot's processes and of this one (the fakes and the senders), and the
    commands Redis ran meanwhile."""
    tag = uuid.uuid4().hex[:6]
    sharers = _people(bench, services, people, tag)
    grantees = [f"burst.{tag}.peer{k:03d}" for k in range(count)]
    for name in grantees:
        bench.emulator.add_user(name)
    before = _approval_posts(bench)
    barrier = threading.Barrier(people + 1)
    acks: list[float] = []
    taken = [0] * people

    def person(n: int) -> None:
        user, entry = sharers[n]
        client = ConnectionClient(url, SIGNING_SECRET, bench.slack.response_url)
        try:
            client.get("/healthz")  # the connection is open before the clock starts
            barrier.wait()
            for k in range(n, count, people):
                sent = time.monotonic()
                answer = client.command(user, f"share password {entry} with user:{grantees[k]}")
                acks.append((time.monotonic() - sent) * 1000)
                taken[n] += answer.status_code == 200 and "Working on" in answer.text
        finally:
            client.close()

    with ThreadPoolExecutor(max_workers=people) as pool:
        futures = [pool.submit(person, n) for n in range(people)]
        calls_before = _redis_calls(services)
        barrier.wait()
        started = time.monotonic()
        cpu = harness.bot_cpu(bench.bot_proc.pid), time.process_time()
        for future in futures:
            future.result()
        acked = time.monotonic() - started
    total = sum(taken)
    posted_at = started
    with contextlib.suppress(AssertionError):
        bench.slack.wait_until(lambda: _approval_posts(bench) >= before + total, timeout=SETTLE)
    calls = [
        c
        for c in bench.slack.method_calls("chat.postMessage")
        if c.args.get("channel") == APPROVAL_CHANNEL
    ][before:]
    if calls:
        posted_at = max(c.at for c in calls)  # type: ignore[attr-defined]
    bot_cpu, own_cpu = harness.bot_cpu(bench.bot_proc.pid) - cpu[0], time.process_time() - cpu[1]
    redis_calls = _redis_calls(services) - calls_before
    return {
        "sent": count,
        "taken": total,
        "posted": len(calls),
        "lost": total - len(calls),
        "acked_s": acked,
        "posted_s": posted_at - started,
        "acks_ms": sorted(acks),
        "bot_cpu_s": bot_cpu,
        "fakes_cpu_s": own_cpu,
        "redis_calls": redis_calls.total(),
        "redis_top": dict(redis_calls.most_common(12)),
    }
