"""The audit log in Redis: each record appended with its sequence number in one atomic step,
and read back in order, in the one encoding its Merkle leaf is the hash of.

Redis layout (P = `MYSAFE_BOT_KEY_PREFIX`). The stream keeps its old name; the other keys take
it as their hash tag (`{P:audit}` hashes as `P:audit` does), so on a Redis Cluster every key of
the log is in one slot and a script may touch them together:

    P:audit                  stream  the records, each with its `seq` field (records from before
                                     sequence numbers have none, and are in no tree)
    {P:audit}:seq            string  the next sequence number
    {P:audit}:tree           hash    the tree as of the last checkpoint: size, nodes (its
                                     frontier), last_id (stream id of its last record), head
                                     (the last checkpoint's hash), time
    {P:audit}:checkpoints    zset    signed checkpoints (JSON) scored by tree size
    {P:audit}:lease          string  the one checkpointer's lease
    {P:audit}:ids            zset    record id -> until when it is remembered: a record is
                                     appended once per id, however often its append is sent
                                     (`RECENT` for an act's own, a week for a transition's,
                                     moved from its request's outbox: app.approvals.outbox)

Encoding (docs/audit.md): a record is a JSON object of its fields, every value a string but
`seq`, an integer; serialised with keys sorted, no whitespace, UTF-8 unescaped, which is RFC 8785
(JCS) for such objects. Its leaf is SHA-256(0x00 ‖ those bytes).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from secrets import token_hex
from typing import Any

from app.audit.merkle import leaf_hash
from app.foundations.clock import timestamp
from app.foundations.scripts import lua
from app.foundations.storage import RedisClient

#: Fields the log sets itself: a caller's fact of the same name would be ambiguous.
RESERVED = frozenset({"seq"})

#: Seconds an act's record id is remembered: longer than any retry of its append (redis-py's
#: own, within seconds; an act that waits out a Redis restart and sends it again), and short
#: enough that the ids of every record appended meanwhile stay a few megabytes.
RECENT = 600


def canonical(value: Mapping[str, object]) -> bytes:
    """The one serialisation every hash and signature here is over (see the module doc)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def script(name: str) -> str:
    """The text of `lua/<name>.lua` (the one loader, `app.foundations.scripts`)."""
    return lua("app.audit", name)


@dataclass(frozen=True)
class LogKeys:
    prefix: str

    @property
    def stream(self) -> str:
        return f"{self.prefix}:audit"

    def _tagged(self, name: str) -> str:
        return f"{{{self.prefix}:audit}}:{name}"

    @property
    def seq(self) -> str:
        return self._tagged("seq")

    @property
    def tree(self) -> str:
        return self._tagged("tree")

    @property
    def checkpoints(self) -> str:
        return self._tagged("checkpoints")

    @property
    def lease(self) -> str:
        return self._tagged("lease")

    @property
    def ids(self) -> str:
        return self._tagged("ids")


@dataclass(frozen=True)
class Entry:
    """One sequenced record as stored: its stream id and its canonical bytes."""

    stream_id: str
    seq: int
    body: bytes

    @property
    def leaf(self) -> bytes:
        return leaf_hash(self.body)


def entry_of(stream_id: str, fields: Mapping[str, str]) -> Entry | None:
    """The record in its canonical form, or None for one from before sequence numbers."""
    if "seq" not in fields:
        return None
    record: dict[str, object] = dict(fields)
    record["seq"] = int(fields["seq"])
    return Entry(stream_id, int(fields["seq"]), canonical(record))


class AuditLog:
    """Appends and reads the sequenced records of one deployment's log."""

    def __init__(self, redis: RedisClient, *, prefix: str) -> None:
        self.redis = redis
        self.keys = LogKeys(prefix)
        self._append = redis.register_script(script("append"))

    def append(
        self,
        fields: Mapping[str, str],
        *,
        rid: str | None = None,
        now: float | None = None,
        remember: int = RECENT,
        pipe: Any = None,
    ) -> int | None:
        """Append with the next sequence number, once per record id `rid` (a new one when not
        given): the one round trip the act pays for its record (none of its own in `pipe`,
        except on a Redis Cluster, which refuses scripts in a pipeline). The number; None when
        a record of that id is in already, or when the number is only known once `pipe` runs.

        Sending the same append again (redis-py retries a command whose reply a restart cut
        off; a caller retries with the same `rid`) makes no second copy while the id is
        remembered, `remember` seconds."""
        clash = RESERVED & fields.keys()
        if clash:
            raise ValueError(f"audit fields may not be named {sorted(clash)}")
        flat = [item for pair in fields.items() for item in pair]
        keys = [self.keys.stream, self.keys.seq, self.keys.ids]
        args = [rid or new_rid(), repr(timestamp() if now is None else now), remember, *flat]
        if pipe is not None and not _is_cluster(self.redis):
            self._append(keys=keys, args=args, client=pipe)
            return None
        seq = int(self._append(keys=keys, args=args))
        return None if seq < 0 else seq

    def append_many(
        self, records: Sequence[tuple[str, Mapping[str, str]]], *, remember: int = RECENT
    ) -> list[int | None]:
        """`append` of each (id, fields), in order, sent in one round trip (one by one on a
        Redis Cluster): each its sequence number, or None when its id was in already."""
        if _is_cluster(self.redis):
            return [self.append(fields, rid=rid, remember=remember) for rid, fields in records]
        pipe = self.redis.pipeline(transaction=False)
        for rid, fields in records:
            self.append(fields, rid=rid, remember=remember, pipe=pipe)
        return [None if int(seq) < 0 else int(seq) for seq in pipe.execute()]

    def entries(self, *, after: str = "-", count: int = 1000) -> Iterator[Entry]:
        """Sequenced records after stream id `after` (exclusive; "-" = from the start), in
        order, read `count` at a time: memory bounded whatever the log's length."""
        start = "-" if after == "-" else f"({after}"
        while True:
            batch = self.redis.xrange(self.keys.stream, min=start, count=count)
            for stream_id, fields in batch:
                entry = entry_of(stream_id, fields)
                if entry is not None:
                    yield entry
            if len(batch) < count:
                return
            start = f"({batch[-1][0]}"

    def next_seq(self) -> int:
        return int(self.redis.get(self.keys.seq) or 0)


def new_rid() -> str:
    """A record id no other record has: 64 random bits."""
    return token_hex(8)


def _is_cluster(client: RedisClient) -> bool:
    from redis.cluster import RedisCluster

    return isinstance(client, RedisCluster)
