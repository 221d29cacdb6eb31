"""Sinks: every audit record reaches each SIEM at least once, in order, with its stable id,
over the real protocols (receivers in tests/support/siem.py), and a sink that is down or slow
holds up nothing else."""

from __future__ import annotations

import json
import os
import stat
import threading
import time
from pathlib import Path

import pytest

from app.audit.log import AuditLog
from app.audit.sinks.base import SinkError
from app.audit.sinks.file import FileSink
from app.audit.sinks.hec import HecSink
from app.audit.sinks.position import Positions
from app.audit.sinks.runner import SinkRunner
from app.audit.sinks.syslog import SyslogSink
from app.audit.sinks.webhook import WebhookSink
from app.webhooks.signing import signed_headers
from tests.support import siem
from tests.support.cef import parse as parse_cef
from tests.support.ocsf import validate
from tests.support.siem import runner_for
from tests.support.waiting import eventually

TOKEN = "11111111-2222-3333-4444-555555555555"
SECRET = "a webhook key of some length"


def records(audit, n: int, *, start: int = 0) -> None:
    for i in range(start, start + n):
        audit.record(
            "request.created", request=f"R-{i:05d}", actor="U1", verb="share", reason=f'n°{i} "x"'
        )


def seqs_of_ocsf(events: list[dict]) -> list[int]:
    return [e["metadata"]["sequence"] for e in events]


def once_in_order(ids: list[int]) -> list[int]:
    """What a SIEM keeps after dropping repeats by id."""
    seen: set[int] = set()
    return [i for i in ids if not (i in seen or seen.add(i))]


def test_file_sink_appends_ocsf_lines_to_a_0600_file_and_rotates(audit, redis, key_prefix, tmp_path):
    path = tmp_path / "audit.jsonl"
    sink = FileSink(f"file://{path}?max_bytes=4000&keep=2", batch=5)
    records(audit, 20)
    assert runner_for(sink, redis, key_prefix).deliver() == 20
    files = [path, path.with_name("audit.jsonl.1"), path.with_name("audit.jsonl.2")]
    assert all(stat.S_IMODE(os.stat(f).st_mode) == 0o600 for f in files)
    assert all(f.stat().st_size <= 4000 for f in files)
    kept = [json.loads(line) for f in reversed(files) for line in f.read_text().splitlines()]
    assert seqs_of_ocsf(kept) == list(range(20 - len(kept), 20))  # the oldest rotated away
    assert all(validate(e) == [] for e in kept)


def dies_before_moving_on(runner):
    """The deliverer as one SIGKILLed after the sink took its batch, before its position moved."""
    positions = runner.positions
    runner.positions = type(
        "Dies",
        (),
        {
            "take_lease": positions.take_lease,
            "kept": positions.kept,
            "get": positions.get,
            "advance": lambda *a, **k: False,
            "release": positions.release,
        },
    )()
    return runner


def test_file_sink_writes_a_batch_sent_again_once(audit, redis, key_prefix, tmp_path):
    """A deliverer died between the fsync and its position: the next sends that batch again,
    and more; the file holds each event once, in order, with no SIEM to drop repeats."""
    path = tmp_path / "audit.jsonl"
    records(audit, 5)
    dying = dies_before_moving_on(runner_for(FileSink(f"file://{path}", batch=5), redis, key_prefix))
    assert dying.deliver() == 0
    Positions(redis, prefix=key_prefix).release(dying.sink.name, dying.token)  # its lease ran out
    records(audit, 3, start=5)
    assert runner_for(FileSink(f"file://{path}", batch=5), redis, key_prefix).deliver() == 8
    lines = path.read_text().splitlines()
    assert seqs_of_ocsf([json.loads(line) for line in lines]) == list(range(8))


def test_file_sink_leaves_a_torn_line_on_its_own_and_writes_the_batch_whole(
    audit, redis, key_prefix, tmp_path
):
    path = tmp_path / "audit.jsonl"
    records(audit, 3)
    path.write_bytes(b'{"metadata":{"seq')  # a crash mid-write
    assert runner_for(FileSink(f"file://{path}"), redis, key_prefix).deliver() == 3
    torn, *events = path.read_text().splitlines()
    assert torn == '{"metadata":{"seq'
    assert seqs_of_ocsf([json.loads(line) for line in events]) == [0, 1, 2]


def test_hec_sink_batches_with_its_token_and_counts_a_batch_only_once_indexed(audit, redis, key_prefix):
    hec = siem.Hec(TOKEN, acks=True, auto_index=False)
    try:
        sink = HecSink(hec.url(batch="10", index="security"), token=TOKEN, ack_timeout=0.5)
        runner = runner_for(sink, redis, key_prefix)
        records(audit, 25)
        with pytest.raises(SinkError, match="not indexed"):
            runner.deliver()  # taken by HEC, never indexed: the position stays
        assert Positions(redis, prefix=key_prefix).get(sink.name).seq == -1
        hec.auto_index = True
        hec.index_all()
        assert runner.deliver() == 25
        assert hec.requests >= 3 + 3  # three event batches of ≤10, each with its ack query
        assert len(hec.channels) == 1
        events = hec.wait_for(35)
        assert all(e["index"] == "security" and e["sourcetype"] == "ocsf" for e in events)
        assert once_in_order(seqs_of_ocsf([e["event"] for e in events])) == list(range(25))
        assert all(validate(e["event"]) == [] for e in events)
    finally:
        hec.close()


def test_hec_refuses_a_wrong_token_and_the_batch_waits(audit, redis, key_prefix):
    hec = siem.Hec(TOKEN, acks=False)
    try:
        records(audit, 3)
        runner = runner_for(HecSink(hec.url(), token="wrong"), redis, key_prefix)
        with pytest.raises(SinkError, match="HTTP 401") as refused:
            runner.deliver()
        assert "wrong" not in str(refused.value)  # the token is never in what is logged
        assert hec.received == []
        runner.sink.token = TOKEN  # the operator fixes MYSAFE_BOT_AUDIT_HEC_TOKEN
        assert runner.deliver() == 3
    finally:
        hec.close()


def test_webhook_sink_signs_each_batch_like_the_ticket_callbacks(audit, redis, key_prefix):
    hook = siem.Webhook(SECRET)
    try:
        records(audit, 7)
        key = ["another key entirely"]
        sink = WebhookSink(hook.url(), sign=lambda body: signed_headers(key[0], body), batch=3)
        runner = runner_for(sink, redis, key_prefix)
        with pytest.raises(SinkError, match="HTTP 401"):
            runner.deliver()
        key[0] = SECRET
        assert runner.deliver() == 7
        assert seqs_of_ocsf(hook.wait_for(7)) == list(range(7))
        assert hook.requests == 1 + 3
    finally:
        hook.close()


def test_syslog_sink_sends_rfc5424_messages_carrying_cef_over_tls_octet_counted(
    audit, redis, key_prefix, tmp_path
):
    receiver = siem.SyslogTls(tmp_path)
    try:
        records(audit, 5)
        assert runner_for(SyslogSink(receiver.url()), redis, key_prefix).deliver() == 5
        messages = receiver.wait_for(5)
        assert receiver.errors == []
        for seq, message in enumerate(messages):
            head, _, cef_line = message.decode().partition(" CEF:")
            pri_version, ts, host, app, procid, msgid, sd = head.split(" ", 6)
            assert pri_version == "<110>1" and app == "mysafe-bot" and procid == "-"
            assert ts.endswith("Z") and msgid == "request.created"
            assert sd == f'[mysafe@32473 seq="{seq}"]'
            assert parse_cef("CEF:" + cef_line).extension["externalId"] == str(seq)
    finally:
        receiver.close()


def test_syslog_sink_refuses_a_receiver_whose_certificate_it_cannot_trust(
    audit, redis, key_prefix, tmp_path
):
    receiver = siem.SyslogTls(tmp_path)
    try:
        records(audit, 1)
        with pytest.raises(SinkError, match="SSLCertVerificationError"):
            runner_for(
                SyslogSink(f"syslog+tls://127.0.0.1:{receiver.port}"), redis, key_prefix
            ).deliver()
    finally:
        receiver.close()


def _sinks(kind: str, tmp_path: Path):
    if kind == "hec":
        receiver = siem.Hec(TOKEN)
        return (
            receiver,
            HecSink(receiver.url(batch="4"), token=TOKEN),
            lambda items: seqs_of_ocsf([i["event"] for i in items]),
        )
    if kind == "webhook":
        receiver = siem.Webhook(SECRET)
        return (
            receiver,
            WebhookSink(receiver.url(), sign=lambda b: signed_headers(SECRET, b), batch=4),
            seqs_of_ocsf,
        )
    receiver = siem.SyslogTls(tmp_path)
    return (
        receiver,
        SyslogSink(receiver.url(), batch=4),
        lambda items: [
            int(parse_cef("CEF:" + m.decode().partition(" CEF:")[2]).extension["externalId"])
            for m in items
        ],
    )


@pytest.mark.parametrize("kind", ["hec", "webhook", "syslog"])
def test_a_sink_down_then_up_gets_every_event_once_in_order_after_dropping_repeats(
    kind, audit, redis, key_prefix, tmp_path
):
    receiver, sink, ids = _sinks(kind, tmp_path)
    runner = runner_for(sink, redis, key_prefix)
    try:
        records(audit, 6)
        assert runner.deliver() == 6
        receiver.wait_for(6)
        receiver.down()
        records(audit, 10, start=6)  # approvals go on while the SIEM is down
        with pytest.raises(SinkError):
            runner.deliver()
        with pytest.raises(SinkError):
            runner.deliver()
        assert Positions(redis, prefix=key_prefix).get(sink.name).seq == 5
        assert runner.lag().records == 10
        receiver.up()
        assert runner.deliver() == 10
        assert once_in_order(ids(receiver.wait_for(16))) == list(range(16))
    finally:
        sink.close()
        receiver.close()


def test_a_batch_sent_but_not_recorded_is_sent_again_and_dropped_by_id(
    audit, redis, key_prefix, tmp_path
):
    """A deliverer that dies between the sink's acknowledgement and the advance: the next one
    resends from the stored position, and de-duplication by id leaves each event once."""
    hook = siem.Webhook(SECRET)
    try:
        records(audit, 5)
        sink = WebhookSink(hook.url(), sign=lambda b: signed_headers(SECRET, b), batch=5)
        positions = Positions(redis, prefix=key_prefix)
        dying = runner_for(sink, redis, key_prefix)
        dying.positions = type(
            "Dies",
            (),
            {
                "take_lease": positions.take_lease,
                "kept": positions.kept,
                "get": positions.get,
                "advance": lambda *a, **k: False,
                "release": positions.release,
            },
        )()
        assert dying.deliver() == 0
        positions.release(sink.name, dying.token)  # its lease ran out
        assert runner_for(sink, redis, key_prefix).deliver() == 5
        got = seqs_of_ocsf(hook.wait_for(10))
        assert got == [0, 1, 2, 3, 4, 0, 1, 2, 3, 4]
        assert once_in_order(got) == list(range(5))
    finally:
        hook.close()


def test_one_process_at_a_time_delivers_to_a_sink(audit, redis, key_prefix, tmp_path):
    path = tmp_path / "a.jsonl"
    first = runner_for(FileSink(f"file://{path}"), redis, key_prefix)
    second = runner_for(FileSink(f"file://{path}"), redis, key_prefix)
    records(audit, 3)
    assert first.deliver() == 3
    records(audit, 2, start=3)
    assert second.deliver() == 0  # the first still holds the lease
    assert first.deliver() == 2
    assert seqs_of_ocsf([json.loads(x) for x in path.read_text().splitlines()]) == list(range(5))


@pytest.mark.slow  # waits out a lease
def test_a_send_that_outlasts_the_lease_keeps_the_sink_and_is_not_sent_twice(audit, redis, key_prefix):
    """HEC's indexer can take a minute, longer than a lease: the sender keeps the lease while
    it waits, so no other worker takes the sink over and sends the same batch again."""
    hec = siem.Hec(TOKEN)
    hec.hold()  # HEC answers nothing until released
    lease = 2
    sending = SinkRunner(
        HecSink(hec.url(), token=TOKEN, timeout=30),
        AuditLog(redis, prefix=key_prefix),
        Positions(redis, prefix=key_prefix, lease=lease),
        lag_alert=900,
    )
    other = runner_for(HecSink(hec.url(), token=TOKEN, timeout=30), redis, key_prefix)
    records(audit, 5)
    delivered: list[int] = []
    thread = threading.Thread(target=lambda: delivered.append(sending.deliver()))
    began = time.monotonic()
    try:
        thread.start()
        name = sending.sink.name
        eventually(lambda: sending.positions.holds(name, sending.token), 10, "the sender took it")
        eventually(lambda: time.monotonic() - began > lease + 0.5, lease + 2, "the lease's end")
        assert sending.positions.holds(name, sending.token)
        assert other.deliver() == 0  # the sink is still the sender's
        hec.release()
        thread.join(timeout=10)
        assert delivered == [5]
        assert seqs_of_ocsf([e["event"] for e in hec.wait_for(5)]) == list(range(5))  # once
    finally:
        hec.release()
        thread.join(timeout=35)
        hec.close()


def test_a_slow_sink_delays_neither_another_sink_nor_the_log(audit, redis, key_prefix, tmp_path):
    hec = siem.Hec(TOKEN)
    hook = siem.Webhook(SECRET)
    hec.hold()  # HEC answers nothing until released
    stop = threading.Event()
    slow = runner_for(HecSink(hec.url(), token=TOKEN, timeout=30), redis, key_prefix)
    fast = runner_for(
        WebhookSink(hook.url(), sign=lambda b: signed_headers(SECRET, b)), redis, key_prefix
    )
    threads = [
        threading.Thread(target=r.run, args=(stop,), kwargs={"interval": 0.05}) for r in (slow, fast)
    ]
    try:
        for t in threads:
            t.start()
        for n in range(5):
            records(audit, 10, start=10 * n)  # appends are not held up either
            assert seqs_of_ocsf(hook.wait_for(10 * (n + 1))) == list(range(10 * (n + 1)))
        assert hec.received == []
        assert slow.lag().records == 50
        hec.release()
        assert once_in_order(seqs_of_ocsf([e["event"] for e in hec.wait_for(50)])) == list(range(50))
    finally:
        stop.set()
        hec.release()
        for t in threads:
            t.join(timeout=35)
        hec.close()
        hook.close()


def test_lag_is_a_gauge_per_sink_and_an_alert_past_the_threshold(
    audit, redis, key_prefix, tmp_path, caplog
):
    from prometheus_client import REGISTRY

    from app.foundations.clock import shifted

    alerts = []
    other = runner_for(
        FileSink(f"file://{tmp_path}/never.jsonl"), redis, key_prefix, alert=lambda *a: alerts.append(a)
    )
    runner = runner_for(
        FileSink(f"file://{tmp_path}/never.jsonl"),
        redis,
        key_prefix,
        lag_alert=900,
        alert=lambda name, lag: alerts.append((name, lag)),
    )
    records(audit, 4)
    assert runner.watch().records == 4 and alerts == []
    assert runner.positions.take_lease(runner.sink.name, runner.token)  # it delivers, `other` not
    name = runner.sink.name
    assert REGISTRY.get_sample_value("mysafe_bot_audit_sink_backlog", {"sink": name}) == 4
    with shifted(901):
        lag = runner.watch()
        runner.watch()  # said once, not at every pass
        other.watch()  # nor by every worker: by the one delivering
    assert lag.seconds > 900 and [a[0] for a in alerts] == [name]
    assert REGISTRY.get_sample_value("mysafe_bot_audit_sink_lag_seconds", {"sink": name}) > 900
    assert any(r.__dict__.get("event") == "audit.sink_lag" for r in caplog.records)
    runner.deliver()
    assert runner.watch().records == 0
    assert REGISTRY.get_sample_value("mysafe_bot_audit_sink_backlog", {"sink": name}) == 0


def test_records_gone_before_a_sink_took_them_are_logged_as_a_gap(
    audit, redis, key_prefix, tmp_path, caplog
):
    runner = runner_for(FileSink(f"file://{tmp_path}/a.jsonl"), redis, key_prefix)
    records(audit, 2)
    runner.deliver()
    records(audit, 3, start=2)
    (lost, _), *_ = redis.xrange(audit.log.keys.stream, min="-", count=3)[2:]
    redis.xdel(audit.log.keys.stream, lost)  # seq 2, deleted by hand
    assert runner.deliver() == 2
    (gap,) = [r for r in caplog.records if r.__dict__.get("event") == "audit.sink_gap"]
    assert (gap.expected, gap.found) == (2, 3)
