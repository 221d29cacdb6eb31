"""The work after each ack is a job in Redis, run by consumers: a worker killed mid-job has
its job taken over; Redis down at the ack is said at once; a stalled MySafe holds up neither
the acks nor other people. The bot in-process, `mysafe-bot worker` as a subprocess."""

from __future__ import annotations

import signal
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests

from app.foundations.storage import connect
from app.jobs.queue import JobQueue
from app.sandbox.emulator import Emulator
from tests.deploy.test_deployed import REQUEST_ID
from tests.support.deployed import start_worker
from tests.support.slack_fake import SlackFake
from tests.support.slack_harness import SIGNING_SECRET, Bot, served_bot
from tests.support.slack_requests import SlackClient, text_input
from tests.support.waiting import eventually

#: A consumer silent this long (seconds) has its jobs taken over.
VISIBILITY = "2"


@pytest.fixture
def entry(emulator: Emulator, link) -> int:
    link("UALICE", "alices")
    return emulator.add_password("alices", name="Prod DB", username="ops", password="pw-Old-1")


def approval_ids(slack: SlackFake) -> Counter[str]:
    """How many approval messages were posted per request id."""
    return Counter(
        rid
        for call in slack.calls_to("chat.postMessage")
        if call.args.get("channel") == "C0APPROVALS"
        for rid in set(REQUEST_ID.findall(call.blocks_text()))
    )


@contextmanager
def worker_to_kill(env: dict[str, str], cwd: Path) -> Iterator[subprocess.Popen]:
    """`mysafe-bot worker`, for the test to SIGKILL (`sigkill`); killed on the way out in any
    case, so a failed assertion leaves no consumer behind."""
    worker = start_worker(env, cwd)
    try:
        yield worker
    finally:
        if worker.poll() is None:
            worker.kill()
        worker.wait(timeout=10)


def sigkill(worker: subprocess.Popen) -> None:
    worker.send_signal(signal.SIGKILL)
    worker.wait(timeout=10)


@pytest.mark.slow
def test_a_worker_killed_mid_job_has_its_job_taken_over_after_the_visibility_timeout(
    slack_env: dict[str, str], slack: SlackFake, emulator: Emulator, entry: int, redis, tmp_path
) -> None:
    """`mysafe-bot worker` takes the job and is SIGKILLed while MySafe holds its call; the
    job stays pending, and another consumer runs it once the dead one is silent too long."""
    emulator.add_user("carol")
    env = {**slack_env, "MYSAFE_BOT_JOB_VISIBILITY": VISIBILITY}
    with served_bot(env, redis, consume=False) as bot:  # acks only: the worker does the work
        client = SlackClient(bot.url, SIGNING_SECRET, slack.response_url)
        held = emulator.hold(method="GET", path_prefix="/api/mysafe/password")
        with worker_to_kill(env, tmp_path) as worker:
            ack = client.command("UALICE", f"share password {entry} with user:carol")
            assert "Working on" in ack.text
            assert held.arrived.wait(30), "the worker never took the job"
            sigkill(worker)
        held.release()
        assert bot.runtime.front is not None
        taken_at = time.monotonic()
        bot.runtime.jobs.start_consumer()
        answer = slack.wait_responses(1, timeout=30)[0]
        assert time.monotonic() - taken_at >= 1.0  # waited for the dead consumer's silence
        assert REQUEST_ID.search(answer["text"])
        assert len(approval_ids(slack)) == 1
    assert len(slack.responses) == 1


@pytest.mark.slow
def test_a_worker_killed_while_its_answer_was_in_flight_leaves_the_person_one_answer(
    slack_env: dict[str, str], slack: SlackFake, emulator: Emulator, entry: int, redis, tmp_path
) -> None:
    """`mysafe-bot worker` posts the answer, Slack has it, and the worker is SIGKILLed before
    it hears back (so before it could confirm the answer or XACK the job): the consumer that
    takes the job over cannot know the answer arrived and sends it again, never nothing. Each
    post replaces the "Working on" line with the same answer, so the person reads one.
    Repeated, since a take-over is the risky moment."""
    env = {**slack_env, "MYSAFE_BOT_JOB_VISIBILITY": VISIBILITY}
    with served_bot(env, redis, consume=False) as bot:
        client = SlackClient(bot.url, SIGNING_SECRET, slack.response_url)
        seen = 0
        for _ in range(3):
            held = slack.hold_responses()
            try:
                with worker_to_kill(env, tmp_path) as worker:
                    assert "Working on" in client.command("UALICE", "whoami").text
                    # This round's answer delivered (earlier rounds may have sent two); the
                    # worker waits on Slack's reply.
                    slack.wait_responses(seen + 1, timeout=30)
                    sigkill(worker)
            finally:
                held.set()
            assert bot.runtime.front is not None
            bot.runtime.jobs.start_consumer()
            queue = bot.runtime.front.jobs
            # A take-over that answers nothing sends nothing to await.
            eventually(lambda: not queue.pending(), 30, "the job taken over and done")
            bot.runtime.jobs.stop_consumer()
            answers = slack.responses[seen:]
            seen = len(slack.responses)
            assert 1 <= len(answers) <= 2
            assert all(a["replace_original"] is True for a in answers)  # one line, replaced
            assert {a["text"] for a in answers} == {answers[0]["text"]}
            assert "alices" in answers[0]["text"]


@pytest.mark.slow
def test_redis_down_at_the_ack_says_so_and_does_nothing(
    slack_env: dict[str, str], slack: SlackFake, emulator: Emulator, entry: int, tmp_path
) -> None:
    """Commands, clicks and forms: the ack says the bot cannot take it now; /readyz is 503."""
    env = {**slack_env, "MYSAFE_BOT_RATE_LIMIT": "0"}  # the job store's own refusal
    down = connect(f"unix://{tmp_path}/nothing-listens-here.sock")
    with served_bot(env, down) as bot:
        client = SlackClient(bot.url, SIGNING_SECRET, slack.response_url)
        command = client.command("UALICE", f"share password {entry} with user:bobm")
        assert "storage is unavailable" in command.text and "nothing was done" in command.text
        assert client.click("UAPPROVER1", "approve", "R-2345A").status_code == 200
        told = slack.wait_responses(1)[0]
        assert "storage is unavailable" in told["text"]
        assert told["replace_original"] is False  # the channel message stays as it was
        form = client.submit_view(
            "UAPPROVER2",
            "deny_reason",
            {"reason": {"value": text_input("no")}},
            private_metadata="R-2345A",
        )
        assert form.json()["response_action"] == "errors"
        assert "storage is unavailable" in form.json()["errors"]["reason"]
        assert requests.get(f"{bot.url}/readyz", timeout=5).status_code == 503
    assert approval_ids(slack) == Counter()
    assert emulator.calls_to("GET", "/api/mysafe") == []


@pytest.mark.slow
def test_a_stalled_mysafe_holds_up_neither_the_acks_nor_other_people(
    slack_env: dict[str, str], slack: SlackFake, emulator: Emulator, entry: int, redis, link
) -> None:
    """Forty `show`s from one person on a MySafe that answers nothing for seconds, then one
    command from someone else: their answer comes in under a second, every ack at once."""
    link("UBOB", "bobm")
    env = {**slack_env, "MYSAFE_BOT_RATE_LIMIT": "0"}
    with served_bot(env, redis) as bot:
        client = SlackClient(bot.url, SIGNING_SECRET, slack.response_url)
        emulator.options.latency = (4.0, 4.0)
        acks = []
        for _ in range(40):
            started = time.monotonic()
            assert "Working on" in client.command("UALICE", f"show password {entry}").text
            acks.append(time.monotonic() - started)
        started = time.monotonic()
        client.command("UBOB", "whoami")
        answer = slack.wait_for(
            lambda: [a for a in slack.responses if "bobm" in a["text"]], timeout=10
        )[0]
        waited = time.monotonic() - started
        emulator.options.latency = (0.0, 0.0)
        assert waited < 1.0, f"another person's command waited {waited:.2f} s"
        assert max(acks) < 1.0, f"an ack waited {max(acks):.2f} s"
        assert "bobm" in answer["text"]
        queue = JobQueue(redis, bot.services.keyring, prefix=bot.runtime.settings.key_prefix)
        assert queue.pending() >= 30  # alice's work is still waiting, not dropped


def test_a_command_is_taken_while_slacks_web_api_is_failing(
    bot: Bot, user: SlackClient, slack: SlackFake
) -> None:
    """The ack needs nothing from Slack's Web API: with `auth.test` failing (Bolt's
    authorization calls it before any listener, and then answered "Please install this
    app"), a command is still acked with its "Working on" line and answered once."""
    slack.fail("auth.test", times=100)
    ack = user.command("UALICE", "whoami")
    assert ack.status_code == 200 and ack.text.startswith("Working on /mysafe whoami")
    (answer,) = slack.wait_responses(1)
    assert answer["replace_original"] is True and "Working on" not in answer["text"]
