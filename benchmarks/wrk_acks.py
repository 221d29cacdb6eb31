"""The ack rows driven by wrk: the ceiling, help, whoami, share (also with its work held) and an
approve click at each level, back to back, repeated; each figure the median of its runs (the
"Acks driven by wrk" section of benchmarks/README.md)."""

from __future__ import annotations

import contextlib
import statistics
from collections.abc import Iterator
from typing import Any

from benchmarks import harness, wrk_load
from benchmarks.context import LEVELS
from benchmarks.flows import settle, share_and_wait
from benchmarks.harness import SIGNING_SECRET, Bench, Fixture
from benchmarks.loadgen import ConnectionClient
from benchmarks.report import log
from benchmarks.table import Row, ceiling_target, ms, verdict
from tests.support import processes

#: Rows of the wrk table, in the order they run at each level (back to back, so a ratio compares
#: runs made under the same machine conditions). "share held" is the share ack with serve's job
#: workers stopped while wrk runs and carrying the work out after it: the ack's own cost, with
#: nothing beside it on the two cores (benchmarks/README.md, "The ack and the work beside it").
HELD = "share held"
WRK_ROWS = ("ceiling", "help", "whoami", HELD, "share", "approve")
#: Issue 33's goals, as a share of the ceiling: an ack that stores a job does one Redis round
#: trip more than `help`, which answers in the ack.
ACK_GOALS = {"help": 0.6, "whoami": 0.5, "share": 0.5}
WRK_LABELS = {
    "ceiling": "ceiling (Flask+verify only)",
    "help": "help ack (answer in ack)",
    "whoami": "whoami ack (work after ack)",
    HELD: "share ack, its work held (diagnostic)",
    "share": "share ack (work after ack)",
    "approve": "approve click ack (work after ack)",
}
#: The ceiling's pool size per second: above any rate a server here answers (the README's
#: results), so a run does not reuse its pool.
WRK_POOL_RATE = 12_000


def bodies(kind: str, bench: Bench, fixture: Fixture, request_id: str) -> wrk_load.Body:
    """The bodies wrk sends for one row: a command's, or an approve click on `request_id`."""
    reply = bench.slack.response_url
    users = fixture.users
    if kind == "approve":
        return wrk_load.click_bodies(fixture.approvers, "approve", request_id, reply)
    if kind in ("share", HELD):
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


def a_request(bench: Bench, url: str, fixture: Fixture) -> str:
    """A pending request for the approve clicks."""
    client = ConnectionClient(url, SIGNING_SECRET, bench.slack.response_url)
    request_id, _ = share_and_wait(
        bench, client, fixture.users[2], fixture.entries[fixture.users[2]], fixture.peers[-3]
    )
    client.close()
    return request_id


def measure(
    bench: Bench, urls: dict[str, str], fixture: Fixture, *, seconds: float, repeats: int
) -> dict[tuple[str, int], list[dict[str, Any]]]:
    """Each of WRK_ROWS at each level, `repeats` times: every run's figures, by (row, level)."""
    request_id = a_request(bench, urls["bot"], fixture)
    results: dict[tuple[str, int], list[dict[str, Any]]] = {}
    for users in LEVELS:
        for attempt in range(repeats):
            ceiling_rate = 0.0
            for kind in WRK_ROWS:
                run = _one(bench, urls, fixture, kind, users, request_id, seconds, ceiling_rate)
                if kind == "ceiling":
                    ceiling_rate = run["rate"]
                results.setdefault((kind, users), []).append(run)
                _log_run(kind, users, attempt, run)
    return results


def _one(
    bench: Bench,
    urls: dict[str, str],
    fixture: Fixture,
    kind: str,
    users: int,
    request_id: str,
    seconds: float,
    ceiling_rate: float,
) -> dict[str, Any]:
    """One wrk run of one row at one level, with the server's CPU per request."""
    server = "ceiling" if kind == "ceiling" else "bot"
    pgid = bench.ceiling_proc.pid if server == "ceiling" else bench.bot_proc.pid
    pool = bench.tmp / "wrk-pool.tsv"
    rate = WRK_POOL_RATE if kind == "ceiling" else 1.5 * ceiling_rate + 500
    wrk_load.write_pool(
        pool, bodies(kind, bench, fixture, request_id), int(rate * seconds) + users, SIGNING_SECRET
    )
    cpu, work = harness.group_cpu(pgid), harness.work_cpu(pgid)
    with held(bench) if kind == HELD else contextlib.nullcontext():
        run = wrk_load.run(urls[server], pool, connections=users, seconds=seconds)
    # The work after the ack is part of what a command costs: its CPU until it is done, apart
    # from the ack's (serve's job workers are process groups of their own).
    waited = settle(bench, pgid) if kind not in ("ceiling", "help") else 0.0
    server_cpu = harness.group_cpu(pgid) - cpu
    work_cpu = harness.work_cpu(pgid) - work
    return {
        "rate": run.rate,
        "p50": run.p50_ms,
        "p95": run.p95_ms,
        "p99": run.p99_ms,
        "client": run.client_share,
        "server_ms": server_cpu * 1000 / run.requests,
        "work_ms": work_cpu * 1000 / run.requests,
        "requests": run.requests,
        "errors": run.errors,
        "wrapped": run.wrapped,
        "waited": waited,
    }


@contextlib.contextmanager
def held(bench: Bench) -> Iterator[None]:
    """serve's job workers stopped (SIGSTOP) for the block and let go after it, also when it
    raises: the acks store their jobs in Redis as always, and the work runs once they go on."""
    workers = processes.job_workers(bench.bot_proc.pid)
    if not workers:
        raise RuntimeError("serve has no job workers to hold")
    try:
        processes.stop(workers)  # each stopped before wrk starts
        yield
    finally:
        processes.resume(workers)


def _log_run(kind: str, users: int, attempt: int, run: dict[str, Any]) -> None:
    log(
        f"  wrk {kind:10} c={users:<3} #{attempt + 1} {run['rate']:7.1f}/s  "
        f"p50={run['p50']:.1f} p99={run['p99']:.1f} ms  wrk {run['client']:.0%} "
        f"of a core; server {run['server_ms']:.2f} ms CPU/req{_work(run['work_ms'])}"
        + (f"; work done {run['waited']:.1f} s later" if run["waited"] else "")
        + (f"  ERRORS {run['errors']}" if run["errors"] else "")
        + (f"  pool wrapped {run['wrapped']}x" if run["wrapped"] else "")
    )


def _work(ms: float) -> str:
    """The work's CPU per request beside the ack's; nothing for a row with no work (`help`,
    the ceiling: what shows there is the job workers' idle loop)."""
    return f" + work {ms:.2f}" if ms >= 0.005 else ""


def rows(results: dict[tuple[str, int], list[dict[str, Any]]]) -> list[Row]:
    """One row per (row, level), in WRK_ROWS order: the medians, and the share of the ceiling."""
    return [_row(kind, users, results) for kind in WRK_ROWS for users in LEVELS]


def _row(kind: str, users: int, results: dict[tuple[str, int], list[dict[str, Any]]]) -> Row:
    runs = results[(kind, users)]
    mid = {
        k: statistics.median(r[k] for r in runs)
        for k in ("rate", "p50", "p95", "p99", "client", "server_ms", "work_ms", "requests")
    }
    rates = sorted(r["rate"] for r in runs)
    notes = [
        f"{mid['server_ms']:.2f} ms CPU/req{_work(mid['work_ms'])}",
        f"wrk {mid['client']:.0%} of a core",
        f"{rates[0]:.0f}-{rates[-1]:.0f}/s",
    ]
    targets = []
    if kind != "ceiling":
        ceiling = results[("ceiling", users)]
        share = mid["rate"] / statistics.median(r["rate"] for r in ceiling)
        # The web workers' CPU alone (serve's job workers are a process group of their own):
        # what the ack costs, which the work behind it, run in the same seconds, does not move.
        by_cpu = statistics.median(r["server_ms"] for r in ceiling) / mid["server_ms"]
        notes[:0] = [f"{share:.0%} of ceiling", f"by CPU/req {by_cpu:.0%}"]
        if kind in ACK_GOALS:  # the approve click's goal is its p99 alone
            targets.append(ceiling_target(share, ACK_GOALS[kind]))
        if users == 50 and kind != HELD:  # a diagnostic: the goals are the issue's rows'
            targets.append(f"p99<=50ms: {verdict(mid['p99'] <= 50)}")
    errors = sum(sum(r["errors"].values()) for r in runs)
    wrapped = sum(r["wrapped"] for r in runs)
    if errors:
        notes.append(f"{errors} errors/non-2xx")
    if wrapped:
        notes.append(f"pool reused {wrapped}x (bodies repeated)")
    return Row(
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
