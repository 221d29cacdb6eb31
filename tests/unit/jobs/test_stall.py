"""A consumer loop silent as long as its jobs are its own leaves every thread's stack in the
log (`app.jobs.stall`); one that keeps going round leaves nothing."""

from __future__ import annotations

import io
import logging
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from app.foundations.crypto import Keyring
from app.jobs.consumer import Consumer
from app.jobs.queue import JobQueue
from app.jobs.stall import StallDump
from tests.support.waiting import eventually


@pytest.fixture
def queue(redis, encryption_key: str, key_prefix: str) -> JobQueue:
    return JobQueue(redis, Keyring([encryption_key]), prefix=key_prefix)


def looping(queue: JobQueue, paused: Callable[[], bool], dump: StallDump) -> Consumer:
    """A started consumer with no job to run: its loop asks `paused` at each turn."""
    return Consumer(
        queue,
        {},
        threads=1,
        per_person=1,
        mysafe_concurrency=1,
        visibility=1,
        paused=paused,
        stall_dump=dump,
    ).start()


class Stalling:
    """A consumer's `paused`, asked at each turn of its loop: the third ask does not come back
    until the test lets it."""

    def __init__(self) -> None:
        self.asked = 0
        self.stuck = threading.Event()
        self.let_go = threading.Event()

    def __call__(self) -> bool:
        self.asked += 1
        if self.asked == 3:
            self.stuck.set()
            assert self.let_go.wait(30)
        return False


def test_a_loop_silent_for_its_jobs_visibility_dumps_every_thread_s_stack(
    queue: JobQueue, tmp_path: Path
) -> None:
    stalling = Stalling()
    with (tmp_path / "stderr").open("w+") as log:
        consumer = looping(queue, stalling, StallDump(after=0.5, file=log))
        try:
            assert stalling.stuck.wait(10)
            dump = eventually(lambda: (tmp_path / "stderr").read_text(), 10, "a stack dump")
        finally:
            stalling.let_go.set()
            consumer.stop()
    assert "Timeout" in dump and "most recent call first" in dump
    assert "_read_until_stopped" in dump, "the loop's own stack, where it stalled"


def test_a_loop_that_keeps_going_round_dumps_nothing(queue: JobQueue, tmp_path: Path) -> None:
    """Its turns come well within `after`: the loop waits a second at most per turn here."""
    turns = threading.Semaphore(0)

    def counting() -> bool:
        turns.release()
        return False

    with (tmp_path / "stderr").open("w+") as log:
        consumer = looping(queue, counting, StallDump(after=1.5, file=log))
        try:
            for _ in range(8):  # two seconds of turns at least (asked every quarter second)
                assert turns.acquire(timeout=10)
        finally:
            consumer.stop()
    assert (tmp_path / "stderr").read_text() == ""


def test_where_there_is_no_descriptor_to_write_to_the_loop_runs_without_a_dump(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A stderr swapped for an object in memory (an embedding, a test's capture): a log
    line, once, and the loop goes on."""
    caplog.set_level(logging.INFO, logger="app.jobs.stall")
    dump = StallDump(after=1, file=io.StringIO())
    dump.turned()
    dump.turned()
    dump.stop()
    assert [r.__dict__.get("event") for r in caplog.records] == ["jobs.no_stall_dump"]
