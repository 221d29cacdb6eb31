"""A hangup of the terminal serve runs in stops it, as Ctrl-C does; an operator's SIGHUP reloads.

SIGHUP means two things. `kill -HUP` from an operator asks the bot to read its approval policy
again (app.ops.reload). The kernel sends it too when the terminal a program runs in goes away
(its window closed, the ssh connection dropped): to the session's leader, which, as a shell,
passes it on to its jobs. Taken as a reload, a `make run` whose window was closed ran on with
no terminal, holding its port, and the next `make run` found the port in use.

The two are told apart by the terminal, not by the signal. A hangup takes the controlling
terminal away from every process of its session before any signal is sent (Linux's
`__tty_hangup`), so `/dev/tty` no longer opens (ENXIO). A master that had a terminal when it
started and has none when SIGHUP comes was hung up on. One that never had a terminal (a
service, a container, `setsid`) or still has it (`kill -HUP` from another shell) reloads, as
does one started under `nohup`, which asked to outlive its terminal.
"""

from __future__ import annotations

import logging
import os
import signal
from collections.abc import Callable
from typing import Any

from app.ops.reload import forward_hup

log = logging.getLogger(__name__)


def has_terminal() -> bool:
    """Does this process have a controlling terminal (one that has not hung up)?"""
    try:
        fd = os.open("/dev/tty", os.O_RDONLY | os.O_NOCTTY)
    except OSError:  # ENXIO: none, or taken away by a hangup
        return False
    os.close(fd)
    return True


def hangup_test() -> Callable[[], bool]:
    """Called as the master starts: what tells, when SIGHUP comes, that it was a hangup."""
    if signal.getsignal(signal.SIGHUP) == signal.SIG_IGN or not has_terminal():
        return lambda: False  # under nohup, or no terminal to lose: every SIGHUP reloads
    return lambda: not has_terminal()


def on_the_terminal() -> list[int]:
    """Which of stdin, stdout and stderr are the terminal (a hung-up one is no longer a tty)."""
    return [fd for fd in (0, 1, 2) if os.isatty(fd)]


def let_go(fds: list[int]) -> None:
    """Point what was the terminal at /dev/null: every write to a hung-up terminal fails
    (EIO), each log line of the stop would fail twice (the line, then logging's report of
    it), and the buffered rest would fail once more at exit, which then exits 120, not 0."""
    null = os.open(os.devnull, os.O_RDWR)
    for fd in fds:
        os.dup2(null, fd)
    os.close(null)


def install(server: Any) -> None:
    """gunicorn's master (in on_starting, before it sets its signal handlers): SIGHUP stops it
    as SIGINT does when its terminal is gone, and reloads the policy otherwise."""
    hung_up = hangup_test()
    terminal = on_the_terminal()

    def handle_hup() -> None:
        if not hung_up():
            forward_hup(server)
            return
        let_go(terminal)
        log.info("the terminal has closed: stopping", extra={"event": "serve.hangup"})
        server.handle_int()  # gunicorn's Ctrl-C: a quick stop (raises StopIteration)

    server.handle_hup = handle_hup
