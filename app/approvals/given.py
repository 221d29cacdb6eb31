"""Which applied request gave each user or group their access to an entry.

MySafe says who has access and with which right, never why. The bot knows why for what it
applied, so each applied share or unshare leaves a trace per principal, read by `/mysafe
access` (and MCP's `who_has_access`, the CLI's `access`) to say how each right came:

    P:access:{entry:password:312}:given   hash   "users_allowed:carol" -> JSON list of `Given`
                                                 (the requests whose share still explains it)

The hash is on the entry's hash tag with its lock and access records. It is written by the
apply that holds the entry lock (`Applier._write_entry`), so its read-modify-write of one
field never races another apply of the same entry. A share adds its `Given` (a permanent share
replaces the earlier permanent ones it covers; an extension replaces the share it extends);
an unshare forgets the principal; a reduction to view is the one request that explains
what is left. Each `Given` copies what people read (requester, approvers,
ticket, date), so it outlives the request record's retention. The hash lives `RETENTION`
seconds past its last write: a share older than that, untouched since, reads as "given
outside the bot", which is what the bot can then still vouch for.

Reading never trusts the trace over MySafe: a principal is explained by a `Given` only when
its right is the right the entry shows now and, if time-bound, it has not ended. Anything else
(added, raised or lowered by hand) is "given outside the bot".
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from app.approvals.change_diff import GROUPS, NO_ACCESS, USERS
from app.approvals.change_request import ChangeRequest
from app.approvals.changes import Verb
from app.approvals.entry_locks import entry_tag
from app.approvals.grants import RANK, Key, named, rights
from app.foundations.storage import RedisClient
from app.mysafe.models import Entry, Kind

#: Seconds the trace of an entry outlives its last write (about 13 months: a yearly review
#: still finds last year's shares).
RETENTION = 400 * 86400


@dataclass(frozen=True)
class Given:
    """One applied request that gives a principal `right`, as people read it later."""

    request: str
    right: str
    requester: str
    requester_name: str
    approvers: tuple[str, ...]
    at: float
    ticket: str = ""
    #: When a time-bound share ends (0: for good).
    until: float = 0.0

    def running(self, now: float) -> bool:
        return not self.until or self.until > now

    @classmethod
    def of(cls, request: ChangeRequest, right: str, *, at: float, until: float) -> Given:
        return cls(
            request=request.id,
            right=right,
            requester=request.requester,
            requester_name=request.requester_name,
            approvers=tuple(sorted(request.approvals)),
            at=at,
            ticket=str((request.ticket or {}).get("key", "")),
            until=until,
        )

    def to_json(self) -> dict[str, object]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Given:
        return cls(
            request=str(data["request"]),
            right=str(data["right"]),
            requester=str(data["requester"]),
            requester_name=str(data["requester_name"]),
            approvers=tuple(data.get("approvers") or ()),
            at=float(data["at"]),
            ticket=str(data.get("ticket", "")),
            until=float(data.get("until") or 0.0),
        )


@dataclass(frozen=True)
class Holder:
    """One user or group with access now: `via` the running requests that explain their
    right (empty: given outside the bot)."""

    field: str
    name: str
    right: str
    via: tuple[Given, ...] = ()

    @property
    def is_group(self) -> bool:
        return self.field == GROUPS

    @property
    def outside(self) -> bool:
        return not self.via


def after_share(
    earlier: Sequence[Given], given: Given, *, extends: str = "", now: float
) -> list[Given]:
    """A principal's trace once `given` is applied: ended shares and the share it extends go;
    a permanent share replaces the permanent ones it covers."""
    kept = []
    for old in earlier:
        if not old.running(now) or old.request in (extends, given.request):
            continue
        if not given.until and not old.until and RANK[old.right] <= RANK[given.right]:
            continue
        kept.append(old)
    return [*kept, given]


def holders(entry: Entry, traces: Mapping[Key, Sequence[Given]], *, now: float) -> list[Holder]:
    """Everyone the entry shows, users first, each with the running requests that explain the
    right they have now (permanent first, then by when they end)."""
    found = []
    for key, (name, right) in sorted(rights(entry).items(), key=_order):
        via = [g for g in traces.get(key, ()) if g.right == right and g.running(now)]
        via.sort(key=lambda g: (bool(g.until), g.until or g.at))
        found.append(Holder(key[0], name, right, tuple(via)))
    return found


def _order(item: tuple[Key, tuple[str, str]]) -> tuple[int, str]:
    (field, name), _ = item
    return (0 if field == USERS else 1, name)


class GivenBook:
    """The traces in Redis; `record` is called under the entry lock, `read` by anyone."""

    def __init__(self, client: RedisClient, *, prefix: str) -> None:
        self.redis = client
        self.prefix = prefix

    def key(self, kind: Kind, identifier: int) -> str:
        return f"{self.prefix}:access:{entry_tag(kind, identifier)}:given"

    def read(self, kind: Kind, identifier: int) -> dict[Key, list[Given]]:
        found: dict[Key, list[Given]] = {}
        for name, value in self.redis.hgetall(self.key(kind, identifier)).items():
            field, _, principal = name.partition(":")
            found[(field, principal)] = [Given.from_json(g) for g in json.loads(value)]
        return found

    def record(self, request: ChangeRequest, *, at: float, until: float = 0.0) -> None:
        """Trace what an applied share or unshare gives each principal it names; other verbs
        give nobody anything."""
        change = request.change
        if change.verb not in (Verb.SHARE, Verb.UNSHARE, Verb.REDUCE) or change.identifier is None:
            return
        key = self.key(change.kind, change.identifier)
        items = named(change)
        fields = [_field(k) for k in items]
        current = dict(zip(fields, self.redis.hmget(key, fields), strict=True))
        writes, drops = {}, []
        for item_key, item in items.items():
            field = _field(item_key)
            if item.after == NO_ACCESS:
                drops.append(field)
                continue
            earlier = [Given.from_json(g) for g in json.loads(current[field] or "[]")]
            given = Given.of(request, item.after, at=at, until=until)
            if change.verb is Verb.REDUCE:  # it sets the right: nothing earlier explains it
                earlier = []
            trace = after_share(earlier, given, extends=change.extends, now=at)
            writes[field] = json.dumps([g.to_json() for g in trace])
        pipe = self.redis.pipeline(transaction=True)
        if drops:
            pipe.hdel(key, *drops)
        if writes:
            pipe.hset(key, mapping=writes)
        pipe.expire(key, RETENTION)
        pipe.execute()


def _field(key: Key) -> str:
    return f"{key[0]}:{key[1]}"
