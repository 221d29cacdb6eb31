"""The audit outbox of request transitions: each transition's record is written by the same
Lua script as the transition, and moved into the verifiable log exactly once.

On Redis Cluster one script cannot touch a request's slot and the log's, so a record appended
after its transition, in a step of its own, is lost when the process dies between the two.
Written into the request's own slot by the transition itself, it cannot be: the process that
made the transition moves it right after, and the worker's sweep moves whatever a process that
died left behind.

Redis layout (P = `MYSAFE_BOT_KEY_PREFIX`):

    P:req:{R-7K2QF}:outbox   list  JSON {"tid", "fields"}: records written by transition.lua,
                                   on the request's slot; kept as long as the request
    P:idx:outbox             zset  request id -> when a transition that may write one started
                                   (marked before the script runs, like the lease index)
    {P:audit}:moved          zset  transition id -> when moved (app.audit.log), so a mover that
                                   died after appending, before removing, never appends twice
                                   (ids are remembered `REMEMBER`, a week)

A record is appended (`Audit.record_moved`, once per transition id), then removed from the
outbox by value, so two movers never remove what the other has not appended.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from app.approvals.audit import Audit
from app.approvals.scripts import lua
from app.clock import timestamp
from app.storage import RedisClient

log = logging.getLogger(__name__)

#: Seconds a moved transition id is remembered. Only a mover that died between appending and
#: removing needs it, until the next worker pass; a week covers any outage of the workers and
#: keeps the log's set of ids to a week of transitions (never a request's whole retention).
REMEMBER = 7 * 86400

#: Seconds a marked request is left to the process that marked it: its transition script runs
#: within milliseconds of the mark, so an index entry this old whose outbox is empty is done.
GRACE = 60.0


class Outbox:
    def __init__(
        self, client: RedisClient, *, prefix: str, audit: Audit, remember: int = REMEMBER
    ) -> None:
        self.redis = client
        self.prefix = prefix
        self.audit = audit
        self.remember = remember
        self._unindex = client.register_script(lua("outbox_unindex"))

    def key(self, request_id: str) -> str:
        """As `ApprovalStore.outbox_key` names it (the store passes it to the script)."""
        return f"{self.prefix}:req:{{{request_id}}}:outbox"

    @property
    def index(self) -> str:
        return f"{self.prefix}:idx:outbox"

    def mark(self, request_id: str, *, now: float | None = None, pipe: Any = None) -> None:
        """Index the request before a transition that may write its outbox: if this process
        dies before it moves the record, the worker's sweep finds it (in `pipe` when given)."""
        stamp = timestamp() if now is None else now
        (pipe if pipe is not None else self.redis).zadd(self.index, {request_id: stamp})

    def move(self, request_id: str) -> int:
        """Move this request's waiting records into the log, oldest first; how many this call
        appended (a record another mover appended first is only removed here)."""
        key = self.key(request_id)
        moved = 0
        for raw in self.redis.lrange(key, 0, -1):
            item = json.loads(raw)
            fields = {str(k): str(v) for k, v in item["fields"].items()}
            moved += self.audit.record_moved(
                item["tid"], fields, now=timestamp(), remember=self.remember
            )
            self.redis.lrem(key, 1, raw)
        return moved

    def sweep(self, *, now: float | None = None, limit: int = 500) -> int:
        """Move what processes that died left behind; the worker runs it on every pass."""
        now = timestamp() if now is None else now
        found = self.redis.zrangebyscore(
            self.index, "-inf", now - GRACE, start=0, num=limit, withscores=True
        )
        moved = 0
        for request_id, score in found:
            try:
                moved += self.move(request_id)
            except (KeyError, ValueError, TypeError):
                # A record this code cannot read must not stop every other: logged loudly and
                # left in its outbox and the index for a person to see to.
                log.exception(
                    "audit outbox unreadable",
                    extra={"event": "audit.outbox_unreadable", "request": request_id},
                )
                continue
            if not self.redis.llen(self.key(request_id)):
                self._unindex(keys=[self.index], args=[request_id, repr(score)])
        return moved
