"""Audit sinks' delivery throughput: N records (default 50,000) appended to an embedded Redis,
then delivered to each sink in turn over loopback, timed until the receiver has them all.

    .venv/bin/python -m benchmarks.audit_sinks [--records N]

The receivers are the tests' (tests/support/siem.py): HEC with indexer acknowledgement (each
batch's ackId polled until indexed), the signed webhook endpoint, syslog over TLS (RFC 5425);
the file sink fsyncs each batch.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from app.approvals.audit import Audit
from app.audit.sinks.base import Sink
from app.audit.sinks.file import FileSink
from app.audit.sinks.hec import HecSink
from app.audit.sinks.syslog import SyslogSink
from app.audit.sinks.webhook import WebhookSink
from app.foundations.storage import connect, stop_server
from app.webhooks.signing import signed_headers
from benchmarks.harness import quiet_redis
from tests.support import siem
from tests.support.siem import runner_for

SECRET = "a webhook key of some length"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=50_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        directory = Path(folder)
        server = quiet_redis(directory / "bench.db")
        try:
            run(connect(f"unix://{server.socket_file}"), directory, args.records)
        finally:
            stop_server(server, save=False)


def run(redis: object, directory: Path, records: int) -> None:
    audit = Audit(redis, prefix="bench")  # type: ignore[arg-type]
    started = time.perf_counter()
    for n in range(records):
        audit.record(
            "request.created",
            request=f"R-{n:05d}",
            actor="U1",
            verb="share",
            kind="password",
            entry="312",
        )
    print(f"appended {records:,} records in {time.perf_counter() - started:.1f} s")
    hec, hook, syslog = siem.Hec("hec-token"), siem.Webhook(SECRET), siem.SyslogTls(directory)
    sinks: list[tuple[str, Sink, siem._Receiver | None]] = [
        ("file (fsync per batch)", FileSink(f"file://{directory}/audit.jsonl"), None),
        ("Splunk HEC, indexer ack", HecSink(hec.url(), token="hec-token"), hec),
        (
            "signed webhook",
            WebhookSink(hook.url(), sign=lambda body: signed_headers(SECRET, body)),
            hook,
        ),
        ("syslog over TLS, CEF", SyslogSink(syslog.url()), syslog),
    ]
    print("| sink | batch | records/s |\n| --- | --- | --- |")
    for name, sink, receiver in sinks:
        started = time.perf_counter()
        delivered = runner_for(sink, redis, "bench").deliver()
        if receiver is not None:
            receiver.wait_for(records, timeout=600)
        elapsed = time.perf_counter() - started
        print(f"| {name} | {sink.batch} | {delivered / elapsed:,.0f} |")
        sink.close()
    for receiver in (hec, hook, syslog):
        receiver.close()


if __name__ == "__main__":
    main()
