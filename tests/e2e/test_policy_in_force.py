"""The rules in force are one fact for the deployment: two runtimes on one Redis, each with its
own policy file, as in a rolling deploy or beside a worker nobody restarted.

Only a higher `version:` takes force; a process whose rules are not the ones in force decides
nothing (it says so in `/readyz`, in one log line and to the person), whichever started last.
A request made under older rules is decided under the rule it recorded, by a process in force,
and its message says the rules changed.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from app.foundations.errors import PolicyOutOfDate
from app.ops.cli import main
from app.ops.doctor import run_checks
from app.sandbox.emulator import Emulator
from tests.e2e.test_policy_e2e import WEBHOOK_SECRET, ask, readable, shown, ticket
from tests.support.slack_fake import SlackFake
from tests.support.slack_harness import SIGNING_SECRET, Bot, served_bot
from tests.support.slack_requests import SlackClient
from tests.support.waiting import eventually
from tests.unit.ops.test_policy_reload import lines_of, wait_event

V1 = textwrap.dedent("""
    version: 1
    rules:
      - name: everyday
        approvals: 1
""")
#: The new rules: a share needs a ticket now.
V2 = textwrap.dedent("""
    version: 2
    rules:
      - name: ticketed
        match: {verbs: [share]}
        ticket: required
      - name: everyday
        approvals: 1
""")
OUT_OF_DATE = "runs out-of-date approval rules"


def policy_env(slack_env: dict[str, str], tmp_path: Path, name: str, text: str) -> dict[str, str]:
    path = tmp_path / name
    path.write_text(text)
    return {**slack_env, "MYSAFE_BOT_POLICY": str(path)}


@pytest.fixture
def old_env(slack_env: dict[str, str], tmp_path: Path) -> dict[str, str]:
    return policy_env(slack_env, tmp_path, "old.yml", V1)


@pytest.fixture
def new_env(slack_env: dict[str, str], tmp_path: Path) -> dict[str, str]:
    return policy_env(slack_env, tmp_path, "new.yml", V2)


@pytest.fixture
def entry(services, emulator: Emulator, link) -> int:
    link("UALICE", "alices")
    emulator.add_user("carol")
    return emulator.add_password("alices", name="Prod DB", username="db", password="pw-Old-1")


@pytest.fixture
def old(old_env: dict[str, str], redis) -> Iterator[Bot]:
    """The stale process: it runs the jobs, as the old worker of the report did (its loop
    going round three times a second, so that it finds out at once)."""
    with served_bot({**old_env, "MYSAFE_BOT_JOB_VISIBILITY": "1"}, redis) as bot:
        yield bot


def client(bot: Bot, slack: SlackFake) -> SlackClient:
    return SlackClient(bot.url, SIGNING_SECRET, slack.response_url)


def test_a_process_with_older_rules_decides_nothing_and_says_so(
    old: Bot, new_env: dict[str, str], redis, key_prefix: str, slack: SlackFake, entry: int
) -> None:
    """The report's case: the old worker took a share the new rule refuses without a ticket,
    and posted it. Now it takes no job and refuses every decision, a process in force decides
    under the new rule, and everything that watches says why."""
    with served_bot(new_env, redis, consume=False) as new:
        # The old consumer's loop finds out first (nothing else here asks the old process
        # yet): it says so in Redis, for doctor, and from then on reads no job.
        reported = f"{key_prefix}:policy:out-of-date"
        eventually(lambda: redis.hlen(reported), 10, "the stale consumer finds out")
        assert new.app.test_client().get("/readyz").status_code == 200
        ready = old.app.test_client().get("/readyz")
        assert ready.status_code == 503
        assert ready.json["reason"] == (
            "policy: this process's policy is version 1 "
            f"({old.engine.in_force.ours().digest[:19]}…); the deployment's rules in force are "
            f"version 2 ({new.engine.in_force.ours().digest[:19]}…)"
        )
        with pytest.raises(PolicyOutOfDate):
            old.engine.approve("R-ANY01", "UAPPROVER1")
        assert client(old, slack).command("UALICE", f"share password {entry} with user:carol")
        new.runtime.jobs.start_consumer()  # the job waits for a process in force
        said = slack.wait_responses(1)[0]["text"]
        assert "the policy rule “ticketed” requires a ticket" in said
        assert not [r for r in slack.responses if OUT_OF_DATE in r["text"]]
        assert new.engine.queue() == []


def test_a_ticket_sent_to_a_process_with_older_rules_is_503_and_nothing_is_stored(
    old_env: dict[str, str], new_env: dict[str, str], redis, entry: int
) -> None:
    """A ticketing system retries a 503: the next try reaches a process in force."""
    webhook = {"MYSAFE_BOT_WEBHOOK_SECRET": WEBHOOK_SECRET}
    with (
        served_bot({**new_env, **webhook}, redis, consume=False) as new,
        served_bot({**old_env, **webhook}, redis, consume=False) as old,
    ):
        refused = ticket(old, entry)
        assert refused.status_code == 503 and OUT_OF_DATE in refused.json()["error"]
        assert new.engine.queue() == []


def test_a_stale_process_started_after_the_new_one_does_not_take_over(
    old_env: dict[str, str], new_env: dict[str, str], redis, key_prefix: str
) -> None:
    """Being the last to load proves nothing: only a higher version takes force."""
    with (
        served_bot(new_env, redis, consume=False) as new,
        served_bot(old_env, redis, consume=False) as old,
    ):
        assert redis.hget(f"{key_prefix}:policy:in-force", "version") == "2"
        assert old.app.test_client().get("/readyz").status_code == 503
        assert new.app.test_client().get("/readyz").status_code == 200
        assert old.engine.sweep() == 0  # nor does it expire or remind


def test_the_same_version_with_other_rules_is_refused_not_raced(
    old_env: dict[str, str], slack_env: dict[str, str], tmp_path: Path, redis
) -> None:
    """A file edited without raising `version:` never takes force by being loaded later."""
    edited = policy_env(slack_env, tmp_path, "edited.yml", V1.replace("approvals: 1", "approvals: 2"))
    with (
        served_bot(old_env, redis, consume=False) as first,
        served_bot(edited, redis, consume=False) as second,
    ):
        assert first.app.test_client().get("/readyz").status_code == 200
        ready = second.app.test_client().get("/readyz")
        assert ready.status_code == 503
        assert "other rules than the deployment's in force" in ready.json["reason"]
        assert "raise `version:`" in ready.json["reason"]


def test_a_request_made_under_older_rules_is_decided_under_its_rule_by_a_process_in_force(
    old_env: dict[str, str], new_env: dict[str, str], redis, slack: SlackFake, entry: int
) -> None:
    """Made under version 1 (no ticket needed), it keeps its rule: the approvers saw it and
    its count. The stale process may not decide it; one in force does, and the message says
    the rules changed since."""
    with served_bot(old_env, redis) as old:
        said = ask(client(old, slack), slack, "UALICE", f"share password {entry} with user:carol")
        request_id = said.split("*")[1]
        with served_bot(new_env, redis, consume=False):
            with pytest.raises(PolicyOutOfDate):
                old.engine.approve(request_id, "UAPPROVER1")
            assert old.engine.get(request_id).approvals == frozenset()
    with served_bot(new_env, redis) as new:
        assert client(new, slack).click("UAPPROVER1", "approve", request_id).status_code == 200
        applied = shown(slack, "Applied")
        assert "everyday" in readable(applied)  # its own rule, one approval
        assert (
            "changed since this request was made (policy version 1 → 2); it is decided under "
            "the rule it was made under “everyday”"
        ) in readable(applied)
        assert new.engine.get(request_id).policy_version == 1


def test_doctor_names_a_process_whose_rules_are_out_of_date(
    old: Bot, new_env: dict[str, str], old_env: dict[str, str], redis
) -> None:
    """Run with the new configuration, doctor names the stale process (it said so in Redis
    when it last checked); run with the old one, it says this configuration is out of date."""
    with served_bot(new_env, redis, consume=False):
        assert old.app.test_client().get("/readyz").status_code == 503
        (new_line,) = [c for c in run_checks(new_env) if c.name == "policy"]
        (old_line,) = [c for c in run_checks(old_env) if c.name == "policy"]
    assert not new_line.ok
    assert new_line.detail.startswith("1 process(es) run other rules and decide nothing: ")
    assert "this process's policy is version 1" in new_line.detail
    assert "kill -HUP" in new_line.fix
    assert not old_line.ok and old_line.detail.startswith("this process's policy is version 1")


def test_policy_publish_puts_the_operators_file_in_force_whatever_its_version(
    old: Bot,
    new_env: dict[str, str],
    old_env: dict[str, str],
    redis,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Going back to version 1 after version 2 took force is the operator's word, never a
    process's: `mysafe-bot policy publish` with the old file puts it back in force."""
    with served_bot(new_env, redis, consume=False) as new:
        assert old.app.test_client().get("/readyz").status_code == 503
        for name, value in old_env.items():
            monkeypatch.setenv(name, value)
        assert main(["policy", "publish"]) == 0
        assert "version 1 (sha256:" in capsys.readouterr().out
        assert old.app.test_client().get("/readyz").status_code == 200
        assert new.app.test_client().get("/readyz").status_code == 503


@contextlib.contextmanager
def worker(env: dict[str, str], policy: Path) -> Iterator[tuple[subprocess.Popen[str], Any]]:
    """`mysafe-bot worker` on `policy`, with its log lines as they come (`wait_event`)."""
    process = subprocess.Popen(
        [sys.executable, "-m", "app.ops.cli", "worker", "--interval", "0.2"],
        env={"PATH": os.environ["PATH"], **env, "MYSAFE_BOT_POLICY": str(policy)},
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
        cwd=policy.parent,
    )
    try:
        found = lines_of(process)
        wait_event(found, "worker.start")
        yield process, found
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)


@pytest.mark.slow
def test_a_stale_worker_process_decides_nothing_until_it_loads_the_rules_in_force(
    env: dict[str, str], tmp_path: Path, redis, key_prefix: str
) -> None:
    """Two real workers on one Redis: the new one's version 2 takes force; the old one,
    started after it, does not take over, says so once, and is in force again once reloaded."""
    new_file, old_file = tmp_path / "new.yml", tmp_path / "old.yml"
    new_file.write_text(V2)
    old_file.write_text(V1)
    in_force = f"{key_prefix}:policy:in-force"
    with worker(env, new_file):
        eventually(lambda: redis.hget(in_force, "version") == "2", 30, "version 2 in force")
        with worker(env, old_file) as (old, found):
            line = wait_event(found, "policy.out_of_date")
            assert (line["version"], line["in_force_version"]) == (1, 2)
            assert redis.hget(in_force, "version") == "2"  # started last, and still not in force
            old_file.write_text(V2)
            old.send_signal(signal.SIGHUP)
            # The reload and the pass that finds the rules in force log in either order.
            after: dict[str, dict] = {}
            while not {"policy.reloaded", "policy.in_force"} <= after.keys():
                record = found.get(timeout=30)
                after.setdefault(record.get("event", ""), record)
            assert "policy.out_of_date" not in after  # five passes a second asked; none said it
            assert after["policy.in_force"]["version"] == 2


def test_an_unversioned_file_edited_and_reloaded_takes_force_and_the_old_text_decides_nothing(
    slack_env: dict[str, str], tmp_path: Path, redis
) -> None:
    """Without `version:`, the file most recently loaded is in force: an edit and a reload
    keep working as before versions, while a process still on the old text decides nothing
    until it reloads too."""
    unversioned = V1.replace("version: 1\n", "")
    path = tmp_path / "unversioned.yml"
    path.write_text(unversioned)
    environ = {**slack_env, "MYSAFE_BOT_POLICY": str(path)}
    with (
        served_bot(environ, redis, consume=False) as edited,
        served_bot(environ, redis, consume=False) as lagging,
    ):
        assert edited.app.test_client().get("/readyz").status_code == 200
        assert lagging.app.test_client().get("/readyz").status_code == 200
        path.write_text(unversioned.replace("approvals: 1", "approvals: 2"))
        assert edited.engine.policy.reload()
        assert edited.app.test_client().get("/readyz").status_code == 200
        ready = lagging.app.test_client().get("/readyz")
        assert ready.status_code == 503 and "other rules" in ready.json["reason"]
        assert lagging.engine.policy.reload()
        assert lagging.app.test_client().get("/readyz").status_code == 200
        assert edited.app.test_client().get("/readyz").status_code == 200
