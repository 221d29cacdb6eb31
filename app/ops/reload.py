"""SIGHUP reloads the approval policy in every process of the bot, without a restart.

Each process holds its rules in its engine's `PolicyBook`; SIGHUP asks it to read the file
again (a bad file keeps the rules in force and logs one error line). Under gunicorn the master
takes the signal, so it forwards it to its workers and the MCP sibling instead of restarting
them: a restart would start workers that fail on a bad file, which is what a reload must avoid.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
import weakref
from collections.abc import Callable
from typing import Any

from app.approvals.policy import PolicyBook

log = logging.getLogger(__name__)

#: Processes beside gunicorn's workers that the master forwards SIGHUP to (the MCP sibling).
ALSO: list[Callable[[], int | None]] = []


#: The policy books of this process's runtimes (a web process, a worker, the MCP server).
_BOOKS: weakref.WeakSet[PolicyBook] = weakref.WeakSet()


def register(book: PolicyBook) -> None:
    """Let SIGHUP reach this runtime's policy (see `install`)."""
    _BOOKS.add(book)


def reload_all() -> None:
    for book in list(_BOOKS):
        book.reload()


def install() -> None:
    """SIGHUP re-reads the policy file (only the main thread may set a signal handler).

    The reading is done in a thread of its own, never in the handler: the handler interrupts
    whatever the main thread was doing, perhaps writing a log line, and writing another from
    inside it would fail on the stream it interrupted."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(
            signal.SIGHUP,
            lambda *_: threading.Thread(target=reload_all, name="policy-reload", daemon=True).start(),
        )


def reload_on_hup(book: PolicyBook) -> None:
    register(book)
    install()


def _read_again() -> None:
    """The master reads a good file again, so workers forked later start from it."""
    from app.foundations.errors import ConfigError
    from app.ops.runtime import load_settings

    with contextlib.suppress(ConfigError):  # a bad file: the master keeps what it had
        load_settings()


def forward_hup(server: Any) -> None:
    """gunicorn's master on SIGHUP: the policy is reloaded in place by each worker."""
    log.info("reloading the policy", extra={"event": "policy.reload"})
    _read_again()
    pids = [*getattr(server, "WORKERS", {}), *(pid for pid in (p() for p in ALSO) if pid)]
    for pid in pids:
        try:
            os.kill(pid, signal.SIGHUP)
        except ProcessLookupError:
            continue  # gone since it was listed: its successor reads the file when it starts
