"""`mysafe-bot audit export`: the records of a time range with every checkpoint covering them.

The range is widened to checkpoint boundaries so that every record exported is proven: it
starts at the newest checkpoint at or before the first record asked for (with the tree's
frontier there, unless it starts at seq 0) and ends at the first checkpoint covering the last
one. Records no checkpoint covers yet wait for the next export. Streams: Redis is read a batch
at a time and each item written as it comes, so memory stays flat however long the log.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

from app.audit.checkpoints import Stored, stored
from app.audit.formats import Item, Record, Start
from app.audit.log import AuditLog
from app.foundations.errors import BotError
from app.foundations.storage import RedisClient


class NothingToExport(BotError):
    """No checkpoint covers a record of the range (yet)."""


def export(
    redis: RedisClient, *, prefix: str, since: datetime | None = None, until: datetime | None = None
) -> Iterator[Item]:
    """The export's items, read as they are written; `NothingToExport` at once (before any
    is written) when no checkpoint covers the range."""
    log = AuditLog(redis, prefix=prefix)
    kept = list(stored(redis, log.keys))
    if not kept:
        raise NothingToExport("no checkpoint yet: the worker signs one when records wait")
    first = _seq_at(log, since, newest=False) if since else None
    last = _seq_at(log, until, newest=True) if until else None
    if (since and first is None) or (until and last is None):
        raise NothingToExport("no record in that range")
    begin = _begin(log, kept, first)
    end = next((s for s in kept if last is not None and s.checkpoint.size > last), kept[-1])
    if begin is not None and begin.checkpoint.size >= end.checkpoint.size:
        raise NothingToExport("no checkpoint covers a record of that range yet")
    return _items(log, kept, begin, end.checkpoint.size)


def _items(log: AuditLog, kept: list[Stored], begin: Stored | None, end: int) -> Iterator[Item]:
    """The items from `begin` (None: seq 0) to the checkpoint at size `end`, as read."""
    seals = {s.checkpoint.size: s.checkpoint for s in kept}
    if begin is not None:
        yield Start(begin.checkpoint.size, begin.nodes)
        yield begin.checkpoint
    for entry in log.entries(after=begin.last_id if begin else "-"):
        if entry.seq >= end:
            return
        yield Record(entry.seq, entry.leaf.hex(), entry.body)
        if entry.seq + 1 in seals:
            yield seals[entry.seq + 1]


def _begin(log: AuditLog, kept: list[Stored], first: int | None) -> Stored | None:
    """The checkpoint to start from: the newest at or before `first`; None for seq 0 itself
    while Redis still has the log's first record (else the oldest checkpoint kept: the one
    retention kept as the anchor of what is left)."""
    before = [s for s in kept if first is not None and s.checkpoint.size <= first]
    if before:
        return before[-1]
    oldest = next(log.entries(count=100), None)
    return None if oldest is not None and oldest.seq == 0 else kept[0]


def _seq_at(log: AuditLog, moment: datetime, *, newest: bool) -> int | None:
    """The seq of the first record at or after `moment` (`newest`: the last at or before)."""
    ms = int(moment.timestamp() * 1000)
    if newest:
        batch = log.redis.xrevrange(log.keys.stream, max=f"{ms}-18446744073709551615", count=100)
    else:
        batch = log.redis.xrange(log.keys.stream, min=f"{ms}-0", count=100)
    return next((int(fields["seq"]) for _, fields in batch if "seq" in fields), None)
