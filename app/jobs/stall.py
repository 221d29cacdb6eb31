"""A consumer loop that stops going round writes every thread's stack to stderr, by the time
its jobs may be taken over: the one trace of a stall whose cause is gone when anyone looks.

In the benchmark's full runs a worker now and then sent a job's answer and then, for seconds,
neither marked it done nor renewed it, its loop silent as well: its jobs were taken over, and
nothing said what it was doing. Those turned out to be the benchmark's own, a diagnostic row
that stops the workers (benchmarks/README.md, issue #33, eighteenth step); this is for the
ones that are not.

`faulthandler`, not a watchdog thread of ours: a stall that holds the interpreter lock (a long
collection in a job thread lowered behind the acks, a C call) stops every Python thread, a
watchdog among them, and faulthandler's timer runs without the lock. The dump names files,
lines and functions, never a value.
"""

from __future__ import annotations

import faulthandler
import logging
import sys
import time
from collections.abc import Callable
from typing import TextIO

log = logging.getLogger(__name__)


class StallDump:
    """Told of each turn of a loop: once no turn has come for `after` seconds, every thread's
    stack goes to `file` (the process's own stderr, its log, by default). One per process
    (faulthandler has one timer).

    Each arming of faulthandler's timer ends its thread and starts another, so a loop that
    turns hundreds of times a second in a burst re-arms it only every `after`/3 seconds: the
    dump comes after a silence of two thirds of `after` at the least."""

    def __init__(
        self,
        after: float,
        file: TextIO | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.after = after
        self.file = file
        self.clock = clock
        self._armed_at: float | None = None
        self._off = False

    def turned(self) -> None:
        """The loop went round. Never raises: where there is no file descriptor to write to,
        there is no dump, and one log line."""
        now = self.clock()
        if self._off or (self._armed_at is not None and now - self._armed_at < self.after / 3):
            return
        try:
            to = self.file or sys.__stderr__
            if to is None:
                raise ValueError("no stderr")
            faulthandler.dump_traceback_later(self.after, repeat=False, file=to)
            self._armed_at = now
        except (AttributeError, OSError, RuntimeError, ValueError) as error:
            self._off = True
            log.info(
                "no stack dump for a stalled loop here",
                extra={"event": "jobs.no_stall_dump", "error": type(error).__name__},
            )

    def stop(self) -> None:
        if not self._off:
            faulthandler.cancel_dump_traceback_later()
            self._armed_at = None
