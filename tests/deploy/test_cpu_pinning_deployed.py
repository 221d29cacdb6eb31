"""Each web worker and each job worker of `mysafe-bot serve` on a CPU of its own, as deployed
(`app.ops.cpu_pinning`): every thread of it, a worker started in place of a killed one, and the
setting that turns it off."""

from __future__ import annotations

import os
import signal

import pytest

from tests.deploy.test_durable_deployed import threads_on
from tests.support.deployed import Deployed, deployed
from tests.support.slack_fake import SlackFake
from tests.support.slack_harness import SIGNING_SECRET
from tests.support.slack_requests import SlackClient
from tests.support.waiting import eventually

EVERYWHERE = frozenset(os.sched_getaffinity(0))

pytestmark = pytest.mark.skipif(len(EVERYWHERE) < 2, reason="two workers on two CPUs need two")


def answered(bot: Deployed, slack: SlackFake) -> None:
    """Both web workers started, and acks answered by their pools of threads (gthread starts
    them as the requests come): enough that each worker took some, over connections of their
    own."""
    eventually(lambda: len(bot.web_workers()) == 2, 10, "serve's two web workers")
    for _ in range(8):
        client = SlackClient(bot.url, SIGNING_SECRET, slack.response_url)
        assert client.command("UALICE", "help").status_code == 200


def on_cpus(pids: set[int]) -> list[set[frozenset[int]]]:
    """The CPU sets of each process's threads, one set of sets per process, sorted."""
    return sorted((threads_on(pid) for pid in pids), key=lambda sets: sorted(map(sorted, sets)))


def placed(bot: Deployed) -> list[set[frozenset[int]]]:
    """`on_cpus` for serve's web workers."""
    return on_cpus(bot.web_workers())


def jobs_placed(bot: Deployed) -> list[set[frozenset[int]]]:
    """`on_cpus` for serve's job workers."""
    return on_cpus(bot.serve_workers())


def one_each(cpus: list[int]) -> list[set[frozenset[int]]]:
    """What `on_cpus` reads when the workers are on `cpus`, every thread of each on its one."""
    return [{frozenset({cpu})} for cpu in cpus]


def test_serve_keeps_each_web_worker_with_all_its_threads_on_a_cpu_of_its_own(
    slack_env: dict[str, str], slack: SlackFake, tmp_path
) -> None:
    lowest = sorted(EVERYWHERE)[:2]
    with deployed(slack_env, tmp_path, workers=2, worker=False) as bot:
        answered(bot, slack)
        assert placed(bot) == one_each(lowest), "the two lowest CPUs, one each"

        killed = min(bot.web_workers())
        os.kill(killed, signal.SIGKILL)
        eventually(
            lambda: killed not in bot.web_workers() and placed(bot) == one_each(lowest),
            30,
            "a worker started in place of the killed one, on its CPU",
        )
        answered(bot, slack)
        assert placed(bot) == one_each(lowest), "its threads too"
        assert bot.stop() == [0]


def test_serve_keeps_each_job_worker_on_the_cpu_of_a_web_worker_across_a_restart(
    slack_env: dict[str, str], slack: SlackFake, tmp_path
) -> None:
    """One web worker and one job worker on each CPU: the job threads give way to the acks
    there (`app.jobs.spare_cpu`), and a job worker serve starts again keeps its CPU."""
    lowest = sorted(EVERYWHERE)[:2]
    with deployed(slack_env, tmp_path, workers=2, worker=False) as bot:
        client = SlackClient(bot.url, SIGNING_SECRET, slack.response_url)
        for _ in range(4):  # jobs, so the job workers' pools start their threads
            assert "Working on" in client.command("UALICE", "whoami").text
        slack.wait_for(lambda: len(slack.responses) >= 4, 30)
        assert jobs_placed(bot) == one_each(lowest)

        killed = min(bot.serve_workers())
        os.kill(killed, signal.SIGKILL)
        eventually(
            lambda: len(bot.serve_workers()) == 2 and killed not in bot.serve_workers(),
            30,
            "serve started the killed job worker again",
        )
        assert jobs_placed(bot) == one_each(lowest), "on the killed one's CPU"
        assert bot.stop() == [0]


def test_with_pinning_off_the_kernel_places_every_web_worker(
    slack_env: dict[str, str], slack: SlackFake, tmp_path
) -> None:
    env = {**slack_env, "MYSAFE_BOT_CPU_PINNING": "off"}
    with deployed(env, tmp_path, workers=2, worker=False) as bot:
        answered(bot, slack)
        assert placed(bot) == [{EVERYWHERE}, {EVERYWHERE}]
        assert jobs_placed(bot) == [{EVERYWHERE}, {EVERYWHERE}]
        assert bot.stop() == [0]
