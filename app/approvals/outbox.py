"""The audit outbox of request transitions: each transition's record is written by the same
Lua script as the transition, and reaches the verifiable log exactly once.

On Redis Cluster one script cannot touch a request's slot and the log's, so a record appended
after its transition, in a step of its own, is lost when the process dies between the two.
Written into the request's own slot by the transition itself, it cannot be: the script also
returns it, the process that made the transition appends it right after (`append`: the one
round trip the act pays for its record), and the worker's sweep appends whatever a process that
died left behind, then takes what the log has out of the outboxes, many at a time.

Redis layout (P = `MYSAFE_BOT_KEY_PREFIX`):

    P:req:{R-7K2QF}:outbox   list  JSON {"tid", "fields"}: records written by transition.lua,
                                   on the request's slot, until the sweep takes them out
    P:idx:outbox             zset  request id -> when a transition that may write one started
                                   (marked in the round trip that runs the transition, first)

A record's id in the log is its transition id (the request's key and version), so whoever sends
it and however often, the log holds it once (`{P:audit}:ids` remembers it `REMEMBER`, a week:
see app.audit.log). The sweep removes a record from its outbox by value only after the log has
it, so two sweeps never remove what the other has not appended.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from typing import Any

import redis
from redis.cluster import RedisCluster

from app.approvals.audit import Audit
from app.approvals.scripts import lua
from app.foundations.clock import timestamp
from app.foundations.storage import RedisClient

log = logging.getLogger(__name__)

#: Seconds a transition's id is remembered by the log: longer than any outbox waits for the
#: sweep (a minute, or as long as no worker runs: a week covers any outage of the workers),
#: and it keeps the log's set of ids to a week of transitions.
REMEMBER = 7 * 86400

#: Seconds a marked request is left to the process that marked it: its transition script runs
#: in the same round trip as the mark, and its append in the next, so an index entry this old
#: is the sweep's (it appends what waits, which the log refuses if it has it, and takes it out).
GRACE = 60.0

Item = tuple[str, dict[str, str]]


def parse(raw: str) -> Item:
    """An outbox item as the transition script wrote it: (transition id, the record's fields)."""
    item = json.loads(raw)
    return str(item["tid"]), {str(k): str(v) for k, v in item["fields"].items()}


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
        dies before it appends the record, the worker's sweep finds it (in `pipe` when given:
        the transition's own round trip)."""
        stamp = timestamp() if now is None else now
        (pipe if pipe is not None else self.redis).zadd(self.index, {request_id: stamp})

    def append(self, written: str) -> bool:
        """Append the record a transition just wrote and returned (`Transition.written`; ""
        when it wrote none): one round trip. It stays in the outbox for the sweep to take out
        once the log has it. Redis failing here fails nothing the caller did: the transition
        stands, and the sweep appends its record within a minute. True when appended now."""
        if not written:
            return False
        tid, fields = parse(written)
        try:
            return self.audit.record_once(tid, fields, remember=self.remember)
        except redis.RedisError as error:
            log.warning(
                "audit record left to the outbox sweep",
                extra={"event": "audit.outbox_deferred", "error": type(error).__name__},
            )
            return False

    def move(self, request_id: str) -> int:
        """Append this request's waiting records (those the log lacks) and take them out of
        its outbox now; how many this call appended."""
        return self._take([(request_id, None)])

    def sweep(self, *, now: float | None = None, limit: int = 500) -> int:
        """Append what processes that died left behind, and take out of the outboxes what the
        log has, `limit` requests at a time; the worker runs it on every pass."""
        now = timestamp() if now is None else now
        found = self.redis.zrangebyscore(
            self.index, "-inf", now - GRACE, start=0, num=limit, withscores=True
        )
        return self._take(found) if found else 0

    def _take(self, found: Sequence[tuple[str, float | None]]) -> int:
        """Read these requests' outboxes, append every record (the log refuses those it has),
        then remove them and unindex each request whose mark is still the one read: a round
        trip for each of the three steps, whatever the number of requests (on a Cluster, where
        the scripts go one by one, a round trip per record and per request: the worker's)."""
        raws = self._pipelined([("lrange", self.key(rid), 0, -1) for rid, _ in found])
        readable: list[tuple[str, float | None, list[str]]] = []
        records: list[Item] = []
        for (request_id, score), waiting in zip(found, raws, strict=True):
            try:
                items = [parse(raw) for raw in waiting]
            except (KeyError, ValueError, TypeError):
                # A record this code cannot read must not stop every other: logged loudly and
                # left in its outbox and the index for a person to see to.
                log.exception(
                    "audit outbox unreadable",
                    extra={"event": "audit.outbox_unreadable", "request": request_id},
                )
                continue
            readable.append((request_id, score, waiting))
            records += items
        moved = self.audit.record_many_once(records, remember=self.remember) if records else 0
        self._pipelined(
            [("lrem", self.key(rid), 1, raw) for rid, _, waiting in readable for raw in waiting]
        )
        self._unindex_each([(rid, score) for rid, score, _ in readable if score is not None])
        return moved

    def _unindex_each(self, marks: Sequence[tuple[str, float]]) -> None:
        """Unindex each request whose mark is still the one read, in one round trip (one by
        one on a Cluster, whose pipelines do not load a script a node lacks)."""
        if isinstance(self.redis, RedisCluster):
            for request_id, score in marks:
                self._unindex(keys=[self.index], args=[request_id, repr(score)])
            return
        if marks:
            pipe = self.redis.pipeline(transaction=False)
            for request_id, score in marks:
                self._unindex(keys=[self.index], args=[request_id, repr(score)], client=pipe)
            pipe.execute()

    def _pipelined(self, calls: Sequence[tuple[Any, ...]]) -> list[Any]:
        """Plain commands (name, *args) in one round trip per node; their answers in order."""
        if not calls:
            return []
        pipe = self.redis.pipeline(transaction=False)
        for name, *args in calls:
            getattr(pipe, name)(*args)
        return list(pipe.execute())
