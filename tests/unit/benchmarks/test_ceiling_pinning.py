"""The ceiling runs under the bot's gunicorn settings, hooks included: its web workers keep a
CPU each as the bot's do, and run unpinned when the bot was started with pinning off."""

from __future__ import annotations

import contextlib
import os

import pytest

from app.foundations.settings import CPU_PINNING
from benchmarks.harness import Bench
from tests.support import processes
from tests.support.waiting import eventually

EVERYWHERE = frozenset(os.sched_getaffinity(0))

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(len(EVERYWHERE) < 2, reason="two workers on two CPUs need two"),
]


def ceiling_cpus(
    tmp_path, bot_env: dict[str, str], wanted: list[frozenset[int]]
) -> list[frozenset[int]]:
    """The CPUs of the ceiling's two workers once they read `wanted`, or after 10 s. A worker
    takes its CPU in `post_fork`, just after gunicorn's master has forked it: one found a
    moment before has its master's CPUs still."""
    with contextlib.ExitStack() as stack:
        bench = Bench(tmp_path, stack)
        bench.bot_started_with = bot_env
        bench.start_ceiling()  # ready once one worker answers: the other may be forking

        def placed() -> list[frozenset[int]]:
            workers = processes.children(bench.ceiling_proc.pid)
            return sorted((frozenset(os.sched_getaffinity(pid)) for pid in workers), key=sorted)

        with contextlib.suppress(AssertionError):  # the assertion below shows what they read
            eventually(lambda: placed() == wanted, 10, "the ceiling's two workers placed")
        return placed()


def test_the_ceiling_s_workers_keep_a_cpu_each_as_the_bot_s_do(tmp_path) -> None:
    wanted = [frozenset({cpu}) for cpu in sorted(EVERYWHERE)[:2]]
    assert ceiling_cpus(tmp_path, {}, wanted) == wanted


def test_the_ceiling_follows_the_bot_started_with_pinning_off(tmp_path) -> None:
    assert ceiling_cpus(tmp_path, {CPU_PINNING: "off"}, [EVERYWHERE] * 2) == [EVERYWHERE] * 2
