"""Chaos, scaled to a test: 4 processes record 4,000 audited acts while the worker delivers
to a file, a Splunk HEC (indexer acknowledgement on) and a signed webhook; meanwhile HEC is
down for 3 s, the worker is SIGKILLed mid-delivery (another takes its sinks over when their
leases run out: `MYSAFE_BOT_AUDIT_SINK_LEASE`, set short here as an operator who wants a quick
take-over would, not the default minute) and Redis restarts once. The log holds each act exactly once (an append the restart cut off is
sent again, by redis-py or by the act, with the record's id, and not appended twice), and every
sink ends with every id, in order once repeats are dropped (`benchmarks/audit_chaos.py` runs
the issue's full scale).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from app.audit.log import AuditLog
from app.audit.sinks.position import Positions
from app.foundations.sink_urls import public_name
from app.foundations.storage import connect
from tests.support import siem
from tests.support.own_redis import OwnRedis
from tests.support.waiting import eventually

APPENDERS, EACH = 4, 1000
#: The sinks' lease (seconds), and what a take-over may take beyond it: the new worker's start
#: and a Redis restart, on a busy machine.
LEASE, TAKE_OVER = 2, 20
SECRET = "a webhook key of some length"
APPEND = """
import sys, redis
from app.approvals.audit import Audit
from app.foundations.storage import connect
audit = Audit(connect(sys.argv[1]), prefix=sys.argv[2])
for n in range(int(sys.argv[3])):
    act = f"R-{sys.argv[4]}{n:05d}"
    fields = audit.fields("request.created", request=act, actor="U1")
    while True:
        try:
            audit.record_once(act, fields)
            break
        except redis.ConnectionError:
            continue  # Redis restarting: the act waits for it and sends the same record again
"""


def _ids(received: list, inside: str = "") -> int:
    """How many distinct ids arrived (events inside `inside` for HEC's envelopes)."""
    return len({(e[inside] if inside else e)["metadata"]["uid"] for e in received})


@pytest.mark.slow
def test_every_sink_gets_every_id_through_a_sink_outage_a_killed_worker_and_a_redis_restart(
    env, tmp_path: Path
) -> None:
    from tests.support.processes import free_port

    own = OwnRedis(tmp_path, free_port())
    own.start()
    hec, hook = siem.Hec("hec-token"), siem.Webhook(SECRET)
    path = tmp_path / "audit.jsonl"
    prefix = "chaos"
    urls = (f"file://{path}", hec.url(batch="50"), hook.url())
    worker_env = {
        "PATH": os.environ["PATH"],
        **env,
        "REDIS_URL": own.url,
        "MYSAFE_BOT_KEY_PREFIX": prefix,
        "MYSAFE_BOT_AUDIT_SINKS": ",".join(urls),
        "MYSAFE_BOT_AUDIT_SINK_LEASE": f"{LEASE}s",
        "MYSAFE_BOT_AUDIT_HEC_TOKEN": "hec-token",
        "MYSAFE_BOT_AUDIT_WEBHOOK_SECRET": SECRET,
    }

    def worker() -> subprocess.Popen:
        return subprocess.Popen(
            [sys.executable, "-m", "app.ops.cli", "worker", "--interval", "0.05"],
            env=worker_env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    first = worker()
    appenders = [
        subprocess.Popen(
            [sys.executable, "-c", APPEND, own.url, prefix, str(EACH), chr(ord("A") + i)],
            env={"PATH": os.environ["PATH"], "PYTHONPATH": os.getcwd()},
        )
        for i in range(APPENDERS)
    ]
    second = None
    log = AuditLog(connect(own.url), prefix=prefix)
    started = time.monotonic()
    try:
        eventually(lambda: log.next_seq() > 500, 60, "500 acts recorded")
        hec.down()
        eventually(lambda: log.next_seq() > 1500, 60, "1,500 acts recorded")
        positions = Positions(connect(own.url), prefix=prefix)
        eventually(
            lambda: all(positions.get(public_name(url)).seq >= 0 for url in (urls[0], urls[2])),
            60,
            "the first worker delivering to the file and the webhook",
        )
        first.send_signal(signal.SIGKILL)  # mid-delivery: its leases stay until they run out
        killed = time.monotonic()
        first.wait(timeout=10)
        dead = {url: positions.redis.get(positions.lease_key(public_name(url))) for url in urls}
        second = worker()
        own.restart()
        hec.up()
        positions = Positions(connect(own.url), prefix=prefix)

        def taken_over() -> bool:
            held = {url: positions.redis.get(positions.lease_key(public_name(url))) for url in urls}
            return all(held[url] not in (None, dead[url]) for url in urls)

        eventually(
            taken_over,
            max(0.1, killed + LEASE + TAKE_OVER - time.monotonic()),
            f"every sink taken over within its {LEASE} s lease (+{TAKE_OVER} s) of the kill",
        )
        print(f"sinks taken over {time.monotonic() - killed:.1f} s after the kill")
        for appender in appenders:
            assert appender.wait(timeout=120) == 0
        log = AuditLog(connect(own.url), prefix=prefix)
        total = log.next_seq()
        acts = [json.loads(e.body)["request"] for e in log.entries()]
        assert total == len(acts) == len(set(acts)) == APPENDERS * EACH  # each act once
        every = f"every one of {total} ids"
        hook_ids = [
            e["metadata"]["sequence"]
            for e in hook.wait_until(lambda got: _ids(got) == total, 120, every)
        ]
        hec_ids = [
            e["metadata"]["sequence"]
            for e in (
                x["event"] for x in hec.wait_until(lambda got: _ids(got, "event") == total, 120, every)
            )
        ]
        eventually(
            lambda: path.exists() and len(path.read_text().splitlines()) >= total,
            120,
            "the file has them all",
        )
        file_ids = [json.loads(line)["metadata"]["sequence"] for line in path.read_text().splitlines()]
        assert file_ids == list(range(total))  # the file sink drops a batch sent again itself
        for name, ids in (("file", file_ids), ("hec", hec_ids), ("webhook", hook_ids)):
            kept = list(dict.fromkeys(ids))
            assert kept == list(range(total)), name
            print(f"{name}: {len(ids)} delivered, {len(ids) - total} repeat(s) dropped by id")
        print(
            f"chaos: {total} acts, each once in the log, all delivered in {time.monotonic() - started:.1f} s"
        )
    finally:
        for process in (first, second, *appenders):
            if process is not None and process.poll() is None:
                process.kill()
                process.wait(timeout=10)
        hec.close()
        hook.close()
        own.stop()
