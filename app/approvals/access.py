"""The access records of time-bound shares in Redis: read and written only under the entry lock.

Redis layout (P = `MYSAFE_BOT_KEY_PREFIX`), every key on the entry's hash slot, so one script
writes them all on a Redis Cluster too:

    P:access:{entry:password:312}:users_allowed:carol   string  one principal's `Access`
                                                                (base, running shares) as JSON,
                                                                while a share of theirs runs
    P:access:{entry:password:312}:writes                hash    `apply:R-…` / `end:R-…` ->
                                                                a decided write (`Pending`)

What to write is decided in `app.approvals.ledger` from what is read here and the entry as read
under the lock; `save` writes the difference with one script that first checks the lock is
still the caller's (`access_write.lua`), so a holder whose lease ran out records nothing. Keys
live `max_share_duration` + `RETENTION` past their last write, longer than any share they
serve; a record with no running share is deleted at once.
"""

from __future__ import annotations

from collections.abc import Iterable

from app.approvals.entry_locks import EntryLock, entry_tag
from app.approvals.grants import Key
from app.approvals.ledger import Access, Ledger, Pending
from app.approvals.scripts import lua
from app.foundations.errors import LeaseLost
from app.foundations.storage import RedisClient
from app.mysafe.models import Kind

#: Seconds a record outlives the longest share once nothing runs (as revoke records do).
RETENTION = 30 * 86400


class AccessBook:
    def __init__(self, client: RedisClient, *, prefix: str, longest: int) -> None:
        self.redis = client
        self.prefix = prefix
        self.ttl = longest + RETENTION
        self._write = client.register_script(lua("access_write"))

    def record_key(self, kind: Kind, identifier: int, key: Key) -> str:
        field, name = key
        return f"{self.prefix}:access:{entry_tag(kind, identifier)}:{field}:{name}"

    def writes_key(self, kind: Kind, identifier: int) -> str:
        return f"{self.prefix}:access:{entry_tag(kind, identifier)}:writes"

    def read(self, kind: Kind, identifier: int, keys: Iterable[Key]) -> Ledger:
        """The records of these principals (those that have one) and every pending write, as
        of one moment: one transaction on the entry's slot, one round trip."""
        wanted = list(dict.fromkeys(keys))
        # One slot (the entry's tag); a cluster's pipeline takes no MGET, so one GET each.
        with self.redis.pipeline(transaction=True) as pipe:
            for key in wanted:
                pipe.get(self.record_key(kind, identifier, key))
            pipe.hgetall(self.writes_key(kind, identifier))
            *found, pending = pipe.execute()
        records = {k: Access.loads(text) for k, text in zip(wanted, found, strict=True) if text}
        return Ledger(records, {name: Pending.loads(text) for name, text in pending.items()})

    def forget(self, kind: Kind, identifier: int, name: str) -> None:
        """Drop a landed write's mark once its request recorded the outcome: only that
        request's take-over ever reads it, and there is none after that."""
        self.redis.hdel(self.writes_key(kind, identifier), name)

    def save(self, held: EntryLock, kind: Kind, identifier: int, old: Ledger, new: Ledger) -> None:
        """Write what differs from `old` to `new`; raises `LeaseLost` when the lock is no longer
        ours (nothing written then)."""
        records = [r for k, r in new.records.items() if old.records.get(k) != r]
        writes = {
            name: (new.pending[name].dumps() if name in new.pending else "")
            for name in {*old.pending, *new.pending}
            if old.pending.get(name) != new.pending.get(name)
        }
        if not records and not writes:
            return
        keys = [
            held.lock.name,
            self.writes_key(kind, identifier),
            *(self.record_key(kind, identifier, r.key) for r in records),
        ]
        args: list[str | bytes | int] = [held.token, self.ttl, len(writes)]
        args += [x for pair in writes.items() for x in pair]
        args += ["" if r.idle else r.dumps() for r in records]
        if self._write(keys=keys, args=args) != "ok":
            raise LeaseLost("the entry lock ran out before its access records were written")
