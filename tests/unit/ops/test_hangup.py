"""Telling a hangup from an operator's SIGHUP (app.ops.hangup), in a process on a real
pseudo-terminal: it is a hangup only when the terminal the process started with is gone.

The demo closed for real, and reloaded with its terminal open, is tests/deploy/test_demo_hangup.py.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.support.processes import take_terminal
from tests.support.waiting import eventually

#: Reports whether it has a terminal, then, at the first SIGHUP, whether that was a hangup.
CHILD = """
import json, signal, sys, threading
from app.ops.hangup import has_terminal, hangup_test

hung_up = hangup_test()
came = threading.Event()
signal.signal(signal.SIGHUP, lambda *_: came.set())
with open(sys.argv[1], "a") as out:
    out.write(json.dumps({"terminal": has_terminal()}) + "\\n")
came.wait(30)
with open(sys.argv[1], "a") as out:
    out.write(json.dumps({"hung_up": hung_up()}) + "\\n")
"""


def _ignore_hup() -> None:  # in the child, as `nohup` leaves it
    take_terminal()
    signal.signal(signal.SIGHUP, signal.SIG_IGN)


def said(report: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in report.read_text().splitlines()] if report.exists() else []


def run(
    tmp_path: Path,
    *,
    on_a_terminal: bool,
    then: Callable[[subprocess.Popen[bytes], int], None],
    preexec: Callable[[], None] = take_terminal,
) -> list[dict[str, Any]]:
    """The child in a session of its own (on a pty, or with no terminal), `then` done to it
    once it has reported, and its two reports."""
    report = tmp_path / "report.jsonl"
    master, slave = os.openpty() if on_a_terminal else (-1, -1)
    stdio = slave if on_a_terminal else subprocess.DEVNULL
    process = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(report)],
        stdin=stdio,
        stdout=stdio,
        stderr=stdio,
        start_new_session=True,
        preexec_fn=preexec if on_a_terminal else None,  # noqa: PLW1509 - takes the pty
    )
    if on_a_terminal:
        os.close(slave)
    try:
        eventually(lambda: said(report), 20, "the child started")
        then(process, master)
        assert process.wait(timeout=20) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        if on_a_terminal and then is not hang_up:  # which closed it: the number may be reused
            os.close(master)
    return said(report)


def hang_up(process: subprocess.Popen[bytes], master: int) -> None:
    os.close(master)  # the window closed: the kernel sends the session's leader SIGHUP


def kill_hup(process: subprocess.Popen[bytes], master: int) -> None:
    process.send_signal(signal.SIGHUP)


def test_a_closed_terminal_is_a_hangup(tmp_path: Path) -> None:
    assert run(tmp_path, on_a_terminal=True, then=hang_up) == [{"terminal": True}, {"hung_up": True}]


def test_kill_hup_with_the_terminal_open_is_not(tmp_path: Path) -> None:
    assert run(tmp_path, on_a_terminal=True, then=kill_hup) == [{"terminal": True}, {"hung_up": False}]


def test_kill_hup_with_no_terminal_at_all_is_not(tmp_path: Path) -> None:
    """A service, a container, `setsid`: no terminal to lose, so every SIGHUP reloads."""
    assert run(tmp_path, on_a_terminal=False, then=kill_hup) == [
        {"terminal": False},
        {"hung_up": False},
    ]


@pytest.mark.parametrize("then", [hang_up, kill_hup], ids=["closed", "kill-hup"])
def test_under_nohup_nothing_is_a_hangup(tmp_path: Path, then: Callable[..., None]) -> None:
    """`nohup` asked the program to outlive its terminal: it goes on reloading."""
    assert run(tmp_path, on_a_terminal=True, then=then, preexec=_ignore_hup) == [
        {"terminal": True},
        {"hung_up": False},
    ]
