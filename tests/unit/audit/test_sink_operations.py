"""The sinks as operators run them: the settings, the worker's threads, retention that waits
for the slowest sink, `doctor`'s lag line and the audit channel's alert."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from app.approvals.audit import Audit
from app.audit.checkpointer import Checkpointer
from app.audit.checkpoints import stored
from app.audit.sinks.file import FileSink
from app.audit.sinks.position import Positions
from app.foundations.clock import shifted
from app.foundations.errors import ConfigError
from app.foundations.settings import Scope, Settings
from app.foundations.sink_urls import public_name
from app.ops.doctor import _audit_sinks, _Failed
from app.ops.runtime import build_runtime
from app.ops.worker import start_sinks
from tests.support import siem
from tests.support.siem import runner_for
from tests.support.slack_fake import SlackFake
from tests.support.waiting import eventually


@pytest.mark.parametrize(
    ("value", "extra", "named"),
    [
        ("ftp://siem.example.com/x", {}, "MYSAFE_BOT_AUDIT_SINKS"),
        ("splunk+http://splunk.example.com:8088", {}, "MYSAFE_BOT_AUDIT_SINKS"),  # http off loopback
        (
            "splunk+https://user:s3cr3t@splunk.example.com:8088",
            {"MYSAFE_BOT_AUDIT_HEC_TOKEN": "t"},
            "MYSAFE_BOT_AUDIT_SINKS",
        ),
        ("syslog+tls://siem.example.com", {}, "MYSAFE_BOT_AUDIT_SINKS"),  # no port
        ("file:///a.jsonl,file:///a.jsonl", {}, "MYSAFE_BOT_AUDIT_SINKS"),  # one position each
        ("splunk+https://splunk.example.com:8088", {}, "MYSAFE_BOT_AUDIT_HEC_TOKEN"),
        ("webhook+https://siem.example.com/in", {}, "MYSAFE_BOT_AUDIT_WEBHOOK_SECRET"),
        (
            "webhook+https://siem.example.com/in",
            {"MYSAFE_BOT_AUDIT_WEBHOOK_SECRET": "short"},
            "MYSAFE_BOT_AUDIT_WEBHOOK_SECRET",
        ),
        ("", {"MYSAFE_BOT_AUDIT_LAG_ALERT": "5s"}, "MYSAFE_BOT_AUDIT_LAG_ALERT"),
        ("", {"MYSAFE_BOT_AUDIT_SINK_LEASE": "1s"}, "MYSAFE_BOT_AUDIT_SINK_LEASE"),  # < a pass
        ("file:///var/log/a.jsonl?max_bytes=lots", {}, "MYSAFE_BOT_AUDIT_SINKS"),
        ("syslog+tls://siem.example.com:6514?ca=/nonexistent/ca.pem", {}, "MYSAFE_BOT_AUDIT_SINKS"),
        (
            "splunk+https://splunk.example.com:8088?batch=0",
            {"MYSAFE_BOT_AUDIT_HEC_TOKEN": "t"},
            "MYSAFE_BOT_AUDIT_SINKS",
        ),
    ],
)
def test_bad_sink_settings_are_named(
    env: dict[str, str], value: str, extra: dict[str, str], named: str
) -> None:
    with pytest.raises(ConfigError) as error:
        Settings.from_env({**env, "MYSAFE_BOT_AUDIT_SINKS": value, **extra}, dotenv=None)
    assert [p.variable for p in error.value.problems] == [named]
    assert "s3cr3t" not in str(error.value)


def test_sink_settings_are_read_and_their_secrets_never_shown(env: dict[str, str], redis) -> None:
    settings = Settings.from_env(
        {
            **env,
            "MYSAFE_BOT_AUDIT_SINKS": "file:///var/log/a.jsonl, splunk+https://splunk.example.com:8088?index=sec,"
            "webhook+https://siem.example.com/in,syslog+tls://siem.example.com:6514",
            "MYSAFE_BOT_AUDIT_HEC_TOKEN": "hec-token-value",
            "MYSAFE_BOT_AUDIT_WEBHOOK_SECRET": "webhook-secret-value",
            "MYSAFE_BOT_AUDIT_LAG_ALERT": "30m",
            "MYSAFE_BOT_AUDIT_SINK_LEASE": "90s",
        },
        dotenv=None,
    )
    assert settings.audit_lag_alert == 1800 and len(settings.audit_sinks) == 4
    assert "hec-token-value" not in repr(settings) and "webhook-secret-value" not in repr(settings)
    runtime = build_runtime(settings, redis=redis, front=False)
    assert [r.sink.name for r in runtime.sinks] == [
        "file:///var/log/a.jsonl",
        "splunk+https://splunk.example.com:8088",
        "webhook+https://siem.example.com/in",
        "syslog+tls://siem.example.com:6514",
    ]
    assert runtime.checkpointer is not None and runtime.checkpointer.sinks == tuple(
        r.sink.name for r in runtime.sinks
    )
    runner = runtime.sinks[0]
    assert runner.positions.take_lease(runner.sink.name, runner.token)
    assert 85 < redis.ttl(runner.positions.lease_key(runner.sink.name)) <= 90  # the setting's lease


def test_retention_never_drops_a_record_a_sink_has_not_taken(
    redis, key_prefix: str, audit: Audit, signing_key, tmp_path: Path
) -> None:
    sink = FileSink(f"file://{tmp_path}/a.jsonl")
    keep_5 = Checkpointer(
        redis,
        prefix=key_prefix,
        key=lambda: signing_key,
        every=0,
        retention=86400,
        maxlen=5,
        sinks=(sink.name,),
    )
    for _ in range(3):
        for n in range(10):
            audit.record("x", n=n)
        keep_5.checkpoint()
    with shifted(365 * 86400):  # neither MAXLEN nor age drops what the sink has not taken
        keep_5.trim()
    assert [e.seq for e in audit.log.entries()] == list(range(30))
    positions = Positions(redis, prefix=key_prefix)
    tenth = list(audit.log.entries())[9]
    assert positions.take_lease(sink.name, "t") and positions.advance(
        sink.name, "t", after="-", last_id=tenth.stream_id, seq=9
    )  # the sink took 0–9
    keep_5.trim()
    assert [e.seq for e in audit.log.entries()] == list(range(10, 30))
    positions.release(sink.name, "t")
    runner_for(sink, redis, key_prefix).deliver()  # it takes the rest
    keep_5.trim()
    assert [e.seq for e in audit.log.entries()] == list(range(20, 30))  # 5 kept at most, by interval
    assert [s.checkpoint.size for s in stored(redis, audit.log.keys)] == [20, 30]


def test_the_worker_delivers_to_each_sink_in_its_own_thread(
    env: dict[str, str], redis, tmp_path: Path
) -> None:
    hook = siem.Webhook("a webhook key of some length")
    path = tmp_path / "audit.jsonl"
    settings = Settings.from_env(
        {
            **env,
            "MYSAFE_BOT_AUDIT_SINKS": f"file://{path},{hook.url()}",
            "MYSAFE_BOT_AUDIT_WEBHOOK_SECRET": "a webhook key of some length",
        },
        dotenv=None,
    )
    runtime = build_runtime(settings, redis=redis, front=False)
    stop = threading.Event()
    threads = start_sinks(runtime, stop, 0.02)
    try:
        for n in range(12):
            runtime.engine.audit.record("request.created", request=f"R-{n:05d}", actor="U1")
        assert [e["metadata"]["sequence"] for e in hook.wait_for(12)] == list(range(12))
        eventually(
            lambda: path.exists() and len(path.read_text().splitlines()) >= 12,
            10,
            "the file has 12 events",
        )
        assert [json.loads(x)["metadata"]["uid"] for x in path.read_text().splitlines()] == [
            str(n) for n in range(12)
        ]
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=10)
        hook.close()
    assert not any(t.is_alive() for t in threads)


def test_doctor_shows_each_sinks_lag_and_fails_past_the_alert(
    env: dict[str, str], redis, tmp_path: Path
) -> None:
    settings = Settings.from_env(
        {**env, "MYSAFE_BOT_AUDIT_SINKS": f"file://{tmp_path}/a.jsonl,file://{tmp_path}/b.jsonl"},
        dotenv=None,
    )
    runtime = build_runtime(settings, redis=redis, front=False)
    for n in range(3):
        runtime.engine.audit.record("x", n=n)
    runtime.sinks[0].deliver()
    said = _audit_sinks(runtime)
    assert f"file://{tmp_path}/a.jsonl: 0 behind" in said
    assert f"file://{tmp_path}/b.jsonl: 3 behind, the oldest waiting" in said
    with shifted(16 * 60), pytest.raises(_Failed) as behind:
        _audit_sinks(runtime)
    assert "b.jsonl: 3 behind, the oldest waiting 16 min" in str(behind.value)


def test_a_sink_past_the_lag_alert_is_posted_to_the_audit_channel(
    slack_env: dict[str, str], slack: SlackFake, redis, tmp_path: Path
) -> None:
    settings = Settings.from_env(
        {
            **slack_env,
            "MYSAFE_BOT_AUDIT_CHANNEL": "C0AUDIT",
            "MYSAFE_BOT_AUDIT_SINKS": f"file://{tmp_path}/a.jsonl",
        },
        scope=Scope.SERVICE,
        dotenv=None,
    )
    runtime = build_runtime(settings, redis=redis, front=False)
    runtime.engine.audit.record("x")
    (runner,) = runtime.sinks
    runner.deliver()  # delivers `x`, and this process now holds the sink's lease
    runtime.engine.audit.record("y")
    runner.watch()
    assert slack.calls_to("chat.postMessage") == []
    with shifted(15 * 60 + 5):
        runner.watch()
    (post,) = slack.wait_calls("chat.postMessage")
    assert post.args["channel"] == "C0AUDIT"
    assert (
        public_name(f"file://{tmp_path}/a.jsonl") in post.args["text"]
        and "1 record(s)" in post.args["text"]
    )


def test_a_sink_down_leaves_the_bot_ready_and_its_backlog_on_metrics(
    env: dict[str, str], redis
) -> None:
    from app import create_app
    from app.audit.sinks.base import SinkError
    from tests.support.processes import free_port

    down = f"splunk+http://127.0.0.1:{free_port()}/services/collector/event"
    settings = Settings.from_env(
        {**env, "MYSAFE_BOT_AUDIT_SINKS": down, "MYSAFE_BOT_AUDIT_HEC_TOKEN": "t"}, dotenv=None
    )
    runtime = build_runtime(settings, redis=redis, front=False)
    for n in range(3):
        runtime.engine.audit.record("x", n=n)
    (runner,) = runtime.sinks
    with pytest.raises(SinkError, match="ConnectionError"):
        runner.deliver()
    runner.watch()
    client = create_app(runtime).test_client()
    assert client.get("/readyz").status_code == 200
    metrics = client.get("/metrics").get_data(as_text=True)
    assert f'mysafe_bot_audit_sink_backlog{{sink="{public_name(down)}"}} 3.0' in metrics


@pytest.mark.slow
def test_the_worker_process_delivers_while_another_sink_hangs(
    env: dict[str, str], redis, key_prefix: str, tmp_path: Path
) -> None:
    """`mysafe-bot worker` itself: with the webhook answering nothing, the file sink still gets
    every record as it is appended, and the worker stops cleanly on SIGTERM."""
    import os
    import signal
    import subprocess
    import sys

    hook = siem.Webhook("a webhook key of some length")
    hook.hold()
    path = tmp_path / "audit.jsonl"
    process = subprocess.Popen(
        [sys.executable, "-m", "app.ops.cli", "worker", "--interval", "0.05"],
        env={
            "PATH": os.environ["PATH"],
            **env,
            "MYSAFE_BOT_AUDIT_SINKS": f"{hook.url()},file://{path}",
            "MYSAFE_BOT_AUDIT_WEBHOOK_SECRET": "a webhook key of some length",
        },
        stderr=subprocess.DEVNULL,
    )
    audit = Audit(redis, prefix=key_prefix)
    try:
        for n in range(20):
            audit.record("request.created", request=f"R-{n:05d}", actor="U1")
            eventually(
                lambda n=n: path.exists() and len(path.read_text().splitlines()) == n + 1,
                15,
                f"record {n} in the file",
            )
        assert hook.received == []
        hook.release()
        assert [e["metadata"]["sequence"] for e in hook.wait_for(20)][-1] == 19
    finally:
        hook.release()
        process.send_signal(signal.SIGTERM)
        code = process.wait(timeout=30)
        hook.close()
    assert code == 0
