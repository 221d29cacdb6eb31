"""Delivery to one sink: read after its position, send, advance only once the sink took it.

The worker runs one `SinkRunner.run` per sink, each in its own thread, so a sink that is down
or slow holds up nothing but itself: approvals append to the log as ever, the other sinks go on.
A failed batch is retried from the same position with backoff (the same records, the same ids,
in the same order); a process that dies after the send but before the advance makes the next
deliverer send that batch again, which the receiver drops by id.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import logging
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import redis

from app.audit.log import AuditLog
from app.audit.sinks.base import Sink, SinkError
from app.audit.sinks.position import Positions
from app.foundations.clock import timestamp
from app.foundations.metrics import AUDIT_SINK_BACKLOG, AUDIT_SINK_LAG

log = logging.getLogger("mysafe_bot.audit")

#: Longest wait between attempts at a sink that keeps failing (seconds).
MAX_BACKOFF = 60.0


@dataclass(frozen=True)
class Lag:
    """How far a sink is behind: records not yet taken, and the age of the oldest of them."""

    records: int
    seconds: float


class SinkRunner:
    def __init__(
        self,
        sink: Sink,
        log_: AuditLog,
        positions: Positions,
        *,
        lag_alert: float,
        alert: Callable[[str, Lag], None] | None = None,
    ) -> None:
        self.sink = sink
        self.log = log_
        self.positions = positions
        self.lag_alert = lag_alert
        self.alert = alert
        self.token = secrets.token_hex(16)
        self._alerted = False

    def deliver(self, stop: threading.Event | None = None) -> int:
        """Send what waits, batch by batch, while this process holds the sink's lease.
        How many records the sink acknowledged; `SinkError` when it took no more."""
        name = self.sink.name
        if not self.positions.take_lease(name, self.token):
            return 0
        sent = 0
        while stop is None or not stop.is_set():
            position = self.positions.get(name)
            at = position.last_id
            batch = list(
                itertools.islice(self.log.entries(after=at, count=self.sink.batch), self.sink.batch)
            )
            if not batch:
                break
            if batch[0].seq != position.seq + 1 and position.seq >= 0:
                self._gap(position.seq + 1, batch[0].seq)
            with self.positions.kept(name, self.token):
                self.sink.send(batch)
            last = batch[-1]
            if not self.positions.advance(
                name, self.token, after=at, last_id=last.stream_id, seq=last.seq
            ):
                break  # the lease went to another process: it resends from the stored position
            sent += len(batch)
            if not self.positions.take_lease(name, self.token):
                break
        return sent

    def _gap(self, expected: int, found: int) -> None:
        """Records this sink never got are gone from Redis (deleted by hand, or a Redis that
        lost data): said loudly, since the SIEM's copy now has a hole only an export fills."""
        log.error(
            "audit records gone before this sink took them",
            extra={
                "event": "audit.sink_gap",
                "sink": self.sink.name,
                "expected": expected,
                "found": found,
            },
        )

    def lag(self) -> Lag:
        """The backlog now, also set on the sink's gauges."""
        at = self.positions.get(self.sink.name)
        waiting = self.log.next_seq() - (at.seq + 1)
        seconds = 0.0
        first = next(self.log.entries(after=at.last_id, count=1), None)
        if first is not None:
            ts = json.loads(first.body).get("ts", "")
            seconds = max(0.0, timestamp() - datetime.fromisoformat(ts).timestamp()) if ts else 0.0
        AUDIT_SINK_BACKLOG.labels(self.sink.name).set(max(waiting, 0))
        AUDIT_SINK_LAG.labels(self.sink.name).set(seconds)
        return Lag(max(waiting, 0), seconds)

    def watch(self) -> Lag:
        """Measure the lag; past `lag_alert`, log it and tell `alert`, once until it recovers,
        and only from the process delivering to the sink (every worker measures)."""
        lag = self.lag()
        if lag.seconds <= self.lag_alert:
            self._alerted = False
            return lag
        if not self._alerted and self.positions.holds(self.sink.name, self.token):
            self._alerted = True
            log.error(
                "audit sink behind",
                extra={
                    "event": "audit.sink_lag",
                    "sink": self.sink.name,
                    "records": lag.records,
                    "seconds": round(lag.seconds),
                },
            )
            if self.alert is not None:
                self.alert(self.sink.name, lag)
        return lag

    def run(self, stop: threading.Event, *, interval: float = 1.0) -> None:
        """The sink's own loop until `stop`: deliver, measure, wait (longer after failures)."""
        backoff = interval
        try:
            while not stop.is_set():
                try:
                    self.deliver(stop)
                    backoff = interval
                except SinkError as error:
                    log.warning(
                        "audit sink refused a batch",
                        extra={
                            "event": "audit.sink_error",
                            "sink": self.sink.name,
                            "error": str(error),
                        },
                    )
                    backoff = min(MAX_BACKOFF, backoff * 2)
                except redis.RedisError as error:
                    log.warning(
                        "audit sink pass failed",
                        extra={
                            "event": "audit.sink_error",
                            "sink": self.sink.name,
                            "error": type(error).__name__,
                        },
                    )
                    backoff = min(MAX_BACKOFF, backoff * 2)
                with contextlib.suppress(redis.RedisError):  # measured again next pass
                    self.watch()
                stop.wait(backoff)
        finally:
            self.sink.close()
            with contextlib.suppress(redis.RedisError):  # the lease runs out on its own
                self.positions.release(self.sink.name, self.token)
