"""The one process at a time that extends the tree and signs a checkpoint (run by the worker).

Each pass of every worker asks `tick()`; when records wait and the last checkpoint is older than
`MYSAFE_BOT_AUDIT_CHECKPOINT` (or there is none), the process that takes the lease (a Redis key
with an expiry) reads the new records in order, hashes them into the tree from the frontier the
last checkpoint kept, signs the new root and commits it in one script that writes only while the
lease is still its own and the tree is still where it found it. Then it drops from Redis what
retention allows (only records a checkpoint covers, whole checkpoint intervals at a time) and
hands the checkpoint to `publish` (the audit channel).
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from app.audit.checkpoints import Checkpoint, Stored, stored
from app.audit.log import AuditLog, script
from app.audit.merkle import Frontier
from app.audit.sinks.position import Positions, stream_order
from app.foundations.clock import timestamp, utcnow
from app.foundations.storage import RedisClient, compare_and_delete

log = logging.getLogger("mysafe_bot.audit")

#: Records one pass hashes at most (about a second's work): a backlog takes a few passes, each
#: with a checkpoint of its own, well inside the lease.
BATCH = 100_000
LEASE_SECONDS = 60


@dataclass(frozen=True)
class Tree:
    """The tree as of the last checkpoint, as `{P:audit}:tree` keeps it."""

    frontier: Frontier
    last_id: str
    head: str
    time: float | None


class Checkpointer:
    def __init__(
        self,
        redis: RedisClient,
        *,
        prefix: str,
        key: Callable[[], Ed25519PrivateKey],
        every: float,
        retention: float,
        maxlen: int,
        publish: Callable[[Checkpoint], None] | None = None,
        sinks: tuple[str, ...] = (),
    ) -> None:
        self.redis = redis
        self.log = AuditLog(redis, prefix=prefix)
        self.keys = self.log.keys
        self.key = key
        self.every = every
        self.retention = retention
        self.maxlen = maxlen
        self.publish = publish
        #: The configured sinks' names: nothing is trimmed that one of them has not taken.
        self.sinks = sinks
        self.positions = Positions(redis, prefix=prefix)
        self._commit = redis.register_script(script("commit"))
        self._gap_seen: int | None = None

    def tick(self) -> Checkpoint | None:
        """A checkpoint if one is due and this process wins the lease (one read otherwise)."""
        return self.checkpoint() if self.due() else None

    def due(self) -> bool:
        """Records wait and the last checkpoint is old enough (one round trip)."""
        pipe = self.redis.pipeline(transaction=False)
        pipe.get(self.keys.seq)
        pipe.hmget(self.keys.tree, "size", "time")
        waiting, (size, time) = pipe.execute()
        if int(waiting or 0) <= int(size or 0):
            return False
        return time is None or timestamp() - float(time) >= self.every

    def checkpoint(self) -> Checkpoint | None:
        """Extend, sign and commit now, under the lease; None when another holds it or no
        record waits."""
        token = secrets.token_hex(16)
        if not self.redis.set(self.keys.lease, token, nx=True, ex=LEASE_SECONDS):
            return None
        try:
            made = self._extend(token)
            if made is not None:
                self.trim()
        finally:
            compare_and_delete(self.redis, self.keys.lease, token)
        if made is not None and self.publish is not None:
            self.publish(made)
        return made

    def tree(self) -> Tree:
        found = self.redis.hgetall(self.keys.tree)
        size = int(found.get("size", 0))
        nodes = [bytes.fromhex(n) for n in found.get("nodes", "").split(",") if n]
        time = found.get("time")
        return Tree(
            Frontier(size, nodes),
            found.get("last_id", "-"),
            found.get("head", ""),
            float(time) if time else None,
        )

    def _extend(self, token: str) -> Checkpoint | None:
        """Hash what waits into the tree, sign its new root, commit both (fenced)."""
        tree = self.tree()
        start = tree.frontier.size
        grown = self._grow(tree)
        if grown is None:
            return None
        frontier, last_id = grown
        made = Checkpoint(
            size=frontier.size,
            root=frontier.root().hex(),
            time=utcnow().isoformat(timespec="milliseconds"),
            previous=tree.head,
        ).signed(self.key())
        stored = Stored(made, tuple(n.hex() for n in frontier.nodes), last_id)
        if not self._commit(
            keys=[self.keys.tree, self.keys.checkpoints, self.keys.lease],
            args=[
                token,
                start,
                made.size,
                ",".join(stored.nodes),
                last_id,
                made.hash,
                timestamp(),
                stored.dumps(),
            ],
        ):
            return None
        log.info(
            "audit checkpoint",
            extra={
                "event": "audit.checkpoint",
                "size": made.size,
                "root": made.root,
                "hash": made.hash,
            },
        )
        return made

    def _grow(self, tree: Tree) -> tuple[Frontier, str] | None:
        """The tree with the records that wait (`BATCH` at most) and the stream id of the
        last; None when none waits. A record missing from Redis before any checkpoint covered
        it (deleted by hand) stops the tree just before it: nothing is ever signed over a
        gap, and the gap is logged as an error (once per process)."""
        frontier, last_id = tree.frontier, tree.last_id
        start = frontier.size
        target = min(self.log.next_seq(), start + BATCH)
        for entry in self.log.entries(after=last_id):
            if entry.seq >= target:
                break
            if entry.seq != frontier.size:
                self._gap(frontier.size, entry.seq)
                break
            frontier.append(entry.leaf)
            last_id = entry.stream_id
        return (frontier, last_id) if frontier.size > start else None

    def _gap(self, expected: int, found: int) -> None:
        if self._gap_seen != expected:
            self._gap_seen = expected
            log.error(
                "audit record missing before its checkpoint: signing stops there",
                extra={"event": "audit.gap", "expected": expected, "found": found},
            )

    def trim(self) -> int:
        """Drop the records (and checkpoints) of whole checkpoint intervals that retention
        lets go: older than `retention`, or beyond the newest `maxlen` records; never one that
        no checkpoint covers yet, nor one a configured sink has not acknowledged. The oldest
        checkpoint kept anchors what is left. How many checkpoints went."""
        kept = list(stored(self.redis, self.keys))
        slowest = self.positions.slowest(self.sinks)
        taken = kept
        if slowest is not None:
            taken = [s for s in kept if stream_order(s.last_id) <= stream_order(slowest)]
        cut = _trim_point(
            taken, now=timestamp(), retention=self.retention, newest=self.log.next_seq() - self.maxlen
        )
        if cut is None:
            return 0
        ms, _, seq = cut.last_id.partition("-")
        pipe = self.redis.pipeline(transaction=False)
        pipe.xtrim(self.keys.stream, minid=f"{ms}-{int(seq) + 1}", approximate=False)
        pipe.zremrangebyscore(self.keys.checkpoints, "-inf", f"({cut.checkpoint.size}")
        pipe.execute()
        return sum(1 for s in kept if s.checkpoint.size < cut.checkpoint.size)


def _trim_point(kept: list[Stored], *, now: float, retention: float, newest: int) -> Stored | None:
    """The newest checkpoint through which records may go, or None."""
    from datetime import datetime

    cut = None
    for candidate in kept:
        age = now - datetime.fromisoformat(candidate.checkpoint.time).timestamp()
        if age >= retention or candidate.checkpoint.size <= newest:
            cut = candidate
    return cut
