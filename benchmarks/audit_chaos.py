"""The issue's chaos, at full scale: 10,000 audited acts from 4 processes while the worker
delivers the log to four sinks (a file, Splunk HEC with indexer acknowledgement, a signed
webhook, syslog over TLS), and meanwhile HEC is down for 60 s, the worker is SIGKILLed
(another takes over once its sinks' leases run out) and Redis restarts once.

    .venv/bin/python -m benchmarks.audit_chaos [--acts N] [--outage S] [--rate R]

Then: the log must hold each act exactly once (seqs 0..N-1), every sink must have every seq
(at least once, in order; a SIEM drops a repeat by the event's id, the seq, which the issue
allows, and the repeats are counted), the worker's checkpoints must cover the log, the export
must verify, and one byte changed in one record of it must fail verify at that record's seq.

Each act is a record appended as the bot's acts append theirs (`Audit.record_once` with the
act's id: one that Redis's restart cut off is sent again, and is not appended twice). The acts
are paced (`--rate` per process per second, default 25) so that the outage, the kill and the
restart happen while they are being made. `make bench` runs it as rows (`rows`).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from app.audit import signing
from app.audit.export import export
from app.audit.formats import jsonl_line
from app.audit.log import AuditLog
from app.audit.verify import Tampered, verify_file
from app.storage import connect
from benchmarks.harness import Bench
from tests.support import siem
from tests.support.own_redis import OwnRedis
from tests.support.processes import free_port

PREFIX = "chaos"
SECRET = "a webhook key of some length"  # noqa: S105 - a throwaway for loopback runs
HEC_TOKEN = "hec-token"  # noqa: S105
APPEND = """
import sys, time, redis
from app.approvals.audit import Audit
from app.storage import connect
url, prefix, count, name, rate = sys.argv[1:6]
audit = Audit(connect(url), prefix=prefix)
started = time.monotonic()
for n in range(int(count)):
    time.sleep(max(0.0, started + n / float(rate) - time.monotonic()))
    act = f"R-{name}{n:05d}"
    fields = audit.fields("request.created", request=act, actor="U1", verb="share", entry="312")
    while True:
        try:
            audit.record_once(act, fields)
            break
        except redis.ConnectionError:
            time.sleep(0.05)  # Redis restarting: the act waits and sends the same record again
"""


def run(
    bench: Bench, *, acts: int = 10_000, processes: int = 4, outage: float = 60.0, rate: float = 25.0
) -> dict[str, Any]:
    """Run the chaos; what happened, in numbers (raises AssertionError if a promise broke)."""
    folder = bench.tmp / "chaos"
    folder.mkdir()
    own = OwnRedis(folder, free_port())
    own.start()
    bench.stack.callback(own.stop)
    hec, hook, syslog = siem.Hec(HEC_TOKEN), siem.Webhook(SECRET), siem.SyslogTls(folder)
    arrivals = {}
    for receiver in (hec, hook, syslog):
        bench.stack.callback(receiver.close)
        arrivals[id(receiver)] = _stamped(receiver)
    key = signing.generate()
    path = folder / "audit.jsonl"
    env = {
        **bench.bot_env(["UCHAOSAPPROVER"]),
        "PATH": os.environ["PATH"],
        "REDIS_URL": own.url,
        "MYSAFE_BOT_KEY_PREFIX": PREFIX,
        "MYSAFE_BOT_AUDIT_SINKS": f"file://{path},{hec.url(batch='100')},{hook.url()},{syslog.url()}",
        "MYSAFE_BOT_AUDIT_HEC_TOKEN": HEC_TOKEN,
        "MYSAFE_BOT_AUDIT_WEBHOOK_SECRET": SECRET,
        "MYSAFE_BOT_AUDIT_SIGNING_KEY": key,
        "MYSAFE_BOT_AUDIT_CHECKPOINT": "10",
    }
    started_procs: list[subprocess.Popen] = []

    def start(argv: list[str], environ: dict[str, str]) -> subprocess.Popen:
        """A process of the chaos, its output in the folder (chaos-N.log)."""
        with (folder / f"chaos-{len(started_procs)}.log").open("wb") as output:
            process = subprocess.Popen(argv, env=environ, stdout=output, stderr=subprocess.STDOUT)
        started_procs.append(process)
        return process

    def worker() -> subprocess.Popen:
        return start([sys.executable, "-m", "app.cli", "worker", "--interval", "0.05"], env)

    def kill_all() -> None:
        for process in started_procs:
            if process.poll() is None:
                process.kill()
                process.wait(timeout=10)

    bench.stack.callback(kill_all)
    each = acts // processes
    total = each * processes
    log = AuditLog(connect(own.url), prefix=PREFIX)
    began = time.time()
    first = worker()
    appenders = [
        start(
            [sys.executable, "-c", APPEND, own.url, PREFIX, str(each), chr(ord("A") + i), str(rate)],
            {"PATH": os.environ["PATH"], "PYTHONPATH": os.getcwd()},
        )
        for i in range(processes)
    ]
    _until(lambda: log.next_seq() >= total // 20, 120, "5 % of the acts")
    hec.down()
    down_at = time.monotonic()
    _until(lambda: log.next_seq() >= total * 3 // 10, 300, "30 % of the acts")
    first.send_signal(signal.SIGKILL)  # mid-delivery: its sinks' leases stay until they run out
    first.wait(timeout=10)
    worker()
    _until(lambda: log.next_seq() >= total // 2, 300, "half the acts")
    own.restart()
    log = AuditLog(connect(own.url), prefix=PREFIX)
    time.sleep(max(0.0, down_at + outage - time.monotonic()))
    hec.up()
    up_at = time.time()
    backlog = log.next_seq()  # what HEC missed while down, and more
    for appender in appenders:
        assert appender.wait(timeout=600) == 0, "an appender failed"
    records = [json.loads(e.body) for e in log.entries()]
    acts_done = max(datetime.fromisoformat(r["ts"]).timestamp() for r in records)
    found = [r["request"] for r in records]
    assert log.next_seq() == len(found) == len(set(found)) == total, (log.next_seq(), len(set(found)))
    assert [r["seq"] for r in records] == list(range(total))

    every = f"every one of {total} ids"
    sinks: dict[str, list[int]] = {}
    hook.wait_until(lambda got: _distinct(got, _ocsf) == total, 600, every)
    sinks["webhook"] = [_ocsf(e) for e in hook.received]
    hec.wait_until(lambda got: _distinct(got, _hec) == total, 600, every)
    sinks["Splunk HEC"] = [_hec(e) for e in hec.received]
    syslog.wait_until(lambda got: _distinct(got, _syslog) == total, 600, every)
    sinks["syslog over TLS"] = [_syslog(m) for m in syslog.received]
    _until(lambda: _file_ids(path, total), 600, "the file has every id")
    caught_up = {  # when each sink took its last batch
        "webhook": arrivals[id(hook)][-1][0],
        "Splunk HEC": arrivals[id(hec)][-1][0],
        "syslog over TLS": arrivals[id(syslog)][-1][0],
        "file": path.stat().st_mtime,
    }
    hec_caught_up = _when(arrivals[id(hec)], hec.received, _hec, backlog) - up_at
    sinks["file"] = [json.loads(line)["metadata"]["sequence"] for line in path.read_text().splitlines()]
    for name, ids in sinks.items():
        assert list(dict.fromkeys(ids)) == list(range(total)), f"{name}: not every seq, in order"
    assert sinks["file"] == list(range(total)), "the file sink wrote a repeat"

    redis = connect(own.url)
    _until(
        lambda: int(redis.hget(log.keys.tree, "size") or 0) >= total, 120, "a checkpoint covering all"
    )
    exported = folder / "export.jsonl"
    with exported.open("wb") as out:
        for item in export(redis, prefix=PREFIX):
            out.write(jsonl_line(item))
    public = signing.load_public(signing.public_text(signing.load_private(key)))
    verify_started = time.monotonic()
    summary = verify_file(exported, public)
    verify_took = time.monotonic() - verify_started
    flipped = total * 2 // 3
    named = _flip_and_verify(exported, flipped, public)
    assert named == flipped, (named, flipped)
    return {
        "acts": total,
        "processes": processes,
        "outage": outage,
        "acts_seconds": acts_done - began,
        "records": log.next_seq(),
        "sinks": {
            name: {
                "delivered": len(ids),
                "repeats": len(ids) - total,
                "after_acts": caught_up[name] - acts_done,
            }
            for name, ids in sinks.items()
        },
        "hec_backlog": backlog,
        "hec_caught_up": hec_caught_up,
        "total_seconds": max(caught_up.values()) - began,
        "verify": summary.line(),
        "verify_seconds": verify_took,
        "flipped": flipped,
        "named": named,
    }


def rows(bench: Bench, **options: Any) -> list[dict[str, str]]:
    """`run` as `make bench` rows (benchmarks.run.Row's fields)."""
    r = run(bench, **options)
    head = (
        f"audit chaos: {r['acts']:,} acts from {r['processes']} processes, "
        f"HEC down {r['outage']:.0f} s, worker SIGKILLed, Redis restarted"
    )
    out = [
        {
            "measure": head,
            "n": f"{r['acts']:,}",
            "result": f"log: {r['records']:,} records, each act once; all sinks complete "
            f"{r['total_seconds']:.0f} s after the first act (acts took {r['acts_seconds']:.0f} s)",
            "target": "0 lost, 0 duplicates after de-dup by id",
        }
    ]
    for name, s in r["sinks"].items():
        out.append(
            {
                "measure": f"  sink {name}",
                "n": f"{s['delivered']:,}",
                "result": f"every id, in order, 0 lost; {s['repeats']} repeat(s) dropped by id; "
                f"complete {s['after_acts']:.2f} s after the last act",
            }
        )
    out.append(
        {
            "measure": "  HEC back up: its backlog delivered",
            "n": f"{r['hec_backlog']:,}",
            "result": f"{r['hec_caught_up']:.1f} s after it came back",
        }
    )
    out.append(
        {
            "measure": "  export, verify, one byte flipped",
            "result": f"{r['verify']} ({r['verify_seconds']:.1f} s); byte flipped in seq "
            f"{r['flipped']}: verify names seq {r['named']}",
        }
    )
    return out


def _flip_and_verify(exported: Path, seq: int, public: Any) -> int:
    """Change one byte of record `seq`'s act id in a copy of the export: the seq verify names."""
    lines = exported.read_bytes().splitlines(keepends=True)
    marker = f'"seq":{seq},'.encode()
    index = next(i for i, line in enumerate(lines) if line.startswith(b'{"leaf"') and marker in line)
    at = lines[index].index(b'"request":"R-') + len(b'"request":"R-')
    line = lines[index]
    lines[index] = line[:at] + bytes([line[at] ^ 0x01]) + line[at + 1 :]
    tampered = exported.with_name("tampered.jsonl")
    tampered.write_bytes(b"".join(lines))
    try:
        verify_file(tampered, public)
    except Tampered as error:
        return error.seq
    raise AssertionError("a flipped byte passed verify")


def _stamped(receiver: Any) -> list[tuple[float, int]]:
    """When each batch arrived at `receiver`, and how many it had then: (time, count)."""
    arrivals: list[tuple[float, int]] = []
    took = receiver.took

    def stamp(items: list[Any]) -> None:
        took(items)
        arrivals.append((time.time(), len(receiver.received)))

    receiver.took = stamp
    return arrivals


def _when(
    arrivals: list[tuple[float, int]], received: list[Any], seq_of: Callable[[Any], int], ids: int
) -> float:
    """When the receiver first had `ids` distinct seqs."""
    seen: set[int] = set()
    at = 0
    for moment, count in arrivals:
        seen.update(seq_of(item) for item in received[at:count])
        at = count
        if len(seen) >= ids:
            return moment
    raise AssertionError(f"never {ids} distinct ids")


def _ocsf(event: dict[str, Any]) -> int:
    return int(event["metadata"]["sequence"])


def _hec(envelope: dict[str, Any]) -> int:
    return _ocsf(envelope["event"])


SEQ = re.compile(rb'seq="(\d+)"')


def _syslog(message: bytes) -> int:
    found = SEQ.search(message)
    assert found is not None, message[:80]
    return int(found.group(1))


def _distinct(received: list[Any], seq_of: Callable[[Any], int]) -> int:
    return len({seq_of(item) for item in received})


def _file_ids(path: Path, total: int) -> bool:
    if not path.exists():
        return False
    return (
        len({json.loads(line)["metadata"]["sequence"] for line in path.read_text().splitlines()})
        >= total
    )


def _until(done: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        if time.monotonic() > deadline:
            raise AssertionError(f"not {what} within {timeout:.0f} s")
        time.sleep(0.05)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--acts", type=int, default=10_000)
    parser.add_argument("--outage", type=float, default=60.0, metavar="S")
    parser.add_argument("--rate", type=float, default=25.0, help="acts per process per second")
    args = parser.parse_args()
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    folder = Path(tempfile.mkdtemp(prefix="mysafe-chaos-"))
    print(f"temp dir {folder} (the processes' logs in chaos/; removed if all went well)", flush=True)
    with contextlib.ExitStack() as stack:
        bench = Bench(folder, stack)
        bench.start_redis()
        bench.start_emulator()
        bench.start_slack()
        made = rows(bench, acts=args.acts, outage=args.outage, rate=args.rate)
    print("| measure | n | result |\n| --- | --- | --- |")
    for row in made:
        print(f"| {row['measure']} | {row.get('n', '')} | {row['result']} |")
    shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
