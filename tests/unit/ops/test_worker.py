"""`mysafe-bot worker` runs the deployment's jobs without building the Slack front's Bolt app:
the job handlers come from the runtime's registry, where each producer registered its own."""

from __future__ import annotations

import logging
import textwrap

import pytest
import slack_bolt

from app.foundations.settings import Settings
from app.ops.worker import consuming, worker_runtime
from app.slack.listeners.actions import BUTTONS
from tests.support.processes import fresh_interpreter
from tests.support.slack_fake import SlackFake
from tests.support.slack_harness import SIGNING_SECRET, served_bot
from tests.support.slack_requests import SlackClient
from tests.support.waiting import eventually


def test_the_worker_answers_a_command_acked_by_a_web_process_without_building_bolt(
    slack_env: dict[str, str], slack: SlackFake, redis, link, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A web process acks (and builds its Bolt app); the worker's assembly then builds none,
    and its consumer does the work: the person gets the answer."""
    link("UALICE", "alices")
    with served_bot(slack_env, redis, consume=False) as bot:  # acks only
        client = SlackClient(bot.url, SIGNING_SECRET, slack.response_url)
        assert "Working on" in client.command("UALICE", "whoami").text

        def refuse(*_: object, **__: object) -> None:
            raise AssertionError("the worker built a Bolt app")

        monkeypatch.setattr(slack_bolt.App, "__init__", refuse)
        worker = worker_runtime(Settings.from_env(slack_env, dotenv=None))
        try:
            assert worker.front is None
            assert worker.jobs is not None
            worker.jobs.start_consumer()
            answer = slack.wait_responses(1, timeout=30)[0]
        finally:
            if worker.jobs is not None:
                worker.jobs.stop_consumer()
            worker.close()
    assert "alices" in answer["text"]
    assert answer["replace_original"] is True


def test_the_worker_registers_every_kind_of_job(slack_env: dict[str, str], redis) -> None:
    """Each kind a producer stores has its handler in the worker: the commands, every durable
    button, the forms, and the expiry sweep's news."""
    worker = worker_runtime(Settings.from_env(slack_env, dotenv=None))
    try:
        assert worker.jobs is not None
        kinds = set(worker.jobs.registry.handlers())
    finally:
        worker.close()
    assert kinds == {
        "command",
        "tell_expired",
        *(button.kind for button in BUTTONS),
        "view:deny_reason",
        "view:login",
        "view:rotate",
        "view:create",
    }


def test_a_worker_whose_job_consumer_stopped_withholds_its_heartbeat(
    slack_env: dict[str, str], redis, caplog: pytest.LogCaptureFixture
) -> None:
    """The heartbeat (`worker --check`, doctor) reports the consumer's loop, not only the
    process: once that loop has stopped while the process lives on, the pass withholds its
    beat and says why in one log line (issue 25: the heartbeat stayed green meanwhile)."""
    worker = worker_runtime(Settings.from_env(slack_env, dotenv=None))
    try:
        assert worker.jobs is not None
        consumer = worker.jobs.start_consumer()
        assert consuming(worker)
        caplog.set_level(logging.INFO, logger="app.ops.worker")
        consumer.stop()  # its loop has ended; the process has not
        assert not consuming(worker)
    finally:
        if worker.jobs is not None:
            worker.jobs.stop_consumer()
        worker.close()
    (line,) = [r for r in caplog.records if getattr(r, "event", "") == "worker.consumer_stalled"]
    assert line.levelno == logging.ERROR


#: Run in a fresh interpreter where `import slack_bolt` fails.
_NO_BOLT = textwrap.dedent(
    """
    import importlib.abc, sys

    class NoBolt(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name == "slack_bolt" or name.startswith("slack_bolt."):
                raise ImportError("slack_bolt is blocked in this test")
            return None

    sys.meta_path.insert(0, NoBolt())
    from app.ops.worker import run_worker

    code = run_worker(interval=0.01, once=True)
    assert "slack_bolt" not in sys.modules
    sys.exit(code)
    """
)


@pytest.mark.slow
def test_the_worker_process_starts_with_bolt_not_importable(
    slack_env: dict[str, str], redis, tmp_path
) -> None:
    """The whole process, as `mysafe-bot worker` starts it, with Bolt's import blocked."""
    fresh_interpreter(_NO_BOLT, slack_env, tmp_path)


def test_the_workers_of_a_deployment_take_turns_at_the_pass_over_every_open_request(
    slack_env: dict[str, str], redis, key_prefix: str, monkeypatch: pytest.MonkeyPatch, tmp_path
) -> None:
    """The pass over the open requests (seconds of CPU with 110,000 open, read whole) is the
    deployment's, a slice a turn: one worker takes each turn, not each of them; the next
    turn, whoever asks first."""
    from app.ops import reposting, worker

    turns: list[int] = []
    monkeypatch.setattr(reposting, "take_turn", lambda runtime, rounds: turns.append(1) or 0)
    monkeypatch.setattr(reposting, "TURN", 0.5)
    monkeypatch.setattr(worker, "settle", lambda: None)  # no freezing the test's own process
    monkeypatch.chdir(tmp_path)
    for name, value in slack_env.items():
        monkeypatch.setenv(name, value)

    def one_workers_pass() -> int:
        before = len(turns)
        assert worker.run_worker(interval=0.01, once=True) == 0
        return len(turns) - before

    assert [one_workers_pass(), one_workers_pass(), one_workers_pass()] == [1, 0, 0]
    turn = f"{key_prefix}:worker:repost"
    assert 0 < redis.pttl(turn) <= 500
    eventually(lambda: redis.pttl(turn) == -2, 5, "the turn's end")
    assert one_workers_pass() == 1


def test_with_redis_down_no_worker_takes_the_turn() -> None:
    from app.foundations.storage import connect
    from app.ops.reposting import Turn

    unreachable = connect("redis://127.0.0.1:1/0")
    assert Turn(unreachable, "t:worker:repost", 30, holder="h:1").mine() is False
