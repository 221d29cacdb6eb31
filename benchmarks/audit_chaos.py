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

from app.audit.export import export
from app.audit.formats import jsonl_line
from app.audit.log import AuditLog
from app.audit.verify import Tampered, verify_file
from app.foundations import signing
from app.foundations.storage import connect
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
from app.foundations.storage import connect
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


class Chaos:
    """The scene: a Redis of its own to restart, the four sinks' receivers (their arrivals
    timed), the worker's settings, and every process started, stopped at the end by its id."""

    def __init__(self, bench: Bench) -> None:
        self.folder = bench.tmp / "chaos"
        self.folder.mkdir()
        self.redis = OwnRedis(self.folder, free_port())
        self.redis.start()
        bench.stack.callback(self.redis.stop)
        self.hec, self.hook = siem.Hec(HEC_TOKEN), siem.Webhook(SECRET)
        self.syslog = siem.SyslogTls(self.folder)
        self.arrivals: dict[int, list[tuple[float, int]]] = {}
        for receiver in (self.hec, self.hook, self.syslog):
            bench.stack.callback(receiver.close)
            self.arrivals[id(receiver)] = _stamped(receiver)
        self.key = signing.generate()
        self.path = self.folder / "audit.jsonl"
        sinks = [f"file://{self.path}", self.hec.url(batch="100"), self.hook.url(), self.syslog.url()]
        self.env = {
            **bench.bot_env(["UCHAOSAPPROVER"]),
            "PATH": os.environ["PATH"],
            "REDIS_URL": self.redis.url,
            "MYSAFE_BOT_KEY_PREFIX": PREFIX,
            "MYSAFE_BOT_AUDIT_SINKS": ",".join(sinks),
            "MYSAFE_BOT_AUDIT_HEC_TOKEN": HEC_TOKEN,
            "MYSAFE_BOT_AUDIT_WEBHOOK_SECRET": SECRET,
            "MYSAFE_BOT_AUDIT_SIGNING_KEY": self.key,
            "MYSAFE_BOT_AUDIT_CHECKPOINT": "10",
        }
        self.processes: list[subprocess.Popen] = []
        bench.stack.callback(self.stop)

    def log(self) -> AuditLog:
        return AuditLog(connect(self.redis.url), prefix=PREFIX)

    def start(self, argv: list[str], environ: dict[str, str]) -> subprocess.Popen:
        """A process of the chaos, its output in the folder (chaos-N.log)."""
        with (self.folder / f"chaos-{len(self.processes)}.log").open("wb") as output:
            process = subprocess.Popen(argv, env=environ, stdout=output, stderr=subprocess.STDOUT)
        self.processes.append(process)
        return process

    def worker(self) -> subprocess.Popen:
        return self.start(
            [sys.executable, "-m", "app.ops.cli", "worker", "--interval", "0.05"], self.env
        )

    def appenders(self, processes: int, each: int, rate: float) -> list[subprocess.Popen]:
        environ = {"PATH": os.environ["PATH"], "PYTHONPATH": os.getcwd()}
        return [
            self.start(
                [sys.executable, "-c", APPEND, self.redis.url, PREFIX, str(each), name, str(rate)],
                environ,
            )
            for name in (chr(ord("A") + i) for i in range(processes))
        ]

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.kill()
                process.wait(timeout=10)

    def disrupt(self, first: subprocess.Popen, total: int, outage: float) -> tuple[float, int]:
        """While the acts are made: HEC down at 5 %, the worker SIGKILLed mid-delivery at 30 %
        (its sinks' leases stay until they run out), Redis restarted at 50 %, HEC up after
        `outage` s. When HEC came back (epoch seconds), and how many records there were."""
        log = self.log()
        _until(lambda: log.next_seq() >= total // 20, 120, "5 % of the acts")
        self.hec.down()
        down_at = time.monotonic()
        _until(lambda: log.next_seq() >= total * 3 // 10, 300, "30 % of the acts")
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
        self.worker()
        _until(lambda: log.next_seq() >= total // 2, 300, "half the acts")
        self.redis.restart()
        time.sleep(max(0.0, down_at + outage - time.monotonic()))
        self.hec.up()
        return time.time(), self.log().next_seq()

    def check_log(self, total: int) -> float:
        """Each act exactly once, seqs 0..total-1; when the last act was recorded."""
        log = self.log()
        records = [json.loads(e.body) for e in log.entries()]
        found = [r["request"] for r in records]
        assert log.next_seq() == len(found) == len(set(found)) == total, (
            log.next_seq(),
            len(set(found)),
        )
        assert [r["seq"] for r in records] == list(range(total))
        return max(datetime.fromisoformat(r["ts"]).timestamp() for r in records)

    def check_sinks(self, total: int) -> dict[str, tuple[list[int], float]]:
        """Every sink every seq, in order once repeats are dropped (the file with none): each
        sink's seqs as received, and when its last batch arrived."""
        every = f"every one of {total} ids"
        received = {}
        for name, receiver, seq_of in (
            ("webhook", self.hook, _ocsf),
            ("Splunk HEC", self.hec, _hec),
            ("syslog over TLS", self.syslog, _syslog),
        ):
            got = receiver.wait_until(lambda got, f=seq_of: _distinct(got, f) == total, 600, every)
            received[name] = ([seq_of(item) for item in got], self.arrivals[id(receiver)][-1][0])
        _until(lambda: _file_ids(self.path, total), 600, "the file has every id")
        lines = self.path.read_text().splitlines()
        received["file"] = (
            [json.loads(x)["metadata"]["sequence"] for x in lines],
            self.path.stat().st_mtime,
        )
        for name, (ids, _) in received.items():
            assert list(dict.fromkeys(ids)) == list(range(total)), f"{name}: not every seq, in order"
        assert received["file"][0] == list(range(total)), "the file sink wrote a repeat"
        return received

    def check_export(self, total: int) -> tuple[str, float, int]:
        """Once a checkpoint covers the log: the export verifies (its summary, seconds), and
        a byte flipped in one record fails verify at that record (the seq it names)."""
        redis, log = connect(self.redis.url), self.log()
        covered = lambda: int(redis.hget(log.keys.tree, "size") or 0) >= total  # noqa: E731
        _until(covered, 120, "a checkpoint covering all")
        exported = self.folder / "export.jsonl"
        with exported.open("wb") as out:
            for item in export(redis, prefix=PREFIX):
                out.write(jsonl_line(item))
        public = signing.load_public(signing.public_text(signing.load_private(self.key)))
        started = time.monotonic()
        summary = verify_file(exported, public)
        took = time.monotonic() - started
        flipped = total * 2 // 3
        named = _flip_and_verify(exported, flipped, public)
        assert named == flipped, (named, flipped)
        return summary.line(), took, flipped


def run(
    bench: Bench, *, acts: int = 10_000, processes: int = 4, outage: float = 60.0, rate: float = 25.0
) -> dict[str, Any]:
    """Run the chaos; what happened, in numbers (raises AssertionError if a promise broke)."""
    chaos = Chaos(bench)
    each = acts // processes
    total = each * processes
    began = time.time()
    first = chaos.worker()
    appenders = chaos.appenders(processes, each, rate)
    up_at, backlog = chaos.disrupt(first, total, outage)
    for appender in appenders:
        assert appender.wait(timeout=600) == 0, "an appender failed"
    acts_done = chaos.check_log(total)
    sinks = chaos.check_sinks(total)
    hec = chaos.hec
    hec_caught_up = _when(chaos.arrivals[id(hec)], hec.received, _hec, backlog) - up_at
    verified, verify_took, flipped = chaos.check_export(total)
    return {
        "acts": total,
        "processes": processes,
        "outage": outage,
        "acts_seconds": acts_done - began,
        "records": total,
        "sinks": {
            name: {"delivered": len(ids), "repeats": len(ids) - total, "after_acts": last - acts_done}
            for name, (ids, last) in sinks.items()
        },
        "hec_backlog": backlog,
        "hec_caught_up": hec_caught_up,
        "total_seconds": max(last for _, last in sinks.values()) - began,
        "verify": verified,
        "verify_seconds": verify_took,
        "flipped": flipped,
        "named": flipped,
    }


def rows(bench: Bench, **options: Any) -> list[dict[str, str]]:
    """`run` as `make bench` rows (`benchmarks.table.Row`'s fields)."""
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
