"""Where the Slack front's messages about a request are, and which version of it they show.

The front's own bookkeeping, as Teleport's access plugins keep `SentMessages` in their plugin
data beside the access request: written and read here only, never named by the engine's
record (`ChangeRequest`). It is kept on the request's own hash, so it lives exactly as long as
the request and shares its cluster slot (every script here touches that one key):

    P:req:{R-7K2QF}     hash fields  `channel`, `ts`   the approval message
                                     `shown`           the request version it displays
                                     `copies`          (channel, ts) of its escalated copies
                                     `message:<name>`  a DM brought up to date when decided
    P:idx:repair        zset         request id -> time: messages Slack did not take
    P:req:{R-7K2QF}:revoke  hash fields  `channel`, `ts`   the approval message, kept for
                                         the notices of a time-bound share's end (its
                                         record outlives the request)
                                         `alert_channel`, `alert_ts`   its "could not be
                                         removed" notice, once posted

The engine asks which open requests Slack has not shown as they are (`unshown`, the port its
rescue pass calls: app.approvals.fronts); the worker then posts or repairs them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from redis.lock import Lock

from app.approvals.fronts import Open, Unshown
from app.approvals.revokes import revoke_key
from app.approvals.store import request_key
from app.foundations import scripts
from app.foundations.storage import RedisClient, script_after

#: The prefix of a request's fields that say where a kept DM about it is.
_KEPT = "message:"


@dataclass(frozen=True)
class Sent:
    """Where a request's approval message is ("" before it was posted) and what it shows."""

    channel: str = ""
    ts: str = ""
    #: The request version the message displays (-1: none yet).
    shown: int = -1
    #: (channel, ts) of the copies posted where the request was escalated, kept in step.
    copies: tuple[tuple[str, str], ...] = ()

    #: The request hash's fields it is kept in, in `of`'s order.
    FIELDS = ("channel", "ts", "shown", "copies")

    @classmethod
    def of(cls, channel: str | None, ts: str | None, shown: str | None, copies: str | None) -> Sent:
        return cls(
            channel=channel or "",
            ts=ts or "",
            shown=int(shown) if shown is not None else -1,
            copies=tuple((c, t) for c, t in json.loads(copies or "[]")),
        )

    @classmethod
    def in_fields(cls, fields: Mapping[str, str]) -> Sent:
        """`of` the request hash as read whole (HGETALL): by the store with the request
        (`ApprovalStore.get_with_fields`), or with the DMs kept beside it."""
        return cls.of(*(fields.get(name) for name in cls.FIELDS))


class SentMessages:
    """The Slack front's messages about requests: where they are, what they show, which need
    repair. Implements the engine's `fronts.Shows` port (`unshown`)."""

    def __init__(self, redis: RedisClient, *, prefix: str) -> None:
        self.redis = redis
        self.prefix = prefix
        self._mark_shown = redis.register_script(scripts.lua("app.slack", "mark_shown"))
        self._keep_thread = redis.register_script(scripts.lua("app.slack", "keep_thread"))
        self._set_existing = redis.register_script(scripts.lua("app.slack", "set_existing"))

    def _key(self, request_id: str) -> str:
        return request_key(self.prefix, request_id)

    @property
    def repair_index(self) -> str:
        return f"{self.prefix}:idx:repair"

    # --- reads -------------------------------------------------------------------------------

    def of(self, request_id: str) -> Sent:
        return Sent.of(*self.redis.hmget(self._key(request_id), *Sent.FIELDS))

    def unshown(self, requests: Sequence[Open]) -> Unshown:
        """Of these open requests, those whose message shows an older version, and those
        never posted (with their creation time), in one round trip."""
        pipe = self.redis.pipeline(transaction=False)
        for request in requests:
            pipe.hmget(self._key(request.id), "ts", "shown")
        found = Unshown()
        for request, (ts, shown) in zip(requests, pipe.execute(), strict=True):
            if not ts:
                found.unposted.append((request.created, request.id))
            elif int(shown if shown is not None else -1) < request.version:
                found.behind.append(request.id)
        return found

    def repairs_due(self, now: float, *, limit: int = 100) -> list[str]:
        """Requests whose message could not be brought up to date, oldest first."""
        return self.redis.zrangebyscore(self.repair_index, "-inf", now, start=0, num=limit)

    def kept_messages(self, request_id: str) -> dict[str, tuple[str, str]]:
        """The DMs `keep_message` kept about the request: name -> (channel, ts)."""
        return _kept(self.redis.hgetall(self._key(request_id)))

    def with_kept(self, request_id: str) -> tuple[Sent, dict[str, tuple[str, str]]]:
        """Where the message is and the DMs kept about it, in one read of the request's
        bookkeeping (a request with many approvers keeps a DM each)."""
        fields = self.redis.hgetall(self._key(request_id))
        return Sent.in_fields(fields), _kept(fields)

    # --- writes ------------------------------------------------------------------------------

    def shown(self, request_id: str, version: int, *, posted: tuple[str, str] | None = None) -> bool:
        """Record that the message now shows `version` (never lowering what is recorded) and
        that it needs no repair; with `posted`, the (channel, ts) of the message just posted,
        where it is, in the same step. Never written to a request that is gone (its hash would
        be partial, with no TTL): False then.

        One round trip: the repair index lives in another cluster slot, so its ZREM cannot be
        in the script; it goes first in the same pipeline (`storage.script_after`)."""
        keys, args = [self._key(request_id)], [version, *(posted or ())]

        def repaired(pipe: Any) -> None:
            pipe.zrem(self.repair_index, request_id)

        return bool(script_after(self.redis, repaired, self._mark_shown, keys, args))

    def render_lock(self, request_id: str, *, wait: float) -> Lock:
        """One render of a request's message at a time, so updates reach Slack in order."""
        return self.redis.lock(
            f"{self._key(request_id)}:render",
            timeout=30,
            sleep=0.01,
            blocking_timeout=wait,
            thread_local=False,
        )

    def needs_repair(self, request_id: str, now: float) -> None:
        """Remember a message that could not be brought up to date (the worker retries it)."""
        self.redis.zadd(self.repair_index, {request_id: now})

    def repaired(self, request_id: str) -> None:
        self.redis.zrem(self.repair_index, request_id)

    def set_copies(self, request_id: str, copies: list[tuple[str, str]]) -> None:
        """Where the escalated copies of a request's message are (see SlackNotifier)."""
        if copies:
            self._set(self._key(request_id), {"copies": json.dumps(copies)})

    def keep_message(self, request_id: str, name: str, *, channel: str, ts: str) -> None:
        """Where a DM about the request is (brought up to date once the request is decided),
        by a name of the notifier's choosing; kept on the request itself, so for as long as
        the request is."""
        self._set(self._key(request_id), {_KEPT + name: json.dumps([channel, ts])})

    def _set(self, key: str, fields: Mapping[str, str]) -> bool:
        """Set these fields on the hash only while it exists (a partial one would have no
        TTL), in one step; False when it is gone."""
        args = [part for field in fields.items() for part in field]
        return bool(self._set_existing(keys=[key], args=args))

    # --- a time-bound share's notices ----------------------------------------------------------

    def keep_thread(self, request_id: str) -> None:
        """Keep where the request's approval message is on its revoke record (one step, on
        the request's slot), so the share's end is told in its thread however long it ran."""
        self._keep_thread(keys=[self._key(request_id), revoke_key(self.prefix, request_id)], args=[])

    def thread(self, request_id: str) -> tuple[str, str]:
        """(channel, ts) of the approval message a share's end is told under: as kept on its
        revoke record, else on the request while it is kept; ("", "") when neither has it."""
        pipe = self.redis.pipeline(transaction=False)
        pipe.hmget(revoke_key(self.prefix, request_id), "channel", "ts")
        pipe.hmget(self._key(request_id), "channel", "ts")
        for channel, ts in pipe.execute():
            if channel and ts:
                return channel, ts
        return "", ""

    def alert(self, request_id: str) -> tuple[str, str]:
        """(channel, ts) of a failing end's notice; ("", "") before one was posted."""
        channel, ts = self.redis.hmget(revoke_key(self.prefix, request_id), "alert_channel", "alert_ts")
        return channel or "", ts or ""

    def set_alert(self, request_id: str, *, channel: str, ts: str) -> None:
        self._set(revoke_key(self.prefix, request_id), {"alert_channel": channel, "alert_ts": ts})


def _kept(fields: dict[str, str]) -> dict[str, tuple[str, str]]:
    return {
        name.removeprefix(_KEPT): (str(where[0]), str(where[1]))
        for name, value in fields.items()
        if name.startswith(_KEPT) and len(where := json.loads(value)) == 2
    }
