"""Who has what while time-bound shares run, and what a share's end takes — pure, no I/O.

A person's access to an entry at any moment is what they have outside the bot's time-bound
shares (the *base*) plus the highest right among the shares still running. The bot keeps that
as one `Access` record per (entry, principal) while any share of theirs runs (`app.approvals.
access` stores them), and decides every change of it against the entry as read under the
entry lock:

- a time-bound share adds itself to the record (created with the entry's right as the base);
- a permanent share raises the base, an unshare or a reduction (edit to view) clears the
  record: what they give outlives
  every running share, which then take nothing back;
- a share's end leaves the base and the highest right of the shares still running, and writes
  only when that is lower than what the entry shows;
- what the entry shows that the record does not explain was changed outside the bot: it
  becomes the base (raised or lowered by hand stays; removed by hand leaves nothing to end).

A write is decided before it is sent and kept as `Pending`: whoever holds the entry next
(another apply, another end, or the same end taken over after its process died) first tells
from the entry whether it landed, keeps its records if it did and forgets it if it did not,
so a decision is never made twice from an entry that already shows half of it.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace

from app.approvals.change_diff import NO_ACCESS
from app.approvals.changes import Change, Verb
from app.approvals.grants import (
    RANK,
    Grant,
    Granted,
    Key,
    TakeBack,
    body_without,
    highest,
    named,
    rights,
)
from app.mysafe.models import Entry


@dataclass(frozen=True)
class Access:
    """One principal's access to one entry while time-bound shares of theirs run: `base` what
    they have outside them, `shares` each running share's request id -> the right it gives."""

    field: str
    name: str
    base: str = NO_ACCESS
    shares: Mapping[str, str] = dataclasses.field(default_factory=dict)

    @property
    def key(self) -> Key:
        return (self.field, self.name.casefold())

    @property
    def right(self) -> str:
        return highest(self.base, *self.shares.values())

    @property
    def idle(self) -> bool:
        """No share of theirs runs: the entry alone says what they have (the record goes)."""
        return not self.shares

    def seen(self, current: str) -> Access:
        """The record once it explains `current`, the right the entry shows: a difference was
        made outside the bot and becomes the base; shares above a lowered right are cut."""
        if current == self.right:
            return self
        kept = {rid: r for rid, r in self.shares.items() if RANK[r] <= RANK[current]}
        return replace(self, base=current, shares=kept)

    def with_share(self, request_id: str, right: str) -> Access:
        return replace(self, shares={**self.shares, request_id: right})

    def without(self, request_id: str) -> Access:
        return replace(self, shares={k: v for k, v in self.shares.items() if k != request_id})

    def raised(self, right: str) -> Access:
        return replace(self, base=highest(self.base, right))

    def dumps(self) -> str:
        return json.dumps([self.field, self.name, self.base, dict(sorted(self.shares.items()))])

    @classmethod
    def loads(cls, text: str) -> Access:
        where, name, base, shares = json.loads(text)
        return cls(where, name, base, shares)


@dataclass(frozen=True)
class Pending:
    """A write decided under the entry lock, kept before it is sent: `moves` what it changes
    (`before` → `after`, from the entry it was decided on), `records` the records once it
    landed, `rotate` whether it also sets a new password. `landed` once an entry showed it."""

    moves: tuple[Granted, ...]
    records: tuple[Access, ...]
    rotate: bool = False
    landed: bool = False

    def shows(self, now: Mapping[Key, tuple[str, str]]) -> bool | None:
        """Whether the entry shows this write; None when it cannot tell (a new password and
        nothing else: the bot never reads secret values)."""
        if not self.moves:
            return None
        return all(now.get(m.key, ("", NO_ACCESS))[1] == m.after for m in self.moves)

    def dumps(self) -> str:
        return json.dumps(
            {
                "moves": [m.to_json() for m in self.moves],
                "records": [r.dumps() for r in self.records],
                "rotate": self.rotate,
                "landed": self.landed,
            }
        )

    @classmethod
    def loads(cls, text: str) -> Pending:
        data = json.loads(text)
        return cls(
            tuple(Granted(*m) for m in data["moves"]),
            tuple(Access.loads(r) for r in data["records"]),
            bool(data["rotate"]),
            bool(data["landed"]),
        )


@dataclass(frozen=True)
class Plan:
    """One decided change of access: `moves` what the write must change (none: nothing to
    write), `records` the records it leaves, `taken` the end's account of it (ends only)."""

    moves: tuple[Granted, ...]
    records: tuple[Access, ...]
    taken: TakeBack | None = None

    def pending(self, *, rotate: bool = False) -> Pending:
        return Pending(self.moves, self.records, rotate)


@dataclass(frozen=True)
class Ledger:
    """What is kept for one entry: the records of the principals read, and the writes decided
    and not yet known to have landed (by request: `apply:R-…`, `end:R-…`)."""

    records: Mapping[Key, Access]
    pending: Mapping[str, Pending]

    def settled(self, entry: Entry, *, rotating: bool = False) -> Ledger:
        """Each pending write as the entry tells it: landed (its records kept, marked landed
        for the request that decided it) or not (forgotten: it changed nothing). One that
        only set a password cannot be told; it stays, unless this write rotates too."""
        now = rights(entry)
        records, pending = dict(self.records), dict(self.pending)
        for name, write in self.pending.items():
            shown = None if write.landed else write.shows(now)
            if shown is None:
                if rotating and not write.landed:
                    pending[name] = replace(write, landed=True)
            elif shown:
                records.update({r.key: r for r in write.records})
                pending[name] = replace(write, landed=True)
            else:
                del pending[name]
        return Ledger(records, pending)

    def deciding(self, name: str, write: Pending) -> Ledger:
        """With `write` kept before it is sent; one the entry cannot show (a password alone)
        changes no right, so its records hold at once."""
        records = dict(self.records)
        if write.shows({}) is None:
            records.update({r.key: r for r in write.records})
        return Ledger(records, {**self.pending, name: write})

    def landed(self, name: str) -> Ledger:
        """`name`'s write landed: its records hold, and it stays marked landed until the
        request that decided it has recorded its outcome (see `Revoker.run`)."""
        write = self.pending[name]
        return replace(
            self.done(name, write.records), pending={**self.pending, name: replace(write, landed=True)}
        )

    def done(self, name: str, records: Iterable[Access]) -> Ledger:
        """`name`'s write landed (or there was nothing to write): its records hold, it goes."""
        kept = {**self.records, **{r.key: r for r in records}}
        return Ledger(kept, {k: v for k, v in self.pending.items() if k != name})

    def change(self, change: Change, request_id: str, entry: Entry) -> Plan:
        """A share or unshare applied over `entry`: the rights it sets and the records after."""
        now = rights(entry)
        moves, records = [], []
        for key, item in named(change).items():
            name, current = now.get(key, (item.name, NO_ACCESS))
            target = _target(change.verb, current, item.after)
            if target != current:
                moves.append(Granted(item.field, name, current, target))
            record = self._after(change, request_id, replace(item, name=name, before=current))
            if record is not None:
                records.append(record)
        return Plan(tuple(moves), tuple(records))

    def _after(self, change: Change, request_id: str, item: Granted) -> Access | None:
        had = self.records.get(item.key)
        had = had.seen(item.before) if had is not None else None
        if change.verb in (Verb.UNSHARE, Verb.REDUCE):  # what is left outlives running shares
            return Access(item.field, item.name) if had is not None else None
        if change.time_bound:
            held = had or Access(item.field, item.name, base=item.before)
            return held.without(change.extends).with_share(request_id, item.after)
        return had.raised(item.after) if had is not None else None

    def end(self, request_id: str, grant: Grant, entry: Entry, *, legacy: bool = False) -> Plan:
        """The end of `request_id`'s share: each principal keeps their base and the highest
        running share; written only where that is lower than the entry shows. `legacy`: a
        share applied before records were kept, its grant's `before` standing in for one."""
        now = rights(entry)
        moves, records, kept = [], [], []
        for item in grant.items:
            current = now.get(item.key, (item.name, NO_ACCESS))[1]
            had = self.records.get(item.key)
            if had is None and legacy and RANK[item.before] < RANK[item.after]:
                had = Access(item.field, item.name, item.before, {request_id: item.after})
            if had is None:
                kept.append((item, _gone(current)))
                continue
            rest = had.seen(current).without(request_id)
            records.append(rest)
            if request_id not in had.shares or had.right != current:
                kept.append((item, _gone(current)))
            elif rest.right == current:
                kept.append((item, _still(rest, current)))
            else:
                moves.append(Granted(item.field, item.name, current, rest.right))
        undone = [Granted(m.field, m.name, m.after, m.before) for m in moves]
        taken = TakeBack(body_without(entry, undone) if undone else None, tuple(undone), tuple(kept))
        return Plan(tuple(moves), tuple(records), taken)


def _target(verb: Verb, current: str, asked: str) -> str:
    """The right a share (never lowers), a reduction (never raises) or an unshare leaves."""
    if verb is Verb.SHARE:
        return highest(current, asked)
    if verb is Verb.REDUCE:
        return asked if RANK[current] > RANK[asked] else current
    return NO_ACCESS


def apply_write(request_id: str) -> str:
    """The name a request's apply keeps its decided write under."""
    return f"apply:{request_id}"


def end_write(request_id: str) -> str:
    """The name a time-bound share's end keeps its decided write under."""
    return f"end:{request_id}"


def taken_by(write: Pending) -> TakeBack:
    """An earlier attempt's end, found landed: what it took, and nothing left to write."""
    return TakeBack(None, tuple(Granted(m.field, m.name, m.after, m.before) for m in write.moves), ())


def _gone(current: str) -> str:
    return "already removed" if current == NO_ACCESS else f"changed meanwhile to {current}"


def _still(rest: Access, current: str) -> str:
    others = sorted(rid for rid, right in rest.shares.items() if right == current)
    return f"still given by {', '.join(others)}" if others else f"has {current} outside this share"
