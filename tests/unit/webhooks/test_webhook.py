"""The ticketing webhook, end to end: signed requests over HTTP, approval in Slack, callbacks."""

from __future__ import annotations

import copy
import json
import threading
import time
from collections.abc import Iterator

import pytest
import requests
from flask import Flask, request
from werkzeug.serving import make_server

from app.approvals.machine import State
from app.audit.log import LogKeys
from app.foundations.storage import connect
from app.ops.runtime import assemble
from app.sandbox.emulator import Emulator
from app.webhooks.signing import signed_headers, verify
from tests.support.paths import ROOT
from tests.support.slack_fake import SlackFake
from tests.support.slack_harness import Bot
from tests.support.slack_requests import SlackClient
from tests.support.waiting import eventually

SECRET = "webhook-secret-0123456789abcdef"


class Receiver:
    """A ticket system's callback endpoint: records POSTs, fails the first `failures` of them."""

    def __init__(self, failures: int = 0) -> None:
        self.failures = failures
        self.received: list[tuple[dict, bytes]] = []
        app = Flask("receiver")

        @app.post("/rest/callback")
        def callback():
            self.received.append((dict(request.headers), request.get_data()))
            if self.failures > 0:
                self.failures -= 1
                return "busy", 500
            return "", 204

        self.server = make_server("127.0.0.1", 0, app, threaded=True)
        self.origin = f"http://127.0.0.1:{self.server.server_port}"
        self.url = f"{self.origin}/rest/callback"
        threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


ALLOWED_HOST = "allowed.example.com"


@pytest.fixture
def webhook_auth() -> str:
    return "hmac"


@pytest.fixture
def slack_env(slack_env: dict[str, str], webhook_auth: str, receiver: Receiver) -> dict[str, str]:
    """The receiver's exact origin (plain http, its port) and one https host on port 443."""
    return {
        **slack_env,
        "MYSAFE_BOT_WEBHOOK_SECRET": SECRET,
        "MYSAFE_BOT_WEBHOOK_AUTH": webhook_auth,
        "MYSAFE_BOT_CALLBACK_HOSTS": f"{receiver.origin}, {ALLOWED_HOST}",
    }


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver(failures=1)
    yield server
    server.stop()


@pytest.fixture
def entry(bot: Bot, emulator: Emulator, link, slack: SlackFake) -> int:
    link("UPDUARTE", "pduarte")
    emulator.add_user("alices")
    emulator.add_group("Ops", ["alices"])
    slack.users_by_email["pduarte@example.com"] = "UPDUARTE"
    return emulator.add_password("pduarte", name="GCP console", username="ops", password="pw-Old-1")


def body(entry: int, **overrides) -> dict:
    base = {
        "event_id": "jira-10001-1",
        "ticket": {"key": "SEC-42", "url": "https://jira.example.com/browse/SEC-42"},
        "requester": {"email": "pduarte@example.com"},
        "action": "share",
        "entry": {"kind": "password", "id": entry},
        "users": [{"username": "alices", "can_edit": False}],
        "groups": [{"name": "Ops", "can_edit": False}],
        "reason": "incident INC-7",
    }
    base.update(overrides)
    return base


def post(
    bot: Bot,
    payload: dict | bytes,
    *,
    headers: dict | None = None,
    sign: bool = True,
    now: float | None = None,
) -> requests.Response:
    raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    all_headers = {
        "Content-Type": "application/json",
        **(signed_headers(SECRET, raw, now=now) if sign else {}),
        **(headers or {}),
    }
    return requests.post(f"{bot.url}/webhooks/ticketing", data=raw, headers=all_headers, timeout=10)


def keys(redis, prefix: str) -> set[str]:
    """What is stored, rate-limit counters aside (they count requests, they hold no data), and
    the audit log (a refusal is audited: tests/unit/audit/test_coverage.py)."""
    audit = LogKeys(prefix).stream
    return {k for k in redis.scan_iter(match=f"{prefix}:*") if ":rate:" not in k and k != audit}


# --- intake -------------------------------------------------------------------------------------


def test_signed_ticket_becomes_a_request_with_an_approval_message(
    bot: Bot, entry: int, slack: SlackFake
) -> None:
    answer = post(bot, body(entry))
    assert answer.status_code == 202, answer.text
    request_id = answer.json()["request_id"]
    assert answer.json() == {"request_id": request_id, "state": "pending"}
    stored = bot.engine.get(request_id)
    assert stored.source == "ticket" and stored.requester == "UPDUARTE"
    assert stored.ticket["key"] == "SEC-42"
    message = slack.wait_for(
        lambda: [c for c in slack.calls_to("chat.postMessage") if c.args["channel"] == "C0APPROVALS"]
    )[0]
    assert "<https://jira.example.com/browse/SEC-42|SEC-42>" in message.blocks_text()
    assert "via a ticket" in message.blocks_text()
    (created,) = [r for r in bot.engine.audit.read(request=request_id) if r.event == "request.created"]
    assert created.facts["channel"] == "ticket" and created.facts["ticket"] == "SEC-42"


def test_a_ticket_the_approvals_channel_refuses_is_503_and_can_be_sent_again(
    bot: Bot, entry: int, slack: SlackFake
) -> None:
    slack.fail("chat.postMessage", error="not_in_channel")
    answer = post(bot, body(entry))
    assert answer.status_code == 503 and "not_in_channel" in answer.text
    assert bot.engine.queue() == []
    again = post(bot, body(entry))  # the bot was invited; the ticket system retries
    assert again.status_code == 202 and bot.engine.queue()[0].id == again.json()["request_id"]


@pytest.mark.parametrize("how", ["bad", "missing", "stale", "other-secret", "bearer-not-allowed"])
def test_bad_missing_and_stale_signatures_are_401_and_store_nothing(
    bot: Bot, entry: int, redis, key_prefix: str, slack: SlackFake, how: str
) -> None:
    before = keys(redis, key_prefix)
    raw = json.dumps(body(entry)).encode()
    headers = {
        "bad": {**signed_headers(SECRET, raw), "X-MySafe-Bot-Signature": "sha256=" + "0" * 64},
        "missing": {},
        "stale": signed_headers(SECRET, raw, now=time.time() - 301),
        "other-secret": signed_headers("another-secret-0123456789", raw),
        "bearer-not-allowed": {"Authorization": f"Bearer {SECRET}"},
    }[how]
    answer = post(bot, raw, headers=headers, sign=False)
    assert answer.status_code == 401
    assert keys(redis, key_prefix) == before and slack.calls == []


@pytest.mark.parametrize("webhook_auth", ["hmac,token"])
def test_bearer_mode_when_enabled(bot: Bot, entry: int) -> None:
    answer = post(bot, body(entry), headers={"Authorization": f"Bearer {SECRET}"}, sign=False)
    assert answer.status_code == 202
    wrong = post(
        bot, body(entry, event_id="jira-2"), headers={"Authorization": "Bearer nope"}, sign=False
    )
    assert wrong.status_code == 401
    again = post(bot, body(entry), headers={"Authorization": f"Bearer {SECRET}"}, sign=False)
    assert again.status_code == 200 and again.json()["request_id"] == answer.json()["request_id"]


def test_replay_of_one_event_makes_one_request(bot: Bot, entry: int) -> None:
    first = post(bot, body(entry))
    second = post(bot, body(entry))
    assert (first.status_code, second.status_code) == (202, 200)
    assert first.json()["request_id"] == second.json()["request_id"]
    assert len(bot.engine.queue()) == 1


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"event_id": ""}, "event_id"),
        ({"ticket": {"url": "https://jira.example.com/x"}}, "ticket.key"),
        ({"requester": {}}, "requester"),
        ({"requester": {"email": "not-an-email"}}, "requester.email"),
        ({"action": "delete"}, "action"),
        ({"action": "rotate"}, "action"),  # a verb the engine has, but it carries a secret
        ({"entry": {"kind": "pin", "id": 1}}, "entry.kind"),
        ({"entry": {"kind": "password", "id": "312"}}, "entry.id"),
        ({"users": [], "groups": []}, "users"),
        ({"action": "update", "changes": {"password": "hunter2"}}, "changes"),
        ({"action": "update", "changes": {"colour": "red"}}, "changes"),
        ({"callback_url": "https://evil.example.net/steal"}, "callback_url"),
        ({"surprise": True}, "surprise"),
    ],
)
def test_schema_errors_are_400_naming_the_field(
    bot: Bot, entry: int, redis, key_prefix: str, change: dict, field: str
) -> None:
    before = keys(redis, key_prefix)
    payload = copy.deepcopy(body(entry))
    payload.update(change)
    answer = post(bot, payload)
    assert answer.status_code == 400
    assert field in [e["field"] for e in answer.json()["errors"]], answer.json()
    assert "hunter2" not in answer.text
    assert keys(redis, key_prefix) == before


def test_a_ticket_may_ask_for_a_period(bot: Bot, entry: int) -> None:
    answer = post(bot, body(entry, duration_seconds=8 * 3600))
    assert answer.status_code == 202, answer.text
    assert bot.engine.get(answer.json()["request_id"]).change.duration == 8 * 3600


@pytest.mark.parametrize(
    ("overrides", "status"),
    [
        ({"duration_seconds": 59}, 400),
        ({"duration_seconds": "8h"}, 400),
        ({"duration_seconds": 31 * 86400}, 400),  # over MYSAFE_BOT_MAX_SHARE_DURATION (30 days)
        ({"action": "unshare", "duration_seconds": 3600}, 400),
    ],
)
def test_a_bad_period_in_a_ticket_is_refused_and_stores_nothing(
    bot: Bot, entry: int, redis, key_prefix: str, overrides: dict, status: int
) -> None:
    before = keys(redis, key_prefix)
    answer = post(bot, body(entry, **overrides))
    assert answer.status_code == status, answer.text
    assert any(w in answer.text for w in ("duration_seconds", "30 days", "period")), answer.text
    assert keys(redis, key_prefix) == before


def test_unlinked_requester_is_409_and_asked_to_link(
    bot: Bot, entry: int, slack: SlackFake, redis, key_prefix: str
) -> None:
    slack.users_by_email["new@example.com"] = "UNEWBIE"
    before = keys(redis, key_prefix)
    answer = post(bot, body(entry, requester={"email": "new@example.com"}))
    assert answer.status_code == 409
    dm = slack.wait_for(
        lambda: [c for c in slack.calls_to("chat.postMessage") if c.args["channel"] == "UNEWBIE"]
    )[0]
    assert "/mysafe login" in dm.args["text"] and "SEC-42" in dm.args["text"]
    assert keys(redis, key_prefix) == before


def test_body_over_64_kib_is_413(bot: Bot, entry: int) -> None:
    answer = post(bot, body(entry, reason="x" * (70 * 1024)))
    assert answer.status_code == 413


@pytest.mark.slow
def test_redis_down_is_503(bot: Bot, entry: int, tmp_path) -> None:
    bot.services.redis = connect(f"unix://{tmp_path}/no-redis-here.sock")
    answer = post(bot, body(entry))
    assert answer.status_code == 503 and "nothing was stored" in answer.json()["error"]


# --- callbacks ----------------------------------------------------------------------------------


def _callback_body(entry: int, receiver: Receiver, **overrides) -> dict:
    return body(entry, callback_url=receiver.url, **overrides)


def _deliver_until(bot: Bot, receiver: Receiver, count: int) -> list[dict]:
    """Run the worker's delivery step as time passes (backoff included) until `count` arrived,
    once the outcome's callback is queued (an expiry's news is queued by a job of its own)."""
    callbacks = assemble(bot.services).callbacks
    eventually(lambda: callbacks.redis.zcard(callbacks.key), 10, "the ticket's callback queued")
    now = time.time()
    for step in range(10):
        callbacks.deliver_due(now=now + step * 60)
        if len([r for r in receiver.received if r[0]]) >= count:
            break
    return [json.loads(raw) for _, raw in receiver.received]


@pytest.mark.parametrize(
    "url",
    [
        f"http://{ALLOWED_HOST}:6379/",  # another service on a listed host
        f"http://{ALLOWED_HOST}/rest/callback",  # plain http where only https is listed
        f"https://{ALLOWED_HOST}:8443/rest/callback",
    ],
)
def test_a_callback_must_match_a_listed_scheme_host_and_port(
    bot: Bot, entry: int, redis, key_prefix: str, url: str
) -> None:
    before = keys(redis, key_prefix)
    answer = post(bot, body(entry, callback_url=url))
    assert answer.status_code == 400
    assert "callback_url" in [e["field"] for e in answer.json()["errors"]]
    assert keys(redis, key_prefix) == before


def test_a_callback_to_a_listed_https_host_is_accepted(bot: Bot, entry: int) -> None:
    answer = post(bot, body(entry, callback_url=f"https://{ALLOWED_HOST}/rest/callback"))
    assert answer.status_code == 202, answer.text


def test_the_worker_checks_scheme_and_port_again_before_sending(bot: Bot, entry: int) -> None:
    """A callback queued under an older allow-list is checked again when it is due."""
    callbacks = assemble(bot.services).callbacks
    callbacks.queue(
        {
            "url": f"http://{ALLOWED_HOST}:6379/",
            "attempt": 1,
            "payload": {"request_id": "R-QUEUED", "state": "applied"},
        },
        due=time.time(),
    )
    assert callbacks.deliver_due(now=time.time()) == 0
    events = [r.event for r in bot.engine.audit.read(request="R-QUEUED")]
    assert events == ["callback.refused"]


@pytest.mark.parametrize("end", ["applied", "denied", "expired"])
def test_callback_is_signed_and_retried(
    bot: Bot, entry: int, receiver: Receiver, user: SlackClient, slack: SlackFake, end: str
) -> None:
    request_id = post(bot, _callback_body(entry, receiver)).json()["request_id"]
    if end == "applied":
        bot.engine.approve(request_id, "UAPPROVER1")
    elif end == "denied":
        bot.engine.deny(request_id, "UAPPROVER1", reason="no incident")
    else:
        assemble(bot.services).engine.sweep(now=time.time() + 86400 + 1)
    assert bot.engine.get(request_id).state is State(end)
    delivered = _deliver_until(bot, receiver, 2)
    assert len(delivered) == 2  # the first answer was a 500, the retry got through
    assert delivered[-1] == {
        "event_id": "jira-10001-1",
        "request_id": request_id,
        "ticket": {"key": "SEC-42", "url": "https://jira.example.com/browse/SEC-42"},
        "state": end,
        "message": delivered[-1]["message"],
    }
    headers, raw = receiver.received[-1]
    assert verify(
        SECRET,
        headers["X-Mysafe-Bot-Timestamp"],
        headers["X-Mysafe-Bot-Signature"],
        raw,
        now=int(headers["X-Mysafe-Bot-Timestamp"]),
    )
    events = [r.event for r in bot.engine.audit.read(request=request_id)]
    assert "callback.retry" in events and "callback.delivered" in events


# --- samples in the docs --------------------------------------------------------------------


def _render_smart_values(template: str, values: dict[str, str]) -> str:
    for name, value in values.items():
        template = template.replace("{{" + name + "}}", value)
    assert "{{" not in template, "a smart value was left unrendered"
    return template


@pytest.mark.parametrize("webhook_auth", ["hmac,token"])
def test_jira_automation_sample(bot: Bot, entry: int) -> None:

    template = (ROOT / "deploy" / "ticketing" / "jira-automation-body.json").read_text()
    rendered = _render_smart_values(
        template,
        {
            "issue.key": "SEC-43",
            "issue.url": "https://jira.example.com/browse/SEC-43",
            "issue.reporter.emailAddress": "pduarte@example.com",
            "issue.id": "10002",
            "now.millis": "1700000000000",
            "issue.MySafe Entry Kind": "password",
            "issue.MySafe Entry ID": str(entry),
            "issue.MySafe Users": "alices",
            "issue.summary": "share GCP with Alice for INC-7",
        },
    )
    answer = post(bot, rendered.encode(), headers={"Authorization": f"Bearer {SECRET}"}, sign=False)
    assert answer.status_code == 202, answer.text


@pytest.mark.parametrize("webhook_auth", ["hmac,token"])
def test_servicenow_sample(bot: Bot, entry: int) -> None:
    import shutil
    import subprocess

    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed: the ServiceNow script is JavaScript")
    script = (ROOT / "deploy" / "ticketing" / "servicenow-business-rule.js").read_text()
    harness = _SERVICENOW_HARNESS.replace("ENTRY_ID", str(entry)) + script
    result = subprocess.run([node, "-e", harness], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    sent = json.loads(result.stdout)
    assert sent["endpoint"].endswith("/webhooks/ticketing")
    answer = post(
        bot,
        sent["body"].encode(),
        headers={"Authorization": sent["headers"]["Authorization"]},
        sign=False,
    )
    assert answer.status_code == 202, answer.text


# Stand-ins for ServiceNow's server-side API, just enough to run the business rule and print
# the request it would send.
_SERVICENOW_HARNESS = (
    """
var current = {
  number: 'RITM0010042', sys_id: 'abc123', sys_updated_on: '2026-11-23 10:00:00',
  opened_by: { email: 'pduarte@example.com' },
  variables: { mysafe_kind: 'password', mysafe_entry_id: 'ENTRY_ID', mysafe_users: 'alices',
               mysafe_reason: 'incident INC-7' },
  getLink: function () { return 'https://acme.service-now.com/sc_req_item.do?sys_id=abc123'; }
};
var gs = { getProperty: function (name) {
  return { 'mysafe_bot.url': 'https://mysafe-bot.example.com',
           'mysafe_bot.webhook_secret': '"""
    + SECRET
    + """' }[name]; },
  info: function () {}, error: function (m) { throw new Error(m); } };
var sent = { headers: {} };
function RESTMessageV2() {}
RESTMessageV2.prototype = {
  setEndpoint: function (u) { sent.endpoint = u; },
  setHttpMethod: function (m) { sent.method = m; },
  setRequestHeader: function (k, v) { sent.headers[k] = v; },
  setRequestBody: function (b) { sent.body = b; },
  execute: function () { console.log(JSON.stringify(sent));
    return { getStatusCode: function () { return 202; }, getBody: function () { return '{}'; } }; }
};
var sn_ws = { RESTMessageV2: RESTMessageV2 };
"""
)


def test_the_docs_curl_example_works(bot: Bot, entry: int) -> None:
    """The `curl` example of docs/ticketing.md, run as it is written."""
    import re
    import shutil
    import subprocess

    if not (shutil.which("curl") and shutil.which("openssl")):
        pytest.skip("curl and openssl are needed to run the docs' example")
    readme = (ROOT / "docs" / "ticketing.md").read_text()
    (script,) = [
        block for block in re.findall(r"```sh\n(.*?)```", readme, re.S) if "webhooks/ticketing" in block
    ]
    script = script.replace('"id":312', f'"id":{entry}')
    result = subprocess.run(
        ["bash", "-c", script],
        capture_output=True,
        text=True,
        timeout=30,
        env={"PATH": "/usr/bin:/bin", "BOT_URL": bot.url, "MYSAFE_BOT_WEBHOOK_SECRET": SECRET},
    )
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout)
    assert answer["state"] == "pending" and bot.engine.get(answer["request_id"])


def test_slack_down_while_looking_up_the_requester_is_503(
    bot: Bot, entry: int, slack: SlackFake, redis, key_prefix: str
) -> None:
    slack.fail("users.lookupByEmail", error="internal_error", times=5)
    before = keys(redis, key_prefix)
    answer = post(bot, body(entry))
    assert answer.status_code == 503 and keys(redis, key_prefix) == before


def test_unknown_requester_email_is_400(bot: Bot, entry: int) -> None:
    answer = post(bot, body(entry, requester={"email": "nobody@example.com"}))
    assert answer.status_code == 400 and answer.json()["errors"][0]["field"] == "requester"


def test_one_sender_cannot_open_more_requests_for_a_person_than_they_could(
    bot: Bot, entry: int, slack_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The per-person limit (MYSAFE_BOT_RATE_LIMIT, 20 a minute here) holds for tickets too,
    although the sender's own limit (60) is not reached."""
    # Every post counted in one minute's window: a run that crossed into the next minute
    # (a loaded machine) would find the count started again, as the limit means it to.
    minute = time.time() // 60 * 60 + 30
    monkeypatch.setattr("app.foundations.ratelimit.timestamp", lambda: minute)
    statuses = [post(bot, body(entry, event_id=f"flood-{n}")).status_code for n in range(25)]
    assert statuses.count(202) == 20 and statuses[20:] == [429] * 5
    refused = post(bot, body(entry, event_id="flood-x"))
    assert "for this requester" in refused.json()["error"]
    assert int(refused.headers["Retry-After"]) > 0
    assert len(bot.engine.open_for("UPDUARTE")) == 20


# --- the worker's callbacks: concurrent, signed when sent, never lost ---------------------------


def hold(receiver: Receiver) -> tuple[threading.Event, threading.Event]:
    """Make the ticket system take its time: every POST waits until the test sets `go`."""
    arrived, go = threading.Event(), threading.Event()
    view = receiver.server.app.view_functions["callback"]

    def held():
        arrived.set()
        go.wait(30)
        return view()

    receiver.server.app.view_functions["callback"] = held
    receiver.failures = 0
    return arrived, go


@pytest.mark.slow
def test_a_slow_ticket_host_never_holds_up_expiry(
    bot: Bot,
    entry: int,
    slack: SlackFake,
    slack_env: dict[str, str],
    redis,
    key_prefix: str,
    receiver: Receiver,
    tmp_path,
) -> None:
    import os
    import subprocess
    import sys

    arrived, go = hold(receiver)
    try:
        for n in range(4):
            request_id = post(bot, _callback_body(entry, receiver, event_id=f"slow-{n}")).json()[
                "request_id"
            ]
            bot.engine.deny(request_id, "UAPPROVER1")
        env = {"PATH": os.environ["PATH"], **slack_env}
        worker = subprocess.Popen(
            [sys.executable, "-m", "app.ops.cli", "worker"],
            env=env,
            stderr=subprocess.DEVNULL,
            cwd=tmp_path,
        )
        try:
            assert arrived.wait(30)  # the worker is now stuck on the slow host...
            due = post(bot, body(entry, event_id="expiring")).json()["request_id"]
            key = f"{key_prefix}:req:{{{due}}}"
            redis.hset(key, "expires", repr(time.time() - 1))  # ...when this one falls due
            redis.zadd(f"{key_prefix}:idx:due", {due: time.time() - 1})
            slack.wait_for(lambda: bot.engine.get(due).state is State.EXPIRED, timeout=20)
            assert not go.is_set() and len(receiver.received) == 0
            go.set()
            eventually(lambda: len(receiver.received) >= 4, 30, "the four held callbacks delivered")
        finally:
            worker.terminate()
            assert worker.wait(timeout=30) == 0
    finally:
        go.set()


def test_each_callback_is_signed_as_it_is_sent(bot: Bot, receiver: Receiver) -> None:
    """A pass that began long ago (slow deliveries before this one) still signs fresh: the
    receiver checks the timestamp against its own clock."""
    receiver.failures = 0
    callbacks = assemble(bot.services).callbacks
    payload = {
        "event_id": "e",
        "request_id": "R-22222",
        "ticket": {"key": "SEC-1", "url": ""},
        "state": "denied",
        "message": "denied",
    }
    callbacks.queue({"url": receiver.url, "payload": payload, "attempt": 1}, due=time.time() - 1000)
    assert callbacks.deliver_due(now=time.time() - 400) == 1
    headers, raw = receiver.received[-1]
    assert verify(SECRET, headers["X-Mysafe-Bot-Timestamp"], headers["X-Mysafe-Bot-Signature"], raw)


def test_a_callback_claimed_by_a_worker_that_died_is_delivered_by_another(
    bot: Bot, entry: int, receiver: Receiver
) -> None:
    from app.webhooks.callbacks import VISIBILITY

    request_id = post(bot, _callback_body(entry, receiver)).json()["request_id"]
    bot.engine.deny(request_id, "UAPPROVER1")
    receiver.failures = 0
    callbacks = assemble(bot.services).callbacks
    now = time.time()
    (member,) = bot.services.redis.zrangebyscore(callbacks.key, "-inf", now + 1)
    assert callbacks._claim(keys=[callbacks.key], args=[member, now + 1, now + 1 + VISIBILITY])
    # ...and that worker is killed here, before posting anything.
    assert callbacks.deliver_due(now=now + 2) == 0  # claimed: no one else takes it meanwhile
    assert callbacks.deliver_due(now=now + 2 + VISIBILITY) == 1
    assert len(receiver.received) == 1
