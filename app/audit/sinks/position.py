"""Each sink's place in the audit log, kept in Redis beside the log (same hash tag):

    {P:audit}:sink:<name>          hash    last_id (stream id of the last record the sink took),
                                           seq (its sequence number), time (when it took it)
    {P:audit}:sink:<name>:lease    string  the one process delivering to that sink

A position only moves forward through `advance`, one script that checks the lease and the
position the batch was read from, so two processes can never skip or reorder a record.
Retention (app.audit.checkpointer) reads `slowest()` and trims nothing past it. A position is
a few bytes kept as long as the log (a sink taken out of the setting leaves one behind, which
holds nothing back: only configured sinks are asked).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from dataclasses import dataclass

import redis

from app.audit.log import LogKeys
from app.foundations.clock import timestamp
from app.foundations.scripts import lua
from app.foundations.storage import RedisClient

#: How long a sink's lease lasts unrenewed (MYSAFE_BOT_AUDIT_SINK_LEASE's default): a worker
#: renews it every pass and batch, and every third of it while a batch is being sent
#: (`kept`), so only a dead one's runs out.
LEASE_SECONDS = 60


@dataclass(frozen=True)
class Position:
    last_id: str
    seq: int
    time: float | None


def stream_order(stream_id: str) -> tuple[int, int]:
    """A stream id as a sortable pair ("-" first)."""
    if stream_id == "-":
        return (-1, -1)
    ms, _, n = stream_id.partition("-")
    return (int(ms), int(n))


class Positions:
    def __init__(self, redis: RedisClient, *, prefix: str, lease: int = LEASE_SECONDS) -> None:
        self.redis = redis
        self.lease = lease
        self.keys = LogKeys(prefix)
        self._advance = redis.register_script(lua("app.audit", "sink_advance"))
        self._renew = redis.register_script(lua("app.audit", "sink_renew"))

    def key(self, name: str) -> str:
        return f"{{{self.keys.prefix}:audit}}:sink:{name}"

    def lease_key(self, name: str) -> str:
        return self.key(name) + ":lease"

    def get(self, name: str) -> Position:
        found = self.redis.hgetall(self.key(name))
        time = found.get("time")
        return Position(
            found.get("last_id", "-"), int(found.get("seq", -1)), float(time) if time else None
        )

    def take_lease(self, name: str, token: str) -> bool:
        """Hold (or keep holding) the sink's lease: True while this process is its deliverer."""
        if self._renewed(name, token):
            return True
        return bool(self.redis.set(self.lease_key(name), token, nx=True, ex=self.lease))

    @contextlib.contextmanager
    def kept(self, name: str, token: str) -> Iterator[None]:
        """The lease renewed every third of its length while the block runs, only while it is
        still this token's: a send may outlast the lease (HEC waits up to a minute for its
        indexer), and a lease run out mid-send would hand the sink to another worker, which
        sends the same batch again. A lease lost anyway is seen by `advance`."""
        done = threading.Event()

        def renew() -> None:
            while not done.wait(self.lease / 3):
                with contextlib.suppress(redis.RedisError):  # tried again a third later
                    if not self._renewed(name, token):
                        return

        keeper = threading.Thread(target=renew, name=f"sink-lease-{name}", daemon=True)
        keeper.start()
        try:
            yield
        finally:
            done.set()
            keeper.join()

    def _renewed(self, name: str, token: str) -> bool:
        """The lease's time starts again, if it is still `token`'s."""
        return bool(self._renew(keys=[self.lease_key(name)], args=[token, self.lease]))

    def holds(self, name: str, token: str) -> bool:
        return self.redis.get(self.lease_key(name)) == token

    def release(self, name: str, token: str) -> None:
        from app.foundations.storage import compare_and_delete

        compare_and_delete(self.redis, self.lease_key(name), token)

    def advance(self, name: str, token: str, *, after: str, last_id: str, seq: int) -> bool:
        """Move past `last_id` (read after `after`), only under the lease; False if lost."""
        return bool(
            self._advance(
                keys=[self.key(name), self.lease_key(name)],
                args=[token, after, last_id, seq, timestamp()],
            )
        )

    def slowest(self, names: tuple[str, ...]) -> str | None:
        """The stream id no configured sink has passed ("-": one has taken nothing yet;
        None: no sink is configured, retention alone decides)."""
        if not names:
            return None
        return min((self.get(n).last_id for n in names), key=stream_order)
