"""`--profile KIND`: where the bot's time goes under one kind of load, by py-spy on its workers,
printed instead of the table."""

from __future__ import annotations

import time

from app.services import Services
from benchmarks import share_burst, spy, wrk_acks, wrk_load
from benchmarks.flows import settle
from benchmarks.harness import SIGNING_SECRET, Bench, Fixture
from benchmarks.report import log
from tests.support import processes

KINDS = ("help", "whoami", "share", "approve", "share-burst")


def profile(bench: Bench, url: str, fixture: Fixture, services: Services, kind: str) -> str:
    if kind == "share-burst":
        return profile_share_burst(bench, url, services)
    return profile_acks(bench, url, fixture, kind)


def profile_acks(
    bench: Bench, url: str, fixture: Fixture, kind: str, *, connections: int = 10, seconds: float = 10.0
) -> str:
    """py-spy on every bot worker while wrk sends `kind` for `seconds`; printed on stdout."""
    if not wrk_load.available():
        raise RuntimeError("--profile needs wrk")
    request_id = wrk_acks.a_request(bench, url, fixture) if kind == "approve" else ""
    pool = bench.tmp / "wrk-pool.tsv"
    wrk_load.write_pool(
        pool, wrk_acks.bodies(kind, bench, fixture, request_id), int(4000 * seconds), SIGNING_SECRET
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
