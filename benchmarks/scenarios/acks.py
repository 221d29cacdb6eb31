"""Slash-command acks against the ceiling (a bare signature-checking Flask app under the same
gunicorn options): the wrk table, or without wrk (or with `--python-acks`) help, whoami and the
ceiling through the Python load generator."""

from __future__ import annotations

import time
from typing import Any

from benchmarks import harness, wrk_acks
from benchmarks.context import LEVELS, Context, Options
from benchmarks.harness import SIGNING_SECRET, Bench, Fixture
from benchmarks.report import log
from benchmarks.table import Row, ceiling_target, ms, pct, verdict

NAME = "acks"
HELP = "ack latency and throughput of help, whoami, share and an approve click, and the ceiling"
PYTHON = " [python client: wrk not installed]"


def run(bench: Bench, context: Context, options: Options) -> list[Row]:
    ceiling_url, _took, argv = bench.start_ceiling()
    log("ceiling: bare Flask + SignatureVerifier under the same gunicorn options:")
    log(f"  {' '.join(argv[1:])}")
    if options.ack_client == "wrk":
        log(
            f"acks with wrk: per level, {', '.join(wrk_acks.WRK_ROWS)} back to back, "
            f"{options.wrk_seconds:g} s each, {options.repeats} times; the median is reported"
        )
        urls = {"bot": context.url, "ceiling": ceiling_url}
        results = wrk_acks.measure(
            bench, urls, context.fixture, seconds=options.wrk_seconds, repeats=options.repeats
        )
        bench.stop_ceiling()
        return wrk_acks.rows(results)
    rows = python_acks(bench, context, options, ceiling_url)
    bench.stop_ceiling()
    return rows


def python_acks(bench: Bench, context: Context, options: Options, ceiling_url: str) -> list[Row]:
    """Per level the ceiling, then help, then whoami, back to back, closed loop."""
    log(
        "acks: per level, the ceiling, then /mysafe help (answered in the ack), then "
        "/mysafe whoami (acked at once, answered after), back to back"
    )
    total, fixture = options.requests, context.fixture
    ceiling, helps, whoamis = {}, {}, {}
    bot, ceiling_pgid = bench.bot_proc.pid, bench.ceiling_proc.pid
    for users in LEVELS:
        ceiling[users] = ack_level(
            bench,
            ceiling_url,
            fixture,
            "help",
            users,
            options,
            drain=False,
            pgid=ceiling_pgid,
            label="ceiling",
        )
        helps[users] = ack_level(
            bench, context.url, fixture, "help", users, options, drain=False, pgid=bot, label="bot"
        )
        whoamis[users] = ack_level(
            bench, context.url, fixture, "whoami", users, options, drain=True, pgid=bot, label="bot"
        )
    python = "" if options.python_acks else PYTHON
    return (
        ack_rows(f"help ack (answer in ack){python}", helps, ceiling, total=total)
        + ack_rows(f"whoami ack (work after ack){python}", whoamis, ceiling, total=total)
        + ack_rows(f"ceiling (Flask+verify only){python}", ceiling, None, total=total)
    )


def ack_level(
    bench: Bench,
    url: str,
    fixture: Fixture,
    text: str,
    users: int,
    options: Options,
    *,
    drain: bool,
    pgid: int,
    label: str,
) -> dict[str, Any]:
    """One closed-loop run at one concurrency level. With `drain`, wait for every after-ack reply
    (response_url) too, so runs do not overlap. Server CPU is read from /proc for the server's
    process group (gunicorn master + workers) around the run, and divided by requests sent."""
    total = options.requests
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
        "client": options.client,
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
    _log_level(label, text, users, total, result, drain=drain)
    return result


def _log_level(
    label: str, text: str, users: int, total: int, result: dict[str, Any], *, drain: bool
) -> None:
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
            targets.append(ceiling_target(share, 0.5))
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
