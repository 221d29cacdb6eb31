"""The tests' view of processes through `/proc`. A process can end while `/proc` is being
read: a deployed test that SIGKILLs gunicorn workers failed in CI when one of them ended
between the listing of `/proc` and the stat of its entry, which the kernel answered with
ESRCH (not the ENOENT `pathlib` passes over)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import processes


@pytest.fixture
def two_children() -> Iterator[tuple[int, int]]:
    started = [
        subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"]) for _ in range(2)
    ]
    yield started[0].pid, started[1].pid
    for child in started:
        child.kill()
        child.wait()


def test_a_process_that_ends_mid_scan_is_left_out_and_the_rest_are_found(
    two_children: tuple[int, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    ending, staying = two_children
    gone = f"/proc/{ending}/stat"

    def as_if_ending(real):
        def call(path, *args, **kwargs):
            if os.fspath(path) == gone:
                raise ProcessLookupError(3, "No such process", gone)
            return real(path, *args, **kwargs)

        return call

    monkeypatch.setattr(os, "stat", as_if_ending(os.stat))
    monkeypatch.setattr(Path, "read_text", as_if_ending(Path.read_text))
    found = processes.children(os.getpid())  # with the session's servers, started before
    assert staying in found and ending not in found


def test_a_process_is_seen_with_its_parent_and_state(two_children: tuple[int, int]) -> None:
    stats = dict(processes.process_stats())
    for child in two_children:
        state, parent = stats[child][:2]
        assert state in "RSD" and int(parent) == os.getpid()
